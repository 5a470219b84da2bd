// `nodepool config-validate` run as an operator runs it: a separate process, its output and exit code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './support/cli.ts';

function scratchFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'nodepool-cli-config-')), 'nodepool.yaml');
  writeFileSync(file, text);
  return file;
}

test('config-validate accepts the example file, exit 0 with a summary', async () => {
  const r = await runCli(['config-validate', '-c', 'nodepool.example.yaml']);
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, 'nodepool.example.yaml: OK\n3 labels, 3 providers, 3 pools, 2 diskimages\n');
  assert.equal(r.code, 0);
});

test('config-validate reads NODEPOOL_CONFIG when -c is not given', async () => {
  const file = scratchFile('labels: [{name: small}]\n');
  const r = await runCli(['config-validate'], { env: { NODEPOOL_CONFIG: file } });
  assert.equal(r.stdout, `${file}: OK\n1 label, 0 providers, 0 pools, 0 diskimages\n`);
  assert.equal(r.code, 0);
});

test('config-validate prints every error as FILE:LINE:COL: path: message and exits 2', async () => {
  const file = scratchFile(
    [
      'labels:',
      '  - name: small',
      '    min-redy: 1',
      'providers:',
      '  - name: east',
      '    cloud: east',
      '    pools:',
      '      - name: main',
      '        max-servers: -1',
      '        labels: []',
      'vhd-converter: qemu',
      '',
    ].join('\n'),
  );
  const r = await runCli(['config-validate', '--config', file]);
  assert.equal(r.stdout, '');
  assert.equal(
    r.stderr,
    [
      `${file}:3:5: labels[0].min-redy: unknown key 'min-redy' — did you mean 'min-ready'?`,
      `${file}:9:22: providers[0].pools[0].max-servers: expected a value ≥ 0, found -1`,
      `${file}:11:16: vhd-converter: expected one of auto, builtin, vhd-util, found "qemu"`,
      `nodepool: ${file}: 3 errors`,
      '',
    ].join('\n'),
  );
  assert.equal(r.code, 2);
});

test('config-validate reports cross-reference errors with their locations', async () => {
  const file = scratchFile(
    [
      'labels: [{name: small, min-ready: 1}]',
      'providers:',
      '  - {name: east, cloud: east, pools: [{name: main, max-servers: 1, labels: [{name: smal, diskimage: u, flavor-name: f}]}]}',
      '',
    ].join('\n'),
  );
  const r = await runCli(['config-validate', '-c', file]);
  assert.match(
    r.stderr,
    new RegExp(`^${file}:1:35: labels\\[0\\]\\.min-ready: label 'small' has min-ready 1 but no pool serves it`, 'm'),
  );
  assert.match(
    r.stderr,
    new RegExp(`^${file}:3:84: providers\\[0\\]\\.pools\\[0\\]\\.labels\\[0\\]\\.name: unknown label 'smal'`, 'm'),
  );
  assert.match(
    r.stderr,
    new RegExp(
      `^${file}:3:101: providers\\[0\\]\\.pools\\[0\\]\\.labels\\[0\\]\\.diskimage: unknown diskimage 'u'`,
      'm',
    ),
  );
  assert.match(r.stderr, /nodepool: .*: 3 errors\n$/);
  assert.equal(r.code, 2);
});

test('config-validate on a missing file exits 2 and says what to do', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'nodepool-cli-config-')), 'absent.yaml');
  const r = await runCli(['config-validate', '-c', file]);
  assert.equal(
    r.stderr,
    `${file}: no such file; name the configuration with -c/--config or NODEPOOL_CONFIG\nnodepool: ${file}: 1 error\n`,
  );
  assert.equal(r.code, 2);
});

test('config-validate on a YAML syntax error exits 2 with its position', async () => {
  const file = scratchFile('labels:\n\t- name: small\n');
  const r = await runCli(['config-validate', '-c', file]);
  assert.match(r.stderr, new RegExp(`^${file}:2:1: YAML syntax error: Tabs are not allowed as indentation\n`));
  assert.equal(r.code, 2);
});

test('config-validate on an unclosed [ points at the [, and at where the parser noticed it', async () => {
  const file = scratchFile('labels:\n  - name: small\n    min-ready: [1\nproviders: []\n');
  const r = await runCli(['config-validate', '-c', file]);
  assert.match(r.stderr, new RegExp(`^${file}:3:16: YAML syntax error: this \\[ is never closed \\(noticed at 4:1: `));
  assert.equal(r.code, 2);
});

test("config-validate on nodepool's reference: nodepool's replaced keys are notices on stderr, exit 0", async () => {
  const file = 'test/fixtures/config/nodepool-reference.yaml';
  const r = await runCli(['config-validate', '-c', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `${file}: OK\n4 labels, 1 provider, 1 pool, 3 diskimages\n`);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 6, r.stderr);
  assert.equal(
    lines[1],
    `${file}:13:1: zookeeper-servers: notice: nodepool's zookeeper-servers is not used: Temporal coordinates the workers instead of ZooKeeper (see the temporal section)`,
  );
  assert.ok(lines.every((l) => l.includes(': notice: ')));
});

test("config-validate: a builder script that does not exist is an error (the example's used to)", async () => {
  const file = scratchFile('diskimages:\n  - name: tiny\n    builder: script\n    script: scripts/build-debian.sh\n');
  const r = await runCli(['config-validate', '-c', file]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /:4:13: diskimages\[0\]\.script: script \/.*\/scripts\/build-debian\.sh does not exist; /);
});

test("config-validate: a key of nodepool's not supported yet is an error saying so, exit 2", async () => {
  const file = scratchFile('labels: [{name: a}]\ntenant-resource-limits: [{tenant-name: t, max-servers: 1}]\n');
  const r = await runCli(['config-validate', '-c', file]);
  assert.equal(
    r.stderr,
    `${file}:2:1: tenant-resource-limits: tenant-resource-limits is nodepool's but not supported yet\nnodepool: ${file}: 1 error\n`,
  );
  assert.equal(r.code, 2);
});

test('an unknown flag is reported once, as it was typed', async () => {
  const r = await runCli(['config-validate', '-c', 'nodepool.example.yaml', '--bogus-flag']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /\nnodepool: Unknown argument: bogus-flag\n$/);
  const two = await runCli(['config-validate', '-c', 'nodepool.example.yaml', '--bogus-flag', '--other-flag=1', '-z']);
  assert.match(two.stderr, /\nnodepool: Unknown arguments: bogus-flag, other-flag, z\n$/);
});
