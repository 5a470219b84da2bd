// Glance v2 subset: version discovery, the authenticated /<region>/image/v2 routes, and the fault-injection
// operation each image request counts as.
import { rmSync } from 'node:fs';
import type { Cloud } from '../cloud.ts';
import type { Reply, RequestContext } from '../http.ts';
import { HttpError, isoSeconds } from '../http.ts';
import type { Operation } from '../knobs.ts';
import { tokenRoles } from '../keystone.ts';
import type { ImageRecord, TokenRecord } from '../state.ts';
import { createImage } from './create.ts';
import { downloadImage, uploadImage } from './data.ts';
import { listImages } from './list.ts';
import { patchImage } from './patch.ts';
import { renderImage, visibleImage } from './records.ts';
import { imageTasks, importImage, importInfo, stageImage } from './import.ts';

/** Glance's policy names for writes, as its 403s word them; a reader-only token may not write. */
const WRITE_ACTIONS: Record<string, string> = {
  file: 'upload_image',
  stage: 'stage_image',
  import: 'import_image',
  tags: 'modify_image',
  actions: 'deactivate',
};

function requireMember(token: TokenRecord, action: string): void {
  if (!tokenRoles(token).includes('member')) {
    throw new HttpError(403, `You are not authorized to complete ${action} action.`);
  }
}

/** Deactivation hides an image's data (download 403) until it is reactivated. */
function imageAction(cloud: Cloud, img: ImageRecord, action: 'deactivate' | 'reactivate'): Reply {
  if (action === 'deactivate') {
    if (img.status !== 'active' && img.status !== 'deactivated') {
      throw new HttpError(400, `Not allowed to deactivate image in status '${img.status}'`);
    }
    img.status = 'deactivated';
  } else {
    if (img.status !== 'active' && img.status !== 'deactivated') {
      throw new HttpError(400, `Not allowed to reactivate image in status '${img.status}'`);
    }
    img.status = 'active';
  }
  img.updatedAt = isoSeconds(Date.now());
  cloud.save();
  return { status: 204 };
}

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

/** Which fault-injection operation an image request counts as (see knobs.ts). */
export function imageOperation(ctx: RequestContext): Operation | undefined {
  const [v, coll, id, sub] = ctx.path;
  if (v !== 'v2' || coll !== 'images') return undefined;
  if (id === undefined) return ctx.method === 'POST' ? 'image.create' : 'image.list';
  if (sub === 'file') return ctx.method === 'PUT' ? 'image.upload' : 'image.get';
  if (sub === 'stage') return 'image.stage';
  if (sub === 'import') return 'image.import';
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
  if (coll === 'info' && id === 'import' && sub === undefined && m === 'GET') return importInfo(cloud);
  if (coll !== 'images') throw new HttpError(404, 'The resource could not be found.');
  // `/v2/images/` names an image with an empty id: no such image (Glance does not treat it as the collection).
  if (id === undefined && ctx.url.pathname.endsWith('/')) throw new HttpError(404, 'The resource could not be found.');
  if (m !== 'GET' && m !== 'HEAD')
    requireMember(token, WRITE_ACTIONS[sub ?? ''] ?? (id === undefined ? 'add_image' : 'modify_image'));
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
      // Deleting a snapshot Nova is still uploading fails that snapshot: the server is free for another one.
      const source = img.activeAt !== undefined ? cloud.state.servers[String(img.properties.instance_uuid)] : undefined;
      if (source?.taskState?.startsWith('image_')) source.taskState = null;
      delete cloud.state.images[id];
      cloud.save();
      rmSync(cloud.store.imageFile(id), { force: true });
      rmSync(`${cloud.store.imageFile(id)}.staged`, { force: true });
      return { status: 204 };
    }
  } else if (sub === 'file' && tag === undefined) {
    if (m === 'PUT') return uploadImage(cloud, ctx, img);
    if (m === 'GET') return downloadImage(cloud, img);
  } else if (sub === 'stage' && tag === undefined && m === 'PUT') {
    return stageImage(cloud, ctx, img);
  } else if (sub === 'import' && tag === undefined && m === 'POST') {
    return importImage(cloud, ctx, token, img, ctx.requestId);
  } else if (sub === 'tasks' && tag === undefined && m === 'GET') {
    return imageTasks(img);
  } else if (sub === 'actions' && (tag === 'deactivate' || tag === 'reactivate') && m === 'POST') {
    return imageAction(cloud, img, tag);
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
