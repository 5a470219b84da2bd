// The harness and install as a newcomer meets them: the pinned temporal CLI runs with the arguments given, dev
// servers' Web UI does not fetch Temporal's news feed, missing tools and a missing PostgreSQL are errors that say
// how to fix them (not silent skips), the run's PostgreSQL role goes away with it, and every dependency's install
// script is approved in package.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { TEMPORAL_CLI_VERSION, temporalDevServerArgs } from '../scripts/tools.ts';
import { temporalAddress } from './support/temporal.ts';

const ROOT = join(import.meta.dirname, '..');
const isRoot = process.getuid?.() === 0;

function run(
  args: string[],
  env: NodeJS.ProcessEnv,
  asNobody = false,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // As root, an unprivileged user's view runs under runuser; otherwise we already are one.
  const [cmd, argv] =
    asNobody && isRoot ? ['runuser', ['-u', 'nobody', '--', process.execPath, ...args]] : [process.execPath, args];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd as string, argv as string[], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('npm run temporal:cli runs the pinned temporal binary with the arguments given, and passes its exit code', async () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts['temporal:cli'], 'node scripts/tools.ts temporal');
  const tools = join(ROOT, 'scripts', 'tools.ts');
  const version = await run([tools, 'temporal', '--version'], process.env);
  assert.equal(version.code, 0, version.stderr);
  assert.match(version.stdout, new RegExp(`^temporal version ${TEMPORAL_CLI_VERSION.replaceAll('.', '\\.')} `));
  const ns = await run(
    [tools, 'temporal', 'operator', 'namespace', 'describe', '--namespace', 'default', '--address', temporalAddress()],
    process.env,
  );
  assert.equal(ns.code, 0, ns.stderr);
  assert.match(ns.stdout, /NamespaceInfo\.Name\s+default/);
  const missing = await run(
    [tools, 'temporal', 'workflow', 'describe', '-w', 'no-such-workflow', '--address', temporalAddress()],
    process.env,
  );
  assert.notEqual(missing.code, 0);
});

test("dev servers started with a Web UI don't fetch Temporal's news feed (the UI of this run says so)", async () => {
  const args = temporalDevServerArgs({ port: 1, uiPort: 2, searchAttributes: { A: 'Keyword' } });
  assert.ok(args.includes('--ui-disable-news-fetch'));
  assert.ok(temporalDevServerArgs({ port: 1, searchAttributes: {} }).includes('--headless'));
  const ui = process.env.TEMPORAL_UI_URL;
  assert.ok(ui, 'the harness exports TEMPORAL_UI_URL');
  const settings = (await (await fetch(`${ui}/api/v1/settings`)).json()) as { DisableNewsFetch?: boolean };
  assert.equal(settings.DisableNewsFetch, true);
});

test('a missing qemu-img or vhdiinfo stops the run with how to install it', async () => {
  const code = `import { requireDebianCommands } from './scripts/tools.ts';
requireDebianCommands({ 'no-such-tool-xyz': 'no-such-package-xyz' }, 'the image tests need it');`;
  const r = await run(['--input-type=module', '-e', code], { PATH: process.env.PATH }, true);
  assert.notEqual(r.code, 0);
  assert.match(
    r.stderr,
    /no-such-tool-xyz \(Debian package no-such-package-xyz\) not found: the image tests need it\. Install with `sudo apt-get install no-such-package-xyz`/,
  );
});

test('without PostgreSQL the harness says to set DATABASE_URL', async () => {
  const r = await run(
    [join(ROOT, 'scripts', 'test-env.ts'), 'test/none.test.ts'],
    { PATH: process.env.PATH, TEMPORAL_CLI: process.env.TEMPORAL_CLI },
    true,
  );
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /cannot run the tests: no PostgreSQL: set DATABASE_URL to an admin URL/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('the PostgreSQL role a run makes (random password) is dropped with what it owns when the run ends', async (t) => {
  const admin = process.env.NODEPOOL_PG_ADMIN_URL as string;
  if (!isRoot || !/^nodepool_test_\d+_[0-9a-f]+$/.test(new URL(admin).username)) {
    t.skip('this run uses DATABASE_URL, so the harness made no role');
    return;
  }
  const code = `import { ensurePostgres } from './scripts/tools.ts';
import pg from 'pg';
const url = ensurePostgres();
const c = new pg.Client({ connectionString: url });
await c.connect();
await c.query('CREATE DATABASE "left_by_' + new URL(url).username + '"');
await c.end();
process.stdout.write(url);`;
  const env = { PATH: process.env.PATH };
  const first = await run(['--input-type=module', '-e', code], env);
  const second = await run(['--input-type=module', '-e', code], env);
  assert.equal(first.code, 0, first.stderr);
  const [a, b] = [new URL(first.stdout), new URL(second.stdout)];
  assert.notEqual(a.username, b.username, 'a role per run');
  assert.notEqual(a.password, b.password, 'a random password per run');
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  try {
    const roles = await c.query('SELECT rolname FROM pg_roles WHERE rolname = ANY($1)', [[a.username, b.username]]);
    assert.deepEqual(roles.rows, [], 'the roles are gone');
    const dbs = await c.query("SELECT datname FROM pg_database WHERE datname LIKE 'left_by_%' AND datname = ANY($1)", [
      [`left_by_${a.username}`, `left_by_${b.username}`],
    ]);
    assert.deepEqual(dbs.rows, [], 'and the databases they owned');
  } finally {
    await c.end();
  }
});

test('every installed package with an install script is approved in allowScripts, and none is approved for nothing', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    allowScripts?: Record<string, boolean>;
  };
  const withScripts = new Set<string>();
  const visit = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir)) {
      if (entry.startsWith('.')) continue;
      if (entry.startsWith('@')) {
        visit(join(dir, entry));
        continue;
      }
      const pj = join(dir, entry, 'package.json');
      if (!existsSync(pj)) continue;
      const p = JSON.parse(readFileSync(pj, 'utf8')) as { name?: string; scripts?: Record<string, string> };
      const s = p.scripts ?? {};
      // npm runs `node-gyp rebuild` for a binding.gyp without an install script.
      if (s.preinstall || s.install || s.postinstall || existsSync(join(dir, entry, 'binding.gyp')))
        withScripts.add(p.name ?? entry);
      visit(join(dir, entry, 'node_modules'));
    }
  };
  visit(join(ROOT, 'node_modules'));
  assert.deepEqual(Object.keys(pkg.allowScripts ?? {}).sort(), [...withScripts].sort());
  // Installs stay quiet on an old system Node: see the note in .npmrc.
  assert.match(readFileSync(join(ROOT, '.npmrc'), 'utf8'), /^loglevel=error$/m);
});
