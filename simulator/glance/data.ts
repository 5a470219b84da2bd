// Image data: uploads streamed to disk through the hashers (never buffered whole), optionally throttled, and
// downloads streamed back.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Cloud } from '../cloud.ts';
import type { Reply, RequestContext } from '../http.ts';
import { HttpError, isoSeconds } from '../http.ts';
import type { ImageRecord } from '../state.ts';

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

export async function uploadImage(cloud: Cloud, ctx: RequestContext, img: ImageRecord): Promise<Reply> {
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

export function downloadImage(cloud: Cloud, img: ImageRecord): Reply {
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
