// The pool's settings as decided from a real nodepool.yaml (parsed as the worker parses it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../config/index.ts';
import { poolSettingsFor } from '../core/pool-settings.ts';

const config = parseConfig(
  `
labels:
  - name: small
    min-ready: 5
    max-ready-age: 3600
  - name: big
    min-ready: 1
max-hold-age: 86400
providers:
  - name: east
    cloud: east-cloud
    max-concurrency: 8
    cloud-images: [{name: cirros}]
    pools:
      - name: main
        max-servers: 20
        max-cores: 64
        ignore-provider-quota: true
        labels:
          - {name: small, cloud-image: cirros, flavor-name: m1.small}
          - {name: big, cloud-image: cirros, flavor-name: m1.large, min-ram: 8192}
  - name: west
    cloud: west-cloud
    cloud-images: [{name: cirros}]
    pools:
      - name: a
        max-servers: 4
        ignore-provider-quota: true
        labels: [{name: small, cloud-image: cirros, flavor-name: m1.small}]
      - name: b
        max-servers: 4
        labels: [{name: small, cloud-image: cirros, flavor-name: m1.small}]
`,
  'nodepool.yaml',
);

test("a provider's settings: its pools' limits and labels, its share of min-ready, the global hold cap", () => {
  const east = poolSettingsFor(config, 'east');
  assert.ok(east);
  assert.deepEqual(
    east.pools.map((p) => [p.name, p.maxServers, p.maxCores, p.maxRam]),
    [['main', 20, 64, undefined]],
  );
  assert.deepEqual(
    east.pools[0]?.labels.map((l) => [l.label, l.flavor, l.minRam]),
    [
      ['small', 'm1.small', undefined],
      ['big', 'm1.large', 8192],
    ],
  );
  // small is offered by east and west (5 → 3 + 2); big only by east.
  assert.deepEqual(east.labels, { small: { minReady: 3, maxReadyAge: 3600 }, big: { minReady: 1 } });
  assert.deepEqual(poolSettingsFor(config, 'west')?.labels, {
    small: { minReady: 2, maxReadyAge: 3600 },
    big: { minReady: 0 },
  });
  assert.equal(east.maxHoldAge, 86400);
  assert.equal(east.maxConcurrency, 8);
  assert.equal(east.provider, 'east');
});

test('the quota is ignored only when every pool of the provider says so; an unknown provider has none', () => {
  assert.equal(poolSettingsFor(config, 'east')?.ignoreQuota, true);
  assert.equal(poolSettingsFor(config, 'west')?.ignoreQuota, false, 'pool b keeps the quota');
  assert.equal(poolSettingsFor(config, 'nowhere'), undefined);
});
