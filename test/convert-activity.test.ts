// The conversion activity on the real Temporal dev server: results, heartbeats, cancellation that
// leaves no partial file, and non-retryable failures for a missing vhd-util.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, CancelledFailure, defaultPayloadConverter } from '@temporalio/common';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { convertActivity } from '../activities/convert.ts';
import type { ConvertHeartbeat, ConvertImageInput } from '../activities/convert.ts';
import { convertImageTest } from './workflows/convert-test.ts';
import { connectClient, connectWorker, uniqueTaskQueue } from './support/temporal.ts';
import { until } from './support/poll.ts';
import { GiB, MiB, sparseRaw, workDir } from './support/images.ts';

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

/** `pathList` is where the activity looks for qemu-img and vhd-util: tests choose it, the machine does not. */
async function newWorker(taskQueue: string, pathList?: string): Promise<Worker> {
  return Worker.create({
    connection,
    taskQueue,
    workflowsPath: join(import.meta.dirname, 'workflows', 'convert-test.ts'),
    activities: { convertImage: convertActivity(pathList === undefined ? {} : { pathList }) },
  });
}

/** A PATH holding neither qemu-img nor vhd-util. */
function emptyPath(dir: string): string {
  const bin = join(dir, 'empty-bin');
  mkdirSync(bin, { recursive: true });
  return bin;
}

test('the activity converts through Temporal and returns path, format, converter, size and sha256', async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'build.raw');
  sparseRaw(raw, 12 * MiB, [[3 * MiB, randomBytes(MiB)]]);
  const rawBefore = createHash('sha256').update(readFileSync(raw)).digest('hex');
  const taskQueue = uniqueTaskQueue('convert');
  const worker = await newWorker(taskQueue);
  const logPath = join(dir, 'build.log');
  const inputs: ConvertImageInput[] = [
    { input: raw, output: join(dir, 'build.vhd'), format: 'vhd', vhdConverter: 'builtin', logPath },
    { input: raw, output: join(dir, 'build.qcow2'), format: 'qcow2', logPath },
  ];
  const results = await worker.runUntil(
    Promise.all(
      inputs.map((args, i) =>
        client.workflow.execute(convertImageTest, { taskQueue, workflowId: `${taskQueue}-${i}`, args: [args] }),
      ),
    ),
  );
  for (const [i, result] of results.entries()) {
    const input = inputs[i] as ConvertImageInput;
    const bytes = readFileSync(input.output);
    assert.deepEqual(result, {
      path: input.output,
      format: input.format,
      converter: input.format === 'vhd' ? 'builtin' : 'qemu-img',
      size: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    });
  }
  assert.equal(createHash('sha256').update(readFileSync(raw)).digest('hex'), rawBefore, 'the raw is untouched');
  assert.match(readFileSync(logPath, 'utf8'), /converted .*build\.raw to vhd with builtin/);
});

test('the activity heartbeats progress, and cancelling it leaves no partial file', async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'huge.raw');
  // Big enough that the conversion is still reading when the cancellation arrives: without qemu-img to map
  // the holes, the built-in converter reads all 1500 GiB of them.
  sparseRaw(raw, 1500 * GiB, [[0, randomBytes(MiB)]]);
  const output = join(dir, 'huge.vhd');
  const taskQueue = uniqueTaskQueue('convert-cancel');
  const worker = await newWorker(taskQueue, emptyPath(dir));
  await worker.runUntil(async () => {
    const handle = await client.workflow.start(convertImageTest, {
      taskQueue,
      workflowId: `${taskQueue}-wf`,
      args: [{ input: raw, output, format: 'vhd', vhdConverter: 'builtin' }],
    });
    const beat = await until(
      'a progress heartbeat',
      async () => {
        const pending = (await handle.describe()).raw.pendingActivities?.[0];
        const payload = pending?.heartbeatDetails?.payloads?.[0];
        const seen = payload ? defaultPayloadConverter.fromPayload<ConvertHeartbeat>(payload) : undefined;
        return seen && seen.bytesDone > 0 ? seen : undefined;
      },
      60_000,
    );
    assert.equal(beat.phase, 'convert');
    assert.equal(beat.bytesTotal, 1500 * GiB);
    assert.ok(beat.bytesDone > 0 && beat.bytesDone < beat.bytesTotal);

    await handle.cancel();
    await assert.rejects(handle.result(), (err: unknown) => {
      assert.ok(err instanceof WorkflowFailedError);
      assert.ok(err.cause instanceof CancelledFailure, `cancelled, not ${String(err.cause)}`);
      return true;
    });
  });
  assert.deepEqual(readdirSync(dir).sort(), ['empty-bin', 'huge.raw'], 'no partial or temporary file is left');
});

