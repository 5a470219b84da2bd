// Diskimage inheritance as nodepool does it: elements appended, env-vars merged (child wins), formats added,
// other keys replaced, name/abstract/parent never inherited; abstract diskimages never built; a missing parent
// or a cycle is a located error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { issuesOf, loadQuiet, y } from './support/config.ts';

test('a three-level chain: elements appended root first, env-vars merged child-wins, other keys replaced', () => {
  const config = loadQuiet(
    y(
      'diskimages:',
      '  - name: base',
      '    abstract: true',
      '    elements: [vm, simple-init]',
      '    env-vars: {TMPDIR: /opt/dib_tmp, DIB_CHECKSUM: "1", LEVEL: base}',
      '    formats: [qcow2]',
      '    release: bookworm',
      '    rebuild-age: 3600',
      '    username: zuul',
      '  - name: ubuntu-base',
      '    parent: base',
      '    abstract: true',
      '    elements: [ubuntu-minimal]',
      '    env-vars: {LEVEL: middle, DIB_APT_LOCAL_CACHE: "0"}',
      '    formats: [raw]',
      '    release: jammy',
      '    python-path: /usr/bin/python3',
      '  - name: ubuntu-noble',
      '    parent: ubuntu-base',
      '    elements: [nodepool-base]',
      '    env-vars: {LEVEL: leaf}',
      '    release: noble',
      '    pause: true',
    ),
  );
  assert.deepEqual(config.diskimages, [
    {
      name: 'ubuntu-noble',
      parent: 'ubuntu-base',
      builder: 'dib',
      elements: ['vm', 'simple-init', 'ubuntu-minimal', 'nodepool-base'],
      envVars: { TMPDIR: '/opt/dib_tmp', DIB_CHECKSUM: '1', LEVEL: 'leaf', DIB_APT_LOCAL_CACHE: '0' },
      formats: ['qcow2', 'raw'],
      keepFormats: [],
      release: 'noble',
      rebuildAge: 3600,
      username: 'zuul',
      pythonPath: '/usr/bin/python3',
      pause: true,
      buildTimeout: 28800,
      dibCmd: 'disk-image-create',
      deleteAfterUpload: false,
      templateDomain: 'nodepool.local',
      validate: false,
    },
  ]);
});

test('a parent that is not abstract is built too, with only its own settings', () => {
  const config = loadQuiet(
    y(
      'diskimages:',
      '  - name: parent',
      '    elements: [vm]',
      '    env-vars: {A: "1"}',
      '  - name: child',
      '    parent: parent',
      '    elements: []',
      '    env-vars: {B: "2"}',
    ),
  );
  assert.deepEqual(
    config.diskimages.map((d) => [d.name, d.parent, d.elements, d.envVars]),
    [
      ['parent', undefined, ['vm'], { A: '1' }],
      ['child', 'parent', ['vm'], { A: '1', B: '2' }],
    ],
  );
});

test('abstract is not inherited, and an abstract diskimage may be incomplete', () => {
  const config = loadQuiet(
    y(
      'diskimages:',
      '  - name: scripted',
      '    abstract: true',
      '    builder: script',
      '  - name: real',
      '    parent: scripted',
      '    script: /bin/true',
    ),
  );
  assert.deepEqual(
    config.diskimages.map((d) => [d.name, d.builder, d.script]),
    [['real', 'script', '/bin/true']],
  );
});

test('a parent naming no diskimage is an error at that parent, with a suggestion', () => {
  assert.deepEqual(
    issuesOf(
      y('diskimages:', '  - name: ubuntu-base', '    abstract: true', '  - name: noble', '    parent: ubuntu-bse'),
    ),
    [
      "nodepool.yaml:5:13: diskimages[1].parent: unknown parent 'ubuntu-bse' (not under the top-level diskimages) — did you mean 'ubuntu-base'?",
    ],
  );
});

test('a missing grandparent is reported once, however many inherit from it', () => {
  assert.deepEqual(
    issuesOf(
      y(
        'diskimages:',
        '  - {name: mid, parent: nowhere, abstract: true}',
        '  - {name: a, parent: mid}',
        '  - {name: b, parent: mid}',
      ),
    ),
    ["nodepool.yaml:2:25: diskimages[0].parent: unknown parent 'nowhere' (not under the top-level diskimages)"],
  );
});

test('parents forming a cycle are one error naming the cycle', () => {
  assert.deepEqual(
    issuesOf(
      y('diskimages:', '  - name: a', '    parent: b', '  - name: b', '    parent: c', '  - name: c', '    parent: a'),
    ),
    [
      'nodepool.yaml:7:13: diskimages[2].parent: diskimage parents form a cycle: a → b → c → a; one of them must not have a parent',
    ],
  );
  assert.deepEqual(issuesOf(y('diskimages:', '  - name: a', '    parent: a')), [
    'nodepool.yaml:3:13: diskimages[0].parent: diskimage parents form a cycle: a → a; one of them must not have a parent',
  ]);
});

test('a provider may not list an abstract diskimage', () => {
  assert.deepEqual(
    issuesOf(
      y(
        'diskimages:',
        '  - {name: base, abstract: true, elements: [vm]}',
        'providers:',
        '  - name: east',
        '    cloud: east',
        '    diskimages: [{name: base}]',
      ),
    ),
    [
      "nodepool.yaml:6:25: providers[0].diskimages[0].name: diskimage 'base' is abstract (only a parent): it is never built; list a diskimage that inherits from it",
    ],
  );
});

test("a mistake inherited from a parent is reported at the parent's key, naming the diskimage it breaks", () => {
  assert.deepEqual(
    issuesOf(
      y(
        'diskimages:',
        '  - name: base',
        '    abstract: true',
        '    elements: [vm]',
        '  - name: snap',
        '    parent: base',
        '    builder: snapshot',
        '    script: /bin/true',
      ),
    ),
    [
      "nodepool.yaml:4:5: diskimages[0].elements: 'elements' needs builder: dib (this is snapshot) (for diskimage 'snap', which inherits it)",
    ],
  );
});

test("docs/configuration.md's inheritance example resolves as the page says", () => {
  const page = readFileSync(join(import.meta.dirname, '..', 'docs', 'configuration.md'), 'utf8');
  const section = page.slice(page.indexOf('## Diskimage inheritance'));
  const example = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(example, 'the section has a yaml example');
  const [noble, ...rest] = loadQuiet(example).diskimages;
  assert.deepEqual(rest, []);
  assert.deepEqual(noble?.elements, ['vm', 'simple-init', 'nodepool-base', 'ubuntu-minimal']);
  assert.deepEqual(Object.keys(noble?.envVars ?? {}).length, 3);
  assert.equal(noble?.release, 'noble');
});
