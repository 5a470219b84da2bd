// Workflow bundles, made in a short-lived child process: webpack and what it loads stay out of the worker,
// whose memory is then what the workflows and activities need (bundling in the worker itself left it hundreds of
// MB larger for its whole life). A bundle is kept on disk under a digest of every source file and the lock file,
// so a worker restarted on the same code starts polling without webpack at all.
// `node worker/bundle.ts WORKFLOWS OUT` writes the bundle of WORKFLOWS to OUT; `node worker/bundle.ts --warm` fills
// the cache with the worker's bundles (the Dockerfile does, so containers start without webpack).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUNDLER_OPTIONS } from './bundler-options.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const WORKFLOWS = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

// Never part of a bundle: what tests, benchmarks and docs hold, and what is not source.
const SKIP = new Set(['node_modules', '.git', '.venv', 'test', 'bench', 'docs', '.ci']);
const KEEP_BUNDLES = 6;

/** What Worker.create takes as workflowBundle: the cached file, or the code when there is no cache. */
export type WorkflowBundle = { codePath: string } | { code: string };

/** A digest of everything a bundle can be made from: the project's sources and the exact dependency versions. */
export function sourceDigest(root = ROOT): string {
  const hash = createHash('sha256');
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (SKIP.has(entry.name)) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (/\.(ts|js|cjs|mjs|json)$/.test(entry.name)) hash.update(path).update('\0').update(readFileSync(path));
    }
  };
  walk(root);
  hash.update(process.version);
  return hash.digest('hex').slice(0, 32);
}

function cacheDir(): string | undefined {
  const configured = process.env.NODEPOOL_BUNDLE_CACHE;
  if (configured === '' || configured === 'off') return undefined;
  return configured ?? join(ROOT, 'node_modules', '.cache', 'nodepool-workflows');
}

/**
 * The bundle of `workflowsPath` for Worker.create's `workflowBundle`: from the cache when the sources are the ones it
 * was made from, else made in a child process and cached (a cache that cannot be written only costs the time).
 */
export async function bundleInChild(workflowsPath = WORKFLOWS): Promise<WorkflowBundle> {
  const dir = cacheDir();
  const cached = dir && join(dir, `${basename(workflowsPath, '.ts')}-${sourceDigest()}.js`);
  // A path, not the code: the SDK then reads the file itself and keeps no second, source-map-patched copy of a
  // 4 MB string in the worker's main thread for its whole life.
  if (cached && existsSync(cached)) return { codePath: cached };
  const tmp = mkdtempSync(join(tmpdir(), 'nodepool-bundle-'));
  const out = join(tmp, 'workflows.js');
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url), workflowsPath, out], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0
          ? resolve()
          : reject(new Error(`bundling the workflows failed (exit ${code}):\n${err.slice(-4000)}`)),
      );
    });
    const code = readFileSync(out, 'utf8');
    if (dir && cached) {
      try {
        mkdirSync(dir, { recursive: true });
        // Written beside and renamed: a worker starting meanwhile reads a whole bundle or none.
        const part = `${cached}.${process.pid}.part`;
        writeFileSync(part, code);
        renameSync(part, cached);
        prune(dir);
        return { codePath: cached };
      } catch {
        // A read-only install: bundle at every start.
      }
    }
    return { code };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** A bundle's inline source map, found as the SDK finds it (it refuses a bundle without one), and where it starts. */
export function inlineSourceMap(code: string): { start: number; map: { sources: string[]; sourcesContent?: unknown } } {
  const at = code.lastIndexOf('//# sourceMappingURL=data:');
  const data = at < 0 ? -1 : code.indexOf('base64,', at);
  if (data < 0) throw new Error('the workflow bundle has no inline source map');
  const start = data + 'base64,'.length;
  return { start, map: JSON.parse(Buffer.from(code.slice(start).trim(), 'base64').toString('utf8')) };
}

/**
 * The bundle without the sources' text in its inline source map. The SDK keeps the map in the worker's main thread
 * and gives the workflow thread a copy, for as long as the worker runs. Stack traces need only the mappings and the
 * sources' paths; the stack-trace query sends sources only with showStackTraceSources, which nodepool leaves off.
 */
export function withoutSourcesContent(code: string): string {
  const { start, map } = inlineSourceMap(code);
  delete map.sourcesContent;
  return `${code.slice(0, start)}${Buffer.from(JSON.stringify(map)).toString('base64')}\n`;
}

/** Keeps the newest few bundles: older code's bundles are never read again. */
function prune(dir: string): void {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.js'))
    .map((f) => ({ f, t: statSync(join(dir, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { f } of files.slice(KEEP_BUNDLES)) rmSync(join(dir, f), { force: true });
}

if (import.meta.main && process.argv[2] === '--warm') {
  if (cacheDir() === undefined) {
    process.stderr.write(
      'worker/bundle.ts --warm: NODEPOOL_BUNDLE_CACHE is off, so there is no cache to fill; unset it\n',
    );
    process.exit(2);
  }
  await bundleInChild(WORKFLOWS);
  process.stdout.write(`workflow bundles cached in ${cacheDir()}\n`);
} else if (import.meta.main) {
  const [workflowsPath, out] = process.argv.slice(2);
  if (!workflowsPath || !out) throw new Error('usage: node worker/bundle.ts WORKFLOWS OUT');
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  const { code } = await bundleWorkflowCode({ workflowsPath, logger: undefined, ...BUNDLER_OPTIONS });
  writeFileSync(out, withoutSourcesContent(code));
}
