// The seed's "Bad Images" runbook, end to end with the real CLI process, a real worker, the real dev server,
// PostgreSQL and the cloud simulator: two builds → image-list shows two READY uploads per provider with the
// seed's columns → image-delete the current → the previous is current → the next build keeps the previous.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { adapterForCloud, isOwnedBy } from '../providers/index.ts';
import { ImageUpload } from '../db/entities/index.ts';
import { catalogQuery } from '../workflows/image-catalog.ts';
import { catalogWorkflowId } from '../workflows/ids.ts';
import { createNodepoolEnv, type NodepoolEnv } from './support/nodepool.ts';
import { BUILD_SCRIPT } from './support/build-script.ts';
import { until } from './support/poll.ts';
import type { ImageListRow } from '../cli/actions/image-list.ts';

let env: NodepoolEnv;
let stopWorker: () => Promise<void>;
const tag = Math.random().toString(36).slice(2, 8);
const image = `seed-${tag}`;
// Workflow ids are per provider name in one namespace: names unique to this test keep tests apart.
const east = `east-${tag}`;
const west = `west-${tag}`;

before(async () => {
  env = await createNodepoolEnv({
    prefix: 'lifecycle',
    files: { 'build.sh': [BUILD_SCRIPT, 0o755] },
    config: `
diskimages:
  - name: ${image}
    builder: script
    script: build.sh
    # Built by hand here (image-build); the schedule stays paused.
    pause: true
providers:
  - name: ${east}
    cloud: simcloud
    diskimages: [{name: ${image}}]
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
  stopWorker = await env.startWorker();
});

after(async () => {
  await stopWorker?.();
  await env?.close();
});

/** A row of `image-list --json`. */
type Row = ImageListRow;

async function imageList(): Promise<Row[]> {
  const r = await env.cli(['image-list', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as Row[]).filter((x) => x.image === image);
}

async function build(): Promise<number> {
  const r = await env.cli(['image-build', image, '--wait', '--timeout', '240']);
  assert.equal(r.code, 0, `image-build failed:\n${r.stdout}\n${r.stderr}`);
  const m = /build (\d+) of .* \(version (\d+)\): ready/.exec(r.stdout);
  assert.ok(m, `no summary line in:\n${r.stdout}`);
  return Number(m[2]);
}

test('the Bad Images runbook works as the seed writes it', async () => {
  const v1 = await build();
  const v2 = await build();
  assert.ok(v2 > v1, `versions are unix seconds and grow: ${v1}, ${v2}`);

  // image-list: two READY uploads per provider, with the seed's columns.
  const table = await env.cli(['image-list']);
  assert.equal(table.code, 0, table.stderr);
  const header = table.stdout.split('\n')[1] ?? '';
  assert.deepEqual(
    header
      .split('|')
      .map((c) => c.trim())
      .filter(Boolean),
    ['ID', 'Provider', 'Image', 'Hostname', 'Version', 'Image ID', 'Server ID', 'State', 'Age (hours)'],
  );
  assert.match(table.stdout, /^\+-+\+/);
  let rows = await imageList();
  for (const provider of [east, west]) {
    const mine = rows.filter((r) => r.provider === provider);
    assert.deepEqual(
      mine.map((r) => [r.version, r.state]),
      [
        [v1, 'ready'],
        [v2, 'ready'],
      ],
      `${provider}: ${JSON.stringify(mine)}`,
    );
    assert.ok(
      mine.every((r) => /^[0-9a-f-]{36}$/.test(r.imageId)),
      'Image ID is the cloud image id',
    );
    assert.equal(mine.find((r) => r.current)?.version, v2, 'the current image is the one with the shortest age');
  }
  const ageCell = table.stdout.split('\n').find((l) => l.includes(`| ${v1} `)) ?? '';
  assert.match(ageCell, /\| \d+\.\d\d +\|$/, 'Age (hours) has two decimals');

  // The runbook: delete the problematic current image of east.
  const current = rows.find((r) => r.provider === east && r.version === v2) as Row;
  const previous = rows.find((r) => r.provider === east && r.version === v1) as Row;
  const del = await env.cli(['image-delete', String(current.id)]);
  assert.equal(del.code, 0, del.stderr);
  assert.match(del.stdout, new RegExp(`current ${image} image in ${east} is now ${previous.id} \\(version ${v1}\\)`));
  // At once: the catalog's current is the previous.
  const view = await env.client.workflow.getHandle(catalogWorkflowId(east)).query(catalogQuery);
  assert.equal(view.current[image], previous.id);
  // ... and the cloud image goes.
  const adapter = adapterForCloud('simcloud', { env: env.cloudEnv, fresh: true });
  await until('the deleted image to leave the cloud', async () =>
    (await adapter.listImages()).some((i) => i.id === current.imageId) ? undefined : true,
  );
  await until('the deleted upload to be recorded', async () => {
    const row = await env.orm.em.fork().findOne(ImageUpload, current.id);
    return row?.state === 'deleted' ? row : undefined;
  });
  // west is untouched.
  rows = await imageList();
  assert.equal(rows.find((r) => r.provider === west && r.current)?.version, v2);

  // "When nodepool next creates an image, it will still retain 168655."
  const v3 = await build();
  await until('retention after the third build', async () => {
    const rows = (await imageList()).filter((r) => r.provider === east);
    const states = rows.map((r) => `${r.version}:${r.state}`).join(' ');
    return states === `${v1}:ready ${v3}:ready` ? rows : undefined;
  });
  const eastRows = (await imageList()).filter((r) => r.provider === east);
  assert.equal(eastRows.find((r) => r.current)?.id, eastRows.find((r) => r.version === v3)?.id);
  assert.ok(
    eastRows.some((r) => r.id === previous.id),
    'the reverted-to upload is kept as the next most recent',
  );
  // west, never reverted, keeps v2 and v3; v1 goes.
  await until('west to keep its two newest', async () => {
    const rows = (await imageList()).filter((r) => r.provider === west);
    return rows.map((r) => r.version).join(',') === `${v2},${v3}` ? true : undefined;
  });
  // Exactly the uploads the catalog keeps exist in the cloud, nothing else of ours.
  const ours = (await adapter.listImages()).filter(
    (i) => isOwnedBy(i.metadata, east) && i.name.startsWith(`${image}-`),
  );
  assert.deepEqual(ours.map((i) => i.name).sort(), [`${image}-${v1}`, `${image}-${v3}`]);
});

test('image-delete refuses an unknown ID and the only READY image, each with exit 2 and nothing changed', async () => {
  const unknown = await env.cli(['image-delete', '987654']);
  assert.equal(unknown.code, 2);
  assert.match(
    unknown.stderr,
    new RegExp(`image upload 987654 does not exist in any provider's catalog \\(${east}, ${west}\\)`),
  );

  const rows = await imageList();
  const eastReady = rows.filter((r) => r.provider === east && r.state === 'ready');
  // Leave one READY east upload, then try to delete it.
  if (eastReady.length > 1) {
    const older = eastReady.sort((a, b) => a.version - b.version)[0] as Row;
    const r = await env.cli(['image-delete', String(older.id)]);
    assert.equal(r.code, 0, r.stderr);
  }
  const last = (await imageList()).find((r) => r.provider === east && r.state === 'ready') as Row;
  const refused = await env.cli(['delete-image', String(last.id)]);
  assert.equal(refused.code, 2);
  assert.match(
    refused.stderr,
    new RegExp(`only READY .* image in ${east}: deleting it leaves no image to boot new .* Pass --force`),
  );
  assert.equal((await imageList()).find((r) => r.id === last.id)?.state, 'ready');
  const forced = await env.cli(['delete-image', String(last.id), '--force']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(forced.stdout, new RegExp(`${east} has no READY .* image now`));
});

test('dib-image-list shows the local builds, build-log prints a build, image-pause and image-unpause act on the schedule', async () => {
  const list = await env.cli(['dib-image-list', '--json']);
  assert.equal(list.code, 0, list.stderr);
  const builds = (
    JSON.parse(list.stdout) as { id: number; image: string; version: number; state: string; files: string[] }[]
  ).filter((b) => b.image === image);
  assert.ok(builds.length >= 3, `three builds: ${JSON.stringify(builds)}`);
  const last = builds[builds.length - 1] as (typeof builds)[number];
  assert.equal(last.state, 'ready');
  assert.ok(last.files.some((f) => f.endsWith(`${image}-${last.version}.raw`)));
  const table = await env.cli(['dib-image-list']);
  assert.match(table.stdout, /\| ID +\| Image +\| Filename +\| Version +\| State +\| Age \(hours\) +\|/);

  const log = await env.cli(['build-log', String(last.id)]);
  assert.equal(log.code, 0, log.stderr);
  assert.match(log.stdout, new RegExp(`built .*${image}`), "the builder's own output");
  const missing = await env.cli(['build-log', '999999']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /image build 999999 does not exist/);

  // The schedule exists once a worker synced nodepool.yaml; this test's worker runs in-process, so sync here.
  const { syncSchedules } = await import('../worker/schedules.ts');
  await syncSchedules(env.client, env.config, env.taskQueue);
  const handle = env.client.schedule.getHandle(`image-build/${image}`);
  try {
    const paused = await env.cli(['image-pause', image]);
    assert.equal(paused.code, 0, paused.stderr);
    assert.equal((await handle.describe()).state.paused, true);
    const resumed = await env.cli(['image-unpause', image]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal((await handle.describe()).state.paused, false);
    const unknown = await env.cli(['image-pause', 'no-such-image']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /image no-such-image has no build schedule/);
  } finally {
    await handle.delete().catch(() => {});
  }
});
