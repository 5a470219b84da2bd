// Snapshot builds, nodepool's 2014 way and where the seed's Hostname and Server ID columns come from: a template
// server boots from a base image, the setup script runs on it over SSH, it is snapshotted and deleted. Both after
// success and after failure, nothing is left behind.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adapterForCloud, isOwnedBy } from '../providers/index.ts';
import { plainImage } from './support/glance.ts';
import { createNodepoolEnv, type NodepoolEnv } from './support/nodepool.ts';
import { until } from './support/poll.ts';
import type { ImageListRow } from '../cli/actions/image-list.ts';

let env: NodepoolEnv;
let stopWorker: () => Promise<void>;
const tag = Math.random().toString(36).slice(2, 8);
const image = `devstack-${tag}`;
const provider = `hpcloud-${tag}`;

const SETUP = `#!/bin/sh
set -e
echo "preparing $(pwd)"
echo cached > devstack-cache
echo "setup done"
`;

before(async () => {
  env = await createNodepoolEnv({
    prefix: 'snapshot',
    sim: { knobs: { bootSeconds: { min: 0.05, max: 0.1 } } },
    files: { 'prepare_node.sh': [SETUP, 0o755] },
    config: `
diskimages:
  - name: ${image}
    builder: snapshot
    script: prepare_node.sh
    template-domain: openstack.org
    pause: true
providers:
  - name: ${provider}
    cloud: simcloud
    rate: 0
    boot-timeout: 20
    diskimages:
      - name: ${image}
        base-image: ubuntu-precise
        flavor-name: m1.tiny
        username: jenkins
        connection-port: {{sshPort}}
images-dir: {{dir}}/images
build-log-dir: {{dir}}/logs
temporal:
  address: {{temporal}}
  task-queue: {{taskQueue}}
`,
  });
  await plainImage(env.sim, 'ubuntu-precise', Buffer.alloc(64 * 1024, 3));
  stopWorker = await env.startWorker();
});

after(async () => {
  await stopWorker?.();
  await env?.close();
});

/** A row of `image-list --json`. */
type Row = ImageListRow;

async function rows(): Promise<Row[]> {
  const r = await env.cli(['image-list', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as Row[]).filter((x) => x.image === image);
}

const templates = async () =>
  (await adapterForCloud('simcloud', { env: env.cloudEnv, fresh: true }).listServers()).filter(
    (s) => isOwnedBy(s.metadata, provider) && s.state !== 'deleted',
  );

test("a snapshot build gives the seed's Hostname and Server ID, and deletes its template", async () => {
  const r = await env.cli(['image-build', image, '--wait', '--timeout', '120']);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const [row] = await rows();
  assert.ok(row);
  assert.equal(row.state, 'ready');
  assert.equal(row.hostname, `${image}-${row.version}.template.openstack.org`);
  assert.match(row.serverId, /^[0-9a-f-]{36}$/, 'the template server the image was taken from');
  assert.match(row.imageId, /^[0-9a-f-]{36}$/);
  const table = await env.cli(['image-list']);
  assert.match(
    table.stdout,
    new RegExp(
      `\\| ${image}-${row.version}\\.template\\.openstack\\.org +\\| ${row.version} +\\| ${row.imageId} +\\| ${row.serverId} +\\| ready `,
    ),
  );
  // The snapshot is an active image in the cloud; the template is gone.
  const snapshot = await adapterForCloud('simcloud', { env: env.cloudEnv, fresh: true }).getImage(row.imageId);
  assert.equal(snapshot.state, 'active');
  await until('the template to be deleted', async () => ((await templates()).length === 0 ? true : undefined));
  // The setup script really ran on the template, its output in the build log.
  const log = readFileSync(join(env.config.buildLogDir, `${image}-${row.version}.log`), 'utf8');
  assert.match(log, /preparing .*\n.*setup done/s);
  assert.match(log, /host key ssh-ed25519 /);
});

test('a setup script that fails leaves no template and no snapshot behind, and says why', async () => {
  writeFileSync(join(env.dir, 'prepare_node.sh'), '#!/bin/sh\necho "apt mirror unreachable" >&2\nexit 100\n', {
    mode: 0o755,
  });
  const before = (await adapterForCloud('simcloud', { env: env.cloudEnv, fresh: true }).listImages()).map((i) => i.id);
  const r = await env.cli(['image-build', image, '--wait', '--timeout', '300']);
  assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stderr, /exited 100/);
  const failed = (await rows()).sort((a, b) => b.version - a.version)[0] as Row;
  assert.equal(failed.state, 'failed');
  assert.match(failed.reason ?? '', /setup script .* exited 100/);
  await until('no template left', async () => ((await templates()).length === 0 ? true : undefined));
  const after = (await adapterForCloud('simcloud', { env: env.cloudEnv, fresh: true }).listImages()).filter(
    (i) => !before.includes(i.id) && i.state !== 'deleted',
  );
  assert.deepEqual(after, [], 'no half snapshot');
});
