// The Temporal Web UI and our status page, checked in a real browser (headless Chromium) against a whole
// nodepool started as the worker starts it (schedules, catalogs, pools): build and pool workflows are found
// through the UI's own query box by our search attributes, and show their summaries and current details; the
// status page shows the pools' occupancy and the images per provider. Screenshots land in .tmp/artifacts/.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { startNodepool } from '../worker/startup.ts';
import { startStatusServer, type StatusServer } from '../web/server.ts';
import { buildScheduleId, catalogWorkflowId, poolWorkflowId } from '../workflows/ids.ts';
import type { NodeView, PoolView } from '../workflows/pool-api.ts';
import { openBrowser, type TestBrowser } from './support/browser.ts';
import { BUILD_SCRIPT } from './support/build-script.ts';
import { plainImage } from './support/glance.ts';
import { createNodepoolEnv, type NodepoolEnv } from './support/nodepool.ts';
import { until } from './support/poll.ts';
import { getJson } from './support/web.ts';

let env: NodepoolEnv;
let stopWorker: () => Promise<void>;
let server: StatusServer;
let browser: TestBrowser;
let ui: string;
const tag = Math.random().toString(36).slice(2, 8);
const image = `ui-${tag}`;
const east = `ui-east-${tag}`;
const west = `ui-west-${tag}`;

interface ImageRow {
  id: number;
  provider: string;
  image: string;
  version: number;
  state: string;
  current: boolean;
}

