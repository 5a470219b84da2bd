// Workflow bundles are cached under a digest of the sources: a restart on the same code skips webpack, and any
// change to a source or the lock file makes a new bundle.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { join } from 'node:path';
import { WORKFLOWS, bundleInChild, inlineSourceMap, sourceDigest, type WorkflowBundle } from '../worker/bundle.ts';
import { WORKFLOW_JS_TARGET, webpackConfigHook } from '../worker/bundler-options.ts';

// The smallest workflow module: the cache's behaviour does not depend on what is bundled.
const REGISTRY_WORKFLOWS = join(import.meta.dirname, '..', 'workflows', 'config-registry.ts');

/** The bundle's code, whether the worker was handed the code or the cached file's path. */
function bundleCode(bundle: WorkflowBundle): string {
  return 'code' in bundle ? bundle.code : readFileSync(bundle.codePath, 'utf8');
}

test('the source digest follows every source file and ignores tests, benchmarks and docs', () => {
  const root = mkdtempSync(join(tmpdir(), 'nodepool-digest-'));
  try {
    for (const d of ['workflows', 'core', 'test', 'docs', 'node_modules/x'])
      mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, 'workflows/a.ts'), 'export const a = 1;');
    writeFileSync(join(root, 'core/b.ts'), 'export const b = 1;');
    writeFileSync(join(root, 'package-lock.json'), '{"lockfileVersion":3}');
    const first = sourceDigest(root);
    assert.equal(sourceDigest(root), first, 'the same files give the same digest');

    for (const f of ['test/x.test.ts', 'docs/x.md', 'node_modules/x/index.js', 'README.md']) {
      writeFileSync(join(root, f), 'anything');
      assert.equal(sourceDigest(root), first, `${f} is not part of a bundle`);
    }
    writeFileSync(join(root, 'core/b.ts'), 'export const b = 2;');
    const changed = sourceDigest(root);
    assert.notEqual(changed, first, 'a changed source');
    writeFileSync(join(root, 'package-lock.json'), '{"lockfileVersion":3,"x":1}');
    assert.notEqual(sourceDigest(root), changed, 'a changed lock file');
    writeFileSync(join(root, 'core/c.ts'), '');
    assert.notEqual(sourceDigest(root), changed, 'a new source');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a bundle is made once and then read from the cache; without a cache it is made every time', async () => {
  const cache = mkdtempSync(join(tmpdir(), 'nodepool-bundle-cache-'));
  const saved = process.env.NODEPOOL_BUNDLE_CACHE;
  try {
    process.env.NODEPOOL_BUNDLE_CACHE = cache;
    const made = await bundleInChild(REGISTRY_WORKFLOWS);
    assert.match(bundleCode(made), /nodepoolConfigRegistry/);
    const files = readdirSync(cache);
    assert.deepEqual(files, [`config-registry-${sourceDigest()}.js`]);
    // The worker is handed the cached file's path (the SDK reads it), not a copy of its code.
    assert.deepEqual(made, { codePath: join(cache, files[0] as string) });
    // What the cache holds is what a worker gets: overwrite it and the next start reads the overwritten file.
    writeFileSync(join(cache, files[0] as string), `${bundleCode(made)}\n// from the cache`);
    assert.match(bundleCode(await bundleInChild(REGISTRY_WORKFLOWS)), /from the cache$/);

    process.env.NODEPOOL_BUNDLE_CACHE = 'off';
    const fresh = await bundleInChild(REGISTRY_WORKFLOWS);
    assert.ok('code' in fresh, 'without a cache, the code itself');
    assert.doesNotMatch(bundleCode(fresh), /from the cache$/);
    assert.deepEqual(readdirSync(cache), files, 'nothing written with the cache off');
  } finally {
    if (saved === undefined) delete process.env.NODEPOOL_BUNDLE_CACHE;
    else process.env.NODEPOOL_BUNDLE_CACHE = saved;
    rmSync(cache, { recursive: true, force: true });
  }
});

test("--warm fills the cache with the worker's bundle, and says so when the cache is off", () => {
  const cache = mkdtempSync(join(tmpdir(), 'nodepool-bundle-warm-'));
  try {
    const script = join(import.meta.dirname, '..', 'worker', 'bundle.ts');
    const ok = spawnSync(process.execPath, [script, '--warm'], {
      env: { ...process.env, NODEPOOL_BUNDLE_CACHE: cache },
      encoding: 'utf8',
    });
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual(readdirSync(cache), [`index-${sourceDigest()}.js`]);
    const off = spawnSync(process.execPath, [script, '--warm'], {
      env: { ...process.env, NODEPOOL_BUNDLE_CACHE: 'off' },
      encoding: 'utf8',
    });
    assert.equal(off.status, 2);
    assert.match(off.stderr, /NODEPOOL_BUNDLE_CACHE is off/);
    assert.doesNotMatch(off.stderr, /at .*bundle\.ts/);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});

test('workflow code is compiled for ES2022: object spreads stay native, not a helper call per property', async () => {
  const code = bundleCode(await bundleInChild(WORKFLOWS));
  assert.match(code, /function providerPool\(/);
  // The configuration registry's workflow runs in the same worker thread (worker/config-registry.ts).
  assert.match(code, /function nodepoolConfigRegistry\(/);
  // swc's ES2017 output calls _object_spread/_define_property for every `{ ...x }` of the pool's state.
  assert.doesNotMatch(code, /function _object_spread\(/);
  assert.match(code, /\{\s*\.\.\.state,/);
});

test("the bundle's source map maps to the TypeScript sources without carrying their text", async () => {
  const code = bundleCode(await bundleInChild(WORKFLOWS));
  const payload = inlineSourceMap(code).map as SourceMapPayload & { sourcesContent?: unknown };
  assert.equal(payload.sourcesContent, undefined);
  // Where providerPool is defined in the bundle maps back to where it is defined in its source.
  const offset = code.indexOf('async function providerPool(');
  const line = code.slice(0, offset).split('\n').length - 1;
  const column = offset - (code.lastIndexOf('\n', offset) + 1);
  const entry = new SourceMap(payload).findEntry(line, column) as { originalSource?: string; originalLine?: number };
  assert.match(entry.originalSource ?? '', /workflows\/provider-pool\.ts$/);
  const source = readFileSync(join(import.meta.dirname, '..', 'workflows', 'provider-pool.ts'), 'utf8').split('\n');
  assert.match(source[entry.originalLine ?? -1] ?? '', /export async function providerPool\(/);
});

test('bundling fails loudly if the SDK stops compiling TypeScript with swc-loader', () => {
  assert.equal(WORKFLOW_JS_TARGET, 'es2022');
  const rule = { test: /\.ts$/, use: { loader: '/x/swc-loader/index.js', options: { jsc: { target: 'es2017' } } } };
  const config = webpackConfigHook({ module: { rules: [rule] } });
  assert.equal((config.module?.rules?.[0] as typeof rule).use.options.jsc.target, 'es2022');
  assert.throws(() => webpackConfigHook({ module: { rules: [{ test: /\.ts$/, use: 'ts-loader' }] } }), /swc-loader/);
});
