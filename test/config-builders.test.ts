// Our keys for building and booting: builder script and snapshot (with their provider entries), scripts that
// must exist and be executable, validation, template names, networks, cloud-image labels and name formats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  formatHostname,
  formatImageName,
  formatIssue,
  imageFormatsForDiskimage,
  loadConfig,
  parseConfig,
  templateServerName,
  type Config,
} from '../config/index.ts';
import { y } from './support/config.ts';

/** A directory holding nodepool.yaml and the scripts it names: run.sh (executable) and plain.sh (not). */
function workspace(): string {
  const dir = mkdtempSync(join(tmpdir(), 'nodepool-builders-'));
  mkdirSync(join(dir, 'scripts'));
  writeFileSync(join(dir, 'scripts', 'run.sh'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  writeFileSync(join(dir, 'scripts', 'plain.sh'), '#!/bin/sh\nexit 0\n', { mode: 0o644 });
  chmodSync(join(dir, 'scripts', 'plain.sh'), 0o644);
  writeFileSync(join(dir, 'key'), 'not a real key\n', { mode: 0o600 });
  return dir;
}

function loadIn(dir: string, text: string): Config {
  const file = join(dir, 'nodepool.yaml');
  writeFileSync(file, text);
  return loadConfig(file, { onNotice: () => undefined });
}

function issuesIn(dir: string, text: string): string[] {
  try {
    loadIn(dir, text);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => formatIssue({ ...i, file: 'nodepool.yaml' }));
    throw err;
  }
  assert.fail('the configuration was accepted');
}

/** One provider `east` listing diskimage `img` (lines 1-8), then the diskimage's lines. */
function withImage(providerEntry: string[], image: string[]): string {
  return y(
    'labels: [{name: small}]',
    'providers:',
    '  - name: east',
    '    cloud: east',
    '    diskimages:',
    '      - name: img',
    ...providerEntry.map((l) => `        ${l}`),
    '    pools: [{name: main, max-servers: 1, labels: [{name: small, diskimage: img, flavor-name: m1}]}]',
    'diskimages:',
    '  - name: img',
    ...image.map((l) => `    ${l}`),
  );
}

test('builder script: the script, relative to the file, must exist and be executable', () => {
  const dir = workspace();
  const config = loadIn(dir, withImage([], ['builder: script', 'script: scripts/run.sh']));
  assert.equal(config.diskimages[0]?.script, join(dir, 'scripts', 'run.sh'));
  assert.deepEqual(issuesIn(dir, withImage([], ['builder: script', 'script: scripts/missing.sh'])), [
    `nodepool.yaml:11:13: diskimages[0].script: script ${join(dir, 'scripts', 'missing.sh')} does not exist; fix the path (relative paths start at the directory of the file naming it), or chmod +x it`,
  ]);
  assert.deepEqual(issuesIn(dir, withImage([], ['builder: script', 'script: scripts/plain.sh'])), [
    `nodepool.yaml:11:13: diskimages[0].script: script ${join(dir, 'scripts', 'plain.sh')} is not executable; fix the path (relative paths start at the directory of the file naming it), or chmod +x it`,
  ]);
  assert.deepEqual(issuesIn(dir, withImage([], ['builder: script', 'script: scripts'])), [
    `nodepool.yaml:11:13: diskimages[0].script: script ${join(dir, 'scripts')} is not a file; fix the path (relative paths start at the directory of the file naming it), or chmod +x it`,
  ]);
});

test('builder snapshot: script required, elements and formats refused, base-image and flavor-name per provider', () => {
  const dir = workspace();
  assert.deepEqual(issuesIn(dir, withImage([], ['builder: snapshot', 'elements: [vm]', 'formats: [qcow2]'])), [
    "nodepool.yaml:6:9: providers[0].diskimages[0].base-image: missing required key 'base-image' (diskimage 'img' is built by snapshot: the cloud image its template boots from)",
    "nodepool.yaml:6:9: providers[0].diskimages[0].flavor-name: missing required key 'flavor-name' (diskimage 'img' is built by snapshot: the flavor of its template)",
    "nodepool.yaml:9:5: diskimages[0].script: missing required key 'script' (builder snapshot needs the setup script run on the template)",
    "nodepool.yaml:11:5: diskimages[0].elements: 'elements' needs builder: dib (this is snapshot)",
    "nodepool.yaml:12:5: diskimages[0].formats: 'formats' does not apply to builder snapshot: the image is made in the cloud",
  ]);
});

test('builder snapshot: the provider entry, the login defaulting to the diskimage username, else root', () => {
  const dir = workspace();
  const entry = [
    'base-image: ubuntu-22.04',
    'flavor-name: m1.small',
    'private-key: key',
    'networks: [private, 0b5ee5a9-public]',
  ];
  const config = loadIn(
    dir,
    withImage(entry, ['builder: snapshot', 'script: scripts/run.sh', 'template-domain: openstack.org']),
  );
  assert.deepEqual(config.providers[0]?.diskimages[0], {
    name: 'img',
    pause: false,
    configDrive: true,
    meta: {},
    baseImage: 'ubuntu-22.04',
    flavorName: 'm1.small',
    privateKey: join(dir, 'key'),
    connectionPort: 22,
    networkChoice: ['private', '0b5ee5a9-public'],
    username: 'root',
  });
  const image = config.diskimages[0];
  assert.ok(image);
  assert.equal(image.builder, 'snapshot');
  assert.equal(image.templateDomain, 'openstack.org');
  // Nothing is built locally: no formats, whatever the providers upload.
  assert.deepEqual(imageFormatsForDiskimage(config, 'img'), new Set());
  const withUser = loadIn(
    dir,
    withImage(entry.slice(0, 2), ['builder: snapshot', 'script: scripts/run.sh', 'username: ubuntu']),
  );
  assert.equal(withUser.providers[0]?.diskimages[0]?.username, 'ubuntu');
  assert.equal(withUser.providers[0]?.diskimages[0]?.networkChoice, 'auto');
  const own = loadIn(
    dir,
    withImage(
      [...entry.slice(0, 2), 'username: cloud-user'],
      ['builder: snapshot', 'script: scripts/run.sh', 'username: ubuntu'],
    ),
  );
  assert.equal(own.providers[0]?.diskimages[0]?.username, 'cloud-user');
  assert.deepEqual(
    issuesIn(
      dir,
      withImage([...entry.slice(0, 2), 'private-key: nokey'], ['builder: snapshot', 'script: scripts/run.sh']),
    ),
    [
      `nodepool.yaml:9:22: providers[0].diskimages[0].private-key: private-key ${join(dir, 'nokey')} does not exist; fix the path`,
    ],
  );
});

test('template servers are named <image>-<version>.template.<template-domain>, as the 2014 seed shows', () => {
  assert.equal(
    templateServerName({ name: 'devstack-precise', templateDomain: 'openstack.org' }, 1394514268),
    'devstack-precise-1394514268.template.openstack.org',
  );
  const config = parseConfig(y('diskimages: [{name: d, builder: snapshot, script: /bin/true}]'), 'nodepool.yaml');
  assert.equal(templateServerName(config.diskimages[0] as never, 7), 'd-7.template.nodepool.local');
  assert.deepEqual(issuesIn(workspace(), y('diskimages: [{name: d, template-domain: "not a domain"}]')), [
    'nodepool.yaml:1:41: diskimages[0].template-domain: expected a DNS domain like openstack.org, found "not a domain"',
  ]);
});

test('snapshot keys on the entry of a diskimage built otherwise are errors at the key', () => {
  const dir = workspace();
  assert.deepEqual(issuesIn(dir, withImage(['base-image: x', 'networks: none'], ['elements: [vm]'])), [
    "nodepool.yaml:7:9: providers[0].diskimages[0].base-image: 'base-image' needs diskimage 'img' to be built with builder: snapshot (it is dib)",
    "nodepool.yaml:8:9: providers[0].diskimages[0].networks: 'networks' needs diskimage 'img' to be built with builder: snapshot (it is dib)",
  ]);
});

test('validate and validate-script: the script needs validate: true and must be executable', () => {
  const dir = workspace();
  const config = loadIn(dir, withImage([], ['elements: [vm]', 'validate: true', 'validate-script: scripts/run.sh']));
  assert.equal(config.diskimages[0]?.validate, true);
  assert.equal(config.diskimages[0]?.validateScript, join(dir, 'scripts', 'run.sh'));
  assert.deepEqual(issuesIn(dir, withImage([], ['elements: [vm]', 'validate-script: scripts/run.sh'])), [
    "nodepool.yaml:11:5: diskimages[0].validate-script: 'validate-script' needs validate: true",
  ]);
  assert.deepEqual(
    issuesIn(dir, withImage([], ['elements: [vm]', 'validate: true', 'validate-script: scripts/plain.sh'])),
    [
      `nodepool.yaml:12:22: diskimages[0].validate-script: validate-script ${join(dir, 'scripts', 'plain.sh')} is not executable; fix the path (relative paths start at the directory of the file naming it), or chmod +x it`,
    ],
  );
});

test('post-upload-hook must be an executable file', () => {
  const dir = workspace();
  const text = (hook: string): string =>
    y('providers:', '  - name: east', '    cloud: east', `    post-upload-hook: ${hook}`);
  assert.equal(loadIn(dir, text('scripts/run.sh')).providers[0]?.postUploadHook, join(dir, 'scripts', 'run.sh'));
  assert.deepEqual(issuesIn(dir, text('/nonexistent/hook')), [
    'nodepool.yaml:4:23: providers[0].post-upload-hook: post-upload-hook /nonexistent/hook does not exist; fix the path (relative paths start at the directory of the file naming it), or chmod +x it',
  ]);
});

test('pool networks: auto, none, or names and UUIDs; an empty list is auto', () => {
  const pools = (networks: string): Config =>
    parseConfig(
      y(
        'providers:',
        '  - name: p',
        '    cloud: p',
        `    pools: [{name: m, max-servers: 1, labels: [], networks: ${networks}}]`,
      ),
      'x.yaml',
    );
  const pool = (networks: string) => pools(networks).providers[0]?.pools[0];
  assert.equal(pool('auto')?.networkChoice, 'auto');
  assert.equal(pool('auto')?.networks, undefined);
  assert.equal(pool('none')?.networkChoice, 'none');
  assert.deepEqual(pool('[public, 6f8c2b6e-uuid]')?.networkChoice, ['public', '6f8c2b6e-uuid']);
  assert.deepEqual(pool('[public, 6f8c2b6e-uuid]')?.networks, ['public', '6f8c2b6e-uuid']);
  assert.equal(pool('[]')?.networkChoice, 'auto');
  assert.equal(pools('auto').providers[0]?.pools[0]?.networkChoice, 'auto');
  const noNetworks = parseConfig(
    y('providers: [{name: p, cloud: p, pools: [{name: m, max-servers: 1, labels: []}]}]'),
    'x.yaml',
  );
  assert.equal(noNetworks.providers[0]?.pools[0]?.networkChoice, 'auto');
  assert.deepEqual(
    issuesIn(
      workspace(),
      y('providers: [{name: p, cloud: p, pools: [{name: m, max-servers: 1, labels: [], networks: some}]}]'),
    ),
    [
      'nodepool.yaml:1:89: providers[0].pools[0].networks: expected auto, none, or a list of network names or UUIDs, found "some"',
    ],
  );
});

/** A provider with cloud image `cirros` and a pool whose one label's image keys are `label`. */
function cloudLabel(label: string, cloudImage = '{name: cirros}'): string {
  return y(
    'labels: [{name: small}]',
    'diskimages: [{name: ubuntu, elements: [vm]}]',
    'providers:',
    '  - name: east',
    '    cloud: east',
    '    diskimages: [{name: ubuntu}]',
    `    cloud-images: [${cloudImage}]`,
    `    pools: [{name: main, max-servers: 1, labels: [{name: small, flavor-name: m1, ${label}}]}]`,
  );
}

test("pool labels boot a diskimage or a cloud image: exactly one, and the cloud image must be the provider's", () => {
  const config = parseConfig(cloudLabel('cloud-image: cirros, boot-from-volume: true'), 'x.yaml');
  const label = config.providers[0]?.pools[0]?.labels[0];
  assert.deepEqual(label?.image, { cloudImage: 'cirros' });
  assert.equal(label?.bootFromVolume, true);
  assert.equal(label?.volumeSize, 50);
  const dir = workspace();
  assert.deepEqual(issuesIn(dir, cloudLabel('cloud-image: cirrus')), [
    "nodepool.yaml:8:95: providers[0].pools[0].labels[0].cloud-image: unknown cloud image 'cirrus', not among provider 'east' cloud-images (cirros) — did you mean 'cirros'?",
  ]);
  assert.deepEqual(issuesIn(dir, cloudLabel('cloud-image: cirros, diskimage: ubuntu')), [
    'nodepool.yaml:8:82: providers[0].pools[0].labels[0].cloud-image: diskimage and cloud-image exclude each other; keep one',
  ]);
  assert.deepEqual(issuesIn(dir, cloudLabel('key-name: k')), [
    "nodepool.yaml:8:51: providers[0].pools[0].labels[0].diskimage: missing required key 'diskimage' (or 'cloud-image'): what the label boots",
  ]);
  assert.deepEqual(
    issuesIn(dir, cloudLabel('cloud-image: cirros', '{name: cirros, image-id: abc, image-name: cirros-0.6}')),
    [
      'nodepool.yaml:7:50: providers[0].cloud-images[0].image-name: image-id and image-name exclude each other; keep one',
    ],
  );
});

test('image-name-format and hostname-format: the fields nodepool fills in, and nothing else', () => {
  const config = parseConfig(
    y(
      'providers:',
      '  - name: rax',
      '    cloud: rax',
      "    image-name-format: 'np-{image_name}-{timestamp}'",
      "    hostname-format: '{{{label.name}}}-{node.id}'",
    ),
    'x.yaml',
  );
  const provider = config.providers[0];
  assert.ok(provider);
  assert.equal(formatImageName(provider, 'ubuntu-noble', 1394514268), 'np-ubuntu-noble-1394514268');
  assert.equal(formatHostname(provider, 'small', 42), '{small}-42');
  const defaults = parseConfig(y('providers: [{name: rax, cloud: rax}]'), 'x.yaml').providers[0];
  assert.ok(defaults);
  assert.equal(formatImageName(defaults, 'ubuntu', 7), 'ubuntu-7');
  assert.equal(formatHostname(defaults, 'small', 42), 'small-rax-42');
  assert.deepEqual(
    issuesIn(
      workspace(),
      y('providers:', '  - name: rax', '    cloud: rax', "    image-name-format: '{image_name}-{build_id}'"),
    ),
    [
      'nodepool.yaml:4:24: providers[0].image-name-format: unknown field {build_id} in "{image_name}-{build_id}"; the fields are {image_name}, {timestamp}',
    ],
  );
});
