// The build activity on the real Temporal dev server, with the script builder running real scripts: the
// result, heartbeats and failures carry no env-var value, a timeout is not retried, cancellation kills the
// builder's processes and leaves nothing, and a missing disk-image-create fails once.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, CancelledFailure, defaultPayloadConverter } from '@temporalio/common';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { buildImageActivities, type BuildHeartbeat, type BuildSpec } from '../activities/build-image.ts';
import { buildImageTest } from './workflows/build-image-test.ts';
import { connectClient, connectWorker, uniqueTaskQueue } from './support/temporal.ts';
import { until } from './support/poll.ts';
import { workDir } from './support/images.ts';

let connection: NativeConnection;
let client: Client;
let closeClient: () => Promise<void>;

before(async () => {
  connection = await connectWorker();
  ({ client, close: closeClient } = await connectClient());
});

after(async () => {
  await closeClient();
  await connection.close();
});

const SECRET = 'tok-9f8e7d6c5b4a';

function scriptSpec(dir: string, body: string, extra: Partial<BuildSpec> = {}): BuildSpec {
  const path = join(dir, 'build.sh');
  writeFileSync(path, `#!/bin/sh\nset -e\n${body}\n`, { mode: 0o755 });
  return {
    image: 'centos-9',
    builder: 'script',
    script: path,
    release: '9',
    envVars: { REGISTRY_TOKEN: SECRET },
    formats: ['qcow2'],
    buildTimeoutSeconds: 60,
    ...extra,
  };
}

async function worker(taskQueue: string, spec: BuildSpec, pathList?: string): Promise<Worker> {
  return Worker.create({
    connection,
    taskQueue,
    workflowsPath: join(import.meta.dirname, 'workflows', 'build-image-test.ts'),
    activities: buildImageActivities({
      specFor: (image) => {
        if (image !== spec.image) throw new Error(`no diskimage ${image} in nodepool.yaml`);
        return spec;
      },
      graceMs: 2000,
      ...(pathList === undefined ? {} : { pathList }),
    }),
  });
}

function input(dir: string): { image: string; version: number; buildId: number; imagesDir: string; logPath: string } {
  return {
    image: 'centos-9',
    version: 1700000123,
    buildId: 41,
    imagesDir: join(dir, 'images'),
    logPath: join(dir, 'build.log'),
  };
}

async function historyText(handle: WorkflowHandle): Promise<string> {
  return JSON.stringify(await handle.fetchHistory());
}

test('the activity builds through Temporal; no env-var value reaches the history', async (t) => {
  const dir = workDir(t, 'builder-activity-');
  const spec = scriptSpec(
    dir,
    `echo "using $REGISTRY_TOKEN"\ntruncate -s 16M "$IMAGE_PATH"\nprintf x | dd of="$IMAGE_PATH" conv=notrunc status=none`,
  );
  const taskQueue = uniqueTaskQueue('build');
  const w = await worker(taskQueue, spec);
  const handle = await client.workflow.start(buildImageTest, {
    taskQueue,
    workflowId: `${taskQueue}-wf`,
    args: [input(dir)],
  });
  const result = await w.runUntil(handle.result());
  const raw = join(dir, 'images', 'centos-9-1700000123.raw');
  assert.deepEqual(result, {
    rawPath: raw,
    size: 16 * 1024 * 1024,
    sha256: createHash('sha256').update(readFileSync(raw)).digest('hex'),
  });
  assert.doesNotMatch(await historyText(handle), new RegExp(SECRET));
  assert.match(
    readFileSync(join(dir, 'build.log'), 'utf8'),
    new RegExp(`^using ${SECRET}$`, 'm'),
    'the build log has the tool output',
  );
});

async function failureOf(handle: WorkflowHandle, w: Worker): Promise<ApplicationFailure> {
  const err = await w.runUntil(
    handle.result().then(
      () => assert.fail('the build must fail'),
      (e: unknown) => e,
    ),
  );
  assert.ok(err instanceof WorkflowFailedError);
  assert.ok(err.cause instanceof ActivityFailure);
  assert.ok(err.cause.cause instanceof ApplicationFailure);
  return err.cause.cause;
}

async function attempts(handle: WorkflowHandle): Promise<number> {
  const history = await handle.fetchHistory();
  return history.events?.filter((e) => e.activityTaskStartedEventAttributes).length ?? 0;
}

