// What `nodepool up` adds to an operator's nodepool.yaml (up/plan.ts) and how it reads a running nodepool
// (up/summary.ts): pure decisions, checked here without starting anything. The overlay is also loaded together
// with the file it completes, through the real config loader, as the worker loads them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { parseConfigs, loadConfig } from '../config/index.ts';
import { UpPlanError, cloudsYaml, overlay, overlayText, planSimulators } from '../up/plan.ts';
import { allReady, imageStatuses, labelStatuses } from '../up/summary.ts';
import type { CatalogView } from '../workflows/image-catalog.ts';
import type { PoolView } from '../workflows/pool-api.ts';

function plan(yaml: string) {
  const config = parseConfigs([{ text: yaml, file: 'nodepool.yaml' }], { baseDir: '/etc/nodepool' });
  return { config, raw: parse(yaml) as unknown, sims: planSimulators(config, parse(yaml)) };
}

const TWO = `
providers:
  - name: a
    driver: simulator
    simulator: { seed: 7, boot-time: 3, regions: [R1, R2], quota: { instances: 5 } }
    region-name: R2
    diskimages: [{ name: img }]
    cloud-images: [{ name: cirros, connection-port: 2200 }]
  - name: b
    driver: simulator
    cloud: b-cloud
    diskimages: [{ name: img }]
  - name: real
    cloud: prod
diskimages: [{ name: img, builder: script, script: /bin/true }]
`;

test('one simulator per driver: simulator provider, from its settings; real providers get none', () => {
  const { sims } = plan(TWO);
  assert.deepEqual(
    sims.map((s) => [s.provider, s.cloud, s.setsCloud, s.region, s.regions, s.seed, s.bootSeconds, s.quota]),
    [
      ['a', 'a', true, 'R2', ['R1', 'R2'], 7, 3, { instances: 5 }],
      ['b', 'b-cloud', false, 'RegionOne', ['RegionOne'], 1, undefined, undefined],
    ],
  );
  // a's cloud image fixes its SSH port; its diskimage gets the same one from up.
  assert.equal(sims[0]?.sshPort, 2200);
  assert.deepEqual(sims[0]?.portless, { diskimages: ['img'], cloudImages: [] });
  assert.equal(sims[1]?.sshPort, undefined);
});

test('configurations up cannot run are refused with what to change', () => {
  assert.throws(
    () => plan(`providers:\n  - { name: a, driver: simulator, region-name: X, simulator: { regions: [R1] } }\n`),
    (e: Error) =>
      e instanceof UpPlanError && /region-name X is not one of its simulator's regions \(R1\)/.test(e.message),
  );
  assert.throws(
    () =>
      plan(`providers:
  - name: a
    driver: simulator
    cloud-images: [{ name: x, connection-port: 1 }, { name: y, connection-port: 2 }]
`),
    (e: Error) =>
      e instanceof UpPlanError &&
      /connection-port differs \(1 for cloud-images x, 2 for cloud-images y\)/.test(e.message),
  );
  assert.throws(
    () => plan(`providers:\n  - { name: a, driver: simulator }\n  - { name: r, cloud: a }\n`),
    (e: Error) =>
      e instanceof UpPlanError && /provider r uses cloud a, which nodepool up makes a simulator for/.test(e.message),
  );
});

