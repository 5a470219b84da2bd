// OpenStackAdapter: the provider interface over Keystone, Nova and Glance, with idempotent creates and a
// single re-authentication on 401. Credentials live only in private fields and never reach messages.
import { createHash, getHashes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { inspect } from 'node:util';
import type {
  CreateServerOptions,
  CreateServerImageOptions,
  DeleteResult,
  Flavor,
  Image,
  ImageUploadResult,
  ImageUploadSpec,
  ProviderAdapter,
  Quota,
  Server,
  ServerSpec,
} from '../adapter.ts';
import { Invalid, NotFound, ProviderError, QuotaExceeded, Transient } from '../errors.ts';
import { TAGS, hasTags, validateMetadata, type Metadata } from '../tags.ts';
import type { CloudConfig } from './clouds-yaml.ts';
import { GlanceClient, type StreamedDigest } from './glance.ts';
import { HttpClient, joinUrl, type HttpResponse, type ServiceRequest } from './http.ts';
import { KeystoneSession } from './keystone.ts';
import { NeutronClient, isUuid } from './neutron.ts';
import { NovaClient, toServer, type CreateServerBody } from './nova.ts';

export interface OpenStackAdapterOptions {
  /** Deadline for one API call, response body included. Default 60 s. */
  timeoutMs?: number;
  /** Deadline for one image upload. Default 6 h. */
  uploadTimeoutMs?: number;
  /** How long an uploaded image may stay `saving` before we call it failed. Default 10 min. */
  imageSettleMs?: number;
  /** Page size for server and image listings (small values exercise pagination in tests). */
  pageSize?: number;
  /** Clock, injectable to test clock skew against token expiry. */
  now?: () => number;
}

const MAX_USER_DATA = 65535;
/** A snapshot Glance has held `queued` this long is stuck (default for createServerImage). */
const STALE_QUEUED_SNAPSHOT_MS = 3600_000;
/** How long a network name's UUID is trusted before Neutron is asked again. */
const NETWORK_CACHE_MS = 5 * 60_000;
/** How often a server whose flavor is not in the cached list may trigger a fresh flavor list. */
const FLAVOR_REFRESH_MS = 5 * 60_000;

export class OpenStackAdapter implements ProviderAdapter {
  readonly cloudName: string;
  readonly imageFormat: string;
  readonly #cloud: CloudConfig;
  readonly #opts: OpenStackAdapterOptions;
  readonly #http: HttpClient;
  readonly #keystone: KeystoneSession;
  readonly #nova: NovaClient;
  readonly #glance: GlanceClient;
  readonly #neutron: NeutronClient;
  readonly #networkIds = new Map<string, { id: string; at: number }>();
  #flavors: Flavor[] | undefined;
  #flavorsAt = 0;

  constructor(cloud: CloudConfig, opts: OpenStackAdapterOptions = {}) {
    this.cloudName = cloud.name;
    this.imageFormat = cloud.imageFormat;
    this.#cloud = cloud;
    this.#opts = opts;
    this.#http = new HttpClient({ timeoutMs: opts.timeoutMs ?? 60_000, secrets: () => this.#secrets() });
    this.#keystone = new KeystoneSession({
      authUrl: cloud.authUrl,
      credentials: cloud.credentials,
      http: this.#http,
      now: opts.now,
    });
    const pageSize = opts.pageSize === undefined ? {} : { pageSize: opts.pageSize };
    this.#nova = new NovaClient((r) => this.#callService('compute', r), pageSize);
    this.#glance = new GlanceClient((r) => this.#callService('image', r), pageSize);
    this.#neutron = new NeutronClient((r) => this.#callService('network', r));
  }

  /** Tokens fetched so far; visible for tests and metrics (it is a count, not a token). */
  get authCount(): number {
    return this.#keystone.authCount;
  }

  toString(): string {
    return `OpenStackAdapter(${this.cloudName})`;
  }

  toJSON(): Record<string, unknown> {
    return { cloud: this.cloudName, region: this.#cloud.regionName, imageFormat: this.imageFormat };
  }

  [inspect.custom](): string {
    return this.toString();
  }

  async createServer(spec: ServerSpec, opts: CreateServerOptions = {}): Promise<Server> {
    validateMetadata(spec.metadata);
    if (!spec.metadata[TAGS.provider]) {
      throw new Invalid(
        `server.create: refusing a server without the ${TAGS.provider} tag (it could never be found as ours)`,
        { operation: 'server.create' },
      );
    }
    const bfv = spec.bootFromVolume;
    if (bfv && !(Number.isInteger(bfv.volumeSizeGB) && bfv.volumeSizeGB > 0)) {
      throw new Invalid(`server.create: bootFromVolume.volumeSizeGB must be a positive whole number of GB`, {
        operation: 'server.create',
      });
    }
    const existing = opts.known
      ? opts.known.find(
          (s) =>
            s.name === spec.name &&
            hasTags(s.metadata, spec.metadata) &&
            s.state !== 'deleted' &&
            s.state !== 'deleting',
        )
      : await this.#findServer(spec.name, spec.metadata);
    if (existing) return existing;

    const flavor = await this.#flavor(spec.flavor);
    const body: CreateServerBody = {
      name: spec.name,
      flavorRef: flavor.id,
      metadata: spec.metadata,
      networks: await this.#networks(spec.networks),
    };
    if (bfv) {
      // Nova makes the volume from the image (Cinder does the copy) and boots from it.
      body.block_device_mapping_v2 = [
        {
          boot_index: 0,
          uuid: spec.imageId,
          source_type: 'image',
          destination_type: 'volume',
          volume_size: bfv.volumeSizeGB,
          delete_on_termination: bfv.deleteOnTermination ?? true,
        },
      ];
    } else {
      body.imageRef = spec.imageId;
    }
    if (spec.availabilityZone) body.availability_zone = spec.availabilityZone;
    if (spec.keyName) body.key_name = spec.keyName;
    if (spec.configDrive !== undefined) body.config_drive = spec.configDrive;
    if (spec.securityGroups !== undefined) body.security_groups = spec.securityGroups.map((name) => ({ name }));
    if (spec.userData !== undefined) {
      body.user_data = Buffer.from(spec.userData, 'utf8').toString('base64');
      if (body.user_data.length > MAX_USER_DATA) {
        throw new Invalid(
          `server.create: user data is ${body.user_data.length} bytes base64; Nova allows ${MAX_USER_DATA}`,
          {
            operation: 'server.create',
          },
        );
      }
    }
    const { id } = await this.#nova.createServer(body);
    // The shape getServer returns, from what we asked for: the flavor in full, no address yet.
    const server: Server = {
      id,
      name: spec.name,
      state: 'building',
      rawStatus: 'BUILD',
      metadata: { ...spec.metadata },
      flavor: { id: flavor.id, name: flavor.name, vcpus: flavor.vcpus, ramMB: flavor.ramMB },
      addresses: {},
    };
    if (!bfv) server.imageId = spec.imageId;
    if (spec.availabilityZone) server.availabilityZone = spec.availabilityZone;
    return server;
  }

  async getServer(id: string): Promise<Server> {
    return this.#withFlavorIds([toServer(await this.#nova.getServer(id))]).then(([s]) => s!);
  }

  async deleteServer(id: string): Promise<DeleteResult> {
    return gone(() => this.#nova.deleteServer(id));
  }

  async listServers(): Promise<Server[]> {
    return this.#withFlavorIds((await this.#nova.listServers()).map(toServer));
  }

  async getConsoleOutput(serverId: string, lines?: number): Promise<string> {
    return this.#nova.consoleOutput(serverId, lines);
  }

  async createServerImage(
    serverId: string,
    name: string,
    metadata: Metadata,
    opts: CreateServerImageOptions = {},
  ): Promise<string> {
    validateMetadata(metadata);
    if (!metadata[TAGS.provider]) {
      throw new Invalid(`server.action: refusing a snapshot without the ${TAGS.provider} tag`, {
        operation: 'server.action',
      });
    }
    const staleAfter = opts.staleQueuedAfterMs ?? STALE_QUEUED_SNAPSHOT_MS;
    // A retry after a lost response finds the snapshot the first attempt started instead of taking a second,
    // unless that one never left `queued` (judged by Glance's clock): then it is deleted and a fresh one taken.
    const { images, now } = await this.#glance.listImagesWithClock({ name });
    const clock = now ?? Date.now();
    for (const image of images) {
      if (!hasTags(image.metadata, metadata) || image.state === 'killed' || image.state === 'deleted') continue;
      const created = image.created === undefined ? NaN : Date.parse(image.created);
      if (image.state === 'queued' && !Number.isNaN(created) && clock - created >= staleAfter) {
        await gone(() => this.#glance.deleteImage(image.id));
        continue;
      }
      return image.id;
    }
    return this.#nova.createImage(serverId, name, metadata);
  }

  async uploadImage(spec: ImageUploadSpec): Promise<ImageUploadResult> {
    validateMetadata(spec.metadata);
    if (!spec.metadata[TAGS.provider]) {
      throw new Invalid(`image.upload: refusing an image without the ${TAGS.provider} tag`, {
        operation: 'image.upload',
      });
    }
    // A retried upload reuses what an earlier attempt left: the upload ID tag makes a match ours.
    let target: Image | undefined;
    for (const image of await this.#glance.listImages({ name: spec.name })) {
      if (!hasTags(image.metadata, spec.metadata)) continue;
      if (image.state === 'active') {
        // The earlier attempt finished but its answer was lost: keep the image if it holds this file.
        const digest = await digestFile(spec.path);
        const verifiedBy = await verifyChecksum(image, digest, spec.path).catch(() => undefined);
        if (verifiedBy !== undefined) return { image, ...digest, verifiedBy };
        await gone(() => this.#glance.deleteImage(image.id));
      } else if (image.state === 'queued' && !target) {
        target = image;
      } else {
        await gone(() => this.#glance.deleteImage(image.id));
      }
    }
    target ??= await this.#glance.createImage({
      name: spec.name,
      diskFormat: spec.diskFormat,
      containerFormat: spec.containerFormat ?? 'bare',
      metadata: spec.metadata,
    });
    const digest = await this.#sendData(target, spec.path);
    const image = await this.#settled(target.id);
    let verifiedBy: string | null;
    try {
      verifiedBy = await verifyChecksum(image, digest, spec.path);
    } catch (err) {
      // A corrupt image must never be booted: delete it so the retry starts clean.
      await gone(() => this.#glance.deleteImage(image.id));
      throw err;
    }
    return { image, ...digest, verifiedBy };
  }

  async getImage(id: string): Promise<Image> {
    return this.#glance.getImage(id);
  }

  async deleteImage(id: string): Promise<DeleteResult> {
    return gone(() => this.#glance.deleteImage(id));
  }

  async listImages(filter: { name?: string } = {}): Promise<Image[]> {
    return this.#glance.listImages(filter);
  }

  async listFlavors(): Promise<Flavor[]> {
    this.#flavors = await this.#nova.listFlavors();
    this.#flavorsAt = Date.now();
    return this.#flavors;
  }

  async getQuota(): Promise<Quota> {
    return this.#nova.getQuota();
  }

  /**
   * Sends the image data: direct upload, or Glance's interoperable import when clouds.yaml asks for it or the
   * cloud refuses the upload (403) but offers glance-direct. Data refused for good deletes the image first, so
   * no tagged empty record is left behind.
   */
  async #sendData(target: Image, path: string): Promise<StreamedDigest> {
    const timeout = this.#opts.uploadTimeoutMs ?? 6 * 3600_000;
    const viaImport = async () => {
      const digest = await this.#glance.stageData(target.id, path, timeout);
      await this.#glance.importStaged(target.id);
      return digest;
    };
    try {
      if (this.#cloud.imageUseImport) return await viaImport();
      try {
        return await this.#glance.uploadData(target.id, path, timeout);
      } catch (err) {
        if (!(err instanceof Invalid && err.status === 403)) throw err;
        if (!(await this.#glance.importMethods()).includes('glance-direct')) throw err;
        return await viaImport();
      }
    } catch (err) {
      if (err instanceof Invalid || err instanceof QuotaExceeded) await gone(() => this.#glance.deleteImage(target.id));
      throw err;
    }
  }

  /** Network names resolved to UUIDs through Neutron (cached a few minutes); 'auto' and 'none' as they are. */
  async #networks(networks: ServerSpec['networks']): Promise<CreateServerBody['networks']> {
    if (networks === undefined || networks === 'auto' || (Array.isArray(networks) && networks.length === 0)) {
      return 'auto';
    }
    if (networks === 'none') return 'none';
    const uuids: { uuid: string }[] = [];
    for (const entry of networks) {
      if (isUuid(entry)) {
        uuids.push({ uuid: entry });
        continue;
      }
      const cached = this.#networkIds.get(entry);
      if (cached && Date.now() - cached.at < NETWORK_CACHE_MS) {
        uuids.push({ uuid: cached.id });
        continue;
      }
      const id = await this.#neutron.resolve(entry, this.cloudName);
      this.#networkIds.set(entry, { id, at: Date.now() });
      uuids.push({ uuid: id });
    }
    return uuids;
  }

  /** Nova 2.47 names the flavor but gives no id; the flavor list gives it back, so every Server looks the same. */
  async #withFlavorIds(servers: Server[]): Promise<Server[]> {
    const missing = servers.some((s) => s.flavor.id === undefined && s.flavor.name !== undefined);
    if (!missing) return servers;
    const unknown = servers.some((s) => s.flavor.name && !this.#flavors?.some((f) => f.name === s.flavor.name));
    // A flavor deleted since its servers booted is not worth a flavor list on every get: refresh now and then.
    if (!this.#flavors || (unknown && Date.now() - this.#flavorsAt > FLAVOR_REFRESH_MS)) await this.listFlavors();
    for (const s of servers) {
      if (s.flavor.id !== undefined || s.flavor.name === undefined) continue;
      const f = this.#flavors?.find((x) => x.name === s.flavor.name);
      if (f) s.flavor = { id: f.id, name: f.name, vcpus: s.flavor.vcpus ?? f.vcpus, ramMB: s.flavor.ramMB ?? f.ramMB };
    }
    return servers;
  }

  async #findServer(name: string, tags: Metadata): Promise<Server | undefined> {
    // Nova's name filter is a regular expression; anchor and escape it, then check exactly ourselves.
    const pattern = `^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
    const found = (await this.#nova.listServers({ name: pattern }))
      .map(toServer)
      .filter((s) => s.name === name && hasTags(s.metadata, tags) && s.state !== 'deleted' && s.state !== 'deleting');
    return found[0] && (await this.#withFlavorIds([found[0]]))[0];
  }

  async #flavor(flavor: string): Promise<Flavor> {
    const pick = (list: Flavor[]) => list.find((f) => f.id === flavor) ?? list.find((f) => f.name === flavor);
    const found = pick(this.#flavors ?? []) ?? pick(await this.listFlavors());
    if (!found) {
      const names = (this.#flavors ?? []).map((f) => f.name).join(', ');
      throw new Invalid(`server.create: flavor ${flavor} not found in cloud ${this.cloudName} (it has: ${names})`, {
        operation: 'server.create',
      });
    }
    return found;
  }

  /** Glance may still be `saving` right after the PUT returns; wait (bounded) for it to settle. */
  async #settled(id: string): Promise<Image> {
    const deadline = Date.now() + (this.#opts.imageSettleMs ?? 600_000);
    for (let delay = 100; ; delay = Math.min(delay * 2, 5000)) {
      const image = await this.#glance.getImage(id);
      if (image.state === 'active') return image;
      if (image.failedImport !== undefined) {
        // Glance put the image back to queued: the import will not finish by waiting.
        await gone(() => this.#glance.deleteImage(id));
        throw new Invalid(`image.upload: Glance could not import image ${id} (failed stores: ${image.failedImport})`, {
          operation: 'image.upload',
        });
      }
      if (image.state !== 'saving' && image.state !== 'queued') {
        throw new Transient(`image.upload: image ${id} is ${image.rawStatus} after upload`, {
          operation: 'image.upload',
        });
      }
      if (Date.now() > deadline) {
        throw new Transient(`image.upload: image ${id} still ${image.rawStatus} after upload`, {
          operation: 'image.upload',
        });
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  async #endpoint(service: 'compute' | 'image' | 'network'): Promise<string> {
    const override = this.#cloud.endpointOverrides[service];
    const url =
      override ?? (await this.#keystone.endpoint(service, this.#cloud.interfaces[service], this.#cloud.regionName));
    if (service === 'compute') {
      // Catalogs usually list Nova versioned (…/v2.1 or …/v2.1/<project>); add the version when one does not.
      return /\/v2(\.1)?(\/[^/]+)?$/.test(url) ? url : `${url}/v2.1`;
    }
    if (service === 'network') return url.replace(/\/v2\.0$/, '');
    // Glance is listed unversioned and its `next` links start with /v2, so keep the base unversioned.
    return url.replace(/\/v2(\.\d+)?$/, '');
  }

  async #callService(service: 'compute' | 'image' | 'network', req: ServiceRequest): Promise<HttpResponse> {
    const base = await this.#endpoint(service);
    for (let attempt = 1; ; attempt++) {
      const token = await this.#keystone.token();
      try {
        return await this.#http.request({
          ...req,
          url: joinUrl(base, req.path, req.query),
          headers: { ...req.headers, 'x-auth-token': token },
        });
      } catch (err) {
        // A token Keystone revoked or that expired early: fetch a new one once, then give up.
        if (err instanceof ProviderError && err.status === 401 && attempt === 1) {
          this.#keystone.invalidate(token);
          continue;
        }
        throw err;
      }
    }
  }

  #secrets(): (string | undefined)[] {
    const c = this.#cloud.credentials;
    return [c.kind === 'password' ? c.password.reveal() : c.secret.reveal(), this.#keystone?.currentToken()];
  }
}

async function gone(op: () => Promise<void>): Promise<DeleteResult> {
  try {
    await op();
    return 'deleted';
  } catch (err) {
    if (err instanceof NotFound) return 'already-gone';
    throw err;
  }
}

/**
 * Compares what Glance stored with what we streamed: sha512 or md5 from the stream, any other os_hash_algo by
 * re-reading the file. Returns how it was verified, or throws after deleting a corrupt image.
 */
async function verifyChecksum(
  image: Image,
  digest: { sha512: string; md5: string; bytes: number },
  path: string,
): Promise<string | null> {
  const mismatch = (what: string) =>
    new Transient(`image.upload: ${what} of image ${image.id} does not match the file sent`, {
      operation: 'image.upload',
    });
  if (image.size !== undefined && image.size !== digest.bytes) throw mismatch('size');
  if (image.hashAlgo && image.hashValue) {
    const algo = image.hashAlgo.toLowerCase();
    const ours = algo === 'sha512' ? digest.sha512 : await hashFile(path, algo);
    if (ours !== undefined) {
      if (ours !== image.hashValue.toLowerCase()) throw mismatch(algo);
      return algo;
    }
  }
  if (image.checksum) {
    if (image.checksum.toLowerCase() !== digest.md5) throw mismatch('md5 checksum');
    return 'md5';
  }
  return null;
}

async function digestFile(path: string): Promise<{ sha512: string; md5: string; bytes: number }> {
  const sha512 = createHash('sha512');
  const md5 = createHash('md5');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    sha512.update(chunk as Buffer);
    md5.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha512: sha512.digest('hex'), md5: md5.digest('hex'), bytes };
}

async function hashFile(path: string, algo: string): Promise<string | undefined> {
  if (!getHashes().includes(algo)) return undefined;
  const hash = createHash(algo);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
