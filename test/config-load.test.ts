// Loading nodepool.yaml: the example file, defaults, durations, paths, every error at once, unreadable files,
// and the formats a diskimage must be built in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative as relativePath, resolve } from 'node:path';
import {
  ConfigError,
  formatIssue,
  imageFormatsForDiskimage,
  loadConfig,
  parseConfig,
  parseDuration,
  type Config,
} from '../config/index.ts';
import { y } from './support/config.ts';

const ROOT = resolve(import.meta.dirname, '..');
const EXAMPLE = join(ROOT, 'nodepool.example.yaml');

function rejected(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  assert.fail('the configuration was accepted');
}

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'nodepool-config-'));
}

test('the example file is valid and reads as documented', () => {
  const config = loadConfig(EXAMPLE);
  assert.deepEqual(
    config.labels.map((l) => [l.name, l.minReady, l.maxReadyAge]),
    [
      ['ubuntu-noble', 2, 8 * 3600],
      ['ubuntu-noble-large', 0, undefined],
      ['tiny', 1, undefined],
    ],
  );
  assert.deepEqual(
    config.providers.map((p) => [p.name, p.driver, p.cloud, p.imageFormat]),
    [
      ['east', 'openstack', 'east-cloud', undefined],
      ['rax-dfw', 'openstack', 'rackspace', 'vhd'],
      ['local-sim', 'simulator', undefined, undefined],
    ],
  );
  const [east, rax, sim] = config.providers;
  assert.equal(east?.rate, 0.5);
  assert.equal(east?.maxConcurrency, 4);
  assert.equal(east?.imageUploadTimeout, 2 * 3600);
  assert.equal(east?.pools[0]?.maxServers, 10);
  assert.equal(east?.pools[0]?.maxCores, 80);
  assert.deepEqual(east?.pools[0]?.labels[0], {
    name: 'ubuntu-noble',
    diskimage: 'ubuntu-noble',
    image: { diskimage: 'ubuntu-noble' },
    flavorName: 'm1.medium',
    keyName: 'nodepool',
    bootFromVolume: false,
    volumeSize: 50,
    consoleLog: false,
    instanceProperties: {},
  });
  assert.deepEqual(east?.pools[0]?.networks, ['public']);
  assert.deepEqual(east?.pools[0]?.networkChoice, ['public']);
  // Map keys the operator wrote are data, not configuration keys: they keep their spelling.
  assert.deepEqual(east?.diskimages[0]?.meta, { 'os-distro': 'ubuntu' });
  assert.equal(rax?.diskimages[0]?.configDrive, false);
  assert.equal(rax?.vhdConverter, 'builtin');
  assert.deepEqual(sim?.simulator, {
    seed: 42,
    bootTime: 2,
    regions: ['RegionOne'],
    quota: { instances: 20, cores: 80, ram: 163840 },
  });
  const [ubuntu, tiny] = config.diskimages;
  assert.deepEqual(ubuntu?.envVars, { DIB_CHECKSUM: '1' });
  assert.equal(ubuntu?.release, 'noble');
  assert.equal(ubuntu?.rebuildAge, 86400);
  assert.equal(tiny?.builder, 'script');
  assert.equal(tiny?.script, join(ROOT, 'scripts', 'build-tiny-image.sh'));
  assert.equal(tiny?.buildTimeout, 4 * 3600);
  assert.equal(config.maxHoldAge, 3 * 86400);
  assert.deepEqual(config.temporal, { address: 'localhost:7233', namespace: 'default', taskQueue: 'nodepool' });
});

test('an empty mapping takes every default', () => {
  const config = parseConfig('{}\n', '/etc/nodepool/nodepool.yaml');
  assert.deepEqual(config, {
    labels: [],
    providers: [],
    diskimages: [],
    webapp: { port: 8005, listenAddress: '127.0.0.1' },
    vhdConverter: 'auto',
    imagesDir: '/var/lib/nodepool/images',
    buildLogDir: '/var/log/nodepool/builds',
    buildLogRetention: 7,
    temporal: { address: 'localhost:7233', namespace: 'default', taskQueue: 'nodepool' },
    database: { dataDir: '/var/lib/nodepool/db' },
  } satisfies Config);
});

