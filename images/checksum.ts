// SHA-256 of a sparse raw image without reading its holes: a hole hashes as the zeros it reads as, fed from
// one zero buffer, so a 2 GiB image holding 900 MiB of data costs the reads of 900 MiB. One reused buffer
// keeps memory flat.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { wholeFile, type Extent } from './extents.ts';

const CHUNK = 1024 * 1024;
const ZERO = Buffer.alloc(CHUNK);

export async function sha256OfFile(
  path: string,
  opts: {
    extents?: readonly Extent[] | undefined;
    signal?: AbortSignal;
    onProgress?: (bytesDone: number, total: number) => void;
  } = {},
): Promise<{ size: number; sha256: string }> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const hash = createHash('sha256');
    const buf = Buffer.alloc(CHUNK);
    let at = 0;
    const zeros = (until: number): void => {
      while (at < until) {
        const n = Math.min(CHUNK, until - at);
        hash.update(ZERO.subarray(0, n));
        at += n;
      }
    };
    for (const e of opts.extents ?? wholeFile(size)) {
      zeros(Math.min(e.start, size));
      const end = Math.min(e.start + e.length, size);
      while (at < end) {
        opts.signal?.throwIfAborted();
        const { bytesRead } = await fh.read(buf, 0, Math.min(CHUNK, end - at), at);
        if (bytesRead === 0) throw new Error(`${path} shrank to ${at} bytes while being checksummed`);
        hash.update(buf.subarray(0, bytesRead));
        at += bytesRead;
        opts.onProgress?.(at, size);
      }
    }
    zeros(size);
    opts.onProgress?.(size, size);
    return { size, sha256: hash.digest('hex') };
  } finally {
    await fh.close();
  }
}
