// Whether a prebuilt JavaScript bundle (cli/bundle.ts) was made from the files as they are now. Plain JavaScript
// so that bin/nodepool.js and bin/nodepool-worker.js can ask before Node loads its TypeScript support, which costs
// a command 35 ms and a worker about 20 MB of memory for its whole life.
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');

/**
 * Where the bundles of `target` ('cli' or 'worker') are kept; NODEPOOL_JS_CACHE=off runs from the sources.
 * A NODEPOOL_JS_CACHE directory must be inside the checkout: the bundles import packages from its node_modules.
 * @param {string} target
 * @returns {string | undefined}
 */
export function cacheDir(target) {
  const configured = process.env.NODEPOOL_JS_CACHE;
  if (configured === 'off' || configured === '') return undefined;
  if (configured !== undefined) {
    const inside = relative(ROOT, resolve(configured));
    if (inside.startsWith('..') || isAbsolute(inside)) {
      // Called by the entry points only, before anything else runs: one line and out, as for a bad option.
      process.stderr.write(
        `nodepool: NODEPOOL_JS_CACHE=${configured} is outside this checkout (${ROOT}), but the bundles import ` +
          `packages from its node_modules: use a directory under ${ROOT}, or NODEPOOL_JS_CACHE=off to run from ` +
          `the sources\n`,
      );
      process.exit(2);
    }
  }
  return join(configured ?? join(ROOT, 'node_modules', '.cache', 'nodepool-js'), target);
}

/**
 * The bundle's entry module if one exists in `dir` and every file it was made from is unchanged (size, mtime).
 * @param {string | undefined} dir
 * @returns {string | undefined}
 */
export function freshBundle(dir) {
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

/**
 * The current bundle of `target`, built first (in a short-lived child, so this process never loads TypeScript
 * support) when it is stale or missing; undefined when it cannot be had, and the caller runs the sources.
 * @param {string} target
 * @returns {string | undefined}
 */
export function currentBundle(target) {
  const dir = cacheDir(target);
  const fresh = freshBundle(dir);
  if (fresh || !dir) return fresh;
  spawnSync(process.execPath, [join(ROOT, 'cli', 'bundle.ts'), '--warm', target], { stdio: 'ignore' });
  return freshBundle(dir);
}
