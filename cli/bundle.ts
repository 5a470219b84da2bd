// The CLI as prebuilt JavaScript: a command's start-up is most of its time (Node strips the types of every .ts
// module it loads and resolves each import through the file system), so the CLI runs from one esbuild bundle of
// cli/program.ts and what it imports, kept under node_modules/.cache. The bundle is used only while every file it
// was made from is unchanged (size and mtime, checked with one stat each); otherwise the command builds a fresh
// one first (about half a second, once) or, if that cannot be done, runs from the sources as before.
// `node cli/bundle.ts --warm` builds it ahead (the Dockerfile and the test harness do).
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT, cacheDir, freshBundle } from './fresh-bundle.js';
const ENTRY = join(ROOT, 'cli', 'program.ts');

// Left out of the bundle and loaded from node_modules as usual: native addons, packages that find their own files
// at run time (webpack, the SDK's worker and bundler, the databases' drivers, the browser), none of them on the
// path of a listing command.
const EXTERNAL = [
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

/** Builds a bundle and makes it current; returns its entry module. Concurrent builds each finish whole. */
export async function buildBundle(dir: string): Promise<string> {
  const { build } = await import('esbuild');
  mkdirSync(dir, { recursive: true });
  const name = `b-${Date.now()}-${process.pid}`;
  const out = join(dir, name);
  const result = await build({
    entryPoints: [ENTRY],
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    outdir: out,
    metafile: true,
    logLevel: 'silent',
    external: EXTERNAL,
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
  const manifest: Manifest = { node: process.version, entry: join(name, 'program.js'), inputs };
  const tmp = join(dir, `current.json.${process.pid}`);
  writeFileSync(tmp, JSON.stringify(manifest));
  renameSync(tmp, join(dir, 'current.json'));
  prune(dir, name);
  return join(dir, manifest.entry);
}

// Older bundles go, but not at once: a command started a moment ago may still be loading one.
function prune(dir: string, keep: string): void {
  const old = readdirSync(dir)
    .filter((n) => n.startsWith('b-') && n !== keep)
    .sort()
    .reverse()
    .slice(2);
  for (const n of old) rmSync(join(dir, n), { recursive: true, force: true });
}

/** The module to run the CLI from: the fresh bundle, a new one, or undefined for the sources. */
export async function programModule(): Promise<string | undefined> {
  const dir = cacheDir();
  if (!dir) return undefined;
  const fresh = freshBundle(dir);
  if (fresh) return pathToFileURL(fresh).href;
  // One build at a time; the others run from the sources meanwhile.
  const lock = join(dir, 'building');
  try {
    mkdirSync(dir, { recursive: true });
    const st = statSync(lock, { throwIfNoEntry: false });
    if (st && Date.now() - st.mtimeMs < 60_000) return undefined;
    rmSync(lock, { recursive: true, force: true });
    mkdirSync(lock);
  } catch {
    return undefined;
  }
  try {
    return pathToFileURL(await buildBundle(dir)).href;
  } catch {
    // No esbuild, a read-only install: the sources work, only slower.
    return undefined;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

if (import.meta.main && process.argv.includes('--warm')) {
  const dir = cacheDir();
  if (!dir) throw new Error('NODEPOOL_CLI_BUNDLE is off: nothing to warm');
  const entry = freshBundle(dir) ?? (await buildBundle(dir));
  process.stdout.write(`nodepool CLI bundle: ${entry}\n`);
}
