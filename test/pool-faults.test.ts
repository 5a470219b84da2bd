// Pools when clouds misbehave and images change: failed launches retried and their servers deleted, the cloud's
// quota never exceeded (foreign servers counted), leaked servers deleted after two reconciles while foreign ones
// stay, max-ready-age recycling, a label waiting for its image, and new uploads validated before use.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowIdConflictPolicy } from '@temporalio/client';
import { adapterForCloud, isOwnedBy, nodeTags, TAGS } from '../providers/index.ts';
import { catalogQuery } from '../workflows/image-catalog.ts';
import { catalogWorkflowId, poolWorkflowId } from '../workflows/ids.ts';
import type { PoolView, RequestStatus } from '../workflows/pool-api.ts';
import { POOL_TASK_TIMEOUT } from '../workflows/pool-api.ts';
import { providerPool } from '../workflows/provider-pool.ts';
import { BUILD_SCRIPT } from './support/build-script.ts';
import { plainImage } from './support/glance.ts';
import { createNodepoolEnv, type NodepoolEnv } from './support/nodepool.ts';
import { until } from './support/poll.ts';

let env: NodepoolEnv;
let stopWorker: () => Promise<void>;
const tag = Math.random().toString(36).slice(2, 8);
const P = {
  broken: `broken-${tag}`,
  tight: `tight-${tag}`,
  leaky: `leaky-${tag}`,
  aging: `aging-${tag}`,
  images: `images-${tag}`,
};
const image = `valid-${tag}`;
const fast = { bootSeconds: { min: 0.05, max: 0.1 } };

function provider(name: string, cloud: string, pool: string, extra = ''): string {
  return `
  - name: ${name}
    cloud: ${cloud}
    rate: 0
    boot-timeout: 15
    launch-timeout: 30
    launch-retries: 2
${extra}
    cloud-images:
      - name: cirros
        image-name: cirros-0.6
        connection-port: {{sshPort}}
    pools:
${pool}`;
}

before(async () => {
  env = await createNodepoolEnv({
    prefix: 'pool-faults',
    sim: { knobs: fast },
    extraClouds: {
      errcloud: { knobs: { ...fast, serverErrorRate: 1 } },
      quotacloud: { knobs: { ...fast, quota: { instances: 3 } } },
    },
    files: {
      'build.sh': [BUILD_SCRIPT, 0o755],
      'validate-ok.sh': ['#!/bin/sh\necho validated on "$(hostname)"\n', 0o755],
    },
    config: `
labels:
  - { name: doomed, min-ready: 1 }
  - { name: tight, min-ready: 3 }
  - { name: leaky, min-ready: 0 }
  - { name: aging, min-ready: 1, max-ready-age: 3s }
  - { name: fresh, min-ready: 0 }
diskimages:
  - name: ${image}
    builder: script
    script: build.sh
    pause: true
    validate: true
    validate-script: validate-ok.sh
    env-vars: { SIZE_MB: '2' }
images-dir: {{dir}}/images
build-log-dir: {{dir}}/logs
providers:${provider(P.broken, 'errcloud', '      - {name: main, max-servers: 2, labels: [{name: doomed, cloud-image: cirros, flavor-name: m1.tiny}]}')}
${provider(P.tight, 'quotacloud', '      - {name: main, max-servers: 10, labels: [{name: tight, cloud-image: cirros, flavor-name: m1.tiny}]}')}
${provider(P.leaky, 'simcloud', '      - {name: main, max-servers: 2, labels: [{name: leaky, cloud-image: cirros, flavor-name: m1.tiny}]}')}
${provider(P.aging, 'simcloud', '      - {name: main, max-servers: 2, labels: [{name: aging, cloud-image: cirros, flavor-name: m1.tiny}]}')}
${provider(
  P.images,
  'simcloud',
  '      - {name: main, max-servers: 3, labels: [{name: fresh, diskimage: ' + image + ', flavor-name: m1.tiny}]}',
  `    image-format: raw\n    diskimages:\n      - {name: ${image}, connection-port: {{sshPort}}}`,
)}
temporal:
  address: {{temporal}}
  task-queue: {{taskQueue}}
`,
  });
  for (const sim of Object.values(env.sims)) await plainImage(sim, 'cirros-0.6', Buffer.alloc(64 * 1024, 7));
  // Another tenant's server in the quota-tight project takes one of its three instances before the pool starts.
  const quota = adapterForCloud('quotacloud', { env: env.cloudEnv, fresh: true });
  await quota.createServer({
    name: 'someone-elses',
    flavor: 'm1.tiny',
    imageId: (await quota.listImages({ name: 'cirros-0.6' }))[0]?.id as string,
    metadata: nodeTags({ provider: 'someone-else', nodeId: '1', imageName: 'x' }),
  });
  stopWorker = await env.startWorker();
  for (const p of Object.values(P)) {
    await env.client.workflow.start(providerPool, {
      taskQueue: env.taskQueue,
      workflowTaskTimeout: POOL_TASK_TIMEOUT,
      workflowId: poolWorkflowId(p),
      args: [{ provider: p, reconcileSeconds: 1, leakGraceSeconds: 1 }],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
    });
  }
});

