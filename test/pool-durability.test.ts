// Pools survive what production does to them: the worker process SIGKILLed in the middle of launches (no leak,
// no duplicate server when it comes back), and continue-as-new under a burst of requests (every node and every
// request carried over, every request fulfilled once).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowIdConflictPolicy } from '@temporalio/client';
import { NodepoolClient } from '../client/nodepool-client.ts';
import { adapterForCloud, isOwnedBy, TAGS } from '../providers/index.ts';
import { poolWorkflowId } from '../workflows/ids.ts';
import type { PoolView } from '../workflows/pool-api.ts';
import { POOL_TASK_TIMEOUT } from '../workflows/pool-api.ts';
import { providerPool } from '../workflows/provider-pool.ts';
import { plainImage } from './support/glance.ts';
import { createNodepoolEnv, simProvider, type NodepoolEnv } from './support/nodepool.ts';
import { until } from './support/poll.ts';
import { killed } from './support/process.ts';

let env: NodepoolEnv;
const tag = Math.random().toString(36).slice(2, 8);
const slow = `slow-${tag}`;
const busy = `busy-${tag}`;

before(async () => {
  env = await createNodepoolEnv({
    prefix: 'pool-durable',
    // slowcloud boots take seconds, so the worker dies with launches in flight.
    sim: { knobs: { bootSeconds: { min: 0.05, max: 0.1 } } },
    extraClouds: { slowcloud: { knobs: { bootSeconds: { min: 4, max: 5 } } } },
    config: `
labels:
  - { name: slow, min-ready: 4 }
  - { name: busy, min-ready: 2 }
providers:
${simProvider({ name: slow, label: 'slow', maxServers: 4, cloud: 'slowcloud', extra: ['boot-timeout: 30'] })}
${simProvider({ name: busy, label: 'busy', maxServers: 12 })}
temporal:
  address: {{temporal}}
  task-queue: {{taskQueue}}
`,
  });
  for (const sim of Object.values(env.sims)) await plainImage(sim, 'cirros-0.6', Buffer.alloc(64 * 1024, 7));
});

after(async () => {
  for (const p of [slow, busy])
    await env?.client.workflow
      .getHandle(poolWorkflowId(p))
      .terminate('test over')
      .catch(() => {});
  await env?.close();
});

const view = (p: string): Promise<PoolView> => env.client.workflow.getHandle(poolWorkflowId(p)).query('pool');

test('a worker SIGKILLed mid-launch comes back to exactly one server per node, none leaked', async () => {
  // The real worker process starts the pools itself (worker/startup.ts).
  const worker = await env.spawnWorker();
  const adapter = adapterForCloud('slowcloud', { env: env.cloudEnv, fresh: true });
  const ours = async () =>
    (await adapter.listServers()).filter((s) => isOwnedBy(s.metadata, slow) && s.state !== 'deleted');
  await until(
    'launches to be in flight',
    async () => ((await ours()).some((s) => s.state === 'building') ? true : undefined),
    60_000,
  );
  await killed(worker);
  const restarted = await env.spawnWorker();
  try {
    const ready = await until(
      'four READY nodes after the restart',
      async () => {
        const v = await view(slow);
        const r = v.nodes.filter((n) => n.state === 'ready');
        return r.length === 4 && v.nodes.length === 4 ? r : undefined;
      },
      120_000,
    );
    const servers = await ours();
    assert.deepEqual(
      servers.map((s) => s.id).sort(),
      ready.map((n) => n.externalId).sort(),
      'every server of ours is a READY node, and every node has one server',
    );
    for (const n of ready)
      assert.equal(servers.find((s) => s.id === n.externalId)?.metadata[TAGS.nodeId], String(n.id));
  } finally {
    await killed(restarted);
  }
});

test('continue-as-new under a burst of requests keeps every node and request', async () => {
  // The worker process of the first test started this pool with its defaults; start it again with a small
  // history limit so it continues as new many times during the burst.
  await env.client.workflow
    .getHandle(poolWorkflowId(busy))
    .terminate('restarted with a small history limit')
    .catch(() => {});
  const stop = await env.startWorker();
  try {
    const handle = await env.client.workflow.start(providerPool, {
      taskQueue: env.taskQueue,
      workflowTaskTimeout: POOL_TASK_TIMEOUT,
      workflowId: poolWorkflowId(busy),
      args: [{ provider: busy, maxEvents: 80 }],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
    });
    const firstRun = handle.firstExecutionRunId;
    const client = new NodepoolClient(env.client, { providers: [busy] });
    const keys = Array.from({ length: 24 }, (_, i) => `burst-${tag}-${i}`);
    // Two waves of requests, each released as soon as it is served, so the pool keeps launching and deleting.
    const served = new Map<string, number>();
    for (const wave of [keys.slice(0, 12), keys.slice(12)]) {
      const results = await Promise.all(
        wave.map((key) =>
          client.requestNodes({ key, labels: ['busy'], requestor: 'burst' }, { wait: true, timeoutMs: 120_000 }),
        ),
      );
      for (const r of results) {
        assert.equal(r.state, 'fulfilled', JSON.stringify(r));
        served.set(r.key, r.nodes[0]?.id as number);
      }
      await client.release(results.flatMap((r) => r.nodes));
    }
    assert.equal(new Set(served.values()).size, keys.length, 'no node was handed to two requests');
    // The workflow continued as new at least once (a run past its limit first lets the launches and deletions in
    // flight finish), and still knows every request by its key.
    await until(
      'the pool to continue as new',
      async () =>
        (await env.client.workflow.getHandle(poolWorkflowId(busy)).describe()).runId !== firstRun ? true : undefined,
      60_000,
    );
    for (const key of keys) {
      const again = await client.requestNodes({ key, labels: ['busy'], requestor: 'burst' });
      assert.equal(again.state, 'fulfilled');
      assert.equal(again.key, key);
    }
    await until(
      'min-ready to be back',
      async () => ((await view(busy)).nodes.filter((n) => n.state === 'ready').length >= 2 ? true : undefined),
      60_000,
    );
  } finally {
    await stop();
  }
});
