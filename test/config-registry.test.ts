// Two real worker processes on one task queue with different nodepool.yaml: the second is refused with a message
// naming the first; with --replace-config it takes over and the first stops (exit 3); after a clean stop of every
// worker, a changed nodepool.yaml starts without the flag. Meanwhile the CLI never meets a worker with another file.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { registryQuery, configRegistryWorkflowId } from '../workflows/config-registry.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { until } from './support/poll.ts';
import { connectClient, temporalAddress, uniqueTaskQueue } from './support/temporal.ts';

const ROOT = join(import.meta.dirname, '..');
let dir: string;
let db: TestDatabase;
let client: Client;
let closeClient: () => Promise<void>;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nodepool-registry-'));
  db = await createTestDatabase('registry');
  ({ client, close: closeClient } = await connectClient());
});

after(async () => {
  await closeClient();
  await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

interface Proc {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function startWorker(configFile: string, extra: string[] = []): Proc {
  const child = spawn(process.execPath, [join(ROOT, 'worker', 'main.ts'), '-c', configFile, ...extra], {
    env: { ...process.env, TEMPORAL_ADDRESS: temporalAddress(), DATABASE_URL: db.url, NODEPOOL_TASK_QUEUE: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  return { child, output: () => out, exited };
}

async function polling(p: Proc): Promise<void> {
  await until(
    'the worker to poll',
    async () => {
      if (p.child.exitCode !== null) throw new Error(`worker exited ${p.child.exitCode}:\n${p.output()}`);
      return p.output().includes('worker polling') ? true : undefined;
    },
    60_000,
  );
}

function writeConfig(name: string, taskQueue: string, providers: string[]): string {
  const file = join(dir, name);
  const lines = [
    `images-dir: ${join(dir, 'images')}`,
    `build-log-dir: ${join(dir, 'logs')}`,
    `temporal:\n  task-queue: ${taskQueue}`,
    'providers:',
    ...providers.flatMap((p) => [`  - name: ${p}`, `    cloud: ${p}-cloud`]),
    '',
  ];
  writeFileSync(file, lines.join('\n'));
  return file;
}

test('workers with another nodepool.yaml are refused, replace only when told, and take over once the old ones left', async () => {
  const taskQueue = uniqueTaskQueue('registry');
  const one = writeConfig('one.yaml', taskQueue, ['sim-one']);
  const two = writeConfig('two.yaml', taskQueue, ['sim-two']);
  const procs: Proc[] = [];
  try {
    const a = startWorker(one);
    procs.push(a);
    await polling(a);
    // The same file on a second worker: both share the load.
    const a2 = startWorker(one);
    procs.push(a2);
    await polling(a2);

    const b = startWorker(two);
    procs.push(b);
    assert.equal(await b.exited, 3, b.output());
    const refusal =
      b
        .output()
        .split('\n')
        .find((l) => l.startsWith('nodepool-worker: ')) ?? '';
    assert.match(refusal, new RegExp(`task queue ${taskQueue} runs another nodepool.yaml .*providers sim-one`));
    assert.match(refusal, /on 2 workers: /);
    assert.match(refusal, /This worker's \(digest \w+, providers sim-two.*--replace-config/);
    assert.doesNotMatch(b.output(), /\n\s+at /, 'no stack trace');

    const registry = client.workflow.getHandle(configRegistryWorkflowId(taskQueue));
    const before = await registry.query(registryQuery);
    assert.deepEqual(before.current?.providers, ['sim-one']);
    assert.equal(Object.keys(before.members).length, 2);

    // The operator's word: two.yaml is the configuration now; both workers of one.yaml stop by themselves.
    const b2 = startWorker(two, ['--replace-config']);
    procs.push(b2);
    await polling(b2);
    assert.match(b2.output(), /"how":"replaced"/);
    assert.deepEqual(await Promise.all([a.exited, a2.exited]), [3, 3]);
    for (const old of [a, a2])
      assert.match(old.output(), /now runs another nodepool.yaml \(digest \w+, providers sim-two/);
    const replaced = await registry.query(registryQuery);
    assert.deepEqual(replaced.current?.providers, ['sim-two']);
    assert.deepEqual(Object.keys(replaced.members), [`${b2.child.pid}@${hostname()}`], 'the stopped ones left');

    // A clean stop leaves the registry; the next deploy with a changed file needs no flag.
    b2.child.kill('SIGTERM');
    assert.equal(await b2.exited, 0, b2.output());
    const c = startWorker(one);
    procs.push(c);
    await polling(c);
    assert.match(c.output(), /"how":"abandoned"/);
    assert.deepEqual((await registry.query(registryQuery)).current?.providers, ['sim-one']);
    c.child.kill('SIGTERM');
    assert.equal(await c.exited, 0, c.output());
  } finally {
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  }
});
