// The image record: a fresh one with Glance's defaults (shared by uploads and Nova snapshots), the document
// Glance shows for it, and the lookup that hides other projects' private images.
import type { Cloud } from '../cloud.ts';
import type { RequestContext } from '../http.ts';
import { HttpError, isoSeconds } from '../http.ts';
import type { ImageRecord, TokenRecord } from '../state.ts';

/** A queued image with no data yet; `init` overrides any default. */
export function newImageRecord(
  cloud: Cloud,
  init: Pick<ImageRecord, 'id' | 'region' | 'owner'> & Partial<ImageRecord>,
  now = Date.now(),
): ImageRecord {
  const { id, region, owner, ...overrides } = init;
  return {
    id,
    seq: cloud.store.nextSeq(),
    region,
    name: null,
    status: 'queued',
    visibility: 'shared',
    protected: false,
    osHidden: false,
    owner,
    checksum: null,
    osHashAlgo: null,
    osHashValue: null,
    size: null,
    virtualSize: null,
    minDisk: 0,
    minRam: 0,
    diskFormat: null,
    containerFormat: null,
    tags: [],
    properties: {},
    createdAt: isoSeconds(now),
    updatedAt: isoSeconds(now),
    ...overrides,
  };
}

export function renderImage(img: ImageRecord): Record<string, unknown> {
  return {
    ...img.properties,
    id: img.id,
    name: img.name,
    status: img.status,
    visibility: img.visibility,
    protected: img.protected,
    os_hidden: img.osHidden,
    owner: img.owner,
    checksum: img.checksum,
    os_hash_algo: img.osHashAlgo,
    os_hash_value: img.osHashValue,
    size: img.size,
    virtual_size: img.virtualSize,
    min_disk: img.minDisk,
    min_ram: img.minRam,
    disk_format: img.diskFormat,
    container_format: img.containerFormat,
    tags: img.tags,
    created_at: img.createdAt,
    updated_at: img.updatedAt,
    self: `/v2/images/${img.id}`,
    file: `/v2/images/${img.id}/file`,
    schema: '/v2/schemas/image',
  };
}

export function visibleImage(cloud: Cloud, ctx: RequestContext, token: TokenRecord, id: string): ImageRecord {
  const img = cloud.state.images[id];
  if (!img || img.region !== ctx.region || (img.owner !== token.projectId && img.visibility !== 'public')) {
    throw new HttpError(404, `No image found with ID ${id}`);
  }
  return img;
}