before(async () => {
  const url = process.env.TEMPORAL_UI_URL;
  if (!url) throw new Error('TEMPORAL_UI_URL is not set: run tests through `npm test` (scripts/test-env.ts)');
  ui = url.replace(/\/$/, '');
  env = await createNodepoolEnv({
    prefix: 'ui',
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
  - name: ${east}
    cloud: simcloud
    rate: 0
    boot-timeout: 20
    diskimages: [{name: ${image}}]
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
  - name: ${west}
    cloud: simcloud
    image-format: raw
    diskimages: [{name: ${image}}]
images-dir: {{dir}}/images
build-log-dir: {{dir}}/logs
temporal:
  address: {{temporal}}
  task-queue: {{taskQueue}}
`,
  });
  await plainImage(env.sim, 'cirros-0.6', Buffer.alloc(1024 * 1024, 7));
  stopWorker = await env.startWorker();
  // As the worker does at start: the build schedule (with a first build at once), the catalogs and the pool.
  await startNodepool(env.client, env.config, env.taskQueue);
  server = (await startStatusServer({
    config: env.config,
    client: env.client,
    orm: env.orm,
    taskQueue: env.taskQueue,
    port: 0,
  })) as StatusServer;
  browser = await openBrowser();
});

after(async () => {
  await browser?.close();
  await env?.client.schedule
    .getHandle(buildScheduleId(image))
    .delete()
    .catch(() => {});
  for (const id of [poolWorkflowId(east), catalogWorkflowId(east), catalogWorkflowId(west)])
    await env?.client.workflow
      .getHandle(id)
      .terminate('test over')
      .catch(() => {});
  await server?.close();
  await stopWorker?.();
  await env?.close();
});

async function readyImages(): Promise<ImageRow[]> {
  return until(
    'the scheduled build to reach both providers',
    async () => {
      const rows = (await getJson<ImageRow[]>(`${server.url}image-list`)).filter((r) => r.image === image);
      const ready = rows.filter((r) => r.state === 'ready' && r.current);
      return ready.length === 2 ? ready : undefined;
    },
    240_000,
  );
}

async function poolView(): Promise<PoolView> {
  return env.client.workflow.getHandle(poolWorkflowId(east)).query<PoolView>('pool');
}

/** Types a query into the Workflows page's own query box and waits until these workflow ids are listed. */
async function search(page: Page, query: string, ids: string[]): Promise<void> {
  await page.goto(`${ui}/namespaces/default/workflows`);
  await page.getByTestId('toggle-manual-query').click();
  const box = page.getByRole('searchbox', { name: 'Enter a query' });
  await box.fill(query);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.waitForURL((u) => u.searchParams.get('query') === query);
  const table = page.getByRole('table', { name: 'Workflows' });
  // Visibility may trail a workflow's start by a moment: search again until every id is listed.
  await until(
    `${ids.join(', ')} listed for ${query}`,
    async () => {
      const listed = await table.getByRole('link').allInnerTexts();
      if (ids.every((id) => listed.includes(id))) return true;
      await page.getByRole('button', { name: 'Refresh' }).click();
      return undefined;
    },
    30_000,
  );
}

/** The User Metadata tab of a workflow: its summary and current details, as the UI renders them. */
async function metadata(page: Page, workflowId: string): Promise<{ summary: string; details: string }> {
  await page.goto(`${ui}/namespaces/default/workflows/${encodeURIComponent(workflowId)}`);
  await page.getByRole('tab', { name: 'User Metadata' }).click();
  // Each is rendered into its own frame once the UI has it (the current details by a query to the workflow).
  const text = (heading: string): Promise<string> => {
    const body = page
      .locator(`xpath=//h3[normalize-space()="${heading}"]/following::iframe[1]`)
      .contentFrame()
      .locator('body');
    return until(`the ${heading} of ${workflowId} in the UI`, async () => (await body.innerText()).trim() || undefined);
  };
  return { summary: await text('Summary'), details: await text('Current Details') };
}

test('build and pool workflows are found by our search attributes in the Web UI, with their summaries', async () => {
  await readyImages();
  const builds = await getJson<{ id: number; image: string; version: number; workflowId: string }[]>(
    `${server.url}dib-image-list`,
  );
  const build = builds.find((b) => b.image === image);
  assert.ok(build, JSON.stringify(builds));
  const page = browser.page;

  await search(page, `NodepoolImage = '${image}'`, [build.workflowId]);
  const row = page.getByRole('row').filter({ hasText: build.workflowId });
  await assert.doesNotReject(row.getByRole('link', { name: 'imageBuild' }).waitFor());
  assert.match(await row.innerText(), /Completed/i);
  await browser.screenshot('ui-workflows-by-image');

  await search(page, `NodepoolProvider = '${east}'`, [build.workflowId, poolWorkflowId(east), catalogWorkflowId(east)]);
  const providerRows = await page.getByRole('table', { name: 'Workflows' }).getByRole('link').allInnerTexts();
  assert.ok(!providerRows.includes(catalogWorkflowId(west)), 'only what touched this provider');
  await browser.screenshot('ui-workflows-by-provider');

  const b = await metadata(page, build.workflowId);
  assert.equal(b.summary, `scheduled build of ${image}`);
  assert.match(b.details, new RegExp(`^${image} ${build.version} \\(build ${build.id}\\): ready`));
  assert.match(b.details, new RegExp(`${east}: ready \\(upload \\d+, image [0-9a-f-]{36}\\)`));
  await browser.screenshot('ui-build-metadata');

  await until(
    'the pool to hold its min-ready nodes',
    async () => {
      const nodes = await getJson<NodeView[]>(`${server.url}node-list`);
      return nodes.filter((n) => n.provider === east && n.state === 'ready').length >= 2 ? true : undefined;
    },
    60_000,
  );
  // The pool's current details are its summary line (the answer to "why is nothing launching?").
  const p = await until('the UI to show the pool summary the pool query gives', async () => {
    const shown = await metadata(page, poolWorkflowId(east));
    return shown.details === (await poolView()).summary ? shown : undefined;
  });
  assert.equal(p.summary, `node pool of ${east}`);
  assert.match(p.details, new RegExp(`^${east}: \\d+ ready`));
  await browser.screenshot('ui-pool-metadata');
});

test('the status page shows pool occupancy per provider and label, and the images per provider', async () => {
  const images = await readyImages();
  const request = await env.cli(['request', 'small', '--key', `ui-${tag}`]);
  assert.equal(request.code, 0, request.stderr);
  const page = browser.page;
  const cell = (state: string) =>
    page.locator(`tr[data-provider="${east}"][data-label="small"] td[data-state="${state}"]`);
  // The page is a snapshot: reload until it shows what the pool holds at that moment.
  await until(
    'the status page to agree with the pool',
    async () => {
      const view = await poolView();
      const states = view.occupancy.find((o) => o.label === 'small')?.states ?? {};
      await page.goto(server.url);
      const shown = Object.fromEntries(
        await Promise.all(['building', 'ready', 'in-use'].map(async (s) => [s, Number(await cell(s).innerText())])),
      ) as Record<string, number>;
      const agrees = ['building', 'ready', 'in-use'].every((s) => shown[s] === (states[s] ?? 0));
      return agrees && shown.ready === 2 && shown['in-use'] === 1 && shown.building === 0 ? true : undefined;
    },
    60_000,
  );
  assert.equal(await page.title(), 'nodepool status');
  for (const provider of [east, west]) {
    const current = images.find((r) => r.provider === provider);
    const row = page.locator(`tr[data-provider="${provider}"][data-image="${image}"]`);
    assert.equal(await row.locator('td[data-field="current"]').innerText(), String(current?.id));
    assert.match(await row.innerText(), new RegExp(`${current?.version}`));
  }
  assert.match(await page.locator(`#pool-${east}`).innerText(), /main\s+small/);
  await browser.screenshot('status-page', page.locator('body'));
});
