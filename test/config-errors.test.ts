// Malformed nodepool.yaml files: each names the exact message and the exact line:column an operator would see.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LoadOptions } from '../config/index.ts';
import { issuesOf, y } from './support/config.ts';

/** Every issue as the CLI prints it. */

const emptyPath = { PATH: mkdtempSync(join(tmpdir(), 'nodepool-empty-path-')) };

/** One provider with one pool serving label `small` from diskimage `ubuntu`; lines 1-17. */
const valid = [
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
  'diskimages:',
  '  - name: ubuntu',
  '    elements: [ubuntu-minimal]',
];

/** The valid file with line `n` (1-based) replaced by `lines` (none to delete it). */
function edit(n: number, ...lines: string[]): string {
  const copy = [...valid];
  copy.splice(n - 1, 1, ...lines);
  return y(...copy);
}

/** The valid file with `lines` inserted after line `n`. */
function after(n: number, ...lines: string[]): string {
  const copy = [...valid];
  copy.splice(n, 0, ...lines);
  return y(...copy);
}

interface Case {
  name: string;
  text: string;
  expect: (string | RegExp)[];
  options?: LoadOptions;
}

const cases: Case[] = [
  // Unknown keys and typos
  {
    name: 'a misspelt top-level key suggests the right one',
    text: y('max-hold-ag: 3600'),
    expect: ["nodepool.yaml:1:1: max-hold-ag: unknown key 'max-hold-ag' — did you mean 'max-hold-age'?"],
  },
  {
    name: 'an unrelated top-level key lists the keys that exist',
    text: y('labels: []', 'gearman-servers: []'),
    expect: [/^nodepool\.yaml:2:1: gearman-servers: unknown key 'gearman-servers'; expected one of: labels, /],
  },
  {
    name: "a label key typo ('min-redy')",
    text: y('labels:', '  - name: a', '    min-redy: 1'),
    expect: ["nodepool.yaml:3:5: labels[0].min-redy: unknown key 'min-redy' — did you mean 'min-ready'?"],
  },
  {
    name: "a pool key typo ('max-server') also reports the missing max-servers",
    text: edit(10, '        max-server: 2'),
    expect: [
      "nodepool.yaml:9:9: providers[0].pools[0].max-servers: missing required key 'max-servers' (nodepool would allow what the cloud quota allows; here every pool names its limit)",
      "nodepool.yaml:10:9: providers[0].pools[0].max-server: unknown key 'max-server' — did you mean 'max-servers'?",
    ],
  },
  {
    name: 'a snake_case key suggests its kebab-case form',
    text: after(5, '    boot_timeout: 120'),
    expect: ["nodepool.yaml:6:5: providers[0].boot_timeout: unknown key 'boot_timeout' — did you mean 'boot-timeout'?"],
  },
  {
    name: 'a temporal key typo',
    text: y('temporal:', '  adress: temporal:7233'),
    expect: ["nodepool.yaml:2:3: temporal.adress: unknown key 'adress' — did you mean 'address'?"],
  },
  // Wrong types and values
  {
    name: 'a min-ready below -1',
    text: y('labels:', '  - name: a', '    min-ready: -2'),
    expect: ['nodepool.yaml:3:16: labels[0].min-ready: expected a value ≥ 0, found -2'],
  },
  {
    name: 'a fractional min-ready',
    text: y('labels:', '  - name: a', '    min-ready: 1.5'),
    expect: ['nodepool.yaml:3:16: labels[0].min-ready: expected a whole number, found 1.5'],
  },
  {
    name: 'a label without a name',
    text: y('labels:', '  - min-ready: 1'),
    expect: ["nodepool.yaml:2:5: labels[0].name: missing required key 'name'"],
  },
  {
    name: 'an empty label name',
    text: y('labels:', "  - name: ''"),
    expect: ['nodepool.yaml:2:11: labels[0].name: expected a non-empty string, found ""'],
  },
  {
    name: 'labels given as a string',
    text: y('labels: small'),
    expect: ['nodepool.yaml:1:9: labels: expected a list, found "small"'],
  },
  {
    name: 'labels left empty',
    text: y('labels:'),
    expect: ['nodepool.yaml:1:1: labels: expected a list, found an empty value'],
  },
  {
    name: 'a malformed max-ready-age duration',
    text: y('labels:', '  - name: a', '    max-ready-age: soon'),
    expect: [
      'nodepool.yaml:3:20: labels[0].max-ready-age: expected seconds (a number ≥ 0) or a duration like 90s, 15m, 24h, 1d12h; found "soon"',
    ],
  },
  {
    name: 'a provider rate that is not a number',
    text: after(5, '    rate: fast'),
    expect: ['nodepool.yaml:6:11: providers[0].rate: expected a number, found "fast"'],
  },
  {
    name: 'an unknown driver',
    text: after(5, '    driver: ec2'),
    expect: ['nodepool.yaml:6:13: providers[0].driver: expected one of openstack, simulator, found "ec2"'],
  },
  {
    name: "an image-format typo ('vdh')",
    text: after(5, '    image-format: vdh'),
    expect: [
      'nodepool.yaml:6:19: providers[0].image-format: expected one of qcow2, raw, vhd, found "vdh" — did you mean \'vhd\'?',
    ],
  },
  {
    name: 'a negative max-servers',
    text: edit(10, '        max-servers: -3'),
    expect: ['nodepool.yaml:10:22: providers[0].pools[0].max-servers: expected a value ≥ 0, found -3'],
  },
  {
    name: 'a negative max-cores',
    text: after(10, '        max-cores: -1'),
    expect: ['nodepool.yaml:11:20: providers[0].pools[0].max-cores: expected a value ≥ 0, found -1'],
  },
  {
    name: 'a pool label without flavor-name',
    text: edit(14),
    expect: [
      "nodepool.yaml:12:13: providers[0].pools[0].labels[0].flavor-name: missing required key 'flavor-name' (nodepool's min-ram alone, picking the smallest flavor, is not supported yet)",
    ],
  },
  {
    name: 'availability-zones given as a string',
    text: after(10, '        availability-zones: nova'),
    expect: ['nodepool.yaml:11:29: providers[0].pools[0].availability-zones: expected a list, found "nova"'],
  },
  {
    name: 'a provider diskimage meta value that is a list',
    text: after(7, '        meta:', '          build: [4, 2]'),
    expect: ['nodepool.yaml:9:18: providers[0].diskimages[0].meta.build: expected a string, found a list'],
  },
  {
    name: 'a negative simulator quota',
    text: y('providers:', '  - name: sim', '    driver: simulator', '    simulator:', '      quota: {instances: -1}'),
    expect: ['nodepool.yaml:5:26: providers[0].simulator.quota.instances: expected a value ≥ 0, found -1'],
  },
  {
    name: 'an unknown builder',
    text: after(16, '    builder: packer'),
    expect: ['nodepool.yaml:17:14: diskimages[0].builder: expected one of dib, script, snapshot, found "packer"'],
  },
  {
    name: 'an unknown format in a diskimage formats list',
    text: after(17, '    formats: [qcow2, vmdk]'),
    expect: ['nodepool.yaml:18:22: diskimages[0].formats[1]: expected one of qcow2, raw, vhd, found "vmdk"'],
  },
  {
    name: 'formats given as a string',
    text: after(17, '    formats: qcow2'),
    expect: ['nodepool.yaml:18:14: diskimages[0].formats: expected a list, found "qcow2"'],
  },
  {
    name: 'an env-vars value that is a mapping',
    text: after(17, '    env-vars:', '      DIB_DEBUG_TRACE: {level: 1}'),
    expect: ['nodepool.yaml:19:24: diskimages[0].env-vars.DIB_DEBUG_TRACE: expected a string, found a mapping'],
  },
  {
    name: 'a rebuild-age in years',
    text: after(17, '    rebuild-age: 1y'),
    expect: [
      'nodepool.yaml:18:18: diskimages[0].rebuild-age: expected seconds (a number ≥ 0) or a duration like 90s, 15m, 24h, 1d12h; found "1y"',
    ],
  },
  {
    // YAML 1.1, as nodepool's PyYAML reads it: yes/no and on/off are booleans, maybe is not.
    name: 'a pause that is not a boolean',
    text: after(17, '    pause: maybe'),
    expect: ['nodepool.yaml:18:12: diskimages[0].pause: expected true or false, found "maybe"'],
  },
  {
    name: 'an unknown vhd-converter',
    text: y('vhd-converter: qemu'),
    expect: ['nodepool.yaml:1:16: vhd-converter: expected one of auto, builtin, vhd-util, found "qemu"'],
  },
  {
    name: 'a negative build-log-retention',
    text: y('build-log-retention: -7'),
    expect: ['nodepool.yaml:1:22: build-log-retention: expected a value ≥ 0, found -7'],
  },
  {
    name: 'a database section given as a URL',
    text: y('database: postgres://db/nodepool'),
    expect: ['nodepool.yaml:1:11: database: expected a mapping, found "postgres://db/nodepool"'],
  },
  // Cross-references
  {
    name: 'an openstack provider without a cloud',
    text: edit(5),
    expect: [
      "nodepool.yaml:4:5: providers[0].cloud: missing required key 'cloud' (the clouds.yaml cloud to use; only driver: simulator may leave it out)",
    ],
  },
  {
    name: 'a simulator block on an openstack provider',
    text: after(5, '    simulator:', '      seed: 1'),
    expect: ['nodepool.yaml:6:5: providers[0].simulator: a simulator block needs driver: simulator'],
  },
  {
    name: 'a pool label naming an unknown label',
    text: edit(12, '          - name: smal'),
    expect: [
      "nodepool.yaml:12:19: providers[0].pools[0].labels[0].name: unknown label 'smal' (not under the top-level labels) — did you mean 'small'?",
    ],
  },
  {
    name: "a pool label's diskimage missing from the provider's diskimages",
    text: after(17, '  - name: debian', '    elements: [debian-minimal]').replace(
      'diskimage: ubuntu',
      'diskimage: debian',
    ),
    expect: [
      "nodepool.yaml:13:24: providers[0].pools[0].labels[0].diskimage: diskimage 'debian' is not among provider 'east' diskimages (ubuntu); add it to providers[0].diskimages",
    ],
  },
  {
    name: "a pool label's diskimage that exists nowhere",
    text: edit(13, '            diskimage: ubunto'),
    expect: [
      "nodepool.yaml:13:24: providers[0].pools[0].labels[0].diskimage: unknown diskimage 'ubunto', not among provider 'east' diskimages (ubuntu) — did you mean 'ubuntu'?",
    ],
  },
  {
    name: 'a provider diskimage naming an unknown diskimage',
    text: after(7, '      - name: centos'),
    expect: [
      "nodepool.yaml:8:15: providers[0].diskimages[1].name: unknown diskimage 'centos' (not under the top-level diskimages)",
    ],
  },
  {
    name: 'duplicate label names',
    text: after(2, '  - name: small'),
    expect: ["nodepool.yaml:3:11: labels[1].name: duplicate label name 'small' (already used by labels[0])"],
  },
  {
    name: 'duplicate provider names',
    text: y(...valid.slice(0, 14), ...valid.slice(3, 14), ...valid.slice(14)),
    expect: ["nodepool.yaml:15:11: providers[1].name: duplicate provider name 'east' (already used by providers[0])"],
  },
  {
    name: 'duplicate pool names within a provider',
    text: after(14, ...valid.slice(8, 14)),
    expect: [
      "nodepool.yaml:15:15: providers[0].pools[1].name: duplicate pool name 'main' (already used by providers[0].pools[0])",
    ],
  },
  {
    name: 'duplicate diskimage names',
    text: after(17, '  - name: ubuntu', '    elements: [ubuntu]'),
    expect: [
      "nodepool.yaml:18:11: diskimages[1].name: duplicate diskimage name 'ubuntu' (already used by diskimages[0])",
    ],
  },
  {
    name: 'duplicate provider diskimage names',
    text: after(7, '      - name: ubuntu'),
    expect: [
      "nodepool.yaml:8:15: providers[0].diskimages[1].name: duplicate provider diskimage name 'ubuntu' (already used by providers[0].diskimages[0])",
    ],
  },
  {
    name: "a VHD provider whose diskimage's formats exclude vhd",
    text: after(17, '    formats: [qcow2]').replace('    cloud: east', '    cloud: east\n    image-format: vhd'),
    expect: [
      "nodepool.yaml:19:14: diskimages[0].formats: diskimage 'ubuntu' is uploaded to provider 'east' as vhd (providers[0].image-format) but its formats [qcow2] lack vhd; add vhd",
    ],
  },
  {
    name: 'vhd-converter vhd-util with no vhd-util on PATH',
    text: after(5, '    image-format: vhd').replace('labels:\n', 'vhd-converter: vhd-util\nlabels:\n'),
    options: { env: emptyPath },
    expect: [
      "nodepool.yaml:1:16: vhd-converter: provider 'east' makes VHD images with vhd-util (vhd-converter: vhd-util), but no vhd-util was found on PATH; set vhd-util to its path, or use vhd-converter: builtin",
    ],
  },
  {
    name: "a provider's vhd-converter vhd-util with a vhd-util path that does not exist",
    text: after(5, '    image-format: vhd', '    vhd-converter: vhd-util').replace(
      'labels:\n',
      'vhd-util: /nonexistent/vhd-util\nlabels:\n',
    ),
    options: { env: emptyPath },
    expect: [
      "nodepool.yaml:1:11: vhd-util: provider 'east' makes VHD images with vhd-util (vhd-converter: vhd-util), but vhd-util '/nonexistent/vhd-util' is not an executable file; set vhd-util to its path, or use vhd-converter: builtin",
    ],
  },
  {
    name: 'vhd-converter auto with a vhd-util path that does not exist',
    text: after(5, '    image-format: vhd').replace('labels:\n', 'vhd-util: /nonexistent/vhd-util\nlabels:\n'),
    options: { env: emptyPath },
    expect: [
      "nodepool.yaml:1:11: vhd-util: provider 'east' makes VHD images with vhd-util (vhd-converter: auto), but vhd-util '/nonexistent/vhd-util' is not an executable file; set vhd-util to its path, or use vhd-converter: builtin",
    ],
  },
  {
    name: 'min-ready above the max-servers of the pools serving the label',
    text: after(2, '    min-ready: 3'),
    expect: [
      "nodepool.yaml:3:16: labels[0].min-ready: min-ready 3 for label 'small' exceeds the 2 servers its pools may run (max-servers: east/main 2); lower min-ready or raise max-servers",
    ],
  },
  {
    name: 'min-ready for a label no pool serves',
    text: after(2, '  - name: big', '    min-ready: 1'),
    expect: [
      "nodepool.yaml:4:16: labels[1].min-ready: label 'big' has min-ready 1 but no pool serves it; add it to a pool's labels or set min-ready: 0",
    ],
  },
  {
    name: 'a script diskimage without a script',
    text: edit(17, '    builder: script'),
    expect: ["nodepool.yaml:16:5: diskimages[0].script: missing required key 'script' (builder script needs a path)"],
  },
  // The file as a whole
  {
    // The parser can only tell at the next line that the list never closed: the message points at the [.
    name: 'a YAML flow list left open',
    text: y('labels:', '  - name: a', '    min-ready: [1, 2'),
    expect: [
      'nodepool.yaml:3:16: YAML syntax error: this [ is never closed (noticed at 4:1: Flow sequence in block collection must be sufficiently indented and end with a ])',
    ],
  },
  {
    name: 'a YAML tab used for indentation',
    text: y('temporal:', '\taddress: x'),
    expect: ['nodepool.yaml:2:1: YAML syntax error: Tabs are not allowed as indentation'],
  },
  {
    name: 'a YAML mapping nested on one line',
    text: y('labels: name: small'),
    expect: ['nodepool.yaml:1:9: YAML syntax error: Nested mappings are not allowed in compact mappings'],
  },
  {
    name: 'a key given twice',
    text: y('labels: []', 'providers: []', 'labels: []'),
    expect: ['nodepool.yaml:3:1: YAML syntax error: Map keys must be unique'],
  },
  {
    name: 'a YAML alias with no anchor (found by the fuzz test: it used to crash the loader)',
    text: edit(14, '            flavor-name: *m1.xlarge'),
    expect: [
      'nodepool.yaml:14:26: YAML alias *m1.xlarge names no anchor defined before it; define &m1.xlarge first or remove the alias',
    ],
  },
  {
    name: 'a YAML alias used before its anchor',
    text: y('labels: *all', 'all: &all []'),
    expect: [
      'nodepool.yaml:1:9: YAML alias *all names no anchor defined before it; define &all first or remove the alias',
    ],
  },
  {
    name: 'an empty file',
    text: '',
    expect: ['nodepool.yaml:1:1: the file is empty; expected a mapping with labels, providers and diskimages'],
  },
  {
    name: 'a file of comments only',
    text: y('# nothing yet', '# still nothing'),
    expect: ['nodepool.yaml:1:1: the file is empty; expected a mapping with labels, providers and diskimages'],
  },
  {
    name: 'a file that is a list',
    text: y('- labels', '- providers'),
    expect: [
      'nodepool.yaml:1:1: expected a mapping (labels:, providers:, diskimages:, ...) at the top level, found a list',
    ],
  },
  {
    name: 'a file that is a single word',
    text: y('', 'nodepool'),
    expect: [
      'nodepool.yaml:2:1: expected a mapping (labels:, providers:, diskimages:, ...) at the top level, found "nodepool"',
    ],
  },
];

for (const c of cases) {
  test(`config error: ${c.name}`, () => {
    const issues = issuesOf(c.text, c.options);
    assert.equal(issues.length, c.expect.length, `issues:\n${issues.join('\n')}`);
    c.expect.forEach((want, i) => {
      if (typeof want === 'string') assert.equal(issues[i], want);
      else assert.match(issues[i] ?? '', want);
    });
  });
}