test('the overlay fills in only what the file leaves out, and loads with it as one configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nodepool-up-plan-'));
  try {
    const { raw, sims } = plan(TWO);
    const content = overlay(raw, {
      sims: sims.map((s) => ({ ...s, sshPort: s.sshPort ?? 4000 })),
      imagesDir: join(dir, 'images'),
      buildLogDir: join(dir, 'logs'),
      databaseDir: join(dir, 'db'),
      webappPort: 9005,
    });
    assert.deepEqual(content.providers, [
      { name: 'a', cloud: 'a', diskimages: [{ name: 'img', 'connection-port': 2200 }] },
      { name: 'b', diskimages: [{ name: 'img', 'connection-port': 4000 }] },
    ]);
    const file = join(dir, 'nodepool.yaml');
    const over = join(dir, 'up.yaml');
    writeFileSync(file, TWO);
    writeFileSync(over, overlayText(content, file));
    const merged = loadConfig([file, over], { onNotice: () => {} });
    const a = merged.providers.find((p) => p.name === 'a');
    assert.equal(a?.cloud, 'a');
    assert.equal(a?.diskimages[0]?.connectionPort, 2200);
    assert.equal(a?.cloudImages[0]?.connectionPort, 2200);
    assert.equal(merged.providers.find((p) => p.name === 'b')?.diskimages[0]?.connectionPort, 4000);
    assert.equal(merged.imagesDir, join(dir, 'images'));
    assert.equal(merged.webapp.port, 9005);

    // What the operator's file says stays theirs: no key is set twice.
    const own = parse(`images-dir: /srv/images\ndatabase: { data-dir: /srv/db }\nwebapp: { port: 1 }\n`) as unknown;
    const input = { sims: [], imagesDir: 'x', buildLogDir: 'y', databaseDir: 'z' };
    assert.deepEqual(overlay(own, input), { 'build-log-dir': 'y' });
    assert.throws(() => overlay(own, { ...input, webappPort: 2 }), /--webapp-port and webapp.port/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the worker's clouds.yaml keeps the operator's clouds and adds one entry per simulator", () => {
  const text = cloudsYaml([{ cloud: 'a', authUrl: 'http://127.0.0.1:5/identity', region: 'R2' }], {
    clouds: { prod: { auth: { auth_url: 'https://keystone.example/v3' } } },
    'client-options': { x: 1 },
  });
  const data = parse(text) as { clouds: Record<string, { auth: { auth_url: string }; region_name?: string }> };
  assert.equal(data.clouds.prod?.auth.auth_url, 'https://keystone.example/v3');
  assert.equal(data.clouds.a?.auth.auth_url, 'http://127.0.0.1:5/identity');
  assert.equal(data.clouds.a?.region_name, 'R2');
  assert.deepEqual((parse(text) as Record<string, unknown>)['client-options'], { x: 1 });
});

const upload = (id: number, state: string, version: number, extra: object = {}) => ({
  id,
  image: 'img',
  buildId: version,
  version,
  state,
  hostname: `img-${version}`,
  externalName: `img-${version}`,
  stateSince: 0,
  ...extra,
});

test('image and label summaries: current READY uploads, failed latest uploads, READY nodes against min-ready', () => {
  const { config } = plan(
    `${TWO.replace('    region-name: R2\n', '    region-name: R2\n    pools: [{ name: main, max-servers: 5, labels: [{ name: small, diskimage: img, flavor-name: m1.tiny }] }]\n')}labels: [{ name: small, min-ready: 2 }]\n`,
  );
  const catalogs = [
    { provider: 'a', uploads: [upload(1, 'ready', 10), upload(3, 'uploading', 11)], current: { img: 1 } },
    { provider: 'b', uploads: [upload(2, 'failed', 10, { reason: 'HTTP 403' })], current: {} },
  ] as CatalogView[];
  const images = imageStatuses(config, catalogs, 3_600_000);
  assert.deepEqual(
    images.map((i) => [i.provider, i.state, i.current?.id, i.current?.ageHours, i.latest?.state, i.latest?.reason]),
    [
      ['a', 'ready', 1, 1, 'uploading', undefined],
      ['b', 'failed', undefined, undefined, 'failed', 'HTTP 403'],
    ],
  );
  const node = (id: number, state: string, extra: object = {}) => ({ id, label: 'small', state, ...extra });
  const pools = [
    {
      provider: 'a',
      nodes: [
        node(1, 'ready'),
        node(2, 'ready', { requestKey: 'r' }),
        node(3, 'building'),
        node(4, 'ready', { validation: true }),
      ],
      occupancy: [{ pool: 'main', label: 'small', states: {} }],
      minReadyWaits: [{ label: 'small', reason: 'quota: instances 5/5' }],
      requests: [],
    },
  ] as unknown as PoolView[];
  const [small] = labelStatuses(config, pools);
  assert.deepEqual(
    { ready: small?.ready, building: small?.building, inUse: small?.inUse, minReady: small?.minReady },
    { ready: 1, building: 1, inUse: 1, minReady: 2 },
    'a READY node handed to a request is in use; a validation node does not count',
  );
  assert.deepEqual(small?.waits, ['a: quota: instances 5/5']);
  assert.equal(allReady(images, labelStatuses(config, pools)), false);
});
