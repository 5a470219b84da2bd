// The status server against a whole nodepool (a real worker, the dev server, PostgreSQL, the simulator): every
// list in JSON and text with the CLI's own columns and rows, `?fields=`, content negotiation, and Prometheus
// metrics whose values follow builds, uploads, launches, quota and cloud API errors.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkflowIdConflictPolicy } from '@temporalio/client';
import { DIB_IMAGE_LIST_HEAD } from '../cli/actions/dib-image-list.ts';
import { IMAGE_LIST_HEAD } from '../cli/actions/image-list.ts';
import { LIST_HEAD, REQUEST_LIST_HEAD } from '../cli/actions/nodes.ts';
import { LABEL_LIST_HEAD } from '../web/tables.ts';
import { startStatusServer, type StatusServer } from '../web/server.ts';
import { catalogWorkflowId, poolWorkflowId } from '../workflows/ids.ts';
import type { NodeView, RequestStatus } from '../workflows/pool-api.ts';
import { POOL_TASK_TIMEOUT } from '../workflows/pool-api.ts';
import { providerPool } from '../workflows/provider-pool.ts';
import { BUILD_SCRIPT } from './support/build-script.ts';
import { plainImage } from './support/glance.ts';
import { createNodepoolEnv, type NodepoolEnv } from './support/nodepool.ts';
import { until } from './support/poll.ts';
import { get, getJson, metric, scrape, type Sample } from './support/web.ts';

let env: NodepoolEnv;
let stopWorker: () => Promise<void>;
let server: StatusServer;
let base: string;
let atStart: Sample[];
const tag = Math.random().toString(36).slice(2, 8);
const image = `web-${tag}`;
const provider = `webp-${tag}`;

before(async () => {
  env = await createNodepoolEnv({
    prefix: 'web',
    files: { 'build.sh': [BUILD_SCRIPT, 0o755] },
    sim: { knobs: { bootSeconds: { min: 0.05, max: 0.1 } } },
    config: `
labels:
  - name: small
    min-ready: 2
diskimages:
  - name: ${image}
    builder: script
    script: build.sh
providers:
  - name: ${provider}
    cloud: simcloud
    rate: 0
    boot-timeout: 20
    launch-timeout: 60
    diskimages: [{name: ${image}}]
    cloud-images:
      - name: cirros
        image-name: cirros-0.6
        connection-port: {{sshPort}}
    pools:
      - name: main
        max-servers: 5
        labels:
          - name: small
            cloud-image: cirros
            flavor-name: m1.tiny
images-dir: {{dir}}/images
build-log-dir: {{dir}}/logs
temporal:
  address: {{temporal}}
  task-queue: {{taskQueue}}
`,
  });
  await plainImage(env.sim, 'cirros-0.6', Buffer.alloc(1024 * 1024, 7));
  stopWorker = await env.startWorker();
  server = (await startStatusServer({
    config: env.config,
    client: env.client,
    orm: env.orm,
    taskQueue: env.taskQueue,
    port: 0,
  })) as StatusServer;
  base = server.url;
  atStart = await scrape(base);
  await env.client.workflow.start(providerPool, {
    taskQueue: env.taskQueue,
    workflowTaskTimeout: POOL_TASK_TIMEOUT,
    workflowId: poolWorkflowId(provider),
    args: [{ provider, reconcileSeconds: 2, leakGraceSeconds: 1 }],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
  });
});

after(async () => {
  for (const id of [poolWorkflowId(provider), catalogWorkflowId(provider)])
    await env?.client.workflow
      .getHandle(id)
      .terminate('test over')
      .catch(() => {});
  await server?.close();
  await stopWorker?.();
  await env?.close();
});

/** The cells of a table's header line (the CLI's format: a rule, the header, a rule, the rows, a rule). */
function header(table: string): string[] {
  return (table.split('\n')[1] ?? '')
    .split('|')
    .map((c) => c.trim())
    .filter(Boolean);
}

