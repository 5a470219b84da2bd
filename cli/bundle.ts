// The CLI and the worker as prebuilt JavaScript. Node strips the types of every .ts module it loads: for a command
// that is 35 ms of its start-up (image-list's target is 400 ms all told), for the worker about 20 MB of memory for
// its whole life (the stripper's WebAssembly memory and source). So both run from esbuild bundles kept under
// node_modules/.cache, each used only while every file it was made from is unchanged (size and mtime, one stat
// each); otherwise the entry builds a fresh one first (about a second, once, in a child process: currentBundle in
// cli/fresh-bundle.js) or, if it cannot, runs from the sources as before. `node cli/bundle.ts --warm` builds both ahead (the Dockerfile and the test harness do).
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BuildOptions } from 'esbuild';
import { ROOT, cacheDir, freshBundle } from './fresh-bundle.js';

export type Target = 'cli' | 'worker';

// The CLI bundles its dependencies too (resolving a few hundred package files is part of a command's start-up),
// except native addons and packages that find their own files at run time (webpack, the SDK's worker and bundler,
// the databases' drivers, the browser), none of them on the path of a listing command.
const CLI_EXTERNAL = [
  '@temporalio/worker',
  '@temporalio/core-bridge',
  '@swc/*',
  'webpack',
  '@mikro-orm/*',
  'pg',
  'pg-native',
  '@electric-sql/*',
  'playwright-core',
  'ssh2',
  'cpu-features',
  'esbuild',
  'pino',
  'thread-stream',
  'pino-pretty',
];

// The worker bundles only its own sources: the SDK's packages must stay one copy each (its errors and payloads are
// checked with instanceof across them), and a long-running process gains nothing from fewer files at start.
const TARGETS: Record<Target, { entry: string; out: string; options: BuildOptions }> = {
  cli: {
    entry: join(ROOT, 'cli', 'program.ts'),
    out: 'program.js',
    options: { splitting: true, external: CLI_EXTERNAL },
  },
  worker: { entry: join(ROOT, 'worker', 'main.ts'), out: 'main.js', options: { packages: 'external' } },
};

interface Manifest {
  node: string;
  entry: string;
  /** Every input file (relative to ROOT) → [size, mtimeMs] when it was bundled. */
  inputs: Record<string, [number, number]>;
}

// The bundle lives elsewhere than its sources: each module keeps its own import.meta (paths are computed from it)
// and is never the main module.
function importMetaOf(path: string, source: string): string {
  return source
    .replaceAll('import.meta.url', JSON.stringify(pathToFileURL(path).href))
    .replaceAll('import.meta.dirname', JSON.stringify(dirname(path)))
    .replaceAll('import.meta.filename', JSON.stringify(path))
    .replaceAll('import.meta.main', 'false');
}

/**
 * Builds a bundle of `target` in `dir` and makes it current; returns its entry module. Concurrent builds each
 * finish whole.
 */
export async function buildBundle(target: Target, dir: string): Promise<string> {
  const t = TARGETS[target];
  const { build } = await import('esbuild');
  mkdirSync(dir, { recursive: true });
  const name = `b-${Date.now()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const out = join(dir, name);
  const started = Date.now();
  const result = await build({
    entryPoints: [t.entry],
    bundle: true,
    ...t.options,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    outdir: out,
    metafile: true,
    logLevel: 'silent',
    // CommonJS packages inside an ES module bundle still call require for Node's built-ins.
    banner: {
      js: "import { createRequire as __nodepoolRequire } from 'node:module';\nconst require = __nodepoolRequire(import.meta.url);",
    },
    plugins: [
      {
        name: 'import-meta-of-source',
        setup(b) {
          b.onLoad({ filter: /\.[cm]?[jt]s$/ }, (args) => {
            const source = readFileSync(args.path, 'utf8');
            if (!source.includes('import.meta')) return undefined;
            const loader = args.path.endsWith('.ts') ? 'ts' : 'js';
            return { contents: importMetaOf(args.path, source), loader };
          });
        },
      },
    ],
  });
  const inputs: Manifest['inputs'] = {};
  for (const file of Object.keys(result.metafile.inputs)) {
    const path = resolve(process.cwd(), file);
    const st = statSync(path, { throwIfNoEntry: false });
    if (st) inputs[relative(ROOT, path)] = [st.size, st.mtimeMs];
  }
  // What external packages resolve to can change only with an install, which rewrites this file.
  for (const file of ['package-lock.json', join('node_modules', '.package-lock.json')]) {
    const st = statSync(join(ROOT, file), { throwIfNoEntry: false });
    if (st) inputs[file] = [st.size, st.mtimeMs];
  }
  const manifest: Manifest = { node: process.version, entry: join(name, t.out), inputs };
  // A file saved while esbuild ran may be in the bundle as it was before: such a bundle serves this one run but
  // never becomes current, or its recorded mtimes would vouch for content it does not have.
  if (Object.values(inputs).every(([, mtime]) => mtime < started - 1)) {
    const tmp = join(dir, `current.json.${process.pid}`);
    writeFileSync(tmp, JSON.stringify(manifest));
    renameSync(tmp, join(dir, 'current.json'));
    pruneBundles(dir, name);
  }
  return join(dir, manifest.entry);
}

/** How long a bundle that is no longer current is kept: a process started from it may still load its chunks. */
export const BUNDLE_KEEP_MS = 24 * 3600_000;

/**
 * Removes bundles other than `keep` built more than BUNDLE_KEEP_MS ago, always leaving the two newest. By age, not
 * by count: commands started together (a test run, `nodepool up`) each build one when the code changed, and a
 * count let one of them delete a bundle another was still importing chunks from.
 */
export function pruneBundles(dir: string, keep: string, now = Date.now()): void {
  const old = readdirSync(dir)
    .filter((n) => n.startsWith('b-') && n !== keep)
    .map((n) => ({ n, built: statSync(join(dir, n)).mtimeMs }))
    .sort((a, b) => b.built - a.built)
    .slice(2)
    .filter((b) => now - b.built > BUNDLE_KEEP_MS);
  for (const { n } of old) rmSync(join(dir, n), { recursive: true, force: true });
}

// `--warm` builds both bundles; `--warm TARGET` one (what the entries run when theirs is stale: currentBundle).
if (import.meta.main && process.argv[2] === '--warm') {
  const targets = process.argv[3] ? [process.argv[3] as Target] : (['cli', 'worker'] as const);
  for (const target of targets) {
    if (!(target in TARGETS)) throw new Error(`unknown bundle ${target}: cli or worker`);
    const dir = cacheDir(target);
    if (!dir) throw new Error('NODEPOOL_JS_CACHE is off: nothing to warm');
    const entry = freshBundle(dir) ?? (await buildBundle(target, dir));
    process.stdout.write(`nodepool ${target} bundle: ${entry}\n`);
  }
}
