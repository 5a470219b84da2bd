// The one small surface activities use to talk to a cloud. Modelled on nodepool's statemachine Adapter, but
// the state machine is the Temporal workflow, so every method here is a single idempotent step.
import type { Metadata } from './tags.ts';

/** Cloud-neutral server state; `rawStatus` keeps the cloud's own word for logs. */
export type ServerState = 'building' | 'active' | 'error' | 'deleting' | 'deleted' | 'other';

export interface ServerSpec {
  /** Unique per node: it is how a retried create finds the server an earlier lost response created. */
  name: string;
  /** Flavor name or ID. */
  flavor: string;
  /** External image ID (what `uploadImage` returned). */
  imageId: string;
  /** Nodepool tags plus anything the operator configured; must include the provider tag. */
  metadata: Metadata;
  availabilityZone?: string;
  /** Plain text; the driver encodes it as the cloud expects. */
  userData?: string;
  keyName?: string;
  /**
   * Network names or UUIDs (names are resolved through Neutron; an unknown or ambiguous name is Invalid),
   * 'auto' (the cloud picks or allocates one: Nova's "auto"), or 'none' (no network at all). Absent = 'auto';
   * an empty list is 'auto' too.
   */
  networks?: string[] | 'auto' | 'none';
  /** Ask for a config drive (sent as config_drive); absent = the cloud's default. */
  configDrive?: boolean;
  /** Security group names; absent = the project's default group. */
  securityGroups?: string[];
  /** Boot from a new volume made from the image instead of the hypervisor's local disk. */
  bootFromVolume?: { volumeSizeGB: number; deleteOnTermination?: boolean };
}

export interface ServerAddresses {
  publicIpv4?: string;
  publicIpv6?: string;
  privateIpv4?: string;
}

export interface Server {
  id: string;
  name: string;
  state: ServerState;
  rawStatus: string;
  metadata: Metadata;
  /** The same shape from create, get and list: the id when the cloud's flavor list knows it. */
  flavor: { id?: string; name?: string; vcpus?: number; ramMB?: number };
  /** Absent when the server boots from a volume. */
  imageId?: string;
  /** Volumes attached at boot (boot from volume). */
  volumes?: string[];
  availabilityZone?: string;
  addresses: ServerAddresses;
  created?: string;
  /** Why the cloud put the server into error, when it says. */
  fault?: string;
}

export type ImageState = 'queued' | 'saving' | 'active' | 'killed' | 'deleted' | 'other';

export interface Image {
  id: string;
  name: string;
  state: ImageState;
  rawStatus: string;
  diskFormat?: string;
  containerFormat?: string;
  size?: number;
  /** The cloud's MD5 checksum (may be absent on newer clouds). */
  checksum?: string;
  hashAlgo?: string;
  hashValue?: string;
  /** Custom properties only: nodepool tags and the like. */
  metadata: Metadata;
  created?: string;
  /** Glance's os_glance_failed_import: the stores an interoperable import failed for. */
  failedImport?: string;
}

export interface ImageUploadSpec {
  /** Path of the image file on local disk; streamed, never read into memory. */
  path: string;
  name: string;
  /** e.g. qcow2, raw, vhd: the cloud's `image_format`. */
  diskFormat: string;
  containerFormat?: string;
  metadata: Metadata;
}

export interface ImageUploadResult {
  image: Image;
  /** Hex digests of what we streamed; the upload already failed if the cloud disagrees. */
  sha512: string;
  md5: string;
  bytes: number;
  /** Which of the cloud's checksums matched ('sha512', 'md5', ...); null when the cloud reported none. */
  verifiedBy: string | null;
}

export interface Flavor {
  id: string;
  name: string;
  vcpus: number;
  ramMB: number;
  diskGB: number;
}

/** `null` means unlimited. */
export interface QuotaLimits {
  instances: number | null;
  cores: number | null;
  ramMB: number | null;
  metadataItems: number | null;
}

export interface QuotaUsage {
  instances: number;
  cores: number;
  ramMB: number;
}

export interface Quota {
  limits: QuotaLimits;
  usage: QuotaUsage;
}

export type DeleteResult = 'deleted' | 'already-gone';

export interface CreateServerImageOptions {
  /** A snapshot still `queued` this long after Glance created it is stuck (default 1 hour, by Glance's clock). */
  staleQueuedAfterMs?: number;
}

export interface CreateServerOptions {
  /**
   * A listing of the project's servers the caller took before this create (a batch launcher lists once for many
   * creates): the idempotency lookup searches it instead of asking the cloud again.
   */
  known?: readonly Server[];
}

export interface ProviderAdapter {
  /** The clouds.yaml cloud name; safe to log. */
  readonly cloudName: string;
  /** The upload format this cloud wants (clouds.yaml `image_format`). */
  readonly imageFormat: string;

  /** Idempotent: returns the existing server if one with this name and these tags already exists. */
  createServer(spec: ServerSpec, opts?: CreateServerOptions): Promise<Server>;
  /** Throws NotFound when the server does not exist. */
  getServer(id: string): Promise<Server>;
  /** A 404 means the work is done. */
  deleteServer(id: string): Promise<DeleteResult>;
  /** Every server in the project, with metadata, across all pages. */
  listServers(): Promise<Server[]>;
  /**
   * Snapshot a server into an image (snapshot builds); returns the new image ID. Idempotent on (name, metadata):
   * a retry reuses the snapshot an earlier attempt started, unless it is still `queued` after
   * `opts.staleQueuedAfterMs`: then that one is deleted and a fresh snapshot taken.
   */
  /** The server's console log (its last `lines` lines when given), for diagnosing a node that did not boot. */
  getConsoleOutput(serverId: string, lines?: number): Promise<string>;
  createServerImage(
    serverId: string,
    name: string,
    metadata: Metadata,
    opts?: CreateServerImageOptions,
  ): Promise<string>;

  /** Idempotent on (name, metadata): reuses a matching image instead of creating a second one. */
  uploadImage(spec: ImageUploadSpec): Promise<ImageUploadResult>;
  /** Throws NotFound when the image does not exist. */
  getImage(id: string): Promise<Image>;
  deleteImage(id: string): Promise<DeleteResult>;
  listImages(filter?: { name?: string }): Promise<Image[]>;

  listFlavors(): Promise<Flavor[]>;
  getQuota(): Promise<Quota>;
}
