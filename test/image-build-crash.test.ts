// The worker process is SIGKILLed in the middle of uploads and started again: the build completes with exactly
// one cloud image per provider (no second copy, no orphan) and no stray file on disk.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { ImageUpload } from '../db/entities/index.ts';
import { adapterForCloud, isOwnedBy, TAGS } from '../providers/index.ts';
import { BUILD_SCRIPT } from './support/build-script.ts';
import { createNodepoolEnv, type NodepoolEnv } from './support/nodepool.ts';
import { until } from './support/poll.ts';
import { killed } from './support/process.ts';

let env: NodepoolEnv;
const tag = Math.random().toString(36).slice(2, 8);
const image = `crash-${tag}`;
const one = `one-${tag}`;
const two = `two-${tag}`;

before(async () => {
  env = await createNodepoolEnv({
    prefix: 'build-crash',
    files: { 'build.sh': [BUILD_SCRIPT, 0o755] },
    // 12 MiB at 1 MiB/s: each upload takes about 12 s, long enough to be killed in the middle of it.
    sim: { knobs: { uploadBytesPerSecond: 1024 * 1024 } },
    config: `
diskimages:
  - name: ${image}
    builder: script
    script: build.sh
    pause: true
    env-vars: { SIZE_MB: '12' }
providers:
  - name: ${one}
    cloud: simcloud
    image-format: raw
    diskimages: [{name: ${image}}]
  - name: ${two}
    cloud: simcloud
    image-format: raw
    diskimages: [{name: ${image}}]
images-dir: {{dir}}/images
build-log-dir: {{dir}}/logs
temporal:
  address: {{temporal}}
  task-queue: {{taskQueue}}
`,
  });
});

after(async () => {
  await env?.close();
});

test('a worker killed mid-upload and restarted finishes the build with one image per provider', async () => {
  const worker = await env.spawnWorker();
  const started = await env.cli(['image-build', image]);
  assert.equal(started.code, 0, started.stderr);
  const workflowId = /: (image-build\/\S+)/.exec(started.stdout)?.[1] as string;
  assert.ok(workflowId, started.stdout);

  const adapter = adapterForCloud('simcloud', { env: env.cloudEnv, fresh: true });
  const ours = async () =>
    (await adapter.listImages()).filter(
      (i) => (isOwnedBy(i.metadata, one) || isOwnedBy(i.metadata, two)) && i.name.startsWith(image),
    );
  await until(
    'both uploads to be under way',
    async () => ((await ours()).filter((i) => i.state === 'saving').length === 2 ? true : undefined),
    60_000,
  );
  await killed(worker);

  await env.spawnWorker();
  const handle = env.client.workflow.getHandle(workflowId);
  const result = (await handle.result()) as { state: string; providers: { provider: string; externalId?: string }[] };
  assert.equal(result.state, 'ready');

  const images = await ours();
  for (const provider of [one, two]) {
    const mine = images.filter((i) => isOwnedBy(i.metadata, provider));
    assert.equal(mine.length, 1, `${provider}: exactly one image, got ${JSON.stringify(mine.map((i) => i.state))}`);
    assert.equal(mine[0]?.state, 'active');
    const upload = await env.orm.em.fork().findOneOrFail(ImageUpload, { provider, image });
    assert.equal(upload.state, 'ready');
    assert.equal(upload.externalId, mine[0]?.id);
    assert.equal(mine[0]?.metadata[TAGS.uploadId], String(upload.id));
    assert.equal(result.providers.find((p) => p.provider === provider)?.externalId, mine[0]?.id);
  }
  // On disk: the build's raw and nothing half-written.
  const files = readdirSync(env.config.imagesDir);
  assert.deepEqual(
    files.filter((f) => !/^crash-[a-z0-9]+-\d+\.raw$/.test(f)),
    [],
    `unexpected files: ${files.join(', ')}`,
  );
});
