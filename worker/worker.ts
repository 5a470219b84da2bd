// Builds a Temporal worker for nodepool's task queue. Used by worker/main.ts and by tests, so tests run
// exactly the worker operators run.
import { fileURLToPath } from 'node:url';
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities/index.ts';
import { BUNDLER_OPTIONS } from './bundler-options.ts';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface NodepoolWorkerOptions extends ActivityDeps {
  connection: NativeConnection;
  namespace?: string;
  taskQueue: string;
  /** Extra worker options, e.g. a prebuilt workflowBundle or tighter concurrency for tests. */
  overrides?: Partial<WorkerOptions>;
}

export async function createNodepoolWorker(opts: NodepoolWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: opts.taskQueue,
    // A prebuilt bundle (worker/bundle.ts) when given; otherwise bundled here (tests).
    ...(opts.overrides?.workflowBundle ? {} : { workflowsPath: WORKFLOWS_PATH, bundlerOptions: BUNDLER_OPTIONS }),
    activities: createActivities(opts),
    // On SIGTERM running activities get this long to finish before they are cancelled (and later retried),
    // so a deploy does not throw away a conversion that is nearly done. Match the service manager's stop timeout.
    shutdownGraceTime: '2 minutes',
    ...opts.overrides,
  });
}
