// Builds when a cloud misbehaves: one provider whose uploads keep failing ends FAILED with its reason while the
// others (here a Xen-style cloud taking a real VHD) are READY; `image-build --retry` then uploads only to the
// provider that failed, reusing the build's files instead of building again.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImageBuild, ImageUpload } from '../db/entities/index.ts';
import { adapterForCloud, isOwnedBy } from '../providers/index.ts';
import { BUILD_SCRIPT } from './support/build-script.ts';
import { createNodepoolEnv, type NodepoolEnv } from './support/nodepool.ts';
import type { ImageListRow } from '../cli/actions/image-list.ts';

let env: NodepoolEnv;
let stopWorker: () => Promise<void>;
const tag = Math.random().toString(36).slice(2, 8);
const image = `faulty-${tag}`;
const xen = `xen-${tag}`;
const flaky = `flaky-${tag}`;

before(async () => {
  env = await createNodepoolEnv({
    prefix: 'build-faults',
    files: { 'build.sh': [BUILD_SCRIPT, 0o755] },
    extraClouds: {
      badcloud: { knobs: { faults: [{ operation: 'image.upload', kind: 'error500', rate: 1 }] } },
    },
    config: `
diskimages:
  - name: ${image}
    builder: script
    script: build.sh
    env-vars: { COUNT_FILE: '{{dir}}/runs', SIZE_MB: '6' }
providers:
  - name: ${xen}
    cloud: simcloud
    image-format: vhd
    vhd-converter: builtin
    diskimages: [{name: ${image}, meta: {os_distro: debian}}]
  - name: ${flaky}
    cloud: badcloud
    image-upload-timeout: 15
    diskimages: [{name: ${image}}]
images-dir: {{dir}}/images
build-log-dir: {{dir}}/logs
temporal:
  address: {{temporal}}
  task-queue: {{taskQueue}}
`,
  });
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

test('a provider whose uploads keep failing ends FAILED with its reason; the VHD cloud gets a real VHD', async () => {
  const r = await env.cli(['image-build', image, '--wait', '--timeout', '240']);
  assert.equal(r.code, 1, `a partly failed build exits 1:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /: partly-failed/);
  assert.match(r.stdout, new RegExp(`\\| ${flaky} +\\| failed`));
  assert.match(r.stdout, new RegExp(`\\| ${xen} +\\| ready`));

  const list = await rows();
  const xenRow = list.find((x) => x.provider === xen) as Row;
  const flakyRow = list.find((x) => x.provider === flaky) as Row;
  assert.equal(xenRow.state, 'ready');
  assert.equal(flakyRow.state, 'failed');
  assert.match(flakyRow.reason ?? '', /500|Internal Server Error|timed out|timeout/i, flakyRow.reason);
  const table = await env.cli(['image-list']);
  assert.match(table.stdout, new RegExp(`Notes:\\n(.*\\n)*  ${flakyRow.id}: `), 'the reason follows the table');

  // The Xen cloud holds a VHD, made by the built-in converter from this build, with the operator's meta.
  const image0 = await adapterForCloud('simcloud', { env: env.cloudEnv, fresh: true }).getImage(xenRow.imageId);
  assert.equal(image0.diskFormat, 'vhd');
  assert.equal(image0.metadata.os_distro, 'debian');
  const build = await env.orm.em.fork().findOneOrFail(ImageBuild, { image, version: xenRow.version });
  const vhd = build.files.find((f) => f.format === 'vhd');
  assert.equal(vhd?.converter, 'builtin');
  assert.equal(readFileSync(vhd.path).subarray(-512, -504).toString('latin1'), 'conectix', 'a VHD footer');
  assert.equal(image0.size, vhd.size);
  // Nothing of the failed upload is left in the flaky cloud.
  const bad = adapterForCloud('badcloud', { env: env.cloudEnv, fresh: true });
  assert.deepEqual(
    (await bad.listImages()).filter((i) => isOwnedBy(i.metadata, flaky) && i.state === 'active'),
    [],
  );
});

test('image-build --retry uploads only where the build failed, without building again', async () => {
  const before = await rows();
  const failed = before.find((x) => x.provider === flaky && x.state === 'failed') as Row;
  const xenBefore = before.find((x) => x.provider === xen && x.version === failed.version) as Row;
  const build = await env.orm.em.fork().findOneOrFail(ImageBuild, { image, version: failed.version });
  await env.sims.badcloud?.setKnobs({ faults: [] });

  const r = await env.cli(['image-build', '--retry', String(build.id), '--wait', '--timeout', '240']);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, new RegExp(`build ${build.id} of ${image} \\(version ${failed.version}\\): ready`));

  const after = await rows();
  const flakyRow = after.find((x) => x.provider === flaky && x.version === failed.version) as Row;
  assert.equal(flakyRow.state, 'ready');
  assert.equal(flakyRow.id, failed.id, 'the same upload, now READY');
  const xenRow = after.find((x) => x.provider === xen && x.version === failed.version) as Row;
  assert.deepEqual([xenRow.id, xenRow.imageId], [xenBefore.id, xenBefore.imageId], 'the good provider was not touched');
  assert.equal(readFileSync(join(env.dir, 'runs'), 'utf8').trim().split('\n').length, 1, 'the image was built once');
  const upload = await env.orm.em.fork().findOneOrFail(ImageUpload, flakyRow.id);
  assert.equal(upload.state, 'ready');
});
