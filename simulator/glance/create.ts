// POST /v2/images: a new queued image record, optionally with a caller-chosen id, validated attribute by attribute.
import type { Cloud } from '../cloud.ts';
import type { Reply, RequestContext } from '../http.ts';
import { HttpError, isObject, readJson } from '../http.ts';
import type { TokenRecord } from '../state.ts';
import { importHeaders } from './import.ts';
import { newImageRecord, renderImage } from './records.ts';
import { checkPropertyQuota, schemaError, setAttribute } from './schema.ts';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function createImage(cloud: Cloud, ctx: RequestContext, token: TokenRecord): Promise<Reply> {
  const body = await readJson(ctx.req, 'image');
  if (!isObject(body)) throw new HttpError(400, 'Body expected in request.');
  let id: string;
  if (body.id !== undefined) {
    if (typeof body.id !== 'string' || !UUID_RE.test(body.id)) throw schemaError(body.id, 'uuid', 'id');
    if (cloud.state.images[body.id]) throw new HttpError(409, `Image with identifier ${body.id} already exists!`);
    id = body.id;
  } else id = cloud.uuid();
  const img = newImageRecord(cloud, { id, region: ctx.region, owner: token.projectId ?? '' });
  for (const [key, value] of Object.entries(body)) {
    if (key !== 'id') setAttribute(img, key, value);
  }
  checkPropertyQuota(img);
  cloud.state.images[id] = img;
  cloud.save();
  return {
    status: 201,
    headers: { Location: `${cloud.imageUrl(ctx.region)}/v2/images/${id}`, ...importHeaders(cloud) },
    json: renderImage(img),
  };
}
