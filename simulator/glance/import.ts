// Glance's interoperable image import, glance-direct only: discovery (GET /v2/info/import), staging
// (PUT /v2/images/{id}/stage: queued → uploading), the import call (202: uploading → importing → active, run in
// the background as Glance's task does) and the image's task list (GET /v2/images/{id}/tasks, API 2.12).
import { createReadStream, rmSync } from 'node:fs';
import type { Cloud } from '../cloud.ts';
import type { Reply, RequestContext } from '../http.ts';
import { HttpError, isObject, isoSeconds, readJson } from '../http.ts';
import type { ImageRecord, ImageTaskRecord, TokenRecord } from '../state.ts';
import { checkFormat, markActive, storeStream } from './data.ts';

export function importInfo(cloud: Cloud): Reply {
  if (cloud.knobs.imageImportMethods.length === 0) throw new HttpError(404, 'The resource could not be found.');
  return {
    status: 200,
    json: {
      'import-methods': {
        description: 'Import methods available.',
        type: 'array',
        value: cloud.knobs.imageImportMethods,
      },
    },
  };
}

/** The header Glance adds to image-create responses when import is enabled. */
export function importHeaders(cloud: Cloud): Record<string, string> {
  const methods = cloud.knobs.imageImportMethods;
  return methods.length === 0 ? {} : { 'OpenStack-image-import-methods': methods.join(',') };
}

function stagedFile(cloud: Cloud, id: string): string {
  return `${cloud.store.imageFile(id)}.staged`;
}

export async function stageImage(cloud: Cloud, ctx: RequestContext, img: ImageRecord): Promise<Reply> {
  if (!cloud.knobs.imageImportMethods.includes('glance-direct')) {
    throw new HttpError(404, 'The resource could not be found.');
  }
  const type = (ctx.req.headers['content-type'] ?? '').split(';')[0]?.trim();
  if (type !== 'application/octet-stream') {
    throw new HttpError(415, `Content-Type ${type ?? '(none)'} is not supported; send application/octet-stream`);
  }
  if (img.status !== 'queued') {
    throw new HttpError(409, `Image status transition from ${img.status} to uploading is not allowed`);
  }
  img.status = 'uploading';
  img.updatedAt = isoSeconds(Date.now());
  cloud.save();
  try {
    await storeStream(cloud, ctx.req, stagedFile(cloud, img.id));
  } catch (err) {
    const current = cloud.state.images[img.id];
    if (current?.status === 'uploading') {
      current.status = 'queued';
      cloud.save();
    }
    throw new HttpError(400, `Image staging was interrupted: ${(err as Error).message}`);
  }
  if (!cloud.state.images[img.id]) {
    rmSync(stagedFile(cloud, img.id), { force: true });
    throw new HttpError(410, 'Image was deleted during staging.');
  }
  return { status: 204 };
}

export async function importImage(
  cloud: Cloud,
  ctx: RequestContext,
  token: TokenRecord,
  img: ImageRecord,
  requestId: string,
): Promise<Reply> {
  const body = await readJson(ctx.req, 'image');
  const method = isObject(body) && isObject(body.method) ? body.method.name : undefined;
  if (typeof method !== 'string') throw new HttpError(400, "Import request requires a 'method' field.");
  if (!(cloud.knobs.imageImportMethods as string[]).includes(method)) {
    throw new HttpError(400, `Import method ${method} is not valid for this cloud.`);
  }
  if (img.status === 'active') throw new HttpError(409, 'Image with status active cannot be target for import');
  if (img.status !== 'uploading') {
    throw new HttpError(409, "Image needs to be staged before 'glance-direct' method can be used");
  }
  if (img.diskFormat === null) throw new HttpError(409, "'disk_format' needs to be set before import");
  if (img.containerFormat === null) throw new HttpError(409, "'container_format' needs to be set before import");
  const now = isoSeconds(Date.now());
  const task: ImageTaskRecord = {
    id: cloud.uuid(),
    type: 'api_image_import',
    status: 'processing',
    owner: token.projectId ?? '',
    userId: token.userId,
    requestId,
    method,
    message: '',
    createdAt: now,
    updatedAt: now,
  };
  img.tasks = [...(img.tasks ?? []), task];
  img.status = 'importing';
  img.updatedAt = now;
  cloud.save();
  void finishImport(cloud, img.id, task.id).catch((err: unknown) => {
    process.stderr.write(`sim-cloud: import of image ${img.id} failed: ${(err as Error).message}\n`);
  });
  return { status: 202 };
}

/** Moves the staged data into the store, hashing it; a refused format puts the image back to queued. */
async function finishImport(cloud: Cloud, id: string, taskId: string): Promise<void> {
  const staged = stagedFile(cloud, id);
  const final = cloud.store.imageFile(id);
  let outcome: { ok: true; stored: Awaited<ReturnType<typeof storeStream>> } | { ok: false; message: string };
  try {
    outcome = { ok: true, stored: await storeStream(cloud, createReadStream(staged), final, { throttled: false }) };
  } catch (err) {
    outcome = { ok: false, message: (err as Error).message };
  }
  rmSync(staged, { force: true });
  const img = cloud.state.images[id];
  if (!img || img.status !== 'importing') {
    rmSync(final, { force: true });
    return;
  }
  const task = img.tasks?.find((t) => t.id === taskId);
  const now = isoSeconds(Date.now());
  if (outcome.ok) {
    try {
      checkFormat(cloud, img, outcome.stored);
    } catch (err) {
      outcome = { ok: false, message: (err as Error).message };
    }
  }
  if (outcome.ok) {
    markActive(img, outcome.stored);
    if (task) task.status = 'success';
  } else {
    rmSync(final, { force: true });
    // Glance reverts a failed import to queued and records which stores failed.
    img.status = 'queued';
    img.properties.os_glance_failed_import = 'local';
    if (task) {
      task.status = 'failure';
      task.message = outcome.message;
    }
  }
  img.updatedAt = now;
  if (task) task.updatedAt = now;
  cloud.save();
}

export function imageTasks(img: ImageRecord): Reply {
  return {
    status: 200,
    json: {
      tasks: (img.tasks ?? []).map((t) => ({
        id: t.id,
        image_id: img.id,
        request_id: t.requestId,
        user_id: t.userId,
        type: t.type,
        status: t.status,
        owner: t.owner,
        message: t.message,
        result: null,
        input: { image_id: img.id, import_req: { method: { name: t.method } }, backend: null },
        created_at: t.createdAt,
        updated_at: t.updatedAt,
        expires_at: null,
      })),
    },
  };
}
