// Glance v2 subset: version discovery, image records (create/get/list/patch/delete, tags, custom properties)
// and image data, streamed to disk through the hashers (never buffered whole), optionally throttled.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Cloud } from './cloud.ts';
import type { Reply, RequestContext } from './http.ts';
import { HttpError, isObject, isoSeconds, readJson } from './http.ts';
import type { Operation } from './knobs.ts';
import type { ImageRecord, TokenRecord } from './state.ts';

export const DISK_FORMATS = ['ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop'];
export const CONTAINER_FORMATS = ['ami', 'ari', 'aki', 'bare', 'ovf', 'ova', 'docker', 'compressed'];
const VISIBILITIES = ['public', 'private', 'shared', 'community'];
const READ_ONLY = [
  'status',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'size',
  'virtual_size',
  'created_at',
  'updated_at',
  'self',
  'file',
  'schema',
  'direct_url',
  'locations',
  'owner',
];
const BASE = ['id', 'name', 'visibility', 'protected', 'os_hidden', 'min_disk', 'min_ram', 'disk_format'];
const BASE_KEYS = new Set([...BASE, 'container_format', 'tags', ...READ_ONLY]);
const PROPERTY_QUOTA = 128;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SUPPORTED_VERSIONS = 16;

/** GET on the image root answers 300 with every v2 minor version, as Glance does. */
export function imageDiscovery(cloud: Cloud, ctx: RequestContext): Reply | undefined {
  if (ctx.method !== 'GET') return undefined;
  const isRoot = ctx.path.length === 0 || (ctx.path.length === 1 && ctx.path[0] === 'versions');
  if (!isRoot) return undefined;
  const versions = [];
  for (let minor = SUPPORTED_VERSIONS; minor >= 0; minor--) {
    versions.push({
      id: `v2.${minor}`,
      status: minor === SUPPORTED_VERSIONS ? 'CURRENT' : 'SUPPORTED',
      links: [{ rel: 'self', href: `${cloud.imageUrl(ctx.region)}/v2/` }],
    });
  }
  return { status: ctx.path.length === 0 ? 300 : 200, json: { versions } };
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

/** jsonschema messages print values the way Python's repr does. */
function pyRepr(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
}

function schemaError(value: unknown, allowed: string[] | string, field: string): HttpError {
  const what = Array.isArray(allowed)
    ? `${pyRepr(value)} is not one of [${allowed.map((a) => `'${a}'`).join(', ')}]`
    : `${pyRepr(value)} is not of type '${allowed}'`;
  return new HttpError(
    400,
    `Provided object does not match schema 'image': ${what}\n\nFailed validating in schema['properties']['${field}']`,
  );
}

/** Applies one base or custom attribute to a record, validating it the way the image schema does. */
function setAttribute(img: ImageRecord, key: string, value: unknown): void {
  switch (key) {
    case 'name':
      if (value !== null && (typeof value !== 'string' || value.length > 255)) throw schemaError(value, 'string', key);
      img.name = value as string | null;
      return;
    case 'disk_format':
      if (value !== null && !DISK_FORMATS.includes(value as string)) throw schemaError(value, DISK_FORMATS, key);
      img.diskFormat = value as string | null;
      return;
    case 'container_format':
      if (value !== null && !CONTAINER_FORMATS.includes(value as string)) {
        throw schemaError(value, CONTAINER_FORMATS, key);
      }
      img.containerFormat = value as string | null;
      return;
    case 'visibility':
      if (!VISIBILITIES.includes(value as string)) throw schemaError(value, VISIBILITIES, key);
      img.visibility = value as string;
      return;
    case 'protected':
    case 'os_hidden':
      if (typeof value !== 'boolean') throw schemaError(value, 'boolean', key);
      if (key === 'protected') img.protected = value;
      else img.osHidden = value;
      return;
    case 'min_disk':
    case 'min_ram':
      if (!Number.isInteger(value) || (value as number) < 0) throw schemaError(value, 'integer', key);
      if (key === 'min_disk') img.minDisk = value as number;
      else img.minRam = value as number;
      return;
    case 'tags':
      if (!Array.isArray(value) || !value.every((t) => typeof t === 'string' && t.length <= 255)) {
        throw schemaError(value, 'array', key);
      }
      img.tags = [...new Set(value as string[])];
      return;
    default:
      if (READ_ONLY.includes(key)) throw new HttpError(403, `Attribute '${key}' is read-only.`);
      if (key.startsWith('os_glance')) {
        throw new HttpError(403, `Attribute '${key}' is reserved.`);
      }
      if (key.length > 255) throw new HttpError(400, `Property key '${key.slice(0, 40)}…' is longer than 255`);
      if (typeof value !== 'string') throw schemaError(value, 'string', key);
      img.properties[key] = value;
  }
}

function checkPropertyQuota(img: ImageRecord): void {
  if (Object.keys(img.properties).length > PROPERTY_QUOTA) {
    throw new HttpError(413, `Attempted: ${Object.keys(img.properties).length}, Maximum: ${PROPERTY_QUOTA}`);
  }
}

function notFound(id: string): HttpError {
  return new HttpError(404, `No image found with ID ${id}`);
}

function visibleImage(cloud: Cloud, ctx: RequestContext, token: TokenRecord, id: string): ImageRecord {
  const img = cloud.state.images[id];
  if (!img || img.region !== ctx.region || (img.owner !== token.projectId && img.visibility !== 'public')) {
    throw notFound(id);
  }
  return img;
}

async function createImage(cloud: Cloud, ctx: RequestContext, token: TokenRecord): Promise<Reply> {
  const body = await readJson(ctx.req, 'image');
  if (!isObject(body)) throw new HttpError(400, 'Body expected in request.');
  let id: string;
  if (body.id !== undefined) {
    if (typeof body.id !== 'string' || !UUID_RE.test(body.id)) throw schemaError(body.id, 'uuid', 'id');
    if (cloud.state.images[body.id]) throw new HttpError(409, `Image with identifier ${body.id} already exists!`);
    id = body.id;
  } else id = cloud.uuid();
  const now = isoSeconds(Date.now());
  const img: ImageRecord = {
    id,
    seq: cloud.store.nextSeq(),
    region: ctx.region,
    name: null,
    status: 'queued',
    visibility: 'shared',
    protected: false,
    osHidden: false,
    owner: token.projectId ?? '',
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
    createdAt: now,
    updatedAt: now,
  };
  for (const [key, value] of Object.entries(body)) {
    if (key !== 'id') setAttribute(img, key, value);
  }
  checkPropertyQuota(img);
  cloud.state.images[id] = img;
  cloud.save();
  return {
    status: 201,
    headers: { Location: `${cloud.imageUrl(ctx.region)}/v2/images/${id}` },
    json: renderImage(img),
  };
}

const PATCH_TYPES = ['application/openstack-images-v2.1-json-patch', 'application/openstack-images-v2.0-json-patch'];

async function patchImage(cloud: Cloud, ctx: RequestContext, img: ImageRecord): Promise<Reply> {
  const type = (ctx.req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
  if (!PATCH_TYPES.includes(type)) {
    throw new HttpError(415, `Unsupported Content-Type: use ${PATCH_TYPES[0]}`, {
      'Accept-Patch': PATCH_TYPES.join(', '),
    });
  }
  const ops = await readJson(ctx.req, 'image');
  if (!Array.isArray(ops)) throw new HttpError(400, 'Request body must be a JSON array of operation objects.');
  const draft: ImageRecord = structuredClone(img);
  for (const op of ops) {
    if (!isObject(op) || typeof op.op !== 'string' || typeof op.path !== 'string' || !op.path.startsWith('/')) {
      throw new HttpError(400, 'Operation objects must contain exactly one member named "op" and a "path".');
    }
    const key = op.path.slice(1).replace(/~1/g, '/').replace(/~0/g, '~');
    const isBase = BASE_KEYS.has(key);
    if (op.op === 'add' || op.op === 'replace') {
      if (op.op === 'replace' && !isBase && !(key in draft.properties)) {
        throw new HttpError(409, `Property ${key} does not exist.`);
      }
      if (key === 'id') throw new HttpError(403, `Attribute 'id' is read-only.`);
      setAttribute(draft, key, op.value);
    } else if (op.op === 'remove') {
      if (isBase) throw new HttpError(403, `Attribute '${key}' is read-only.`);
      if (!(key in draft.properties)) throw new HttpError(409, `Property ${key} does not exist.`);
      delete draft.properties[key];
    } else {
      throw new HttpError(400, `Invalid operation: '${op.op}'`);
    }
  }
  checkPropertyQuota(draft);
  draft.updatedAt = isoSeconds(Date.now());
  cloud.state.images[img.id] = draft;
  cloud.save();
  return { status: 200, json: renderImage(draft) };
}

/** Paces a stream to `bytesPerSecond` by delaying each chunk until the budget allows it. */
function throttle(bytesPerSecond: number | null): Transform {
  const start = Date.now();
  let sent = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      sent += chunk.length;
      if (bytesPerSecond === null) return done(null, chunk);
      const due = start + (sent / bytesPerSecond) * 1000;
      setTimeout(() => done(null, chunk), Math.max(0, due - Date.now()));
    },
  });
}

