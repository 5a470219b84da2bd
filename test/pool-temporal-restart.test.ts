// The Temporal server restarted under a running pool: a dev server of this test's own (persisting to a file, so
// a restart keeps its state) is stopped and started again while the worker process keeps running; the pool
// resumes where it was — its nodes still there, a request served, min-ready kept.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NodepoolClient } from '../client/nodepool-client.ts';
import { freePort } from '../scripts/tools.ts';
import { poolWorkflowId } from '../workflows/ids.ts';
import type { PoolView } from '../workflows/pool-api.ts';
import { SEARCH_ATTRIBUTES, dynamicConfigArgs } from '../workflows/search-attributes.ts';
import { plainImage } from './support/glance.ts';
import { createNodepoolEnv, simProvider, type NodepoolEnv } from './support/nodepool.ts';
import { until } from './support/poll.ts';

let env: NodepoolEnv;
let server: ChildProcess | undefined;
let port: number;
const provider = `restart-${Math.random().toString(36).slice(2, 8)}`;

async function startServer(dbFile: string): Promise<ChildProcess> {
  const cli = process.env.TEMPORAL_CLI;
  assert.ok(cli, 'the test harness exports TEMPORAL_CLI');
  const args = [
    'server',
    'start-dev',
    '--headless',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--db-filename',
    dbFile,
  ];
  args.push('--log-level', 'error');
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  args.push(...dynamicConfigArgs());
  const child = spawn(cli, args, { stdio: 'ignore' });
  await until(
    'the restarted dev server to answer',
    async () => {
      if (child.exitCode !== null) throw new Error(`temporal exited ${child.exitCode}`);
      try {
        const c = await Connection.connect({ address: `127.0.0.1:${port}`, connectTimeout: 500 });
        await c.workflowService.getSystemInfo({});
        await c.close();
        return true;
      } catch {
        return undefined;
      }
    },
    60_000,
  );
  return child;
}

function stopped(child: ChildProcess | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

before(async () => {
  port = await freePort();
  env = await createNodepoolEnv({
    prefix: 'temporal-restart',
    sim: { knobs: { bootSeconds: { min: 0.05, max: 0.1 } } },
    config: `
labels: [{ name: small, min-ready: 2 }]
providers:
${simProvider({ name: provider, label: 'small', maxServers: 4 })}
temporal:
  address: 127.0.0.1:${port}
  task-queue: {{taskQueue}}
`,
  });
  await plainImage(env.sim, 'cirros-0.6', Buffer.alloc(64 * 1024, 7));
});

after(async () => {
  await stopped(server);
  await env?.close();
});

test('the pool resumes after the Temporal server restarts under it', async () => {
  const dbFile = join(env.dir, 'temporal.db');
  server = await startServer(dbFile);
  const worker = await env.spawnWorker({ TEMPORAL_ADDRESS: `127.0.0.1:${port}` });
  const connect = async () => {
    const connection = await Connection.connect({ address: `127.0.0.1:${port}` });
    return { client: new Client({ connection }), close: () => connection.close() };
  };
  let c = await connect();
  const view = (): Promise<PoolView> => c.client.workflow.getHandle(poolWorkflowId(provider)).query('pool');
  const before = await until(
    'min-ready before the restart',
    async () => {
      const r = (await view().catch(() => undefined))?.nodes.filter((n) => n.state === 'ready');
      return r && r.length >= 2 ? r : undefined;
    },
    60_000,
  );
  await c.close();

  await stopped(server);
  server = await startServer(dbFile);
  c = await connect();
  try {
    // The same pool, the same nodes: nothing was lost with the server.
    const after = await until('the pool to answer again', async () => view().catch(() => undefined), 60_000);
    for (const n of before)
      assert.ok(
        after.nodes.some((x) => x.id === n.id),
        `node ${n.id} survived the restart`,
      );
    // And it works: a request is served, min-ready refills.
    const client = new NodepoolClient(c.client, { providers: [provider] });
    const r = await client.requestNodes(
      { key: `after-restart-${provider}`, labels: ['small'], requestor: 'test' },
      { wait: true, timeoutMs: 60_000 },
    );
    assert.equal(r.state, 'fulfilled', JSON.stringify(r));
    await until(
      'min-ready to refill after the restart',
      async () =>
        (await view()).nodes.filter((n) => n.state === 'ready' && !n.requestKey).length >= 2 ? true : undefined,
      60_000,
    );
  } finally {
    await c.close();
    worker.kill('SIGKILL');
  }
});
