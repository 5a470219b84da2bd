// Scratch disk images for the conversion tests: sparse raw files made fast with ftruncate and a few writes.
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** A temporary directory removed when the test ends. */
export function workDir(t: { after(fn: () => void): void }, prefix = 'image-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A sparse raw image: ftruncate to size, then a few writes. */
export function sparseRaw(path: string, size: number, writes: [offset: number, data: Buffer][] = []): void {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, size);
    for (const [offset, data] of writes) writeSync(fd, data, 0, data.length, offset);
  } finally {
    closeSync(fd);
  }
}
