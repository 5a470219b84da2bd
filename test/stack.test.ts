import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { adapterForCloud } from '../providers/index.ts';
import { freePort } from '../scripts/tools.ts';
import { workerHealth } from '../workflows/index.ts';
import { connectClient, temporalAddress, uniqueTaskQueue } from './support/temporal.ts';

const ROOT = join(import.meta.dirname, '..');
let client: Client;
let closeClient: () => Promise<void>;
let dir: string;

before(async () => {
  ({ client, close: closeClient } = await connectClient());
  dir = mkdtempSync(join(tmpdir(), 'nodepool-stack-'));
});

after(async () => {
  await closeClient();
  rmSync(dir, { recursive: true, force: true });
});

async function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ${pattern} within ${timeoutMs} ms; output:\n${out}`)),
      timeoutMs,
    );
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (pattern.test(out)) {
        clearTimeout(timer);
        resolve(out);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`stack exited ${code} before ready; output:\n${out}`));
    });
  });
}

test('npm run stack brings up the simulator and a worker that serve real requests, and stops on SIGINT', async () => {
  const taskQueue = uniqueTaskQueue('stack');
  const simPort = await freePort();
  const sshPort = await freePort();
  const child = spawn(
    process.execPath,
    [
      join(ROOT, 'scripts', 'stack.ts'),
      '--dir',
      dir,
      '--temporal-address',
      temporalAddress(),
      '--sim-port',
      String(simPort),
      '--ssh-port',
      String(sshPort),
      '--task-queue',
      taskQueue,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DATABASE_URL: '' } },
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    const banner = await waitForLine(child, /stack ready[\s\S]*logs/, 90_000);
    assert.match(banner, new RegExp(`sim-cloud\\s+http://127\\.0\\.0\\.1:${simPort}/identity`));

    // The worker the stack started answers on its task queue, with its embedded database migrated.
    const health = await client.workflow.execute(workerHealth, {
      taskQueue,
      workflowId: `${taskQueue}-health`,
      args: [taskQueue],
      workflowExecutionTimeout: '60 seconds',
    });
    assert.deepEqual(health.database.pendingMigrations, []);
    assert.match(health.database.driver, /Pglite/i);

    // The generated clouds.yaml makes the simulator usable through the real driver.
    const adapter = adapterForCloud('sim', {
      env: { OS_CLIENT_CONFIG_FILE: join(dir, 'clouds.yaml') },
      fresh: true,
    });
    const flavors = await adapter.listFlavors();
    assert.ok(flavors.some((f) => f.name === 'm1.small'));
  } finally {
    child.kill('SIGINT');
  }
  assert.equal(await exited, 0);
});