test('provider, pool, diskimage and label defaults', () => {
  const config = parseConfig(
    y(
      'labels: [{name: small}]',
      'providers:',
      '  - name: east',
      '    cloud: east',
      '    diskimages: [{name: ubuntu}]',
      '    pools: [{name: main, max-servers: 1, labels: [{name: small, diskimage: ubuntu, flavor-name: f}]}]',
      'diskimages: [{name: ubuntu, elements: [ubuntu-minimal]}]',
    ),
    '/etc/nodepool/nodepool.yaml',
  );
  assert.deepEqual(config.labels, [{ name: 'small', minReady: 0 }]);
  const provider = config.providers[0];
  assert.equal(provider?.driver, 'openstack');
  assert.equal(provider?.rate, 1);
  assert.equal(provider?.bootTimeout, 60);
  assert.equal(provider?.launchTimeout, 3600);
  assert.equal(provider?.launchRetries, 3);
  assert.equal(provider?.imageFormat, undefined);
  assert.equal(provider?.maxConcurrency, undefined);
  assert.equal(provider?.imageUploadTimeout, 3600);
  assert.equal(provider?.imageNameFormat, '{image_name}-{timestamp}');
  assert.equal(provider?.hostnameFormat, '{label.name}-{provider.name}-{node.id}');
  assert.equal(provider?.postUploadHook, undefined);
  assert.deepEqual(provider?.cloudImages, []);
  assert.deepEqual(provider?.diskimages, [
    { name: 'ubuntu', pause: false, configDrive: true, meta: {}, connectionPort: 22 },
  ]);
  assert.deepEqual(provider?.pools[0], {
    name: 'main',
    maxServers: 1,
    ignoreProviderQuota: false,
    networkChoice: 'auto',
    autoFloatingIp: true,
    hostKeyChecking: true,
    labels: [
      {
        name: 'small',
        diskimage: 'ubuntu',
        image: { diskimage: 'ubuntu' },
        flavorName: 'f',
        bootFromVolume: false,
        volumeSize: 50,
        consoleLog: false,
        instanceProperties: {},
      },
    ],
  });
  assert.deepEqual(config.diskimages[0], {
    name: 'ubuntu',
    builder: 'dib',
    elements: ['ubuntu-minimal'],
    rebuildAge: 86400,
    buildTimeout: 28800,
    pause: false,
    envVars: {},
    pythonPath: 'auto',
    dibCmd: 'disk-image-create',
    keepFormats: [],
    deleteAfterUpload: false,
    templateDomain: 'nodepool.local',
    validate: false,
  });
});

test('YAML anchors and merge keys share settings between providers', () => {
  const config = parseConfig(
    y(
      'labels: [{name: small}]',
      'diskimages: [{name: x, elements: [e]}]',
      'providers:',
      '  - &defaults',
      '    name: east',
      '    cloud: east',
      '    rate: 0.25',
      '    diskimages: [{name: x}]',
      '  - <<: *defaults',
      '    name: west',
      '    cloud: west',
    ),
    'nodepool.yaml',
  );
  assert.deepEqual(
    config.providers.map((p) => [p.name, p.cloud, p.rate, p.diskimages.map((d) => d.name)]),
    [
      ['east', 'east', 0.25, ['x']],
      ['west', 'west', 0.25, ['x']],
    ],
  );
});

test('durations in seconds or with units', () => {
  assert.equal(parseDuration('90'), 90);
  assert.equal(parseDuration('90s'), 90);
  assert.equal(parseDuration('15m'), 900);
  assert.equal(parseDuration('24h'), 86400);
  assert.equal(parseDuration('1d12h'), 129600);
  assert.equal(parseDuration('1.5h'), 5400);
  assert.equal(parseDuration('1y'), undefined);
  assert.equal(parseDuration('h'), undefined);
  assert.equal(parseDuration('-5m'), undefined);
  assert.equal(parseDuration(''), undefined);
});

test('relative paths are anchored at the directory holding the file', () => {
  const dir = scratch();
  const file = join(dir, 'nodepool.yaml');
  writeFileSync(file, y('images-dir: images', 'build-log-dir: /abs/logs', 'database:', '  data-dir: ./db'));
  const config = loadConfig(file);
  assert.equal(config.imagesDir, join(dir, 'images'));
  assert.equal(config.buildLogDir, '/abs/logs');
  assert.equal(config.database.dataDir, join(dir, 'db'));
});