test('a failing build is retried with its output scrubbed; a timeout is not retried', async (t) => {
  const dir = workDir(t, 'builder-activity-');
  const failing = scriptSpec(dir, `echo "401 for token $REGISTRY_TOKEN" >&2\nexit 2`);
  let taskQueue = uniqueTaskQueue('build-fail');
  let w = await worker(taskQueue, failing);
  let handle = await client.workflow.start(buildImageTest, {
    taskQueue,
    workflowId: `${taskQueue}-wf`,
    args: [input(dir)],
  });
  const failed = await failureOf(handle, w);
  assert.equal(failed.type, 'ImageBuild.failed');
  assert.equal(failed.nonRetryable, false);
  assert.match(failed.message, /failed \(exit 2\).*Last output: 401 for token <env-vars REGISTRY_TOKEN>/);
  assert.equal(await attempts(handle), 1, 'the last attempt is the one recorded as started');
  assert.doesNotMatch(await historyText(handle), new RegExp(SECRET));
  assert.equal(
    (readFileSync(join(dir, 'build.log'), 'utf8').match(/^401 for token/gm) ?? []).length,
    2,
    'retried once',
  );

  const slow = scriptSpec(dir, 'echo working\nsleep 600', { buildTimeoutSeconds: 1 });
  taskQueue = uniqueTaskQueue('build-timeout');
  w = await worker(taskQueue, slow);
  handle = await client.workflow.start(buildImageTest, {
    taskQueue,
    workflowId: `${taskQueue}-wf`,
    args: [input(dir)],
  });
  const timedOut = await failureOf(handle, w);
  assert.equal(timedOut.type, 'ImageBuild.timeout');
  assert.equal(timedOut.nonRetryable, true);
  assert.match(timedOut.message, /took longer than its build-timeout of 1 s and was killed/);
  assert.equal((readFileSync(join(dir, 'build.log'), 'utf8').match(/^working$/gm) ?? []).length, 1, 'not retried');
  assert.deepEqual(readdirSync(join(dir, 'images')), []);
});

test('cancelling a build kills its process group, waits for it, and leaves nothing behind', async (t) => {
  const dir = workDir(t, 'builder-activity-');
  const pids = join(dir, 'pids');
  const spec = scriptSpec(
    dir,
    // Writes part of an image, starts a background child, records both pids, then hangs.
    `truncate -s 8M "$IMAGE_PATH"\nsleep 600 &\necho "$$ $!" > '${pids}'\necho "token $REGISTRY_TOKEN"\nwait`,
  );
  const taskQueue = uniqueTaskQueue('build-cancel');
  const w = await worker(taskQueue, spec);
  await w.runUntil(async () => {
    const handle = await client.workflow.start(buildImageTest, {
      taskQueue,
      workflowId: `${taskQueue}-wf`,
      args: [input(dir)],
    });
    const beat = await until('a building heartbeat with the log line counted', async () => {
      const payload = (await handle.describe()).raw.pendingActivities?.[0]?.heartbeatDetails?.payloads?.[0];
      const seen = payload ? defaultPayloadConverter.fromPayload<BuildHeartbeat>(payload) : undefined;
      return seen?.phase === 'building' && seen.logLines >= 1 && existsSync(pids) ? seen : undefined;
    });
    assert.deepEqual(Object.keys(beat).sort(), ['elapsedSeconds', 'imageBytes', 'logLines', 'phase']);
    await handle.cancel();
    await assert.rejects(handle.result(), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      assert.ok(err.cause instanceof CancelledFailure, `cancelled, not ${String(err.cause)}`);
      return true;
    });
    assert.doesNotMatch(await historyText(handle), new RegExp(SECRET));
  });
  for (const pid of readFileSync(pids, 'utf8').trim().split(' ').map(Number))
    assert.throws(() => process.kill(pid, 0), /ESRCH/, `process ${pid} was killed`);
  assert.deepEqual(readdirSync(join(dir, 'images')), [], 'no staging directory, partial image or lock left');
});

test('a missing disk-image-create fails once, non-retryable, naming the tool and the pip install', async (t) => {
  const dir = workDir(t, 'builder-activity-');
  const empty = join(dir, 'empty-bin');
  mkdirSync(empty);
  const spec: BuildSpec = {
    image: 'centos-9',
    builder: 'dib',
    elements: ['centos', 'vm'],
    envVars: {},
    formats: ['vhd'],
    buildTimeoutSeconds: 3600,
  };
  const taskQueue = uniqueTaskQueue('build-nodib');
  const w = await worker(taskQueue, spec, empty);
  const handle = await client.workflow.start(buildImageTest, {
    taskQueue,
    workflowId: `${taskQueue}-wf`,
    args: [input(dir)],
  });
  const failure = await failureOf(handle, w);
  assert.equal(failure.type, 'ImageBuild.tool-missing');
  assert.equal(failure.nonRetryable, true);
  assert.match(
    failure.message,
    /disk-image-create \(diskimage-builder\) not found on PATH.*pip install diskimage-builder==3\.43\.0/,
  );
  assert.equal(await attempts(handle), 1);
});