async function expectMissingVhdUtil(
  input: Omit<ConvertImageInput, 'format'>,
  expect: RegExp[],
  pathList?: string,
): Promise<void> {
  const taskQueue = uniqueTaskQueue('convert-missing');
  const worker = await newWorker(taskQueue, pathList);
  const workflowId = `${taskQueue}-wf`;
  await worker.runUntil(
    assert.rejects(
      client.workflow.execute(convertImageTest, {
        taskQueue,
        workflowId,
        args: [{ ...input, format: 'vhd', vhdConverter: 'vhd-util' }],
      }),
      (err: unknown) => {
        assert.ok(err instanceof WorkflowFailedError);
        assert.ok(err.cause instanceof ActivityFailure);
        const failure = err.cause.cause;
        assert.ok(failure instanceof ApplicationFailure);
        assert.equal(failure.nonRetryable, true);
        assert.equal(failure.type, 'ImageConvert.tool-missing');
        for (const re of expect) assert.match(failure.message, re);
        return true;
      },
    ),
  );
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const started = history.events?.filter((e) => e.activityTaskStartedEventAttributes) ?? [];
  assert.deepEqual(
    started.map((e) => e.activityTaskStartedEventAttributes?.attempt),
    [1],
    'not retried',
  );
}

test('a configured vhd-util that is not there fails once, non-retryable, naming the tool, path and provider', async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'build.raw');
  sparseRaw(raw, 4 * MiB, []);
  const missing = join(dir, 'bin', 'vhd-util');
  await expectMissingVhdUtil({ input: raw, output: join(dir, 'out.vhd'), vhdUtilPath: missing, provider: 'rax-dfw' }, [
    /vhd-util/,
    new RegExp(missing),
    /provider rax-dfw/,
  ]);
  assert.deepEqual(readdirSync(dir), ['build.raw']);
});

test('vhd-converter: vhd-util with none on PATH fails once, non-retryable, naming the tool and provider', async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'build.raw');
  sparseRaw(raw, 4 * MiB, []);
  await expectMissingVhdUtil(
    { input: raw, output: join(dir, 'out.vhd'), provider: 'rax-iad' },
    [/vhd-util not found on PATH/, /provider rax-iad/, /builtin/],
    emptyPath(dir),
  );
});

test('a converter that stops making progress is killed, the attempt fails retryably, and nothing is left', async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'build.raw');
  sparseRaw(raw, 4 * MiB, [[0, randomBytes(512)]]);
  // A vhd-util stuck in I/O: it records its pid and sleeps, writing nothing.
  const pids = join(dir, 'pids');
  const tool = join(dir, 'vhd-util');
  writeFileSync(tool, `#!/bin/sh\necho $$ >> '${pids}'\nexec sleep 600\n`, { mode: 0o755 });
  mkdirSync(join(dir, 'out'));
  const taskQueue = uniqueTaskQueue('convert-stall');
  const worker = await newWorker(taskQueue);
  const err = await worker.runUntil(
    client.workflow
      .execute(convertImageTest, {
        taskQueue,
        workflowId: `${taskQueue}-wf`,
        args: [
          {
            input: raw,
            output: join(dir, 'out', 'build.vhd'),
            format: 'vhd',
            vhdConverter: 'vhd-util',
            vhdUtilPath: tool,
            stallTimeoutSeconds: 1,
          },
        ],
      })
      .then(
        () => assert.fail('a stuck converter must not succeed'),
        (e: unknown) => e,
      ),
  );
  assert.ok(err instanceof WorkflowFailedError);
  assert.ok(err.cause instanceof ActivityFailure);
  const cause = err.cause.cause;
  assert.ok(cause instanceof ApplicationFailure);
  assert.equal(cause.type, 'ImageConvert.stalled');
  assert.equal(cause.nonRetryable, false);
  assert.match(cause.message, /no progress for 1 s/);
  // Every attempt ran the tool, and every stuck tool was killed.
  const started = readFileSync(pids, 'utf8').trim().split('\n').map(Number);
  assert.equal(started.length, 3, 'retried up to the workflow policy (3 attempts)');
  for (const pid of started) assert.throws(() => process.kill(pid, 0), /ESRCH/, `vhd-util ${pid} was killed`);
  assert.deepEqual(readdirSync(join(dir, 'out')), [], 'no partial output');
});
