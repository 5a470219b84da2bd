// PATCH /v2/images/{id}: Glance's JSON-patch dialect, applied to a draft so a bad operation changes nothing.
import type { Cloud } from '../cloud.ts';
import type { Reply, RequestContext } from '../http.ts';
import { HttpError, isObject, isoSeconds, readJson } from '../http.ts';
import type { ImageRecord } from '../state.ts';
import { renderImage } from './records.ts';
import { BASE_KEYS, checkPropertyQuota, setAttribute } from './schema.ts';

const PATCH_TYPES = ['application/openstack-images-v2.1-json-patch', 'application/openstack-images-v2.0-json-patch'];

export async function patchImage(cloud: Cloud, ctx: RequestContext, img: ImageRecord): Promise<Reply> {
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
