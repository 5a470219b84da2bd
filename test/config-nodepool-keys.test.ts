// Every key of Zuul nodepool's configuration reference is known: the reference fixture (every key that loads
// here) loads with the values nodepool's docs give it; each replaced key prints its notice and loads; each key not
// supported yet, and each other driver, is one located error; keys.ts, the schema and the doc table agree.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument, stringify } from 'yaml';
import { formatIssue, loadConfig, type ConfigIssue } from '../config/index.ts';
import { withKeyTable } from '../config/doc.ts';
import { OTHER_DRIVERS, SECTIONS, type SectionInfo } from '../config/keys.ts';
import { SCHEMA_KEYS } from '../config/schema.ts';
import { configIssues } from './support/config.ts';

const ROOT = join(import.meta.dirname, '..');
const FIXTURES = join(import.meta.dirname, 'fixtures', 'config');
const REFERENCE = join(FIXTURES, 'nodepool-reference.yaml');

function load(file: string): { config: ReturnType<typeof loadConfig>; notices: ConfigIssue[] } {
  const notices: ConfigIssue[] = [];
  const config = loadConfig(file, { onNotice: (n) => notices.push(n) });
  return { config, notices };
}

/** `providers[].pools[].` → providers, *, pools, * */
function segmentsOf(section: SectionInfo): string[] {
  return section.prefix
    .split('.')
    .filter((s) => s !== '')
    .flatMap((s) => (s.endsWith('[]') ? [s.slice(0, -2), '*'] : [s]));
}

function mappingsAt(data: unknown, at: readonly string[]): Record<string, unknown>[] {
  let found: unknown[] = [data];
  for (const segment of at)
    found = found.flatMap((v) =>
      segment === '*'
        ? Array.isArray(v)
          ? v
          : []
        : typeof v === 'object' && v !== null && segment in v
          ? [(v as Record<string, unknown>)[segment]]
          : [],
    );
  return found.filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v));
}

test('the reference fixture uses every nodepool key that loads here (implemented or replaced)', () => {
  const data = parseDocument(readFileSync(REFERENCE, 'utf8'), { version: '1.1' }).toJS() as unknown;
  const missing: string[] = [];
  for (const section of SECTIONS)
    for (const key of section.keys) {
      if (key.status !== 'implemented' && key.status !== 'replaced') continue;
      if (!mappingsAt(data, segmentsOf(section)).some((m) => key.key in m)) missing.push(`${section.prefix}${key.key}`);
    }
  assert.deepEqual(missing, []);
});

