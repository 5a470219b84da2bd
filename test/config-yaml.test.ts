// YAML as nodepool reads it (PyYAML: YAML 1.1 scalars, merge keys), numbers taken as text where text is expected,
// nodepool's "0 disables", syntax errors at the construct that never closed, and values reached through an
// alias or a merge located where the alias is used.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { issuesOf, loadQuiet, y } from './support/config.ts';

test('a number or boolean where text is expected is taken as written: release: 9 is "9", 10.10 stays 10.10', () => {
  const config = loadQuiet(
    y(
      'diskimages:',
      '  - {name: a, release: 9}',
      '  - {name: b, release: 10.10}',
      '  - {name: c, release: 22.04}',
      '  - {name: d, release: 2024-01-31}',
      '  - {name: 2024, release: "noble"}',
      '  - name: e',
      '    env-vars: {DIB_CHECKSUM: 1, DIB_DEBUG: on, SIZE: 0x10}',
      'providers:',
      '  - name: p',
      '    cloud: p',
      '    diskimages: [{name: e, meta: {build: 42, ready: yes}}]',
    ),
  );
  assert.deepEqual(
    config.diskimages.map((d) => [d.name, d.release]),
    [
      ['a', '9'],
      ['b', '10.10'],
      ['c', '22.04'],
      ['d', '2024-01-31'],
      ['2024', 'noble'],
      ['e', undefined],
    ],
  );
  assert.deepEqual(config.diskimages[5]?.envVars, { DIB_CHECKSUM: '1', DIB_DEBUG: 'on', SIZE: '0x10' });
  assert.deepEqual(config.providers[0]?.diskimages[0]?.meta, { build: '42', ready: 'yes' });
});

test("booleans are YAML 1.1's, as PyYAML reads them: yes/no and on/off, but not y/n", () => {
  const config = loadQuiet(
    y(
      'labels: [{name: y}, {name: n}]',
      'diskimages:',
      '  - {name: a, pause: yes}',
      '  - {name: b, pause: Off}',
      '  - {name: c, pause: NO}',
      '  - {name: d, pause: on}',
    ),
  );
  assert.deepEqual(
    config.labels.map((l) => l.name),
    ['y', 'n'],
  );
  assert.deepEqual(
    config.diskimages.map((d) => d.pause),
    [true, false, false, true],
  );
});

test("nodepool's 0 disables: max-ready-age, max-hold-age and max-concurrency of 0 are none", () => {
  const config = loadQuiet(
    y(
      'max-hold-age: 0',
      'labels: [{name: a, max-ready-age: 0}]',
      'providers: [{name: p, cloud: p, max-concurrency: 0}]',
    ),
  );
  assert.equal(config.maxHoldAge, undefined);
  assert.equal(config.labels[0]?.maxReadyAge, undefined);
  assert.equal(config.providers[0]?.maxConcurrency, undefined);
  assert.ok(!('maxHoldAge' in config) && !('maxReadyAge' in (config.labels[0] ?? {})));
});

test("rate is coerced to a number as nodepool does: rate: '0.25' is 0.25", () => {
  assert.equal(loadQuiet(y('providers: [{name: p, cloud: p, rate: "0.25"}]')).providers[0]?.rate, 0.25);
  assert.deepEqual(issuesOf(y('providers: [{name: p, cloud: p, rate: "-1"}]')), [
    'nodepool.yaml:1:39: providers[0].rate: expected a number, found "-1"',
  ]);
});