/** Rows of a text table, as cell lists. */
function cells(table: string): string[][] {
  return table
    .split('\n')
    .slice(3)
    .filter((l) => l.startsWith('|'))
    .map((l) =>
      l
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
}

async function cliJson<T>(args: string[]): Promise<T> {
  const r = await env.cli([...args, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
}

async function build(): Promise<void> {
  const r = await env.cli(['image-build', image, '--wait', '--timeout', '240']);
  assert.equal(r.code, 0, `image-build failed:\n${r.stdout}\n${r.stderr}`);
}

async function readyNodes(count: number): Promise<NodeView[]> {
  return until(
    `${count} READY unallocated small nodes on /node-list`,
    async () => {
      const nodes = await getJson<NodeView[]>(`${base}node-list`);
      const ready = nodes.filter((n) => n.label === 'small' && n.state === 'ready' && !n.requestKey);
      return ready.length >= count ? ready : undefined;
    },
    60_000,
  );
}

const withoutAge = <T extends object>(rows: T[], key: string): object[] =>
  rows.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== key)));

test('/image-list and /dib-image-list serve the CLI rows as JSON and the CLI table as text', async () => {
  await build();
  type Upload = { id: number; provider: string; image: string; state: string; ageHours: number };
  const web = (await getJson<Upload[]>(`${base}image-list`)).filter((r) => r.image === image);
  const cli = (await cliJson<Upload[]>(['image-list'])).filter((r) => r.image === image);
  assert.equal(web.length, 1, JSON.stringify(web));
  assert.equal(web[0]?.state, 'ready');
  assert.equal(web[0]?.provider, provider);
  assert.deepEqual(withoutAge(web, 'ageHours'), withoutAge(cli, 'ageHours'));

  const text = await get(`${base}image-list`);
  assert.equal(text.status, 200);
  assert.match(text.type, /^text\/plain/);
  assert.deepEqual(header(text.body), IMAGE_LIST_HEAD);
  const row = cells(text.body).find((c) => c[0] === String(web[0]?.id));
  assert.ok(row, text.body);
  assert.deepEqual(row.slice(1, 3), [provider, image]);
  assert.equal(row[7], 'ready');
  assert.match(row[8] ?? '', /^\d+\.\d\d$/);

  type Build = { id: number; image: string; state: string; version: number; files: string[] };
  const builds = (await getJson<Build[]>(`${base}dib-image-list`)).filter((b) => b.image === image);
  const cliBuilds = (await cliJson<Build[]>(['dib-image-list'])).filter((b) => b.image === image);
  assert.deepEqual(builds, cliBuilds);
  assert.deepEqual(
    builds.map((b) => b.state),
    ['ready'],
  );
  const dib = await get(`${base}dib-image-list`, 'text/html,application/xhtml+xml,*/*;q=0.8');
  assert.match(dib.type, /^text\/plain/);
  assert.deepEqual(header(dib.body), DIB_IMAGE_LIST_HEAD);
  assert.ok(
    cells(dib.body).some((c) => c[0] === String(builds[0]?.id) && c[1] === image && c[4] === 'ready'),
    dib.body,
  );
});

test('/node-list, /label-list and /request-list follow the pool', async () => {
  const ready = await readyNodes(2);
  const cliNodes = await cliJson<NodeView[]>(['list']);
  for (const n of ready)
    assert.equal(cliNodes.find((c) => c.id === n.id)?.externalId, n.externalId, `node ${n.id} as the CLI sees it`);
  const text = await get(`${base}node-list`);
  assert.deepEqual(header(text.body), LIST_HEAD);
  for (const n of ready)
    assert.ok(
      cells(text.body).some((c) => c[0] === String(n.id) && c[1] === provider && c[5] === 'ready'),
      text.body,
    );

  const labels = await until('label-list to show the two READY nodes', async () => {
    const rows = await getJson<{ label: string; ready: number; building: number }[]>(`${base}label-list`);
    const small = rows.find((r) => r.label === 'small');
    return small && small.ready === 2 && small.building === 0 ? rows : undefined;
  });
  assert.deepEqual(labels, [{ label: 'small', minReady: 2, providers: [provider], building: 0, ready: 2, inUse: 0 }]);
  const labelText = await get(`${base}label-list`);
  assert.deepEqual(header(labelText.body), LABEL_LIST_HEAD);
  assert.deepEqual(cells(labelText.body), [['small', '2', provider, '0', '2', '0']]);

  const key = `web-req-${tag}`;
  const status = await cliJson<RequestStatus>(['request', 'small', '--key', key]);
  assert.equal(status.state, 'fulfilled', JSON.stringify(status));
  const requests = await getJson<{ key: string; state: string; nodeIds: number[]; provider: string }[]>(
    `${base}request-list`,
  );
  const mine = requests.find((r) => r.key === key);
  assert.equal(mine?.state, 'fulfilled');
  assert.equal(mine?.provider, provider);
  assert.deepEqual(
    mine?.nodeIds,
    status.nodes.map((n) => n.id),
  );
  const requestText = await get(`${base}request-list`);
  assert.deepEqual(header(requestText.body), REQUEST_LIST_HEAD);
  const line = cells(requestText.body).find((c) => c[0] === key);
  assert.deepEqual(line?.slice(2, 7), ['fulfilled', 'nodepool-cli', 'small', String(status.nodes[0]?.id), provider]);
  const release = await env.cli(['release', ...status.nodes.map((n) => String(n.id))]);
  assert.equal(release.code, 0, release.stderr);
});