test('the reference fixture loads, with nodepool inheritance, defaults and scalars applied', () => {
  const { config } = load(REFERENCE);
  const at = (p: string): string => join(FIXTURES, p);
  assert.deepEqual(config.webapp, { port: 8005, listenAddress: '0.0.0.0' });
  assert.equal(config.elementsDir, '/etc/nodepool/elements');
  assert.equal(config.imagesDir, '/opt/nodepool/images');
  assert.equal(config.buildLogRetention, 14);
  assert.equal(config.maxHoldAge, 86400);
  assert.deepEqual(
    config.labels.map((l) => [l.name, l.minReady, l.maxReadyAge]),
    [
      ['my-precise', 2, 3600],
      ['multi-precise', 2, undefined],
      ['trusty-external', 0, undefined],
      ['centos-snapshot', 0, undefined],
    ],
  );

  // The abstract parent is not among the diskimages; its children carry what it says.
  assert.deepEqual(
    config.diskimages.map((d) => d.name),
    ['ubuntu-precise', 'ubuntu-xenial', 'centos-snapshot'],
  );
  const [precise, xenial, snapshot] = config.diskimages;
  assert.deepEqual(precise, {
    name: 'ubuntu-precise',
    parent: 'ubuntu-base',
    builder: 'dib',
    elements: ['ubuntu-minimal', 'vm', 'simple-init', 'nodepool-base'],
    envVars: { TMPDIR: '/opt/dib_tmp', DIB_CHECKSUM: '1', DIB_IMAGE_CACHE: '/opt/dib_cache' },
    formats: ['raw', 'qcow2'],
    keepFormats: ['qcow2'],
    deleteAfterUpload: true,
    rebuildAge: 86400,
    buildTimeout: 3600,
    dibCmd: 'disk-image-create',
    pause: false,
    release: 'precise',
    username: 'zuul',
    pythonPath: '/usr/bin/python3',
    templateDomain: 'nodepool.local',
    validate: false,
  });
  // `elements: []` keeps the parent's; `release: 9` is the text "9".
  assert.deepEqual(xenial?.elements, ['ubuntu-minimal', 'vm', 'simple-init']);
  assert.equal(xenial?.release, '9');
  assert.equal(xenial?.pause, true);
  assert.equal(xenial?.pythonPath, 'auto');
  assert.deepEqual(snapshot, {
    name: 'centos-snapshot',
    builder: 'snapshot',
    script: at('scripts/setup-template.sh'),
    templateDomain: 'openstack.org',
    username: 'centos',
    validate: true,
    validateScript: at('scripts/validate-node.sh'),
    envVars: {},
    keepFormats: [],
    rebuildAge: 86400,
    buildTimeout: 28800,
    pause: false,
    pythonPath: 'auto',
    dibCmd: 'disk-image-create',
    deleteAfterUpload: false,
  });

  const provider = config.providers[0];
  assert.ok(provider);
  assert.equal(provider.maxConcurrency, 10);
  assert.equal(provider.rate, 1);
  assert.equal(provider.hostnameFormat, '{label.name}-{provider.name}-{node.id}');
  assert.equal(provider.imageNameFormat, '{image_name}-{timestamp}');
  assert.equal(provider.postUploadHook, at('scripts/post-upload-hook.sh'));
  assert.equal(provider.imageUploadTimeout, 3600);
  assert.deepEqual(provider.diskimages, [
    {
      name: 'ubuntu-precise',
      pause: false,
      configDrive: true,
      meta: { key: 'value', key2: 'value' },
      connectionPort: 22,
    },
    {
      name: 'centos-snapshot',
      pause: false,
      configDrive: true,
      meta: {},
      baseImage: 'centos-9-stream',
      flavorName: 'm1.small',
      privateKey: at('template-key'),
      connectionPort: 22,
      networkChoice: ['private'],
      // The diskimage's username, since the entry names none.
      username: 'centos',
    },
  ]);
  assert.deepEqual(provider.cloudImages, [
    {
      name: 'trusty-external',
      configDrive: false,
      imageName: 'ubuntu-trusty-cloudimg',
      username: 'ubuntu',
      pythonPath: 'auto',
      connectionPort: 2022,
    },
    { name: 'trusty-by-id', imageId: '8e4b4a7c-0d3a-4b2a-9a1e-1f2e3d4c5b6a', pythonPath: 'auto', connectionPort: 22 },
  ]);
  const pool = provider.pools[0];
  assert.ok(pool);
  assert.deepEqual(
    { ...pool, labels: pool.labels.length },
    {
      name: 'main',
      maxServers: 96,
      maxCores: 200,
      maxRam: 16384,
      ignoreProviderQuota: false,
      availabilityZones: ['az1'],
      networks: ['some-network-name'],
      networkChoice: ['some-network-name'],
      securityGroups: ['zuul-security-group'],
      autoFloatingIp: false,
      hostKeyChecking: true,
      labels: 4,
    },
  );
  assert.deepEqual(pool.labels[0], {
    name: 'my-precise',
    diskimage: 'ubuntu-precise',
    image: { diskimage: 'ubuntu-precise' },
    flavorName: 'something to match',
    minRam: 8192,
    keyName: 'infra-root-keys',
    consoleLog: true,
    bootFromVolume: false,
    volumeSize: 50,
    instanceProperties: {},
  });
  assert.deepEqual(pool.labels[1], {
    name: 'multi-precise',
    diskimage: 'ubuntu-precise',
    image: { diskimage: 'ubuntu-precise' },
    flavorName: 'm1.large',
    bootFromVolume: true,
    volumeSize: 80,
    networkChoice: ['public', 'private'],
    consoleLog: false,
    // A number where text is expected is its text, as written.
    instanceProperties: { a_key: 'a_value', build: '42' },
    userdata: '#cloud-config\npackage_upgrade: true\n',
  });
  assert.deepEqual(pool.labels[2]?.image, { cloudImage: 'trusty-external' });
  assert.equal(pool.labels[2]?.diskimage, undefined);
});

