// A provider's pool end to end, with the real CLI process, a real worker, the dev server, PostgreSQL and the
// simulator: min-ready fill and refill after use, requests served from READY nodes, hold and delete, a request
// no provider can serve, and every node transition recorded in PostgreSQL.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowIdConflictPolicy } from '@temporalio/client';
import { Node } from '../db/entities/index.ts';
import { poolWorkflowId } from '../workflows/ids.ts';
import type { NodeView, PoolView, RequestStatus } from '../workflows/pool-api.ts';
import { POOL_TASK_TIMEOUT } from '../workflows/pool-api.ts';
import { providerPool } from '../workflows/provider-pool.ts';
import { plainImage } from './support/glance.ts';
import { createNodepoolEnv, type NodepoolEnv } from './support/nodepool.ts';
import { until } from './support/poll.ts';

let env: NodepoolEnv;
let stopWorker: () => Promise<void>;
const tag = Math.random().toString(36).slice(2, 8);
const provider = `pool-${tag}`;

before(async () => {
  env = await createNodepoolEnv({
    prefix: 'pool',
    sim: { knobs: { bootSeconds: { min: 0.05, max: 0.1 } } },
    config: `
labels:
  - name: small
    min-ready: 2
  - name: big
    min-ready: 0
max-hold-age: 1h
providers:
  - name: ${provider}
    cloud: simcloud
    rate: 0
    boot-timeout: 20
    launch-timeout: 60
    launch-retries: 2
    cloud-images:
      - name: cirros
        image-name: cirros-0.6
        connection-port: {{sshPort}}
    pools:
      - name: main
        max-servers: 4
        labels:
          - name: small
            cloud-image: cirros
            flavor-name: m1.tiny
          - name: big
            cloud-image: cirros
            flavor-name: m1.small
temporal:
  address: {{temporal}}
  task-queue: {{taskQueue}}
`,
  });
  await plainImage(env.sim, 'cirros-0.6', Buffer.alloc(1024 * 1024, 7));
  stopWorker = await env.startWorker();
  await env.client.workflow.start(providerPool, {
    taskQueue: env.taskQueue,
    workflowTaskTimeout: POOL_TASK_TIMEOUT,
    workflowId: poolWorkflowId(provider),
    args: [{ provider, reconcileSeconds: 2, leakGraceSeconds: 1 }],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
  });
});

after(async () => {
  await env?.client.workflow
    .getHandle(poolWorkflowId(provider))
    .terminate('test over')
    .catch(() => {});
  await stopWorker?.();
  await env?.close();
});

