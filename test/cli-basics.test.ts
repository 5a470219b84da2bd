import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from './support/cli.ts';

test('an unknown command exits 2 and says so', async () => {
  const r = await runCli(['no-such-command']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Unknown argument|Did you mean|no-such-command/);
});

test('--help lists the program name and exits 0', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /nodepool/);
});

test('a usage error exits 2 with the help text and never runs the command', async () => {
  const r = await runCli(['image-convert']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Not enough non-option arguments/);
  assert.match(r.stderr, /--to/);
  assert.doesNotMatch(r.stderr, /unknown image format/);
});

test('an error from a command is printed once, without a stack trace', async () => {
  const r = await runCli(['image-convert', '/nonexistent/raw.img', '--to', 'vhd', '-o', '/tmp/never.vhd']);
  assert.notEqual(r.code, 0);
  assert.equal(r.stderr.match(/does not exist/g)?.length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('the installed entry point bin/nodepool.js runs the same CLI', async () => {
  const { spawnSync } = await import('node:child_process');
  const { join } = await import('node:path');
  const r = spawnSync(process.execPath, [join(import.meta.dirname, '..', 'bin', 'nodepool.js'), '--help'], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /config-validate/);
  assert.match(r.stdout, /image-convert/);
});
