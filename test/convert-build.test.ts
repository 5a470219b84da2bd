import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NativeConnection } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { ImageBuild } from '../db/entities/index.ts';
import { migrate, openDatabase, type Orm } from '../db/orm.ts';
import { upsertImageBuild } from '../db/upsert.ts';
import { buildRecordActivities } from '../activities/build-record.ts';
import { createNodepoolWorker } from '../worker/worker.ts';
import { convertBuild } from '../workflows/index.ts';
import { NODEPOOL_IMAGE, NODEPOOL_PROVIDER, NODEPOOL_STATE } from '../workflows/search-attributes.ts';
import { until } from './support/poll.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { connectClient, connectWorker, uniqueTaskQueue } from './support/temporal.ts';

let db: TestDatabase;
let orm: Orm;
let nativeConnection: NativeConnection;
let client: Client;
let closeClient: () => Promise<void>;
let dir: string;

before(async () => {
  db = await createTestDatabase('convert_build');
  orm = await openDatabase({ url: db.url });
  await migrate(orm);
  nativeConnection = await connectWorker();
  ({ client, close: closeClient } = await connectClient());
  dir = mkdtempSync(join(tmpdir(), 'nodepool-convert-build-'));
});

after(async () => {
  await closeClient();
  await nativeConnection.close();
  await orm.close();
  await db.drop();
  rmSync(dir, { recursive: true, force: true });
});

test('a build converts once per format, and a missing vhd-util fails only the provider that needs it', async () => {
  const raw = join(dir, 'ubuntu-1700000000.raw');
  const fd = openSync(raw, 'w');
  ftruncateSync(fd, 6 * 1024 * 1024);
  writeSync(fd, randomBytes(4096), 0, 4096, 3 * 1024 * 1024);
  closeSync(fd);
  // The worker creates images-dir at start; here the test stands in for it.
  const imagesDir = join(dir, 'images');
  mkdirSync(imagesDir);

  const build = await upsertImageBuild(orm.em.fork(), { image: 'ubuntu', version: 1700000000 });

  const taskQueue = uniqueTaskQueue('convert-build');
  const worker = await createNodepoolWorker({ connection: nativeConnection, taskQueue, orm });
  const results = await worker.runUntil(
    client.workflow.execute(convertBuild, {
      taskQueue,
      workflowId: `${taskQueue}-wf`,
      args: [
        {
          buildId: build.id,
          image: 'ubuntu',
          version: 1700000000,
          rawPath: raw,
          imagesDir,
          vhdUtilPath: join(dir, 'no-such-vhd-util'),
          targets: [
            { provider: 'east', format: 'qcow2' },
            { provider: 'west', format: 'qcow2' },
            { provider: 'rax-dfw', format: 'vhd', vhdConverter: 'builtin' },
            { provider: 'xen-lon', format: 'vhd', vhdConverter: 'vhd-util' },
          ],
        },
      ],
    }),
  );

  const by = Object.fromEntries(results.map((r) => [r.provider, r]));
  assert.equal(by.east?.file?.converter, 'qemu-img');
  assert.equal(by.east?.file?.path, by.west?.file?.path, 'east and west share one qcow2');
  assert.equal(by['rax-dfw']?.file?.converter, 'builtin');
  assert.equal(by['rax-dfw']?.file?.size, statSync(join(imagesDir, 'ubuntu-1700000000.builtin.vhd')).size);
  assert.equal(by['xen-lon']?.file, undefined);
  assert.match(by['xen-lon']?.error ?? '', /vhd-util/);
  assert.match(by['xen-lon']?.error ?? '', /xen-lon/);
  assert.deepEqual(readdirSync(imagesDir).sort(), ['ubuntu-1700000000.builtin.vhd', 'ubuntu-1700000000.qcow2']);

  // The build row records each file made, with who made it, its size and sha256; the failed one is absent.
  const recorded = await orm.em.fork().findOneOrFail(ImageBuild, build.id);
  assert.deepEqual(
    recorded.files
      .map((f) => [f.format, f.converter, f.size, f.sha256])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    [by['rax-dfw']?.file, by.east?.file]
      .map((f) => [f?.format, f?.converter, f?.size, f?.sha256])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
  );
  assert.deepEqual(recorded.formats, ['qcow2', 'vhd']);

  // Operators find it in the Web UI by image, provider and state; the list query is the UI's filter.
  const description = await client.workflow.getHandle(`${taskQueue}-wf`).describe();
  assert.equal(description.typedSearchAttributes.get(NODEPOOL_IMAGE), 'ubuntu');
  assert.equal(description.typedSearchAttributes.get(NODEPOOL_STATE), 'partly-failed');
  assert.deepEqual(description.typedSearchAttributes.get(NODEPOOL_PROVIDER)?.sort(), [
    'east',
    'rax-dfw',
    'west',
    'xen-lon',
  ]);
  const found = await until('the visibility store to list the conversion', async () => {
    const ids: string[] = [];
    for await (const w of client.workflow.list({
      query: `NodepoolImage = 'ubuntu' AND NodepoolProvider = 'xen-lon' AND NodepoolState = 'partly-failed'`,
    }))
      ids.push(w.workflowId);
    return ids.includes(`${taskQueue}-wf`) ? ids : undefined;
  });
  assert.ok(found.includes(`${taskQueue}-wf`));

  // The failing conversion was not retried: its failure is about the host, not a blip.
  const history = await client.workflow.getHandle(`${taskQueue}-wf`).fetchHistory();
  const started = history.events?.filter((e) => e.activityTaskStartedEventAttributes) ?? [];
  assert.ok(started.every((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) === 1));
});

test('recording build files is idempotent and merges by path; an unknown build is a non-retryable error', async () => {
  const { recordBuildFiles } = buildRecordActivities(orm);
  const build = await upsertImageBuild(orm.em.fork(), { image: 'debian', version: 1700000001 });
  const qcow2 = { format: 'qcow2', path: '/i/debian.qcow2', size: 10, sha256: 'a'.repeat(64), converter: 'qemu-img' };
  const vhd = { format: 'vhd', path: '/i/debian.vhd', size: 20, sha256: 'b'.repeat(64), converter: 'builtin' };
  await recordBuildFiles(build.id, [qcow2]);
  await recordBuildFiles(build.id, [qcow2, vhd]);
  const again = await recordBuildFiles(build.id, [{ ...vhd, size: 21 }]);
  assert.deepEqual(again, [qcow2, { ...vhd, size: 21 }]);
  const row = await orm.em.fork().findOneOrFail(ImageBuild, build.id);
  assert.deepEqual(row.files, [qcow2, { ...vhd, size: 21 }]);
  assert.deepEqual(row.formats, ['qcow2', 'vhd']);
  await assert.rejects(recordBuildFiles(987654, [qcow2]), (err: Error & { nonRetryable?: boolean }) => {
    assert.match(err.message, /image build 987654 does not exist/);
    assert.equal(err.nonRetryable, true);
    return true;
  });
});
