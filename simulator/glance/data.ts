// Image data: uploads and staged data streamed to disk through the hashers (never buffered whole), optionally
// throttled and checked against the declared disk_format; downloads streamed back.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, renameSync, rmSync, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
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

/** What Glance's format inspector would call data starting with `head` (only the formats it recognises by magic). */
export function sniffFormat(head: Buffer): string {
  if (head.subarray(0, 4).equals(Buffer.from([0x51, 0x46, 0x49, 0xfb]))) return 'qcow2';
  if (head.subarray(0, 4).toString('latin1') === 'KDMV') return 'vmdk';
  if (head.subarray(0, 8).toString('latin1') === 'vhdxfile') return 'vhdx';
  if (head.subarray(0, 8).toString('latin1') === 'conectix') return 'vhd';
  if (head.length >= 0x8006 && head.subarray(0x8001, 0x8006).toString('latin1') === 'CD001') return 'iso';
  return 'raw';
}

/** Formats the inspector can tell apart; anything else (ami, aki, ploop, …) is not checked. */
const CHECKED_FORMATS = new Set(['qcow2', 'vmdk', 'vhdx', 'vhd', 'iso', 'raw']);

export interface StoredData {
  size: number;
  md5: string;
  sha512: string;
  /** What the first bytes look like (see sniffFormat). */
  format: string;
}

/** Streams `source` into `path` (via `path.partial`, renamed only when complete), hashing as it goes. */
export async function storeStream(
  cloud: Cloud,
  source: Readable,
  path: string,
  opts: { throttled?: boolean } = {},
): Promise<StoredData> {
  const md5 = createHash('md5');
  const sha512 = createHash('sha512');
  let size = 0;
  const head: Buffer[] = [];
  let headBytes = 0;
  const hasher = new Transform({
    transform(chunk: Buffer, _enc, done) {
      md5.update(chunk);
      sha512.update(chunk);
      size += chunk.length;
      if (headBytes < 0x8006) {
        head.push(chunk);
        headBytes += chunk.length;
      }
      done(null, chunk);
    },
  });
  const partial = `${path}.partial`;
  try {
    const pace = throttle(opts.throttled === false ? null : cloud.knobs.uploadBytesPerSecond);
    await pipeline(source, pace, hasher, createWriteStream(partial));
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  }
  renameSync(partial, path);
  return { size, md5: md5.digest('hex'), sha512: sha512.digest('hex'), format: sniffFormat(Buffer.concat(head)) };
}

/** The 415 Glance's format enforcement answers when the data is not what disk_format says. */
export function checkFormat(cloud: Cloud, img: ImageRecord, stored: StoredData): void {
  if (!cloud.knobs.imageFormatEnforcement || img.diskFormat === null || !CHECKED_FORMATS.has(img.diskFormat)) return;
  if (stored.format !== img.diskFormat) {
    throw new HttpError(415, `Image disk_format ${img.diskFormat} does not match stream data ${stored.format}`);
  }
}

export function markActive(img: ImageRecord, stored: StoredData): void {
  img.status = 'active';
  img.size = stored.size;
  img.virtualSize = null;
  img.checksum = stored.md5;
  img.osHashAlgo = 'sha512';
  img.osHashValue = stored.sha512;
  img.updatedAt = isoSeconds(Date.now());
}

export async function uploadImage(cloud: Cloud, ctx: RequestContext, img: ImageRecord): Promise<Reply> {
  if (!cloud.knobs.imageDirectUpload) {
    // How a cloud that allows only interoperable import answers (its policy refuses upload_image).
    throw new HttpError(403, 'You are not authorized to complete upload_image action.');
  }
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
  const final = cloud.store.imageFile(img.id);
  const backToQueued = () => {
    rmSync(final, { force: true });
    const current = cloud.state.images[img.id];
    if (current && current.status === 'saving') {
      current.status = 'queued';
      current.updatedAt = isoSeconds(Date.now());
      cloud.save();
    }
  };
  let stored: StoredData;
  try {
    stored = await storeStream(cloud, ctx.req, final);
  } catch (err) {
    backToQueued();
    throw new HttpError(400, `Image upload was interrupted: ${(err as Error).message}`);
  }
  const current = cloud.state.images[img.id];
  if (!current) {
    rmSync(final, { force: true });
    throw new HttpError(410, 'Image was deleted during upload.');
  }
  if (typeof declared === 'string' && declared !== '' && Number(declared) !== stored.size) {
    backToQueued();
    throw new HttpError(400, `Image size ${stored.size} does not match the x-openstack-image-size header ${declared}`);
  }
  try {
    checkFormat(cloud, current, stored);
  } catch (err) {
    backToQueued();
    throw err;
  }
  markActive(current, stored);
  cloud.save();
  return { status: 204 };
}

export function downloadImage(cloud: Cloud, img: ImageRecord): Reply {
  if (img.status === 'deactivated')
    throw new HttpError(403, 'The requested image has been deactivated. Image data download is forbidden.');
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
