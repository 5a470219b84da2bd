// The status server's pure parts: content negotiation, `?fields=` on a listing, the page's escaping, and the
// gauges set from pool and catalog views.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../config/index.ts';
import { createStatusMetrics } from '../metrics/status.ts';
import { renderStatusPage } from '../web/page.ts';
import { wantsJson } from '../web/server.ts';
import { FieldsError, labelListing, present } from '../web/tables.ts';
import type { PoolView } from '../workflows/pool-api.ts';
import { metric, parseMetrics } from './support/web.ts';

const parse = (text: string) => parseConfig(text, '/tmp/nodepool.yaml');
const config = parse(`
labels:
  - name: small
    min-ready: 1
  - name: big
    min-ready: 0
providers:
  - name: east
    cloud: c
    pools:
      - name: main
        max-servers: 3
        labels:
          - name: small
            cloud-image: cirros
            flavor-name: m1.tiny
          - name: big
            cloud-image: cirros
            flavor-name: m1.small
    cloud-images:
      - name: cirros
`);

function pool(overrides: Partial<PoolView> = {}): PoolView {
  return {
    provider: 'east',
    nodes: [],
    requests: [],
    minReadyWaits: [],
    occupancy: [
      { pool: 'main', label: 'small', states: { ready: 1, 'in-use': 1 } },
      { pool: 'main', label: 'big', states: { building: 1 } },
    ],
    quota: { instances: 10, cores: null, ramMB: 2048 },
    summary: 'east: 1 ready',
    ...overrides,
  };
}

test('JSON only when the Accept header names application/json with a q above 0', () => {
  const cases: [string | undefined, boolean][] = [
    [undefined, false],
    ['*/*', false],
    ['text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', false],
    ['application/json', true],
    ['Application/JSON; charset=utf-8', true],
    ['text/plain, application/json;q=0.5', true],
    ['text/plain, application/json;q=0', false],
  ];
  for (const [accept, json] of cases) assert.equal(wantsJson(accept), json, String(accept));
});

test('?fields= picks columns by key or header in the asked order; unknown fields are refused with the columns', () => {
  const l = labelListing(config, [pool()]);
  assert.deepEqual(JSON.parse(present(l, ['ready', 'label'], true)), [
    { ready: 0, label: 'big' },
    { ready: 1, label: 'small' },
  ]);
  const text = present(l, ['Label', 'in_use', 'MIN READY'], false);
  assert.equal(
    text,
    [
      '+-------+--------+-----------+',
      '| Label | In Use | Min Ready |',
      '+-------+--------+-----------+',
      '| big   | 0      | 0         |',
      '| small | 1      | 1         |',
      '+-------+--------+-----------+',
      '',
    ].join('\n'),
  );
  assert.throws(
    () => present(l, ['label', 'nope'], false),
    (err: Error) =>
      err instanceof FieldsError &&
      err.message ===
        'unknown field nope; the columns are label (Label), minReady (Min Ready), providers (Providers), building (Building), ready (Ready), inUse (In Use)',
  );
  // No rows: nothing says which keys they would have had, and the answer is empty either way.
  assert.equal(present(labelListing(parse('labels: []\n'), []), ['anything'], true), '[]\n');
});

test('the status page escapes what it shows', () => {
  const html = renderStatusPage({
    config,
    pools: [
      pool({ summary: 'east: <script>alert(1)</script>', minReadyWaits: [{ label: 'small', reason: 'a "b" & c' }] }),
    ],
    catalogs: [],
    errors: ['the pool of <x> did not answer'],
    now: 0,
    refresh: 0,
  });
  assert.ok(!html.includes('<script>'));
  assert.ok(html.includes('east: &lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.ok(html.includes('small: a &quot;b&quot; &amp; c'));
  assert.ok(html.includes('the pool of &lt;x&gt; did not answer'));
  assert.ok(!html.includes('http-equiv="refresh"'));
  assert.ok(
    renderStatusPage({ config, pools: [], catalogs: [], errors: [], now: 0, refresh: 10 }).includes('content="10"'),
  );
});

test('gauges: every node state per label (zeros included), quota headroom without unlimited resources', async () => {
  const m = createStatusMetrics(config);
  m.update({
    pools: [pool()],
    catalogs: [],
    asked: ['pool/east', 'image-catalog/east'],
    unanswered: ['image-catalog/east'],
  });
  const samples = parseMetrics(await m.registry.metrics());
  const nodes = (label: string, state: string) =>
    metric(samples, 'nodepool_nodes', { provider: 'east', pool: 'main', label, state });
  assert.deepEqual(
    ['building', 'ready', 'in-use', 'used', 'hold', 'deleting', 'failed'].map((s) => nodes('small', s)),
    [0, 1, 1, 0, 0, 0, 0],
  );
  assert.equal(nodes('big', 'building'), 1);
  assert.equal(samples.filter((s) => s.name === 'nodepool_nodes').length, 14);
  assert.equal(metric(samples, 'nodepool_provider_quota_available', { resource: 'instances' }), 10);
  assert.ok(!samples.some((s) => s.name === 'nodepool_provider_quota_available' && s.labels.resource === 'cores'));
  assert.equal(metric(samples, 'nodepool_pool_max_servers', { provider: 'east', pool: 'main' }), 3);
  assert.equal(metric(samples, 'nodepool_status_workflow_up', { workflow: 'pool/east' }), 1);
  assert.equal(metric(samples, 'nodepool_status_workflow_up', { workflow: 'image-catalog/east' }), 0);

  // Each update replaces the last: nothing stale stays behind.
  m.update({ pools: [pool({ occupancy: [] })], catalogs: [], asked: [], unanswered: [] });
  const after = parseMetrics(await m.registry.metrics());
  assert.equal(metric(after, 'nodepool_nodes', { label: 'small', state: 'ready' }), 0);
});
