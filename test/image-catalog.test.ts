// The catalog workflow against the simulator: an image tagged as ours but unknown to the catalog is deleted after
// two leak scans; images without our tag (another nodepool's, or nobody's) are never touched.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowIdConflictPolicy } from '@temporalio/client';
import { adapterForCloud, uploadTags } from '../providers/index.ts';
import { imageCatalog } from '../workflows/image-catalog.ts';
import { catalogWorkflowId } from '../workflows/ids.ts';
import { createNodepoolEnv, type NodepoolEnv } from './support/nodepool.ts';
import { plainImage } from './support/glance.ts';
import { until } from './support/poll.ts';

let env: NodepoolEnv;
let stopWorker: () => Promise<void>;
const east = `east-${Math.random().toString(36).slice(2, 8)}`;

before(async () => {
  env = await createNodepoolEnv({
    prefix: 'catalog',
    config: `
providers:
  - name: ${east}
    cloud: simcloud
temporal:
  address: {{temporal}}
  task-queue: {{taskQueue}}
`,
  });
  stopWorker = await env.startWorker();
});

after(async () => {
  await env.client.workflow
    .getHandle(catalogWorkflowId(east))
    .terminate('test over')
    .catch(() => {});
  await stopWorker?.();
  await env?.close();
});

test('a leaked image of ours goes after two scans; foreign and untagged images stay', async () => {
  const adapter = adapterForCloud('simcloud', { env: env.cloudEnv, fresh: true });
  const file = join(env.dir, 'leak.raw');
  writeFileSync(file, Buffer.alloc(64 * 1024, 1));
  const leaked = await adapter.uploadImage({
    path: file,
    name: 'ubuntu-1394514268',
    diskFormat: 'raw',
    metadata: uploadTags({ provider: east, uploadId: '424242', imageName: 'ubuntu' }),
  });
  const foreign = await adapter.uploadImage({
    path: file,
    name: 'ubuntu-other',
    diskFormat: 'raw',
    metadata: uploadTags({ provider: 'someone-else', uploadId: '1', imageName: 'ubuntu' }),
  });
  const untagged = await plainImage(env.sim, 'handmade');

  const handle = await env.client.workflow.start(imageCatalog, {
    taskQueue: env.taskQueue,
    workflowId: catalogWorkflowId(east),
    args: [{ provider: east, leakScanSeconds: 1 }],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
  });
  await until(
    'the leaked image to be deleted',
    async () => ((await adapter.listImages()).some((i) => i.id === leaked.image.id) ? undefined : true),
    60_000,
  );
  const ids = (await adapter.listImages()).map((i) => i.id);
  assert.ok(ids.includes(foreign.image.id), "another nodepool's image stays");
  assert.ok(ids.includes(untagged), 'an untagged image stays');

  // Two scans saw it before the delete was scheduled.
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = events
    .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
    .filter((n): n is string => n !== undefined && n !== null);
  const firstDelete = scheduled.indexOf('deleteCloudImage');
  assert.ok(firstDelete >= 0, `a delete was scheduled: ${scheduled.join(', ')}`);
  assert.ok(
    scheduled.slice(0, firstDelete).filter((n) => n === 'listCloudImages').length >= 2,
    `two scans before the delete: ${scheduled.join(', ')}`,
  );
});