test('every structural error is reported at once, in file order', () => {
  const err = rejected(() =>
    parseConfig(
      y(
        'labels:',
        '  - name: a',
        '    min-redy: 1',
        '  - name: b',
        '    min-ready: -1',
        'providers:',
        '  - name: p',
        '    rate: fast',
        '    image-format: vdh',
        '    pools:',
        '      - name: main',
        '        max-server: 3',
        '        labels:',
        '          - name: a',
        '            diskimage: x',
        'diskimages:',
        '  - name: x',
        '    formats: qcow2',
        '    rebuild-age: 1y',
        '    env-vars:',
        '      A: [1]',
        'zuul-servers: []',
      ),
      'bad.yaml',
    ),
  );
  assert.deepEqual(
    err.issues.map((i) => `${i.line}:${i.column} ${i.path}`),
    [
      '3:5 labels[0].min-redy',
      '5:16 labels[1].min-ready',
      '8:11 providers[0].rate',
      '9:19 providers[0].image-format',
      '11:9 providers[0].pools[0].max-servers',
      '12:9 providers[0].pools[0].max-server',
      '14:13 providers[0].pools[0].labels[0].flavor-name',
      '18:14 diskimages[0].formats',
      '19:18 diskimages[0].rebuild-age',
      '21:10 diskimages[0].env-vars.A',
      '22:1 zuul-servers',
    ],
  );
  assert.ok(err.issues.every((i) => i.file === 'bad.yaml'));
  assert.match(err.message, /^bad\.yaml:3:5: labels\[0\]\.min-redy: unknown key .* \(and 10 more\)$/);
  assert.equal(err.format().split('\n').length, 11);
});

test('every cross-reference error is reported at once', () => {
  const err = rejected(() =>
    parseConfig(
      y(
        'labels:',
        '  - name: a',
        '    min-ready: 5',
        '  - name: a',
        'providers:',
        '  - name: p',
        '    diskimages: [{name: x}, {name: nope}]',
        '    pools:',
        '      - name: main',
        '        max-servers: 3',
        '        labels:',
        '          - {name: a, diskimage: x, flavor-name: f}',
        '          - {name: b, diskimage: z, flavor-name: f}',
        '  - name: p',
        '    cloud: c',
        'diskimages:',
        '  - name: x',
        '    builder: script',
      ),
      'refs.yaml',
    ),
  );
  assert.deepEqual(
    err.issues.map((i) => `${i.line}:${i.column} ${i.path}`),
    [
      '3:16 labels[0].min-ready',
      '4:11 labels[1].name',
      '6:5 providers[0].cloud',
      '7:36 providers[0].diskimages[1].name',
      '13:20 providers[0].pools[0].labels[1].name',
      '13:34 providers[0].pools[0].labels[1].diskimage',
      '14:11 providers[1].name',
      '17:5 diskimages[0].script',
    ],
  );
});

test('vhd-converter vhd-util is accepted when vhd-util is on PATH or at the configured path', () => {
  const dir = scratch();
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'vhd-util'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  const text = y(
    'vhd-converter: vhd-util',
    'providers:',
    '  - name: rax',
    '    cloud: rax',
    '    image-format: vhd',
    '    diskimages: [{name: x}]',
    'diskimages: [{name: x, elements: [e]}]',
  );
  const file = join(dir, 'nodepool.yaml');
  assert.equal(parseConfig(text, file, { env: { PATH: bin } }).providers[0]?.imageFormat, 'vhd');
  const anchored = parseConfig(`vhd-util: bin/vhd-util\n${text}`, file, { env: { PATH: '' } });
  assert.equal(anchored.vhdUtil, join(bin, 'vhd-util'));
  // A relative PATH entry is ignored, as the conversion ignores it: both must agree on what runs.
  const relative = rejected(() => parseConfig(text, file, { env: { PATH: relativePath(process.cwd(), bin) } }));
  assert.match(formatIssue(relative.issues[0]!), /no vhd-util was found on PATH/);
  // Present but not executable is as good as absent.
  chmodSync(join(bin, 'vhd-util'), 0o644);
  const err = rejected(() => parseConfig(text, file, { env: { PATH: bin } }));
  assert.match(formatIssue(err.issues[0]!), /no vhd-util was found on PATH/);
});