test('?fields= picks columns by JSON key or header, in JSON and text; unknown fields are refused', async () => {
  const ids = await get(`${base}image-list?fields=id,state`, 'application/json');
  assert.equal(ids.status, 200);
  const rows = JSON.parse(ids.body) as Record<string, unknown>[];
  assert.ok(rows.length > 0);
  for (const r of rows) assert.deepEqual(Object.keys(r), ['id', 'state']);

  const text = await get(`${base}image-list?fields=${encodeURIComponent('image_id,Age (hours),provider')}`);
  assert.equal(text.status, 200, text.body);
  assert.deepEqual(header(text.body), ['Image ID', 'Age (hours)', 'Provider']);
  assert.ok(
    cells(text.body).every((c) => c.length === 3 && /^[0-9a-f-]{36}$/.test(c[0] ?? '')),
    text.body,
  );

  // A key of the JSON rows with no column of its own: JSON only.
  await readyNodes(1);
  const keys = await getJson<Record<string, unknown>[]>(`${base}node-list?fields=id,hostKeys`);
  assert.ok(keys.length > 0);
  for (const k of keys) assert.deepEqual(Object.keys(k), ['id', 'hostKeys']);
  const notColumn = await get(`${base}node-list?fields=hostKeys`);
  assert.equal(notColumn.status, 400);
  assert.match(notColumn.body, /unknown field hostKeys; the columns are id \(ID\), provider \(Provider\)/);

  const bogus = await get(`${base}image-list?fields=id,bogus`, 'application/json');
  assert.equal(bogus.status, 400);
  assert.match((JSON.parse(bogus.body) as { error: string }).error, /unknown field bogus/);
});

test('content negotiation, /ready, HEAD, unknown pages and methods', async () => {
  assert.match((await get(`${base}label-list`, 'application/json')).type, /^application\/json/);
  assert.match((await get(`${base}label-list`, 'text/plain, application/json;q=0')).type, /^text\/plain/);
  assert.match((await get(`${base}label-list`, '*/*')).type, /^text\/plain/);
  const ready = await get(`${base}ready`);
  assert.deepEqual([ready.status, ready.body], [200, 'OK\n']);
  assert.deepEqual(JSON.parse((await get(`${base}ready`, 'application/json')).body), { ready: true, problems: [] });
  const head = await get(`${base}image-list`, undefined, 'HEAD');
  assert.deepEqual([head.status, head.body], [200, '']);
  const missing = await get(`${base}nodes`);
  assert.equal(missing.status, 404);
  assert.match(missing.body, /no page \/nodes; try \/, \/image-list/);
  assert.equal((await get(`${base}node-list`, undefined, 'DELETE')).status, 405);
});

