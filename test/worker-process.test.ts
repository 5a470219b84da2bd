import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { workerHealth } from '../workflows/index.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { connectClient, connectWorker, temporalAddress, uniqueTaskQueue } from './support/temporal.ts';
import { until } from './support/poll.ts';
import { searchAttributeProblems } from '../worker/search-attributes.ts';

const ROOT = join(import.meta.dirname, '..');
let db: TestDatabase;
let client: Client;
let closeClient: () => Promise<void>;
let dir: string;

before(async () => {
  db = await createTestDatabase('worker_proc');
  ({ client, close: closeClient } = await connectClient());
  dir = mkdtempSync(join(tmpdir(), 'nodepool-worker-'));
});

after(async () => {
  await closeClient();
  await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

test('the worker process migrates the database, serves its task queue, and stops cleanly on SIGTERM', async () => {
  const taskQueue = uniqueTaskQueue('proc');
  const configFile = join(dir, 'nodepool.yaml');
  writeFileSync(
    configFile,
    [
      `images-dir: ${join(dir, 'images')}`,
      `build-log-dir: ${join(dir, 'logs')}`,
      `temporal:\n  address: ${temporalAddress()}\n  task-queue: ${taskQueue}`,
      `database:\n  url: ${db.url}\n`,
    ].join('\n'),
  );
  const child = spawn(process.execPath, [join(ROOT, 'worker', 'main.ts'), '-c', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, DATABASE_URL: '', TEMPORAL_ADDRESS: '' },
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
    assert.equal(result.database.appliedMigrations.length > 0, true);
    assert.match(output, /database ready/);
    assert.ok(statSync(join(dir, 'images')).isDirectory(), 'images-dir created at start');
    assert.ok(statSync(join(dir, 'logs')).isDirectory(), 'build-log-dir created at start');
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0, output);
  assert.match(output, /worker stopped/);
});

test('the worker refuses an invalid config with file:line:column errors and exit 2', async () => {
  const configFile = join(dir, 'bad.yaml');
  writeFileSync(configFile, 'temporal:\n  adress: localhost:7233\n');
  const child = spawn(process.execPath, [join(ROOT, 'worker', 'main.ts'), '-c', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 2);
  assert.match(stderr, /bad\.yaml:2:3/);
  assert.match(stderr, /adress/);
});

test('on a namespace without nodepool search attributes the worker exits 2 printing commands that fix it', async () => {
  const namespace = `bare-${uniqueTaskQueue('ns')}`;
  await client.workflowService.registerNamespace({
    namespace,
    workflowExecutionRetentionPeriod: msToTs('1 day'),
  });
  const configFile = join(dir, 'bare.yaml');
  writeFileSync(
    configFile,
    [
      `images-dir: ${join(dir, 'images')}`,
      `build-log-dir: ${join(dir, 'logs')}`,
      `temporal:\n  address: ${temporalAddress()}\n  namespace: ${namespace}\n  task-queue: ${uniqueTaskQueue('bare')}`,
      `database:\n  url: ${db.url}\n`,
    ].join('\n'),
  );
  const runWorker = async (): Promise<{ code: number | null; stderr: string }> => {
    const child = spawn(process.execPath, [join(ROOT, 'worker', 'main.ts'), '-c', configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DATABASE_URL: '', TEMPORAL_ADDRESS: '' },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    return { code, stderr };
  };

  const bare = await runWorker();
  assert.equal(bare.code, 2, bare.stderr);
  const commands = bare.stderr
    .split('\n')
    .filter((l) => l.trim().startsWith('temporal operator search-attribute create'));
  assert.deepEqual(
    commands.map((c) => /--name (\S+) --type (\S+)/.exec(c)?.slice(1)),
    [
      ['NodepoolImage', 'Keyword'],
      ['NodepoolProvider', 'KeywordList'],
      ['NodepoolState', 'Keyword'],
      ['NodepoolVersion', 'Int'],
      ['NodepoolBuild', 'Int'],
    ],
  );

  // The printed commands are the fix: run them with the real temporal CLI, and the check passes.
  const cli = process.env.TEMPORAL_CLI;
  assert.ok(cli, 'the test harness exports TEMPORAL_CLI');
  for (const command of commands) {
    const ran: SpawnSyncReturns<string> = spawnSync(cli as string, command.trim().split(/\s+/).slice(1), {
      encoding: 'utf8',
    });
    assert.equal(ran.status, 0, `${command}\n${ran.stdout}${ran.stderr}`);
  }
  const problems = await until('the namespace to list the new search attributes', async () => {
    const c = await connectWorker();
    try {
      const left = await searchAttributeProblems(c, namespace);
      return left.length === 0 ? left : undefined;
    } finally {
      await c.close();
    }
  });
  assert.deepEqual(problems, []);
});
