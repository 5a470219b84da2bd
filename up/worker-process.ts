// The nodepool worker `up` runs: the same `bin/nodepool-worker.js` (worker/main.ts) operators run, given the operator's
// nodepool.yaml and `up`'s overlay. It counts as started once Temporal lists it polling the task queue — after
// it migrated the database and synced the schedules, catalogs and pools, which it does before it polls.
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { ROOT } from '../scripts/tools.ts';
import { WORKER_NODE_FLAGS, workerEnv } from '../worker/node-flags.ts';
import { Service } from './service.ts';

export interface WorkerProcessOptions {
  configFiles: string[];
  logDir: string;
  env: NodeJS.ProcessEnv;
}

export function startWorkerProcess(o: WorkerProcessOptions): Service {
  return new Service({
    name: 'the nodepool worker',
    command: process.execPath,
    args: [...WORKER_NODE_FLAGS, join(ROOT, 'bin', 'nodepool-worker.js'), ...o.configFiles.flatMap((f) => ['-c', f])],
    logFile: join(o.logDir, 'worker.log'),
    env: workerEnv(o.env),
    cwd: ROOT,
  });
}

/** The message of the worker's own (pino JSON) log line; undefined for other output (the SDK's, webpack's). */
export function logMessage(line: string): string | undefined {
  try {
    const entry = JSON.parse(line) as { msg?: unknown };
    if (typeof entry.msg === 'string') return entry.msg;
  } catch {
    // Not JSON.
  }
  return undefined;
}

/** Whether a worker with this pid polls the task queue, as Temporal sees it. */
async function polling(connection: Connection, namespace: string, taskQueue: string, pid: number): Promise<boolean> {
  const identity = `${pid}@${hostname()}`;
  const { pollers } = await connection.workflowService.describeTaskQueue({
    namespace,
    // temporal.api.enums.v1: TASK_QUEUE_KIND_NORMAL, TASK_QUEUE_TYPE_WORKFLOW.
    taskQueue: { name: taskQueue, kind: 1 },
    taskQueueType: 1,
  });
  // A worker of an earlier run is still listed for a few minutes: only this process counts.
  return (pollers ?? []).some((p) => p.identity === identity);
}

export async function waitForWorker(
  worker: Service,
  address: string,
  namespace: string,
  taskQueue: string,
  signal: AbortSignal,
  timeoutMs = 180_000,
): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    const deadline = Date.now() + timeoutMs;
    for (let pause = 100; ; pause = Math.min(pause * 2, 500)) {
      signal.throwIfAborted();
      if (!worker.running) throw new Error(worker.explain(await worker.exited));
      if (worker.pid !== undefined && (await polling(connection, namespace, taskQueue, worker.pid))) return;
      if (Date.now() > deadline)
        throw new Error(
          `the nodepool worker did not poll task queue ${taskQueue} within ${timeoutMs / 1000}s; see ${worker.logFile}`,
        );
      await new Promise((r) => setTimeout(r, pause));
    }
  } finally {
    await connection.close();
  }
}