test('each replaced key loads with a one-line notice at the key, saying what replaces it', () => {
  const { notices } = load(REFERENCE);
  assert.deepEqual(notices.map(formatIssue), [
    `${REFERENCE}:4:1: webapp: notice: nodepool's webapp is replaced by our status endpoints (/image-list, /node-list, …, /metrics), which listen on its port and listen_address`,
    `${REFERENCE}:13:1: zookeeper-servers: notice: nodepool's zookeeper-servers is not used: Temporal coordinates the workers instead of ZooKeeper (see the temporal section)`,
    `${REFERENCE}:18:1: zookeeper-tls: notice: nodepool's zookeeper-tls is not used: Temporal coordinates the workers instead of ZooKeeper (see the temporal section)`,
    `${REFERENCE}:23:1: zookeeper-timeout: notice: nodepool's zookeeper-timeout is not used: Temporal coordinates the workers instead of ZooKeeper (see the temporal section)`,
    `${REFERENCE}:89:5: providers[0].nodepool-id: notice: nodepool-id is deprecated in nodepool and not used: servers and images are recognised by their provider's tags`,
    `${REFERENCE}:93:5: providers[0].clean-floating-ips: notice: clean-floating-ips is not used: the driver allocates no floating IPs, so none are left to clean`,
  ]);
  // Every replaced key of keys.ts is among them.
  const replaced = SECTIONS.flatMap((s) => s.keys.filter((k) => k.status === 'replaced' && s.at).map((k) => k.key));
  assert.deepEqual(
    notices.map((n) => n.path.split('.').pop()),
    replaced,
  );
});

/** A small valid file, as data, to which one key at a time is added. */
function minimal(): Record<string, unknown> {
  return {
    labels: [{ name: 'small' }],
    diskimages: [{ name: 'ubuntu', elements: ['ubuntu-minimal'] }],
    providers: [
      {
        name: 'east',
        cloud: 'east',
        diskimages: [{ name: 'ubuntu' }],
        'cloud-images': [{ name: 'cirros' }],
        pools: [
          { name: 'main', 'max-servers': 2, labels: [{ name: 'small', diskimage: 'ubuntu', 'flavor-name': 'm1' }] },
        ],
      },
    ],
  };
}

const SAMPLE: Record<string, unknown> = {
  count: 1,
  'count (MiB)': 1024,
  seconds: 600,
  string: 'x',
  map: { a: 'b' },
  list: [{ 'tenant-name': 't', 'max-servers': 2 }],
};

test('each key not supported yet is one error at the key: "KEY is nodepool\'s but not supported yet"', () => {
  let checked = 0;
  for (const section of SECTIONS) {
    if (!section.at) continue;
    for (const key of section.keys) {
      if (key.status !== 'not-yet') continue;
      const data = minimal();
      const [target] = mappingsAt(
        data,
        section.at.map((s) => (s === '*' ? '*' : s)),
      );
      assert.ok(target, `minimal() has a ${section.prefix} mapping`);
      target[key.key] = SAMPLE[key.type] ?? 'x';
      const text = stringify(data);
      const issues = configIssues(text);
      assert.equal(issues.length, 1, `${section.prefix}${key.key}: ${issues.map(formatIssue).join('\n')}`);
      const issue = issues[0] as ConfigIssue;
      assert.equal(issue.message, `${key.key} is nodepool's but not supported yet`);
      assert.match(issue.path, new RegExp(`(^|\\.)${key.key}$`));
      const line = text.split('\n')[(issue.line ?? 0) - 1] ?? '';
      assert.ok(line.slice((issue.column ?? 1) - 1).startsWith(`${key.key}:`), `${issue.line}:${issue.column} ${line}`);
      checked++;
    }
  }
  assert.equal(checked, 13);
});

test("min-ready: -1 (a disabled label) is nodepool's but not supported yet", () => {
  const issues = configIssues('labels:\n  - name: a\n    min-ready: -1\n');
  assert.deepEqual(issues.map(formatIssue), [
    "nodepool.yaml:3:16: labels[0].min-ready: min-ready -1 (the label disabled) is nodepool's but not supported yet; use 0, or remove the label from its pools",
  ]);
});

test('tenant-resource-limits is one error at the key, whatever it holds', () => {
  const issues = configIssues(
    'tenant-resource-limits:\n  - tenant-name: tenant1\n    max-servers: 10\n    max-cores: 200\n    max-ram: 800\n',
  );
  assert.deepEqual(issues.map(formatIssue), [
    "nodepool.yaml:1:1: tenant-resource-limits: tenant-resource-limits is nodepool's but not supported yet",
  ]);
});

