// Stopping the worker process while it drains: SIGTERM lets running activities finish (the shutdown grace time)
// and the process exits, having left the configuration registry after its last heartbeat. Once a registry
// heartbeat sent during a drain longer than the heartbeat interval waited for ever and the process never exited;
// heartbeats now end at the signal.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { HEARTBEAT_MS } from '../core/config-registry.ts';
import { NodepoolClient } from '../client/nodepool-client.ts';
import { adapterForCloud, isOwnedBy } from '../providers/index.ts';
import { poolWorkflowId } from '../workflows/ids.ts';
import { configRegistryWorkflowId, registryQuery } from '../workflows/config-registry.ts';
import { plainImage } from './support/glance.ts';
import { createNodepoolEnv, simProvider, type NodepoolEnv } from './support/nodepool.ts';
import { until } from './support/poll.ts';

// The launch in flight at SIGTERM outlasts a heartbeat interval, so one heartbeat falls inside the drain.
const BOOT_SECONDS = HEARTBEAT_MS / 1000 + 4;
let env: NodepoolEnv;
const suffix = Math.random().toString(36).slice(2, 8);
const provider = `drain-${suffix}`;
// A pool that launches only when asked, for the second-signal test.
const onDemand = `asked-${suffix}`;

before(async () => {
  env = await createNodepoolEnv({
    prefix: 'worker-drain',
    sim: { knobs: { bootSeconds: { min: BOOT_SECONDS, max: BOOT_SECONDS } } },
    config: `
labels: [{ name: small, min-ready: 1 }, { name: asked, min-ready: 0 }]
providers:
${simProvider({ name: provider, label: 'small', maxServers: 1 })}
${simProvider({ name: onDemand, label: 'asked', maxServers: 1 })}
temporal:
  address: {{temporal}}
  task-queue: {{taskQueue}}
`,
  });
  await plainImage(env.sim, 'cirros-0.6', Buffer.alloc(64 * 1024, 7));
});

after(async () => {
  await env?.close();
});

test('SIGTERM during a launch longer than a registry heartbeat: the launch finishes, the worker leaves and exits 0', async () => {
  const worker = await env.spawnWorker();
  let out = '';
  worker.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  worker.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => worker.once('exit', (code) => resolve(code)));
  const pool = env.client.workflow.getHandle(poolWorkflowId(provider));
  const adapter = adapterForCloud('simcloud', { env: env.cloudEnv, fresh: true });
  const ours = async () => (await adapter.listServers()).filter((s) => isOwnedBy(s.metadata, provider));
  // The server exists in the cloud and is booting: the launch activity has about BOOT_SECONDS to go.
  const booting = await until(
    'a server to be booting',
    async () => (await ours()).find((s) => s.state === 'building'),
    60_000,
  );
  const registry = env.client.workflow.getHandle(configRegistryWorkflowId(env.taskQueue));
  assert.equal(Object.keys((await registry.query(registryQuery)).members).length, 1, 'the worker joined');

  worker.kill('SIGTERM');
  const code = await until('the worker to exit after SIGTERM', async () => worker.exitCode ?? undefined, 120_000);
  assert.equal(code, 0, out);
  assert.equal(await exited, 0);
  assert.match(out, /"signal":"SIGTERM".*stopping/);
  assert.match(out, /worker stopped/);
  // Drained, not cut short: the launch in flight at SIGTERM completed (with no worker left, the histories say so).
  const events = (await pool.fetchHistory()).events ?? [];
  const launches = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'launchNodes');
  assert.ok(launches.length > 0, 'a launch was scheduled');
  const completed = new Set(
    events.map((e) => e.activityTaskCompletedEventAttributes?.scheduledEventId?.toString()).filter(Boolean),
  );
  for (const l of launches) assert.ok(completed.has(l.eventId?.toString()), `launch ${l.eventId} completed`);
  assert.deepEqual(
    (await ours()).map((s) => [s.id, s.state]),
    [[booting.id, 'active']],
  );
  // And it left, after its last heartbeat: no member stays behind to refuse the next start.
  const registryEvents = (await registry.fetchHistory()).events ?? [];
  const leave = registryEvents.findIndex((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'leave');
  assert.ok(leave >= 0, 'the worker sent its leave');
  const updates = registryEvents.flatMap((e, i) =>
    e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'heartbeat' ? [i] : [],
  );
  assert.ok(
    updates.every((i) => i < leave),
    'every heartbeat before the leave',
  );
});

test('a second signal during the drain stops the worker at once, exit 143', async () => {
  const worker = await env.spawnWorker();
  let out = '';
  worker.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  worker.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const np = new NodepoolClient(env.client, { providers: [onDemand] });
  await np.requestNodes({ key: `asked-${suffix}`, labels: ['asked'], requestor: 'test' });
  const adapter = adapterForCloud('simcloud', { env: env.cloudEnv, fresh: true });
  await until(
    'a server to be booting',
    async () =>
      (await adapter.listServers()).some((s) => isOwnedBy(s.metadata, onDemand) && s.state === 'building')
        ? true
        : undefined,
    60_000,
  );
  worker.kill('SIGTERM');
  await until('the drain to begin', async () => (/stopping: running activities/.test(out) ? true : undefined), 30_000);
  worker.kill('SIGTERM');
  const code = await until('the worker to exit', async () => worker.exitCode ?? undefined, 60_000);
  // 0 would mean it waited for the launch; the launch is retried by the next worker (activities are idempotent).
  assert.equal(code, 143, out);
  assert.match(out, /SIGTERM: stopping now/);
});
