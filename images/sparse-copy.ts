// A private copy of a raw image that stays as sparse as the original: only its data extents are read, and
// only chunks that are not all zeros are written. copyFile (copy_file_range) writes holes out as zeros, which
// turned a 2 GiB raw holding 520 KiB into 2 GiB on disk.
import { open } from 'node:fs/promises';
import { wholeFile, type Extent } from './extents.ts';

const CHUNK = 1024 * 1024;
const ZERO = Buffer.alloc(CHUNK);

export interface SparseCopyOptions {
  input: string;
  /** Created exclusively. */
  output: string;
  /** The copy's size: at least the input's; past the input's end it reads as zeros. */
  size: number;
  extents?: readonly Extent[] | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((bytesDone: number) => void) | undefined;
}

export async function sparseCopy(opts: SparseCopyOptions): Promise<void> {
  const src = await open(opts.input, 'r');
  try {
    const inputSize = (await src.stat()).size;
    const dst = await open(opts.output, 'wx');
    try {
      await dst.truncate(Math.max(opts.size, inputSize));
      const buf = Buffer.alloc(CHUNK);
      for (const e of opts.extents ?? wholeFile(inputSize)) {
        const end = Math.min(e.start + e.length, inputSize);
        for (let at = e.start; at < end;) {
          opts.signal?.throwIfAborted();
          const want = Math.min(CHUNK, end - at);
          const { bytesRead } = await src.read(buf, 0, want, at);
          if (bytesRead === 0) break;
          const chunk = buf.subarray(0, bytesRead);
          if (!chunk.equals(ZERO.subarray(0, bytesRead))) {
            for (let done = 0; done < bytesRead;) {
              const { bytesWritten } = await dst.write(chunk, done, bytesRead - done, at + done);
              done += bytesWritten;
            }
          }
          at += bytesRead;
          opts.onProgress?.(at);
        }
      }
      opts.onProgress?.(inputSize);
    } finally {
      await dst.close();
    }
  } finally {
    await src.close();
  }
}
