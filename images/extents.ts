// Where a sparse raw image holds data. Node has no SEEK_DATA/SEEK_HOLE and no registry carries a maintained
// binding, so we ask `qemu-img map`, which walks the file with SEEK_DATA/SEEK_HOLE itself. Readers then skip
// the holes instead of reading gigabytes of zeros from the kernel. Without qemu-img they read everything.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A byte range of the file that may hold data; everything outside every extent is a hole (reads as zeros). */
export interface Extent {
  start: number;
  length: number;
}

interface MapEntry {
  start: number;
  length: number;
  data: boolean;
  zero?: boolean;
}

/** One line of `qemu-img map --output=json`: each extent is printed on its own line, inside one JSON array. */
export function parseMapLine(line: string): MapEntry | undefined {
  const text = line
    .trim()
    .replace(/^\[/, '')
    .replace(/[,\]]$/, '')
    .trim();
  if (!text) return undefined;
  const v = JSON.parse(text) as Partial<MapEntry>;
  if (typeof v.start !== 'number' || typeof v.length !== 'number' || typeof v.data !== 'boolean')
    throw new Error(`unexpected qemu-img map entry: ${line}`);
  return { start: v.start, length: v.length, data: v.data, ...(v.zero === undefined ? {} : { zero: v.zero }) };
}

/** Appends a data range, merging it into the previous one when they touch. */
export function addExtent(extents: Extent[], start: number, length: number): void {
  if (length <= 0) return;
  const last = extents.at(-1);
  if (last && last.start + last.length === start) last.length += length;
  else extents.push({ start, length });
}

/**
 * The data extents of a raw file, ascending and merged, from `qemu-img map`; undefined when it cannot say
 * (no qemu-img, or it failed), in which case callers treat the whole file as data.
 */
export async function rawDataExtents(
  path: string,
  opts: { qemuImg?: string | undefined; signal?: AbortSignal; log?: (line: string) => void } = {},
): Promise<Extent[] | undefined> {
  if (!opts.qemuImg) return undefined;
  opts.signal?.throwIfAborted();
  const child = spawn(opts.qemuImg, ['map', '--output=json', '-f', 'raw', path], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  const extents: Extent[] = [];
  let stderr = '';
  let bad: Error | undefined;
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
  const exited = new Promise<number | null>((resolve) => {
    child.on('error', (err) => {
      bad ??= err;
      resolve(null);
    });
    child.on('close', (code) => resolve(code));
  });
  // Streamed line by line: a fragmented image can have many extents, and memory stays with the merged list.
  for await (const line of createInterface({ input: child.stdout })) {
    if (bad) continue;
    try {
      const entry = parseMapLine(line);
      if (entry?.data) addExtent(extents, entry.start, entry.length);
    } catch (err) {
      bad = err as Error;
    }
  }
  const code = await exited;
  opts.signal?.throwIfAborted();
  if (bad || code !== 0) {
    opts.log?.(
      `qemu-img map could not list the data in ${path} (${bad?.message ?? `exit ${code}: ${stderr.trim()}`}); ` +
        `reading the whole file instead`,
    );
    return undefined;
  }
  return extents;
}

/** The whole file as one extent: what a reader without a map must read. */
export function wholeFile(size: number): Extent[] {
  return size > 0 ? [{ start: 0, length: size }] : [];
}

/** Indices of the `blockSize` blocks that any extent touches, ascending, each once. */
export function* blocksTouched(extents: readonly Extent[], blockSize: number): Generator<number> {
  let next = 0;
  for (const e of extents) {
    const first = Math.max(next, Math.floor(e.start / blockSize));
    const last = Math.floor((e.start + e.length - 1) / blockSize);
    for (let i = first; i <= last; i++) yield i;
    next = Math.max(next, last + 1);
  }
}

export function extentBytes(extents: readonly Extent[]): number {
  return extents.reduce((n, e) => n + e.length, 0);
}
