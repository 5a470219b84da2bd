// A launcher file and a builder file loaded as one configuration, as nodepool deployments keep them: joined by
// name, paths relative to each file, messages pointing into the file that holds the value; the worker and
// config-validate take several -c.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { ConfigError, formatIssue, loadConfig, type ConfigIssue } from '../config/index.ts';
import { workerHealth } from '../workflows/index.ts';
import { runCli } from './support/cli.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { connectClient, temporalAddress, uniqueTaskQueue } from './support/temporal.ts';
import { y } from './support/config.ts';

const ROOT = join(import.meta.dirname, '..');

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'nodepool-files-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Writes `text` to dir/sub/name and returns its path. */
function write(sub: string, name: string, text: string): string {
  mkdirSync(join(dir, sub), { recursive: true });
  const file = join(dir, sub, name);
  writeFileSync(file, text);
  return file;
}

/** nodepool's launcher file: labels, providers with pools; diskimages named only. */
const LAUNCHER = y(
  'zookeeper-servers: [{host: zk1.example.com}]',
  'labels:',
  '  - name: ubuntu-noble',
  '    min-ready: 1',
  'providers:',
  '  - name: east',
  '    cloud: east',
  '    boot-timeout: 120',
  '    diskimages:',
  '      - name: ubuntu-noble',
  '        config-drive: true',
  '    pools:',
  '      - name: main',
  '        max-servers: 4',
  '        labels: [{name: ubuntu-noble, diskimage: ubuntu-noble, flavor-name: m1.small}]',
  'diskimages:',
  '  - name: ubuntu-noble',
);

/** nodepool's builder file: diskimages in full, providers with their diskimages (what is uploaded where). */
function builder(script: string): string {
  return y(
    'zookeeper-servers: [{host: zk2.example.com}]',
    'images-dir: images',
    'diskimages:',
    '  - name: ubuntu-noble',
    '    builder: script',
    `    script: ${script}`,
    '    release: noble',
    'providers:',
    '  - name: east',
    '    cloud: east',
    '    image-upload-timeout: 2h',
    '    diskimages:',
    '      - name: ubuntu-noble',
    '        meta: {os-distro: ubuntu}',
  );
}

function rejected(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  assert.fail('the configuration was accepted');
}

test('a launcher file and a builder file load as one configuration, joined by name', () => {
  const launcher = write('launcher', 'nodepool.yaml', LAUNCHER);
  chmodSync(write('builder', 'build.sh', '#!/bin/sh\n'), 0o755);
  const builderFile = write('builder', 'nodepool.yaml', builder('build.sh'));
  const notices: ConfigIssue[] = [];
  const config = loadConfig([launcher, builderFile], { onNotice: (n) => notices.push(n) });
  assert.deepEqual(
    config.labels.map((l) => [l.name, l.minReady]),
    [['ubuntu-noble', 1]],
  );
  assert.equal(config.providers.length, 1);
  const east = config.providers[0];
  assert.ok(east);
  assert.equal(east.bootTimeout, 120);
  assert.equal(east.imageUploadTimeout, 7200);
  assert.deepEqual(east.diskimages, [
    { name: 'ubuntu-noble', pause: false, configDrive: true, meta: { 'os-distro': 'ubuntu' }, connectionPort: 22 },
  ]);
  assert.equal(east.pools[0]?.maxServers, 4);
  // Relative paths start at the directory of the file that names them.
  assert.equal(config.imagesDir, join(dir, 'builder', 'images'));
  assert.equal(config.diskimages[0]?.script, join(dir, 'builder', 'build.sh'));
  assert.equal(config.diskimages[0]?.release, 'noble');
  // Replaced keys may differ between the files: one notice, at the first file's key.
  assert.deepEqual(notices.map(formatIssue), [
    `${launcher}:1:1: zookeeper-servers: notice: nodepool's zookeeper-servers is not used: Temporal coordinates the workers instead of ZooKeeper (see the temporal section)`,
  ]);
});

