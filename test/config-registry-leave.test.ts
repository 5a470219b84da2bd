// A worker that stops while one of its heartbeats is still on its way must still be gone from the registry:
// a heartbeat applied after the leave brought it back as a live member, and a restart of the deployment with
// changed files was then refused until that ghost went stale.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { ConfigSummary } from '../core/config-registry.ts';
import { joinConfigRegistry } from '../worker/config-registry.ts';
import { configRegistryWorkflowId, registryQuery } from '../workflows/config-registry.ts';
import { cleanupAll } from './support/cleanup.ts';
import { until } from './support/poll.ts';
import { connectClient, connectWorker, uniqueTaskQueue } from './support/temporal.ts';

const summary: ConfigSummary = { digest: 'd'.repeat(64), providers: ['p'], diskimages: [], labels: [], files: [] };

/** The client, except that heartbeat updates wait at a gate the test opens. */
function gated(client: Client): { client: Client; held: Promise<void>; open(): void; applied: Promise<void> } {
  let open!: () => void;
  let reached!: () => void;
  let done!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  const held = new Promise<void>((r) => (reached = r));
  const applied = new Promise<void>((r) => (done = r));
  const workflow = new Proxy(client.workflow, {
    get(target, prop, receiver) {
      if (prop !== 'getHandle') return Reflect.get(target, prop, receiver) as unknown;
      return (...args: Parameters<typeof target.getHandle>): WorkflowHandle => {
        const handle = target.getHandle(...args);
        const executeUpdate = handle.executeUpdate.bind(handle) as WorkflowHandle['executeUpdate'];
        return Object.assign(Object.create(handle) as WorkflowHandle, {
          executeUpdate: (async (...u: Parameters<WorkflowHandle['executeUpdate']>) => {
            reached();
            await gate;
            try {
              return await executeUpdate(...u);
            } finally {
              done();
            }
          }) as WorkflowHandle['executeUpdate'],
        });
      };
    },
  });
  const proxied = new Proxy(client, { get: (t, p, r) => (p === 'workflow' ? workflow : Reflect.get(t, p, r)) });
  return { client: proxied, held, open, applied };
}

test('a worker stopping during a heartbeat leaves the registry for good', async (t) => {
  const taskQueue = uniqueTaskQueue('registry-leave');
  // One worker connection each, as two worker processes would have.
  const connection = await connectWorker();
  const connectionB = await connectWorker();
  const { client, close: closeClient } = await connectClient();
  const join = (identity: string, c: Client, conn: typeof connection, heartbeatMs?: number) =>
    joinConfigRegistry({
      connection: conn,
      client: c,
      namespace: 'default',
      taskQueue,
      summary,
      identity,
      replace: false,
      ...(heartbeatMs ? { heartbeatMs } : {}),
    });
  // A stays (its registry worker answers); B stops while its heartbeat is held.
  const a = await join('a@test', client, connection);
  const g = gated(client);
  const b = await join('b@test', g.client, connectionB, 50);
  t.after(() => cleanupAll([() => a.close(), () => connection.close(), () => connectionB.close(), closeClient]));
  await g.held;
  const handle = client.workflow.getHandle(configRegistryWorkflowId(taskQueue));
  const has = async (identity: string) => Boolean((await handle.query(registryQuery)).members[identity]);
  assert.ok(await has('b@test'));
  const closing = b.close();
  // The heartbeat is held until B's leave has been applied, or for 2 s if B rightly waits for its heartbeat
  // before leaving: either way the heartbeat is then let through, and B must end up gone.
  await until('B to leave first', async () => ((await has('b@test')) ? undefined : true), 2_000).catch(() => undefined);
  g.open();
  await closing;
  await g.applied;
  assert.equal(await has('b@test'), false, 'B left after its last heartbeat, not before it');
  assert.equal(await has('a@test'), true);
});
