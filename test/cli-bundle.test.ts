// The CLI's prebuilt bundle (cli/bundle.ts): used only while it matches the files it was made from, behaving as
// the sources do, with each module's own paths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUNDLE_KEEP_MS, buildBundle, pruneBundles } from '../cli/bundle.ts';
import { cacheDir, freshBundle } from '../cli/fresh-bundle.js';

const ROOT = join(import.meta.dirname, '..');

function nodepool(entry: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  return spawnSync(process.execPath, [join(ROOT, entry), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
}

test('a bundle is current until a file it was made from or the Node version changes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nodepool-cli-bundle-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const entry = await buildBundle('cli', dir);
  assert.equal(freshBundle(dir), entry);
  const manifestFile = join(dir, 'current.json');
  const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as {
    node: string;
    inputs: Record<string, [number, number]>;
  };
  // Made from the CLI's own sources, the dependencies it bundles, and the lock file.
  for (const f of ['cli/program.ts', 'cli/actions/image-list.ts', 'config/schema.ts', 'package-lock.json'])
    assert.ok(manifest.inputs[f], `${f} is an input`);
  assert.ok(Object.keys(manifest.inputs).some((f) => f.startsWith('node_modules/yargs/')));
  assert.ok(!Object.keys(manifest.inputs).some((f) => f.startsWith('node_modules/@temporalio/worker/')), 'external');

  const edited = structuredClone(manifest);
  const program = edited.inputs['cli/program.ts'] as [number, number];
  edited.inputs['cli/program.ts'] = [program[0], program[1] - 1000];
  writeFileSync(manifestFile, JSON.stringify(edited));
  assert.equal(freshBundle(dir), undefined, 'an edited source makes it stale');
  writeFileSync(manifestFile, JSON.stringify({ ...manifest, node: 'v0.0.0' }));
  assert.equal(freshBundle(dir), undefined, 'another Node makes it stale');
  writeFileSync(manifestFile, JSON.stringify(manifest));
  assert.equal(freshBundle(dir), entry);
});

test('the first command makes the bundle; from it the CLI answers as from the sources', (t) => {
  // Inside the checkout, as a cache must be: the bundles import packages from its node_modules.
  const root = mkdtempSync(join(ROOT, 'node_modules', '.cache', 'nodepool-js-test-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const cache = { NODEPOOL_JS_CACHE: root };
  const sources = nodepool('cli/main.ts', ['--help'], { NODEPOOL_JS_CACHE: 'off' });
  assert.equal(sources.status, 0, sources.stderr);
  assert.deepEqual(readdirSync(root), []);
  // The first command finds no bundle and makes one; the next runs from it.
  const first = nodepool('bin/nodepool.js', ['--help'], cache);
  assert.equal(first.stdout, sources.stdout);
  process.env.NODEPOOL_JS_CACHE = root;
  const dir = cacheDir('cli');
  delete process.env.NODEPOOL_JS_CACHE;
  assert.ok(freshBundle(dir), 'a bundle was made');
  const second = nodepool('bin/nodepool.js', ['--help'], cache);
  assert.equal(second.stdout, sources.stdout);

  // Errors, exit codes and paths a module computes from its own location are the same from the bundle.
  for (const args of [
    ['image-list', '--bogus'],
    ['config-validate', '-c', join(ROOT, 'examples', 'nodepool.local.yaml')],
  ]) {
    const a = nodepool('cli/main.ts', args, { NODEPOOL_JS_CACHE: 'off' });
    const b = nodepool('bin/nodepool.js', args, cache);
    assert.deepEqual([b.status, b.stdout, b.stderr], [a.status, a.stdout, a.stderr], args.join(' '));
  }
});

test('a bundle cache outside the checkout is refused with what to do, before anything is made', (t) => {
  const outside = mkdtempSync(join(tmpdir(), 'nodepool-js-outside-'));
  t.after(() => rmSync(outside, { recursive: true, force: true }));
  for (const entry of ['bin/nodepool.js', 'bin/nodepool-worker.js']) {
    const r = nodepool(entry, ['--help'], { NODEPOOL_JS_CACHE: outside });
    assert.equal(r.status, 2, `${entry}: ${r.stderr}`);
    assert.match(r.stderr, /NODEPOOL_JS_CACHE=.* is outside this checkout .*NODEPOOL_JS_CACHE=off/);
  }
  assert.deepEqual(readdirSync(outside), []);
});

test('the worker runs from a bundle of its own sources only; a missing one is made before it starts', async (t) => {
  // Inside the checkout, as a cache must be: the bundles import packages from its node_modules.
  const root = mkdtempSync(join(ROOT, 'node_modules', '.cache', 'nodepool-js-test-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  // A mistyped flag: the worker's own usage error, from the bundle the launcher made first.
  const r = nodepool('bin/nodepool-worker.js', ['--bogus'], { NODEPOOL_JS_CACHE: root });
  const fromSources = nodepool('worker/main.ts', ['--bogus']);
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stderr, fromSources.stderr);
  const manifest = JSON.parse(readFileSync(join(root, 'worker', 'current.json'), 'utf8')) as {
    inputs: Record<string, unknown>;
  };
  const inputs = Object.keys(manifest.inputs);
  for (const f of ['worker/main.ts', 'activities/index.ts', 'db/orm.ts']) assert.ok(inputs.includes(f), f);
  // Packages stay outside, one copy each: the SDK checks its errors with instanceof across its packages.
  assert.deepEqual(
    inputs.filter((f) => f.startsWith('node_modules/') && f !== 'node_modules/.package-lock.json'),
    [],
  );
});

test('bundles built together all stay: a command never loses the bundle it is loading', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nodepool-cli-bundle-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // As five simulators started at once after a code change did; counting bundles, the later builds deleted the
  // earlier ones while their commands were still importing chunks from them.
  const entries = await Promise.all(Array.from({ length: 5 }, () => buildBundle('cli', dir)));
  for (const e of entries) assert.ok(existsSync(e), `${e} is still there`);
  assert.equal(readdirSync(dir).filter((n) => n.startsWith('b-')).length, 5);
});

test('a bundle is removed once it is not current, not among the two newest, and older than a day', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nodepool-cli-bundle-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const now = Date.now();
  const hours = { current: 0, a: 1, b: 30, c: 25, d: 48, e: 0.5 };
  for (const [name, h] of Object.entries(hours)) {
    mkdirSync(join(dir, `b-${name}`));
    const at = new Date(now - h * 3600_000);
    utimesSync(join(dir, `b-${name}`), at, at);
  }
  pruneBundles(dir, 'b-current', now);
  // The two newest others (e, a) stay whatever their age; of the rest only those past BUNDLE_KEEP_MS go.
  assert.equal(BUNDLE_KEEP_MS, 24 * 3600_000);
  assert.deepEqual(readdirSync(dir).sort(), ['b-a', 'b-current', 'b-e']);
  pruneBundles(dir, 'b-current', now);
  assert.deepEqual(readdirSync(dir).sort(), ['b-a', 'b-current', 'b-e'], 'idempotent');
});