after(async () => {
  for (const p of Object.values(P))
    await env?.client.workflow
      .getHandle(poolWorkflowId(p))
      .terminate('test over')
      .catch(() => {});
  await env?.client.workflow
    .getHandle(catalogWorkflowId(P.images))
    .terminate('test over')
    .catch(() => {});
  await stopWorker?.();
  await env?.close();
});

const pool = (p: string): Promise<PoolView> => env.client.workflow.getHandle(poolWorkflowId(p)).query('pool');

test('launches that end in ERROR are retried, their servers deleted, and the label backs off', async () => {
  const waits = await until(
    'the doomed label to back off',
    async () => {
      const v = await pool(P.broken);
      return v.minReadyWaits.find((w) => w.label === 'doomed' && /launches failed in a row/.test(w.reason));
    },
    60_000,
  );
  assert.match(waits.reason, /went to ERROR/);
  // Every failed attempt's server was deleted: none of ours is left in ERROR.
  const adapter = adapterForCloud('errcloud', { env: env.cloudEnv, fresh: true });
  await until(
    'failed servers to be deleted',
    async () =>
      (await adapter.listServers()).some((s) => isOwnedBy(s.metadata, P.broken) && s.state !== 'deleted')
        ? undefined
        : true,
    60_000,
  );
  // A request for it fails once its launch spent launch-retries, with why.
  const r = await env.cli(['request', 'doomed', '--key', `doomed-${tag}`, '--wait', '--timeout', '60', '--json']);
  const status = JSON.parse(r.stdout) as RequestStatus;
  assert.equal(status.state, 'failed', r.stdout);
  assert.match(status.reason ?? '', /launching doomed failed: launch failed 2 times; last: attempt 2\/2: .*ERROR/);
});

test("the cloud's quota is never exceeded: foreign servers count, and the wait says why", async () => {
  const adapter = adapterForCloud('quotacloud', { env: env.cloudEnv, fresh: true });
  const wait = await until(
    'min-ready to stop at the quota',
    async () => {
      const v = await pool(P.tight);
      const ready = v.nodes.filter((n) => n.state === 'ready').length;
      const w = v.minReadyWaits.find((x) => x.label === 'tight');
      return ready === 2 && w ? w : undefined;
    },
    60_000,
  );
  assert.match(wait.reason, /quota/i);
  const servers = (await adapter.listServers()).filter((s) => s.state !== 'deleted');
  assert.ok(servers.length <= 3, `at most the 3 instances of the quota: ${servers.length}`);
  assert.equal(servers.filter((s) => isOwnedBy(s.metadata, P.tight)).length, 2);
});

