// The image catalog's decisions for one provider: how an upload's reported state merges into what the catalog
// knows, what operators may delete, which cloud images are leaks. Pure: the catalog workflow holds the state,
// these decide. Retention itself (which uploads go) is core/retention.ts.
import { currentUpload, type UploadState } from './retention.ts';

export interface CatalogUpload {
  /** The short integer operators type (`image-delete 168696`): the image_upload row's id. */
  id: number;
  image: string;
  buildId: number;
  /** The build's version: unix seconds at its start, as in the seed (1394514268). */
  version: number;
  state: UploadState;
  /** The seed's Hostname column: the template server's name (snapshot builds) or the cloud image's name. */
  hostname: string;
  /** The image's name in the cloud. */
  externalName: string;
  /** The cloud's image id, once it exists. */
  externalId?: string;
  /** The template server a snapshot build booted. */
  serverId?: string;
  format?: string;
  /** Workflow time (ms) of the last state change: image-list's Age. */
  stateSince: number;
  /** Why it failed, was withdrawn, or waits. */
  reason?: string;
  /** Deleted by an operator (image-delete): never current again. */
  withdrawn?: boolean;
  /** The diskimage asks for a validation boot before the upload becomes current. */
  validate?: boolean;
}

/** What a build (or the catalog itself) reports about an upload. */
export type UploadReport = Omit<CatalogUpload, 'stateSince'> & { at: number };

// Progress a build reports moves forward only: a late or repeated report never takes an upload back.
const RANK: Record<UploadState, number> = {
  building: 0,
  uploading: 1,
  validating: 2,
  ready: 3,
  failed: 3,
  deleting: 4,
  deleted: 5,
};

/**
 * Merges a report into the catalog's uploads. Reports are idempotent (a retried activity sends the same one
 * twice) and may arrive late; once an upload is deleting or deleted only the catalog's own deletion moves it.
 * Returns the new list and whether anything changed.
 */
export function applyUploadReport(
  uploads: readonly CatalogUpload[],
  report: UploadReport,
): { uploads: CatalogUpload[]; changed: boolean } {
  const { at, ...fields } = report;
  const i = uploads.findIndex((u) => u.id === report.id);
  if (i < 0) return { uploads: [...uploads, { ...fields, stateSince: at }], changed: true };
  const old = uploads[i] as CatalogUpload;
  const sticky = old.state === 'deleting' || old.state === 'deleted';
  const forward = sticky
    ? report.state === 'deleted'
    : RANK[report.state] >= RANK[old.state] ||
      // `image-build --retry` uploads a failed upload again.
      (old.state === 'failed' && (report.state === 'building' || report.state === 'uploading'));
  let next: CatalogUpload;
  if (forward) {
    next = { ...old, ...fields, stateSince: report.state === old.state ? old.stateSince : at };
    if (report.state !== 'failed' && report.reason === undefined) delete next.reason;
  } else {
    // A late report: keep the state, but take the cloud ids it learnt (an upload finds its image id late).
    next = { ...old };
    if (old.externalId === undefined && fields.externalId !== undefined) next.externalId = fields.externalId;
    if (old.serverId === undefined && fields.serverId !== undefined) next.serverId = fields.serverId;
  }
  const changed = JSON.stringify(next) !== JSON.stringify(old);
  const out = [...uploads];
  out[i] = next;
  return { uploads: out, changed };
}

export type DeleteRefusal = { refused: string };

/**
 * Whether an operator may delete upload `id` now (image-delete). Deleting a bad current image is the seed's
 * runbook; deleting the only READY image of a pair leaves no image to boot that label there, so it needs force.
 */
export function checkOperatorDelete(
  uploads: readonly CatalogUpload[],
  id: number,
  provider: string,
  force: boolean,
): DeleteRefusal | { ok: CatalogUpload } {
  const u = uploads.find((x) => x.id === id);
  if (!u) return { refused: `image upload ${id} is not in provider ${provider}'s catalog` };
  if (u.state === 'deleting' || u.state === 'deleted')
    return { refused: `image upload ${id} (${u.image} in ${provider}) is already ${u.state}` };
  if (u.state === 'building' || u.state === 'uploading')
    return {
      refused:
        `image upload ${id} (${u.image} in ${provider}) is still ${u.state}; wait for it to finish or fail, ` +
        `or pause the image first (nodepool image-pause ${u.image})`,
    };
  if (u.state === 'ready' && !force) {
    const others = uploads.filter((x) => x.image === u.image && x.id !== id && x.state === 'ready' && !x.withdrawn);
    if (others.length === 0)
      return {
        refused:
          `image upload ${id} is the only READY ${u.image} image in ${provider}: deleting it leaves no image to boot ` +
          `new ${u.image} nodes there until the next build. Pass --force to delete it anyway`,
      };
  }
  return { ok: u };
}

export interface CloudImage {
  id: string;
  name: string;
  /** Our upload id tag, when the image carries one. */
  uploadId?: string;
}

/**
 * Leak detection: images tagged as ours whose upload the catalog does not hold (or holds as deleted) are
 * suspects; a suspect seen on two consecutive passes is deleted. Images without our tag never reach here
 * (the activity filters by the provider tag). `suspects` maps image id → passes seen so far.
 */
export function findLeakedImages(
  images: readonly CloudImage[],
  uploads: readonly CatalogUpload[],
  suspects: Readonly<Record<string, number>>,
): { leaked: CloudImage[]; suspects: Record<string, number> } {
  const live = new Set(uploads.filter((u) => u.state !== 'deleted').map((u) => String(u.id)));
  const liveImages = new Set(uploads.filter((u) => u.state !== 'deleted' && u.externalId).map((u) => u.externalId));
  const next: Record<string, number> = {};
  const leaked: CloudImage[] = [];
  for (const image of images) {
    const known =
      liveImages.has(image.id) ||
      // An upload in progress may not know its cloud id yet; its tag ties the image to it.
      (image.uploadId !== undefined &&
        live.has(image.uploadId) &&
        !uploads.some((u) => String(u.id) === image.uploadId && u.externalId && u.externalId !== image.id));
    if (known) continue;
    const seen = (suspects[image.id] ?? 0) + 1;
    if (seen >= 2) leaked.push(image);
    else next[image.id] = seen;
  }
  return { leaked, suspects: next };
}

/** The current upload per image: what new nodes boot (core/retention.ts decides which). */
export function currentByImage(uploads: readonly CatalogUpload[]): Record<string, CatalogUpload> {
  const byImage = new Map<string, CatalogUpload[]>();
  for (const u of uploads) byImage.set(u.image, [...(byImage.get(u.image) ?? []), u]);
  const out: Record<string, CatalogUpload> = {};
  for (const [image, list] of byImage) {
    const current = currentUpload(list);
    if (current) out[image] = list.find((u) => u.id === current.id) as CatalogUpload;
  }
  return out;
}
