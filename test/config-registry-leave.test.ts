// A worker that stops while one of its heartbeats is still on its way must still be gone from the registry:
// a heartbeat applied after the leave brought it back as a live member, and a restart of the deployment with
// changed files was then refused until that ghost went stale.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import type { ConfigSummary } from '../core/config-registry.ts';
import { BUNDLER_OPTIONS } from '../worker/bundler-options.ts';
import { joinConfigRegistry } from '../worker/config-registry.ts';
import { configRegistryWorkflowId, registryQuery } from '../workflows/config-registry.ts';
import { cleanupAll } from './support/cleanup.ts';
import { connectClient, connectWorker, uniqueTaskQueue } from './support/temporal.ts';

const summary: ConfigSummary = { digest: 'd'.repeat(64), providers: ['p'], diskimages: [], labels: [], files: [] };

/** The client, except that heartbeat updates wait at a gate the test opens, and what B sends is logged in order. */
function gated(client: Client): { client: Client; held: Promise<void>; open(): void; log: string[] } {
  let open!: () => void;
  let reached!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const held = new Promise<void>((r) => (reached = r));
  const log: string[] = [];
  const workflow = new Proxy(client.workflow, {
    get(target, prop, receiver) {
      if (prop !== 'getHandle') return Reflect.get(target, prop, receiver) as unknown;
      return (...args: Parameters<typeof target.getHandle>): WorkflowHandle => {
        const handle = target.getHandle(...args);
        const executeUpdate = handle.executeUpdate.bind(handle) as WorkflowHandle['executeUpdate'];
        const signal = handle.signal.bind(handle) as WorkflowHandle['signal'];
        return Object.assign(Object.create(handle) as WorkflowHandle, {
          executeUpdate: (async (...u: Parameters<WorkflowHandle['executeUpdate']>) => {
            reached();
            await gate;
            const r = await executeUpdate(...u);
            log.push('heartbeat applied');
            return r;
          }) as WorkflowHandle['executeUpdate'],
          signal: ((...a: Parameters<WorkflowHandle['signal']>) => {
            log.push('leave sent');
            return signal(...a);
          }) as WorkflowHandle['signal'],
        });
      };
    },
  });
  const proxied = new Proxy(client, { get: (t, p, r) => (p === 'workflow' ? workflow : Reflect.get(t, p, r)) });
  return { client: proxied, held, open, log };
}

test('a worker stopping during a heartbeat leaves the registry for good', async (t) => {
  const taskQueue = uniqueTaskQueue('registry-leave');
  const connection = await connectWorker();
  const { client, close: closeClient } = await connectClient();
  // The registry's workflow runs on the task queue: here a worker with only it, standing for A's.
  const worker = await Worker.create({
    connection,
    taskQueue,
    workflowsPath: join(import.meta.dirname, '..', 'workflows', 'config-registry.ts'),
    bundlerOptions: BUNDLER_OPTIONS,
  });
  const running = worker.run();
  const joinAs = (identity: string, c: Client, heartbeatMs?: number) =>
    joinConfigRegistry({
      client: c,
      taskQueue,
      summary,
      identity,
      replace: false,
      ...(heartbeatMs ? { heartbeatMs } : {}),
    });
  // A stays; B stops while its heartbeat is held.
  const a = await joinAs('a@test', client);
  const g = gated(client);
  const b = await joinAs('b@test', g.client, 50);
  t.after(() =>
    cleanupAll([
      () => a.close(),
      async () => {
        worker.shutdown();
        await running;
      },
      () => connection.close(),
      closeClient,
    ]),
  );
  await g.held;
  const handle = client.workflow.getHandle(configRegistryWorkflowId(taskQueue));
  const has = async (identity: string) => Boolean((await handle.query(registryQuery)).members[identity]);
  assert.ok(await has('b@test'));
  // B stops while its heartbeat is held; the heartbeat is let through right after.
  const closing = b.close();
  g.open();
  await closing;
  assert.deepEqual(g.log, ['heartbeat applied', 'leave sent'], 'B leaves after its last heartbeat, not before it');
  assert.equal(await has('b@test'), false, 'B left after its last heartbeat, not before it');
  assert.equal(await has('a@test'), true);
});