async function nodes(): Promise<NodeView[]> {
  const r = await env.cli(['list', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as NodeView[];
}

async function pool(): Promise<PoolView> {
  return env.client.workflow.getHandle(poolWorkflowId(provider)).query('pool');
}

async function readySmall(count: number): Promise<NodeView[]> {
  return until(
    `${count} READY small nodes`,
    async () => {
      const ready = (await nodes()).filter((n) => n.label === 'small' && n.state === 'ready' && !n.requestKey);
      return ready.length >= count ? ready : undefined;
    },
    60_000,
  );
}

test('min-ready fills with READY nodes that passed a real SSH handshake', async () => {
  const ready = await readySmall(2);
  for (const n of ready) {
    assert.match(n.hostKeys?.[0] ?? '', /^ssh-ed25519 /, 'the host key the handshake saw is recorded');
    assert.match(n.ip ?? '', /^127\./);
    assert.equal(n.hostname, `small-${provider}-${n.id}`, "nodepool's default hostname-format");
  }
  const table = await env.cli(['list']);
  assert.match(
    table.stdout,
    /\| ID +\| Provider +\| Label +\| Server ID +\| Public IPv4 +\| State +\| Age +\| Locked\/Held +\|/,
  );
  // Recorded in PostgreSQL, with the server and its key.
  const row = await env.orm.em.fork().findOneOrFail(Node, ready[0]?.id as number);
  assert.equal(row.state, 'ready');
  assert.equal(row.externalId, ready[0]?.externalId);
  assert.deepEqual(row.hostKeys, ready[0]?.hostKeys);
});

test('a request is served from READY nodes at once; released nodes are deleted and min-ready refills', async () => {
  const before = await readySmall(2);
  const r = await env.cli(['request', 'small', '--key', `req-${tag}-1`, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const status = JSON.parse(r.stdout) as RequestStatus;
  assert.equal(status.state, 'fulfilled', JSON.stringify(status));
  const [got] = status.nodes;
  assert.ok(got && before.some((n) => n.id === got.id), 'a node that was READY');
  assert.equal(got.provider, provider);
  assert.ok(got.hostKeys.length > 0 && got.ip);
  assert.equal(got.connectionPort, env.sshPort, "how CI logs in: the cloud image's connection-port");

  // The same key again is the same request: no second node.
  const again = JSON.parse(
    (await env.cli(['request', 'small', '--key', `req-${tag}-1`, '--json'])).stdout,
  ) as RequestStatus;
  assert.deepEqual(
    again.nodes.map((n) => n.id),
    [got.id],
  );

  assert.equal((await nodes()).find((n) => n.id === got.id)?.state, 'in-use');
  const rel = await env.cli(['release', String(got.id)]);
  assert.equal(rel.code, 0, rel.stderr);
  await until(
    'the released node to be deleted',
    async () => ((await nodes()).some((n) => n.id === got.id) ? undefined : true),
    60_000,
  );
  const row = await env.orm.em.fork().findOneOrFail(Node, got.id);
  assert.equal(row.state, 'deleted');
  await readySmall(2);
});

test('a request for several labels waits for the launch it needs and is fulfilled when it is READY', async () => {
  const r = await env.cli(['request', 'small', 'big', '--key', `req-${tag}-2`, '--wait', '--timeout', '60', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const status = JSON.parse(r.stdout) as RequestStatus;
  assert.equal(status.state, 'fulfilled');
  assert.deepEqual(status.nodes.map((n) => n.label).sort(), ['big', 'small']);
  const list = await env.cli(['request-list', '--json']);
  const requests = JSON.parse(list.stdout) as { key: string; state: string }[];
  assert.equal(requests.find((x) => x.key === `req-${tag}-2`)?.state, 'fulfilled');
  const rel = await env.cli(['release', ...status.nodes.map((n) => String(n.id))]);
  assert.equal(rel.code, 0, rel.stderr);
});

test('a request no provider can serve fails at once with the reason', async () => {
  const r = await env.cli(['request', 'gpu', '--key', `req-${tag}-3`]);
  assert.equal(r.code, 2);
  assert.match(r.stdout, /failed: .*gpu/);
  // Larger than the pool can ever hold: five nodes in a pool of at most four.
  const big = await env.cli([
    'request',
    'small',
    'small',
    'small',
    'small',
    'small',
    '--key',
    `req-${tag}-4`,
    '--wait',
    '--timeout',
    '30',
  ]);
  assert.equal(big.code, 2, big.stdout + big.stderr);
  assert.match(big.stdout, /failed: .*max-servers/);
});

test('hold keeps a node out of use until its expiry; delete removes any node', async () => {
  const [a, b] = await readySmall(2);
  assert.ok(a && b);
  // A long hold: listed as held, not used, until an operator deletes it.
  const hold = await env.cli(['hold', String(a.id), '--reason', 'debugging job 42', '--expires', '1h']);
  assert.equal(hold.code, 0, hold.stderr);
  assert.match(hold.stdout, new RegExp(`node ${a.id} in ${provider} held until .*: debugging job 42`));
  assert.equal((await nodes()).find((x) => x.id === a.id)?.state, 'hold');
  assert.match((await env.cli(['list'])).stdout, new RegExp(`\\| ${a.id} .*\\| hold .*held: debugging job 42`));
  const del = await env.cli(['delete', String(a.id)]);
  assert.equal(del.code, 0, del.stderr);
  await until(
    'the deleted node to go',
    async () => ((await nodes()).some((x) => x.id === a.id) ? undefined : true),
    60_000,
  );

  // A short hold expires: the node is deleted, not returned to use.
  const short = await env.cli(['hold', String(b.id), '--reason', 'quick look', '--expires', '2s']);
  assert.equal(short.code, 0, short.stderr);
  await until(
    'the held node to go after its expiry',
    async () => ((await nodes()).some((x) => x.id === b.id) ? undefined : true),
    60_000,
  );

  const bad = await env.cli(['hold', '999999', '--reason', 'x']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /node 999999 is not in any pool/);
  await readySmall(2);
});

test('the pool answers "why is nothing launching?" in its summary and request-list', async () => {
  const view = await pool();
  assert.equal(view.provider, provider);
  assert.ok(view.occupancy.some((o) => o.label === 'small' && (o.states.ready ?? 0) >= 2));
  assert.match(view.summary, new RegExp(`^${provider}: `));
  // `nodepool info` shows the same occupancy next to what the cloud holds.
  const info = await env.cli(['info', provider]);
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout, new RegExp(`^Pool: ${provider}: `, 'm'));
  assert.match(info.stdout, /\| Pool +\| Label +\| Building +\| Ready +\| In-use +\|/);
  assert.match(info.stdout, /\| main +\| small +\| \d+ +\| [2-9] /);
});
