// Nova v2.1 subset behind a project-scoped token: routes /<region>/compute/v2.1 requests to servers,
// flavors, limits and availability zones, and names the fault-injection operation each request counts as.
import type { Cloud } from '../cloud.ts';
import { AVAILABILITY_ZONE } from '../cloud.ts';
import type { Reply, RequestContext } from '../http.ts';
import { HttpError } from '../http.ts';
import type { Operation } from '../knobs.ts';
import { tokenRoles } from '../keystone.ts';
import type { TokenRecord } from '../state.ts';
import { flavorById, listFlavors, renderFlavor } from './flavors.ts';
import { limits } from './quota.ts';
import { serverAction } from './server-actions.ts';
import { createServer } from './server-create.ts';
import { serverMetadata } from './server-metadata.ts';
import { deleteServer, listServers, liveServer, renderServer, updateServer } from './servers.ts';
import { keypairs } from './keypairs.ts';

/** Which fault-injection operation a compute request counts as (see knobs.ts). */
export function computeOperation(ctx: RequestContext): Operation | undefined {
  const [v, coll, id, sub] = ctx.path;
  if (v !== 'v2.1') return undefined;
  if (coll === 'servers') {
    if (id === undefined) return ctx.method === 'POST' ? 'server.create' : 'server.list';
    if (id === 'detail') return 'server.list';
    if (sub === 'action') return 'server.action';
    if (sub === 'metadata') return ctx.method === 'GET' ? 'server.get' : 'server.action';
    return ctx.method === 'DELETE' ? 'server.delete' : 'server.get';
  }
  if (coll === 'flavors') return 'flavor.list';
  if (coll === 'limits') return 'limits.get';
  return undefined;
}

/** Authenticated routes under /<region>/compute/v2.1. */
export async function compute(cloud: Cloud, ctx: RequestContext, token: TokenRecord): Promise<Reply> {
  if (token.projectId === undefined) {
    throw new HttpError(403, 'Policy does not allow this operation: a project-scoped token is required.');
  }
  const [, coll, id, sub, key, ...extra] = ctx.path;
  const m = ctx.method;
  if (extra.length > 0) throw new HttpError(404, 'The resource could not be found.');
  if (m !== 'GET' && m !== 'HEAD' && coll !== 'os-keypairs' && !tokenRoles(token).includes('member')) {
    // Nova's default policies let a project reader look but not change anything.
    const rule = sub === 'metadata' ? 'server-metadata' : 'servers';
    const verb = m === 'DELETE' ? 'delete' : sub === undefined && id === undefined ? 'create' : 'update';
    throw new HttpError(403, `Policy doesn't allow os_compute_api:${rule}:${verb} to be performed.`);
  }
  if (coll === 'servers') {
    if (id === undefined) {
      if (m === 'POST') return createServer(cloud, ctx, token);
      if (m === 'GET') return listServers(cloud, ctx, token, false);
    } else if (id === 'detail' && sub === undefined) {
      if (m === 'GET') return listServers(cloud, ctx, token, true);
    } else {
      const s = liveServer(cloud, ctx, token, id);
      if (sub === undefined) {
        if (m === 'GET') return { status: 200, json: { server: renderServer(cloud, ctx, s) } };
        if (m === 'PUT') return updateServer(cloud, ctx, s);
        if (m === 'DELETE') return deleteServer(cloud, s);
      } else if (sub === 'metadata') {
        return serverMetadata(cloud, ctx, s, key === undefined ? undefined : decodeURIComponent(key));
      } else if (sub === 'action' && key === undefined) {
        if (m === 'POST') return serverAction(cloud, ctx, s);
      } else {
        throw new HttpError(404, 'The resource could not be found.');
      }
    }
    throw new HttpError(405, 'The method is not allowed for the requested URL.');
  }
  if (coll === 'flavors' && m === 'GET') {
    if (id === undefined) return listFlavors(cloud, ctx, false);
    if (id === 'detail' && sub === undefined) return listFlavors(cloud, ctx, true);
    const f = flavorById(id);
    if (!f) throw new HttpError(404, `Flavor ${id} could not be found.`);
    if (sub === undefined) return { status: 200, json: { flavor: renderFlavor(cloud, ctx, f, true) } };
    if (sub === 'os-extra-specs' && key === undefined) return { status: 200, json: { extra_specs: {} } };
  }
  if (coll === 'limits' && id === undefined && m === 'GET') return limits(cloud, ctx, token);
  if (coll === 'os-keypairs' && sub === undefined) {
    return keypairs(cloud, ctx, token, id === undefined ? undefined : decodeURIComponent(id));
  }
  if (coll === 'os-availability-zone' && m === 'GET' && id === undefined) {
    return {
      status: 200,
      json: {
        availabilityZoneInfo: [{ zoneName: AVAILABILITY_ZONE, zoneState: { available: true }, hosts: null }],
      },
    };
  }
  throw new HttpError(404, 'The resource could not be found.');
}