test('a leaked server of ours goes after two reconciles; foreign and untagged servers stay', async () => {
  const adapter = adapterForCloud('simcloud', { env: env.cloudEnv, fresh: true });
  const cirros = (await adapter.listImages({ name: 'cirros-0.6' }))[0]?.id as string;
  const leak = await adapter.createServer({
    name: `leaky-${tag}-old`,
    flavor: 'm1.tiny',
    imageId: cirros,
    metadata: nodeTags({ provider: P.leaky, nodeId: '999999', imageName: 'cirros' }),
  });
  const foreign = await adapter.createServer({
    name: `other-${tag}`,
    flavor: 'm1.tiny',
    imageId: cirros,
    metadata: nodeTags({ provider: `someone-else-${tag}`, nodeId: '1', imageName: 'cirros' }),
  });
  await until(
    'the leaked server to be deleted',
    async () => {
      const s = (await adapter.listServers()).find((x) => x.id === leak.id);
      return !s || s.state === 'deleted' ? true : undefined;
    },
    60_000,
  );
  const still = (await adapter.listServers()).find((x) => x.id === foreign.id);
  assert.equal(still?.state, 'active', 'a server with another provider tag is never touched');
  assert.equal(still?.metadata[TAGS.provider], `someone-else-${tag}`);
});

test('max-ready-age replaces an idle READY node', async () => {
  const first = await until(
    'a READY aging node',
    async () => (await pool(P.aging)).nodes.find((n) => n.state === 'ready'),
    60_000,
  );
  const replaced = await until(
    'the aging node to be replaced by a new READY one',
    async () => {
      const v = await pool(P.aging);
      return v.nodes.some((n) => n.id === first.id) ? undefined : v.nodes.find((n) => n.state === 'ready');
    },
    60_000,
  );
  assert.notEqual(replaced.id, first.id);
});

test('a label waits for its image; a new upload is validated by a real boot before it becomes current', async () => {
  // No image yet: a request waits, saying why.
  const pending = JSON.parse(
    (await env.cli(['request', 'fresh', '--key', `fresh-${tag}`, '--json'])).stdout,
  ) as RequestStatus;
  assert.equal(pending.state, 'pending');
  const why = await until(
    'the wait reason',
    async () =>
      (await env.client.workflow.getHandle(poolWorkflowId(P.images)).query('request', `fresh-${tag}`)) as RequestStatus,
  );
  assert.match(why.reason ?? '', new RegExp(`no READY image`));

  const b = await env.cli(['image-build', image, '--wait', '--timeout', '120']);
  assert.equal(b.code, 0, `${b.stdout}\n${b.stderr}`);
  assert.match(b.stdout, /validating/);
  // The validation node boots (and runs validate-script over SSH); then the upload is READY and current.
  await until(
    'the upload to pass validation',
    async () => {
      const v = await env.client.workflow.getHandle(catalogWorkflowId(P.images)).query(catalogQuery);
      const u = v.uploads.find((x) => x.image === image);
      return u?.state === 'ready' && v.current[image] === u.id ? u : undefined;
    },
    60_000,
  );
  const done = await env.cli(['request', 'fresh', '--key', `fresh-${tag}`, '--wait', '--timeout', '60', '--json']);
  const status = JSON.parse(done.stdout) as RequestStatus;
  assert.equal(status.state, 'fulfilled', done.stdout);

  // A second build whose validation fails stays out of use; the first stays current, and image-list says why.
  const { writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  writeFileSync(join(env.dir, 'validate-ok.sh'), '#!/bin/sh\necho "sshd_config broken" >&2\nexit 3\n', { mode: 0o755 });
  const before = await env.client.workflow.getHandle(catalogWorkflowId(P.images)).query(catalogQuery);
  const b2 = await env.cli(['image-build', image, '--wait', '--timeout', '120']);
  assert.equal(b2.code, 0, `${b2.stdout}\n${b2.stderr}`);
  const failed = await until(
    'the second upload to fail validation',
    async () => {
      const v = await env.client.workflow.getHandle(catalogWorkflowId(P.images)).query(catalogQuery);
      const u = v.uploads.filter((x) => x.image === image).sort((x, y) => y.version - x.version)[0];
      return u && u.state === 'failed' ? { u, v } : undefined;
    },
    60_000,
  );
  assert.match(failed.u.reason ?? '', /validation failed: .*exited 3.*sshd_config broken/);
  assert.equal(failed.v.current[image], before.current[image], 'the previous upload stays current');
  const list = await env.cli(['image-list']);
  assert.match(list.stdout, new RegExp(`${failed.u.id}: validation failed`));
});