test('/metrics: builds, uploads, launches, nodes per state, quota and API errors change with what happens', async () => {
  const m0 = await scrape(base);
  // Nothing of this provider was counted before the pool and the first build.
  assert.equal(metric(atStart, 'nodepool_launches_total', { provider }), 0);
  assert.equal(metric(atStart, 'nodepool_provider_api_calls_total', { provider }), 0);

  await build();
  const m1 = await scrape(base);
  const delta = (name: string, labels: Record<string, string>): number =>
    metric(m1, name, labels) - metric(m0, name, labels);
  assert.equal(delta('nodepool_image_build_duration_seconds_count', { image, outcome: 'ready' }), 1);
  assert.equal(delta('nodepool_image_upload_duration_seconds_count', { provider, image, outcome: 'ready' }), 1);
  assert.equal(delta('nodepool_provider_api_calls_total', { provider, operation: 'uploadImage' }), 1);
  assert.ok(delta('nodepool_image_upload_duration_seconds_sum', { provider, image, outcome: 'ready' }) > 0);
  const readyUploads = (await getJson<{ image: string; state: string }[]>(`${base}image-list`)).filter(
    (r) => r.image === image && r.state === 'ready',
  ).length;
  assert.equal(readyUploads, 2);
  assert.equal(metric(m1, 'nodepool_image_uploads', { provider, image, state: 'ready' }), readyUploads);

  // Two nodes handed out: min-ready launches two more.
  await readyNodes(2);
  const launched = metric(m1, 'nodepool_launches_total', { provider, label: 'small', outcome: 'ready' });
  assert.ok(launched >= 2, `launches so far: ${launched}`);
  const key = `web-metrics-${tag}`;
  const status = await cliJson<RequestStatus>(['request', 'small', 'small', '--key', key]);
  assert.equal(status.state, 'fulfilled', JSON.stringify(status));
  const m2 = await until(
    'the gauges to show 2 in-use and 2 refilled READY nodes',
    async () => {
      const m = await scrape(base);
      const at = (state: string) => metric(m, 'nodepool_nodes', { provider, pool: 'main', label: 'small', state });
      const settled = ['building', 'used', 'deleting', 'failed'].every((s) => at(s) === 0);
      return at('in-use') === 2 && at('ready') === 2 && settled ? m : undefined;
    },
    60_000,
  );
  assert.ok(metric(m2, 'nodepool_launches_total', { provider, label: 'small', outcome: 'ready' }) >= launched + 2);
  assert.ok(
    metric(m2, 'nodepool_launch_duration_seconds_count', { provider, label: 'small', outcome: 'ready' }) >=
      launched + 2,
  );
  assert.ok(metric(m2, 'nodepool_provider_api_calls_total', { provider, operation: 'createServer' }) >= launched + 2);
  assert.equal(metric(m2, 'nodepool_requests', { provider, state: 'fulfilled' }) >= 1, true);
  assert.equal(metric(m2, 'nodepool_pool_max_servers', { provider, pool: 'main' }), 5);
  assert.equal(metric(m2, 'nodepool_provider_nodes_resources', { provider, resource: 'instances' }), 4);
  assert.equal(metric(m2, 'nodepool_status_workflow_up', { workflow: poolWorkflowId(provider) }), 1);

  // Quota as the cloud reports it, read again at every reconcile.
  const limits = env.sim.knobs().quota;
  assert.equal(metric(m2, 'nodepool_provider_quota_limit', { provider, resource: 'instances' }), limits.instances);
  await env.sim.setKnobs({ quota: { ...limits, instances: limits.instances + 7 } });
  await until('the quota gauge to follow the cloud', async () => {
    const m = await scrape(base);
    return metric(m, 'nodepool_provider_quota_limit', { provider, resource: 'instances' }) === limits.instances + 7
      ? true
      : undefined;
  });

  // A cloud error is counted under its operation and kind.
  const errorsBefore = metric(m2, 'nodepool_provider_api_errors_total', {
    provider,
    operation: 'getQuota',
    error: 'Transient',
  });
  await env.sim.setKnobs({ faults: [{ operation: 'limits.get', kind: 'error500', rate: 1, count: 1 }] });
  await until('the failed quota call to be counted', async () => {
    const m = await scrape(base);
    const n = metric(m, 'nodepool_provider_api_errors_total', { provider, operation: 'getQuota', error: 'Transient' });
    return n === errorsBefore + 1 ? true : undefined;
  });
  const release = await env.cli(['release', ...status.nodes.map((n) => String(n.id))]);
  assert.equal(release.code, 0, release.stderr);
});