test('a mistake in the builder file is reported in the builder file, at its own line', () => {
  const launcher = write('launcher', 'nodepool.yaml', LAUNCHER);
  const builderFile = write('builder', 'nodepool.yaml', builder('missing.sh'));
  const err = rejected(() => loadConfig([launcher, builderFile], { onNotice: () => undefined }));
  assert.deepEqual(err.issues.map(formatIssue), [
    `${builderFile}:6:13: diskimages[0].script: script ${join(dir, 'builder', 'missing.sh')} does not exist; fix the path (relative paths start at the directory of the file naming it), or chmod +x it`,
  ]);
});

test('files that set one key to different values are an error at the second, naming the first', () => {
  const a = write('conflict', 'a.yaml', y('images-dir: /srv/a', 'providers:', '  - name: east', '    cloud: east-a'));
  const b = write('conflict', 'b.yaml', y('providers:', '  - name: east', '    cloud: east-b', 'images-dir: /srv/a'));
  const err = rejected(() => loadConfig([a, b], { onNotice: () => undefined }));
  assert.deepEqual(err.issues.map(formatIssue), [
    `${b}:3:12: providers[0].cloud: "east-b" here, but "east-a" in ${a}:4:12; files loaded together must agree`,
  ]);
});

test('an unreadable file among several is named, as a single one is', () => {
  const launcher = write('launcher', 'nodepool.yaml', LAUNCHER);
  const absent = join(dir, 'absent.yaml');
  const err = rejected(() => loadConfig([launcher, absent]));
  assert.equal(err.format(), `${absent}: no such file; name the configuration with -c/--config or NODEPOOL_CONFIG`);
});

test('the worker refuses files that do not load together: exit 2, the error in the file that holds it', async () => {
  const launcher = write('launcher', 'nodepool.yaml', LAUNCHER);
  const builderFile = write('builder', 'nodepool.yaml', builder('missing.sh'));
  const child = spawn(process.execPath, [join(ROOT, 'worker', 'main.ts'), '-c', launcher, '--config', builderFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 2, stderr);
  assert.ok(stderr.includes(`${builderFile}:6:13: diskimages[0].script: script`), stderr);
  assert.ok(stderr.includes(`nodepool-worker: ${launcher}, ${builderFile} are not valid`), stderr);
});

test('config-validate takes several -c and checks them as one configuration', async () => {
  const launcher = write('validate', 'launcher.yaml', LAUNCHER);
  const builderFile = write('validate', 'builder.yaml', builder('/bin/sh'));
  const r = await runCli(['config-validate', '-c', launcher, '-c', builderFile]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /: OK\n1 label, 1 provider, 1 pool, 1 diskimage\n$/);
  assert.match(r.stderr, /launcher\.yaml:1:1: zookeeper-servers: notice: /);
});

let db: TestDatabase;
let client: Client;
let closeClient: () => Promise<void>;

test('the worker serves with a launcher file and a builder file given as two -c', async (t) => {
  db = await createTestDatabase('config_files');
  ({ client, close: closeClient } = await connectClient());
  t.after(async () => {
    await closeClient();
    await db.drop();
  });
  const taskQueue = uniqueTaskQueue('files');
  // The Temporal and database settings are in one file, the directories in the other: both must be read.
  const launcher = write(
    'worker',
    'launcher.yaml',
    y(`temporal:\n  address: ${temporalAddress()}\n  task-queue: ${taskQueue}`, `database:\n  url: ${db.url}`),
  );
  const builderFile = write('worker', 'builder.yaml', y('images-dir: built-images', 'build-log-dir: build-logs'));
  const child = spawn(process.execPath, [join(ROOT, 'worker', 'main.ts'), '-c', launcher, '-c', builderFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DATABASE_URL: '', TEMPORAL_ADDRESS: '', NODEPOOL_TASK_QUEUE: '' },
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const result = await client.workflow.execute(workerHealth, {
      taskQueue,
      workflowId: `${taskQueue}-health`,
      args: [taskQueue],
      workflowExecutionTimeout: '60 seconds',
    });
    assert.deepEqual(result.database.pendingMigrations, []);
    assert.ok(statSync(join(dir, 'worker', 'built-images')).isDirectory(), "the builder file's images-dir");
    assert.ok(statSync(join(dir, 'worker', 'build-logs')).isDirectory(), "the builder file's build-log-dir");
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, output);
});