async function uploadImage(cloud: Cloud, ctx: RequestContext, img: ImageRecord): Promise<Reply> {
  const type = (ctx.req.headers['content-type'] ?? '').split(';')[0]?.trim();
  if (type !== 'application/octet-stream') {
    throw new HttpError(415, `Content-Type ${type ?? '(none)'} is not supported; send application/octet-stream`);
  }
  if (img.status !== 'queued') {
    throw new HttpError(409, `Image status transition from ${img.status} to saving is not allowed`);
  }
  if (img.diskFormat === null || img.containerFormat === null) {
    throw new HttpError(400, 'Properties disk_format, container_format must be set prior to saving data.');
  }
  const declared = ctx.req.headers['x-openstack-image-size'];
  img.status = 'saving';
  img.updatedAt = isoSeconds(Date.now());
  cloud.save();
  const md5 = createHash('md5');
  const sha512 = createHash('sha512');
  let size = 0;
  const hasher = new Transform({
    transform(chunk: Buffer, _enc, done) {
      md5.update(chunk);
      sha512.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  const final = cloud.store.imageFile(img.id);
  const partial = `${final}.partial`;
  const backToQueued = () => {
    rmSync(partial, { force: true });
    const current = cloud.state.images[img.id];
    if (current && current.status === 'saving') {
      current.status = 'queued';
      current.updatedAt = isoSeconds(Date.now());
      cloud.save();
    }
  };
  try {
    await pipeline(ctx.req, throttle(cloud.knobs.uploadBytesPerSecond), hasher, createWriteStream(partial));
  } catch (err) {
    backToQueued();
    throw new HttpError(400, `Image upload was interrupted: ${(err as Error).message}`);
  }
  const current = cloud.state.images[img.id];
  if (!current) {
    rmSync(partial, { force: true });
    throw new HttpError(410, 'Image was deleted during upload.');
  }
  if (typeof declared === 'string' && declared !== '' && Number(declared) !== size) {
    backToQueued();
    throw new HttpError(400, `Image size ${size} does not match the x-openstack-image-size header ${declared}`);
  }
  renameSync(partial, final);
  current.status = 'active';
  current.size = size;
  current.virtualSize = null;
  current.checksum = md5.digest('hex');
  current.osHashAlgo = 'sha512';
  current.osHashValue = sha512.digest('hex');
  current.updatedAt = isoSeconds(Date.now());
  cloud.save();
  return { status: 204 };
}

function downloadImage(cloud: Cloud, img: ImageRecord): Reply {
  if (img.status !== 'active') return { status: 204 };
  const file = cloud.store.imageFile(img.id);
  const size = statSync(file).size;
  return {
    status: 200,
    headers: {
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(size),
      ...(img.checksum ? { 'Content-MD5': img.checksum } : {}),
    },
    stream: createReadStream(file),
  };
}

const LIST_RESERVED = new Set([
  'limit',
  'marker',
  'sort_key',
  'sort_dir',
  'sort',
  'name',
  'status',
  'visibility',
  'owner',
  'tag',
  'size_min',
  'size_max',
  'member_status',
  'os_hidden',
  'created_at',
  'updated_at',
  'id',
]);
const SORT_KEYS: Record<string, (i: ImageRecord) => string | number> = {
  created_at: (i) => i.seq,
  updated_at: (i) => i.updatedAt,
  name: (i) => i.name ?? '',
  id: (i) => i.id,
  status: (i) => i.status,
  size: (i) => i.size ?? -1,
  disk_format: (i) => i.diskFormat ?? '',
  container_format: (i) => i.containerFormat ?? '',
  visibility: (i) => i.visibility,
  min_disk: (i) => i.minDisk,
  min_ram: (i) => i.minRam,
};

function listImages(cloud: Cloud, ctx: RequestContext, token: TokenRecord): Reply {
  const p = ctx.url.searchParams;
  let images = Object.values(cloud.state.images).filter(
    (i) => i.region === ctx.region && (i.owner === token.projectId || i.visibility === 'public'),
  );
  const visibility = p.get('visibility');
  if (visibility !== null && visibility !== 'all') {
    if (!VISIBILITIES.includes(visibility)) throw new HttpError(400, `Invalid visibility value: ${visibility}`);
    images = images.filter((i) => i.visibility === visibility);
  } else if (visibility === null) {
    images = images.filter((i) => i.visibility !== 'community');
  }
  const hidden = p.get('os_hidden');
  images = images.filter((i) => i.osHidden === (hidden === 'true'));
  const name = p.get('name');
  if (name !== null) images = images.filter((i) => i.name === name);
  const status = p.get('status');
  if (status !== null) {
    const wanted = status.startsWith('in:') ? status.slice(3).split(',') : [status];
    images = images.filter((i) => wanted.includes(i.status));
  }
  const owner = p.get('owner');
  if (owner !== null) images = images.filter((i) => i.owner === owner);
  for (const tag of p.getAll('tag')) images = images.filter((i) => i.tags.includes(tag));
  const sizeMin = p.get('size_min');
  if (sizeMin !== null) images = images.filter((i) => (i.size ?? -1) >= Number(sizeMin));
  const sizeMax = p.get('size_max');
  if (sizeMax !== null) images = images.filter((i) => i.size !== null && i.size <= Number(sizeMax));
  for (const [key, value] of p.entries()) {
    if (LIST_RESERVED.has(key)) continue;
    if (BASE_KEYS.has(key)) {
      images = images.filter((i) => String((renderImage(i) as Record<string, unknown>)[key]) === value);
    } else {
      images = images.filter((i) => i.properties[key] === value);
    }
  }

  const sort: Array<[string, 'asc' | 'desc']> = [];
  const sortParam = p.get('sort');
  if (sortParam !== null) {
    for (const part of sortParam.split(',')) {
      const [k = '', d = 'desc'] = part.split(':');
      sort.push([k, d as 'asc' | 'desc']);
    }
  } else {
    const keys = p.getAll('sort_key');
    const dirs = p.getAll('sort_dir');
    (keys.length > 0 ? keys : ['created_at']).forEach((k, i) =>
      sort.push([k, (dirs[i] ?? dirs[0] ?? 'desc') as 'asc' | 'desc']),
    );
  }
  for (const [k, d] of sort) {
    if (!(k in SORT_KEYS)) throw new HttpError(400, `Invalid sort key: ${k}. It is not in the list of allowed keys.`);
    if (d !== 'asc' && d !== 'desc') throw new HttpError(400, `Invalid sort direction: ${String(d)}`);
  }
  images.sort((a, b) => {
    for (const [k, d] of sort) {
      const f = SORT_KEYS[k]!;
      const x = f(a);
      const y = f(b);
      if (x !== y) return (x < y ? -1 : 1) * (d === 'asc' ? 1 : -1);
    }
    return a.seq === b.seq ? 0 : a.seq < b.seq ? 1 : -1;
  });
  const marker = p.get('marker');
  if (marker !== null) {
    const at = images.findIndex((i) => i.id === marker);
    if (at < 0) throw new HttpError(400, `Invalid marker. Image ${marker} could not be found.`);
    images = images.slice(at + 1);
  }
  const rawLimit = p.get('limit');
  let limit = 25;
  if (rawLimit !== null) {
    if (!/^\d+$/.test(rawLimit)) throw new HttpError(400, `limit param must be an integer`);
    limit = Math.min(Number(rawLimit), 1000);
  }
  const page = images.slice(0, limit);
  const base = new URLSearchParams(p);
  base.delete('marker');
  const q = base.toString();
  const json: Record<string, unknown> = {
    images: page.map(renderImage),
    first: q === '' ? '/v2/images' : `/v2/images?${q}`,
    schema: '/v2/schemas/images',
  };
  const last = page[page.length - 1];
  if (page.length === limit && last !== undefined) {
    base.set('marker', last.id);
    json.next = `/v2/images?${base.toString()}`;
  }
  return { status: 200, json };
}

/** Which fault-injection operation an image request counts as (see knobs.ts). */
export function imageOperation(ctx: RequestContext): Operation | undefined {
  const [v, coll, id, sub] = ctx.path;
  if (v !== 'v2' || coll !== 'images') return undefined;
  if (id === undefined) return ctx.method === 'POST' ? 'image.create' : 'image.list';
  if (sub === 'file') return ctx.method === 'PUT' ? 'image.upload' : 'image.get';
  if (ctx.method === 'DELETE' && sub === undefined) return 'image.delete';
  return ctx.method === 'GET' ? 'image.get' : 'image.create';
}

/** Authenticated routes under /<region>/image/v2. */
export async function image(cloud: Cloud, ctx: RequestContext, token: TokenRecord): Promise<Reply> {
  const [v, coll, id, sub, tag, ...extra] = ctx.path;
  const m = ctx.method;
  if (v !== 'v2' || extra.length > 0) throw new HttpError(404, 'The resource could not be found.');
  if (coll === 'schemas' && m === 'GET' && (id === 'image' || id === 'images')) {
    return { status: 200, json: { name: id, properties: {}, additionalProperties: { type: 'string' } } };
  }
  if (coll === 'info' && id === 'import') throw new HttpError(404, 'The resource could not be found.');
  if (coll !== 'images') throw new HttpError(404, 'The resource could not be found.');
  if (id === undefined) {
    if (m === 'POST') return createImage(cloud, ctx, token);
    if (m === 'GET') return listImages(cloud, ctx, token);
    throw new HttpError(405, 'The method is not allowed for the requested URL.');
  }
  const img = visibleImage(cloud, ctx, token, id);
  if (sub === undefined) {
    if (m === 'GET') return { status: 200, json: renderImage(img) };
    if (m === 'PATCH') return patchImage(cloud, ctx, img);
    if (m === 'DELETE') {
      if (img.protected) throw new HttpError(403, `Image ${id} is protected and cannot be deleted.`);
      delete cloud.state.images[id];
      cloud.save();
      rmSync(cloud.store.imageFile(id), { force: true });
      return { status: 204 };
    }
  } else if (sub === 'file' && tag === undefined) {
    if (m === 'PUT') return uploadImage(cloud, ctx, img);
    if (m === 'GET') return downloadImage(cloud, img);
  } else if (sub === 'tags' && tag !== undefined) {
    const t = decodeURIComponent(tag);
    if (m === 'PUT') {
      if (t.length > 255) throw new HttpError(400, 'Tag is longer than 255 characters.');
      if (!img.tags.includes(t)) img.tags.push(t);
    } else if (m === 'DELETE') {
      if (!img.tags.includes(t)) throw new HttpError(404, `Tag ${t} not found.`);
      img.tags = img.tags.filter((x) => x !== t);
    } else throw new HttpError(405, 'The method is not allowed for the requested URL.');
    img.updatedAt = isoSeconds(Date.now());
    cloud.save();
    return { status: 204 };
  } else {
    throw new HttpError(404, 'The resource could not be found.');
  }
  throw new HttpError(405, 'The method is not allowed for the requested URL.');
}
