// PATCH /v2/images/{id}: Glance's two JSON-patch dialects, applied to a draft so a bad operation changes nothing.
// v2.1 is RFC 6902 ({"op": "replace", "path": "/name", "value": …}); v2.0 names the operation by its key
// ({"replace": "/name", "value": …}), and Glance still reads it when the client sends the v2.0 media type.
import type { Cloud } from '../cloud.ts';
import type { Reply, RequestContext } from '../http.ts';
import { HttpError, isObject, isoSeconds, readJson } from '../http.ts';
import type { ImageRecord } from '../state.ts';
import { renderImage } from './records.ts';
import { BASE_KEYS, checkPropertyQuota, setAttribute } from './schema.ts';

const V21 = 'application/openstack-images-v2.1-json-patch';
const V20 = 'application/openstack-images-v2.0-json-patch';
const OPS = ['add', 'replace', 'remove'] as const;
type Op = (typeof OPS)[number];

interface Change {
  op: Op;
  path: string;
  value: unknown;
}

function readV21(raw: Record<string, unknown>): Change {
  if (typeof raw.op !== 'string') {
    throw new HttpError(400, 'Operation objects must contain exactly one member named "op".');
  }
  if (!(OPS as readonly string[]).includes(raw.op)) {
    throw new HttpError(400, `Invalid operation: \`${raw.op}\`: must be one of: add, remove, replace`);
  }
  if (typeof raw.path !== 'string') throw new HttpError(400, 'Unable to find `path` in JSON Schema change');
  return { op: raw.op as Op, path: raw.path, value: raw.value };
}

function readV20(raw: Record<string, unknown>): Change {
  const named = OPS.filter((op) => op in raw);
  if (named.length === 0) {
    throw new HttpError(400, 'Operation objects must contain exactly one member named "add", "remove", or "replace".');
  }
  if (named.length > 1) {
    throw new HttpError(400, 'Operation objects must contain only one member named "add", "remove", or "replace".');
  }
  const op = named[0]!;
  if (typeof raw[op] !== 'string') throw new HttpError(400, `Unable to find \`path\` in JSON Schema change`);
  return { op, path: raw[op] as string, value: raw.value };
}

export async function patchImage(cloud: Cloud, ctx: RequestContext, img: ImageRecord): Promise<Reply> {
  const type = (ctx.req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
  if (type !== V21 && type !== V20) {
    throw new HttpError(415, `Unsupported Content-Type: use ${V21}`, { 'Accept-Patch': `${V21}, ${V20}` });
  }
  const raw = await readJson(ctx.req, 'image');
  if (!Array.isArray(raw)) throw new HttpError(400, 'Request body must be a JSON array of operation objects.');
  const draft: ImageRecord = structuredClone(img);
  for (const item of raw) {
    if (!isObject(item)) throw new HttpError(400, 'Operations must be JSON objects.');
    const change = type === V21 ? readV21(item) : readV20(item);
    if (!change.path.startsWith('/')) throw new HttpError(400, `Pointer \`${change.path}\` does not start with "/".`);
    const key = change.path.slice(1).replace(/~1/g, '/').replace(/~0/g, '~');
    const isBase = BASE_KEYS.has(key);
    if (change.op === 'add' || change.op === 'replace') {
      if (change.op === 'replace' && !isBase && !(key in draft.properties)) {
        throw new HttpError(409, `Property ${key} does not exist.`);
      }
      if (key === 'id') throw new HttpError(403, `Attribute 'id' is read-only.`);
      setAttribute(draft, key, change.value);
    } else {
      if (key.startsWith('os_glance')) throw new HttpError(403, `Attribute '${key}' is reserved.`);
      if (isBase) throw new HttpError(403, `Attribute '${key}' is read-only.`);
      if (!(key in draft.properties)) throw new HttpError(409, `Property ${key} does not exist.`);
      delete draft.properties[key];
    }
  }
  checkPropertyQuota(draft);
  draft.updatedAt = isoSeconds(Date.now());
  cloud.state.images[img.id] = draft;
  cloud.save();
  return { status: 200, json: renderImage(draft) };
}
