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
