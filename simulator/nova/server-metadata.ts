// /servers/{id}/metadata and /metadata/{key}: read, merge, replace and delete a server's metadata items.
import type { Cloud } from '../cloud.ts';
import type { Reply, RequestContext } from '../http.ts';
import { HttpError, isObject, isoSeconds, readJson } from '../http.ts';
import type { ServerRecord } from '../state.ts';
import { checkMetadata, invalid } from './validation.ts';

export async function serverMetadata(cloud: Cloud, ctx: RequestContext, s: ServerRecord, key?: string): Promise<Reply> {
  if (key === undefined) {
    if (ctx.method === 'GET') return { status: 200, json: { metadata: s.metadata } };
    if (ctx.method === 'POST' || ctx.method === 'PUT') {
      const body = await readJson(ctx.req, 'compute');
      if (!isObject(body)) throw invalid('root', body, "'metadata' is a required property");
      const incoming = checkMetadata(cloud, body.metadata, 'metadata');
      const merged = ctx.method === 'POST' ? { ...s.metadata, ...incoming } : incoming;
      s.metadata = checkMetadata(cloud, merged, 'metadata');
      s.updated = isoSeconds(Date.now());
      cloud.save();
      return { status: 200, json: { metadata: s.metadata } };
    }
    throw new HttpError(405, 'The method is not allowed for the requested URL.');
  }
  if (ctx.method === 'GET') {
    const value = s.metadata[key];
    if (value === undefined) throw new HttpError(404, 'Metadata item was not found');
    return { status: 200, json: { meta: { [key]: value } } };
  }
  if (ctx.method === 'PUT') {
    const body = await readJson(ctx.req, 'compute');
    if (!isObject(body) || !isObject(body.meta) || Object.keys(body.meta).length !== 1) {
      throw invalid('meta', isObject(body) ? body.meta : body, 'meta must hold exactly one item');
    }
    if (!(key in body.meta)) throw new HttpError(400, 'Request body and URI mismatch');
    const merged = checkMetadata(cloud, { ...s.metadata, ...body.meta }, 'meta');
    s.metadata = merged;
    s.updated = isoSeconds(Date.now());
    cloud.save();
    return { status: 200, json: { meta: { [key]: merged[key] } } };
  }
  if (ctx.method === 'DELETE') {
    if (!(key in s.metadata)) throw new HttpError(404, 'Metadata item was not found');
    delete s.metadata[key];
    s.updated = isoSeconds(Date.now());
    cloud.save();
    return { status: 204 };
  }
  throw new HttpError(405, 'The method is not allowed for the requested URL.');
}