test('vhd-converter auto with no vhd-util anywhere is accepted: the built-in converter makes the VHD', () => {
  const config = parseConfig(
    y(
      'providers:',
      '  - {name: rax, cloud: rax, image-format: vhd, diskimages: [{name: x}]}',
      'diskimages: [{name: x, elements: [e]}]',
    ),
    'nodepool.yaml',
    { env: { PATH: scratch() } },
  );
  assert.equal(config.vhdConverter, 'auto');
});

test('the example in docs/configuration.md is valid', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8');
  const example = /## Example\n\n```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(example, 'docs/configuration.md has an "## Example" yaml block');
  const config = parseConfig(example, 'docs/configuration.md');
  assert.deepEqual(
    config.providers.map((p) => p.name),
    ['east', 'local-sim'],
  );
});

test('a missing file is a clear error', () => {
  const file = join(scratch(), 'nodepool.yaml');
  const err = rejected(() => loadConfig(file));
  assert.deepEqual(err.issues, [
    { file, path: '', message: 'no such file; name the configuration with -c/--config or NODEPOOL_CONFIG' },
  ]);
  assert.equal(err.format(), `${file}: no such file; name the configuration with -c/--config or NODEPOOL_CONFIG`);
});

test('a directory is a clear error', () => {
  const dir = scratch();
  const err = rejected(() => loadConfig(dir));
  assert.equal(err.format(), `${dir}: is a directory; expected a nodepool.yaml file`);
});

test('an unreadable file is a clear error', () => {
  const dir = scratch();
  const file = join(dir, 'nodepool.yaml');
  writeFileSync(file, 'labels: []\n', { mode: 0o000 });
  if (process.getuid?.() !== 0) {
    const err = rejected(() => loadConfig(file));
    assert.equal(err.format(), `${file}: cannot read the file: permission denied`);
    return;
  }
  // Root reads files whatever their mode, so the real CLI runs as nobody to meet the permission check.
  chmodSync(dir, 0o755);
  const r = spawnSync(
    'runuser',
    ['-u', 'nobody', '--', process.execPath, join(ROOT, 'cli', 'main.ts'), 'config-validate', '-c', file],
    { encoding: 'utf8', cwd: '/' },
  );
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`${file}: cannot read the file: permission denied`));
});

test('imageFormatsForDiskimage: provider image-format, clouds.yaml format, the formats list, qcow2 otherwise', () => {
  const config = loadConfig(EXAMPLE);
  // tiny: formats [qcow2, vhd]; providers east (no image-format) and rax-dfw (vhd).
  assert.deepEqual(imageFormatsForDiskimage(config, 'tiny'), new Set(['qcow2', 'vhd']));
  // ubuntu-noble: no formats list; providers east and local-sim, neither with image-format.
  assert.deepEqual(imageFormatsForDiskimage(config, 'ubuntu-noble'), new Set(['qcow2']));
  assert.deepEqual(imageFormatsForDiskimage(config, 'ubuntu-noble', 'raw'), new Set(['raw']));
  assert.deepEqual(
    imageFormatsForDiskimage(config, 'ubuntu-noble', (p) => (p.name === 'east' ? 'raw' : undefined)),
    new Set(['raw', 'qcow2']),
  );
  // A provider's own image-format wins over its cloud's.
  assert.deepEqual(imageFormatsForDiskimage(config, 'tiny', 'raw'), new Set(['qcow2', 'vhd', 'raw']));
  assert.throws(() => imageFormatsForDiskimage(config, 'nope'), /unknown diskimage 'nope'/);
});

test('imageFormatsForDiskimage: an image no provider uses is built only in its listed formats', () => {
  const config = parseConfig(
    y('diskimages:', '  - {name: spare, elements: [e]}', '  - {name: listed, elements: [e], formats: [raw]}'),
    'x.yaml',
  );
  assert.deepEqual(imageFormatsForDiskimage(config, 'spare'), new Set());
  assert.deepEqual(imageFormatsForDiskimage(config, 'listed'), new Set(['raw']));
});
