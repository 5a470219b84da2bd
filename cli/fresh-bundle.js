// Whether the CLI's prebuilt bundle (cli/bundle.ts) was made from the files as they are now. Plain JavaScript so
// that bin/nodepool.js can ask before Node loads its TypeScript support (a .ts module costs about 35 ms on its own).
import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');

/** @returns {string | undefined} where bundles are kept; NODEPOOL_CLI_BUNDLE=off runs the CLI from its sources */
export function cacheDir() {
  const configured = process.env.NODEPOOL_CLI_BUNDLE;
  if (configured === 'off' || configured === '') return undefined;
  return configured ?? join(ROOT, 'node_modules', '.cache', 'nodepool-cli');
}

/**
 * The bundle's entry module if one exists and every file it was made from is unchanged (size and mtime).
 * @param {string | undefined} dir
 * @returns {string | undefined}
 */
export function freshBundle(dir = cacheDir()) {
  if (!dir) return undefined;
  /** @type {{ node: string; entry: string; inputs: Record<string, [number, number]> }} */
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(dir, 'current.json'), 'utf8'));
  } catch {
    return undefined;
  }
  if (manifest.node !== process.version) return undefined;
  for (const [file, [size, mtime]] of Object.entries(manifest.inputs)) {
    const st = statSync(join(ROOT, file), { throwIfNoEntry: false });
    if (!st || st.size !== size || st.mtimeMs !== mtime) return undefined;
  }
  return join(dir, manifest.entry);
}