const OTHER_DRIVER_PROVIDERS: Record<(typeof OTHER_DRIVERS)[number], string[]> = {
  static: [
    'pools:',
    '  - name: main',
    '    nodes:',
    '      - name: trusty.example.com',
    '        labels: trusty-static',
  ],
  kubernetes: [
    'context: admin-cluster.local',
    'pools:',
    '  - name: main',
    '    labels: [{name: kubernetes-namespace, type: namespace}]',
  ],
  openshift: [
    'context: self-provisioner',
    'pools:',
    '  - name: main',
    '    labels: [{name: openshift-project, type: project}]',
  ],
  openshiftpods: [
    'context: pod-provisioner',
    'pools:',
    '  - name: main',
    '    labels: [{name: openshift-pod, image: docker.io/fedora:28}]',
  ],
  aws: [
    'region-name: us-west-2',
    'cloud-images: [{name: debian9, image-id: ami-09c308526d9534717}]',
    'pools:',
    '  - name: main',
    '    max-servers: 5',
    '    labels: [{name: debian9, cloud-image: debian9, instance-type: t3.medium}]',
  ],
  azure: [
    'location: centralus',
    'resource-group: nodepool',
    'auth-path: /etc/azure.json',
    'subnet-id: /subscriptions/x',
    'pools: [{name: main}]',
  ],
  gce: [
    'project: sample-project',
    'region: us-central1',
    'zone: us-central1-a',
    'pools: [{name: main, max-servers: 8}]',
  ],
  ibmvpc: ['vpc: nodepool', 'region: us-south', 'subnet: sn-nodepool', 'pools: [{name: main, zone: us-south-1}]'],
  metastatic: [
    'pools:',
    '  - name: main',
    '    max-servers: 10',
    '    labels: [{name: small-node, backing-label: large-node, max-parallel-jobs: 2}]',
  ],
};

test('a provider of another nodepool driver is one error at its driver line', () => {
  for (const driver of OTHER_DRIVERS) {
    const body = OTHER_DRIVER_PROVIDERS[driver].map((l) => `    ${l}`);
    const text = [
      'labels: [{name: a}]',
      'providers:',
      `  - name: ${driver}-provider`,
      `    driver: ${driver}`,
      ...body,
      '',
    ].join('\n');
    assert.deepEqual(
      configIssues(text).map(formatIssue),
      [`nodepool.yaml:4:13: providers[0].driver: driver ${driver} is not supported yet`],
      driver,
    );
  }
});

test('a driver nodepool does not have either is a value error with the choices', () => {
  assert.deepEqual(configIssues('providers:\n  - name: p\n    driver: foo\n').map(formatIssue), [
    'nodepool.yaml:3:13: providers[0].driver: expected one of openstack, simulator, found "foo"',
  ]);
});

test('keys.ts and the schema agree: every key parsed is listed, every key listed as loading is parsed', () => {
  for (const section of SECTIONS) {
    const parsed = SCHEMA_KEYS.get(section.id);
    if (!section.at) {
      assert.equal(parsed, undefined, `${section.id} is documented only`);
      continue;
    }
    assert.ok(parsed, `the schema has section ${section.id}`);
    const listed = new Map(section.keys.map((k) => [k.key, k.status]));
    for (const key of parsed)
      assert.ok(
        listed.get(key) !== undefined && listed.get(key) !== 'not-yet',
        `${section.prefix}${key} is parsed but keys.ts says ${listed.get(key) ?? 'nothing'}`,
      );
    for (const [key, status] of listed)
      if (status === 'implemented' || status === 'extension')
        assert.ok(parsed.includes(key), `${section.prefix}${key} is ${status} in keys.ts but not parsed`);
  }
  assert.deepEqual(
    [...SCHEMA_KEYS.keys()].sort(),
    SECTIONS.filter((s) => s.at)
      .map((s) => s.id)
      .sort(),
  );
});

test("docs/configuration.md's key table is the one generated from keys.ts (npm run docs:config)", async () => {
  const page = readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8');
  assert.equal(await withKeyTable(page), page, 'the key table drifted: run npm run docs:config');
  // Every key has its row.
  for (const section of SECTIONS)
    for (const key of section.keys)
      assert.ok(page.includes(`| \`${section.prefix}${key.key}\``), `${section.prefix}${key.key}`);
});
