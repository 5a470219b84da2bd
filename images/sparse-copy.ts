// A private copy of a raw image that stays as sparse as the original: only its data extents are read, and
// only chunks that are not all zeros are written. copyFile (copy_file_range) writes holes out as zeros, which
// turned a 2 GiB raw holding 520 KiB into 2 GiB on disk.
import { open, type FileHandle } from 'node:fs/promises';
import { wholeFile, type Extent } from './extents.ts';

const CHUNK = 1024 * 1024;
/** The file system's block: the unit a hole can be. */
const PIECE = 4096;
const ZERO = Buffer.alloc(CHUNK);

/** Writes the pieces of `chunk` that are not all zeros, each run of them in one write, at `position`. */
async function writeNonZero(dst: FileHandle, chunk: Buffer, position: number): Promise<void> {
  let runStart = -1;
  const flush = async (end: number): Promise<void> => {
    for (let done = runStart; done < end;) {
      const { bytesWritten } = await dst.write(chunk, done, end - done, position + done);
      done += bytesWritten;
    }
    runStart = -1;
  };
  for (let at = 0; at < chunk.length; at += PIECE) {
    const end = Math.min(at + PIECE, chunk.length);
    const zero = chunk.subarray(at, end).equals(ZERO.subarray(0, end - at));
    if (!zero && runStart < 0) runStart = at;
    if (zero && runStart >= 0) await flush(at);
  }
  if (runStart >= 0) await flush(chunk.length);
}

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
          if (!chunk.equals(ZERO.subarray(0, bytesRead))) await writeNonZero(dst, chunk, at);
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
