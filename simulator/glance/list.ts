// GET /v2/images: visibility, status, tag, size and property filters, multi-key sorting and marker paging.
import type { Cloud } from '../cloud.ts';
import type { Reply, RequestContext } from '../http.ts';
import { HttpError } from '../http.ts';
import type { ImageRecord, TokenRecord } from '../state.ts';
import { renderImage } from './records.ts';
import { BASE_KEYS, VISIBILITIES } from './schema.ts';

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

export function listImages(cloud: Cloud, ctx: RequestContext, token: TokenRecord): Reply {
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