test('an unclosed [ is reported where it opened, with where the parser noticed it', () => {
  // The issue's case: the [ opens on line 16 and the parser notices it on line 17.
  const lines = [
    'labels:',
    '  - name: small',
    'providers:',
    '  - name: east',
    '    cloud: east',
    '    diskimages:',
    '      - name: ubuntu',
    '    pools:',
    '      - name: main',
    '        max-servers: 2',
    '        labels:',
    '          - name: small',
    '            diskimage: ubuntu',
    '            flavor-name: m1.small',
    '            key-name: k',
    '        availability-zones: [nova, zone2',
    'diskimages:',
    '  - name: ubuntu',
  ];
  assert.deepEqual(issuesOf(y(...lines)), [
    'nodepool.yaml:16:29: YAML syntax error: this [ is never closed (noticed at 17:1: Flow sequence in block collection must be sufficiently indented and end with a ])',
  ]);
});

test('an unclosed { and an unclosed quote are reported where they opened', () => {
  const brace = issuesOf(y('labels:', '  - {name: a, min-ready: 1', 'providers: []'));
  assert.match(brace[0] ?? '', /^nodepool\.yaml:2:5: YAML syntax error: this \{ is never closed \(noticed at 3:1: /);
  const quote = issuesOf(y('labels:', '  - name: "small', '    min-ready: 1'));
  assert.match(quote[0] ?? '', /^nodepool\.yaml:2:11: YAML syntax error: this " is never closed \(noticed at /);
  // Nested: the inner one is the one left open.
  const nested = issuesOf(y('labels: [{name: a, min-ready: 1]', 'providers: []'));
  assert.match(nested[0] ?? '', /^nodepool\.yaml:1:10: YAML syntax error: this \{ is never closed/);
});

test('a value reached through <<: *anchor is reported at the merge, naming the anchor', () => {
  assert.deepEqual(
    issuesOf(
      y(
        'labels: [{name: small}]',
        'diskimages: [{name: x, elements: [e]}]',
        'providers:',
        '  - &defaults',
        '    name: east',
        '    cloud: east',
        '    rate: fast',
        '  - <<: *defaults',
        '    name: west',
      ),
    ),
    [
      'nodepool.yaml:7:11: providers[0].rate: expected a number, found "fast"',
      'nodepool.yaml:8:9: providers[1].rate: expected a number, found "fast" (through *defaults; anchor &defaults at line 4)',
    ],
  );
});

test('a value reached through an alias is reported at the alias, naming the anchor', () => {
  assert.deepEqual(
    issuesOf(
      y(
        'labels: [{name: small}]',
        'diskimages: [{name: x, elements: [e]}]',
        'providers:',
        '  - name: east',
        '    cloud: east',
        '    diskimages: [{name: x}]',
        '    pools: &pools',
        '      - name: main',
        '        max-servers: -1',
        '        labels: []',
        '  - name: west',
        '    cloud: west',
        '    diskimages: [{name: x}]',
        '    pools: *pools',
      ),
    ),
    [
      'nodepool.yaml:9:22: providers[0].pools[0].max-servers: expected a value ≥ 0, found -1',
      'nodepool.yaml:14:12: providers[1].pools[0].max-servers: expected a value ≥ 0, found -1 (through *pools; anchor &pools at line 7)',
    ],
  );
});

test('a reference error reached through an alias is reported at the alias too', () => {
  assert.deepEqual(
    issuesOf(
      y(
        'labels: [{name: small}]',
        'diskimages: [{name: x, elements: [e]}]',
        'providers:',
        '  - name: east',
        '    cloud: east',
        '    diskimages: [{name: x}]',
        '    pools: [&main {name: main, max-servers: 1, labels: [{name: smal, diskimage: x, flavor-name: f}]}]',
        '  - name: west',
        '    cloud: west',
        '    diskimages: [{name: x}]',
        '    pools: [*main]',
      ),
    ),
    [
      "nodepool.yaml:7:64: providers[0].pools[0].labels[0].name: unknown label 'smal' (not under the top-level labels) — did you mean 'small'?",
      "nodepool.yaml:11:13: providers[1].pools[0].labels[0].name: unknown label 'smal' (not under the top-level labels) — did you mean 'small'? (through *main; anchor &main at line 7)",
    ],
  );
});
