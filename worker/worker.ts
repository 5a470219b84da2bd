// Builds a Temporal worker for nodepool's task queue. Used by worker/main.ts and by tests, so tests run
// exactly the worker operators run.
import { fileURLToPath } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';
import { Worker, type NativeConnection, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities/index.ts';
import { BUNDLER_OPTIONS } from './bundler-options.ts';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

export interface NodepoolWorkerOptions extends ActivityDeps {
  connection: NativeConnection;
  namespace?: string;
  taskQueue: string;
  /**
   * Activities wait for this before they run: the worker polls (its workflow tasks include the configuration
   * registry's, which decides whether this worker may act) before its configuration is accepted. A rejection
   * fails every waiting activity retryably, for another worker to run.
   */
  activityGate?: Promise<void>;
  /** Extra worker options, e.g. a prebuilt workflowBundle or tighter concurrency for tests. */
  overrides?: Partial<WorkerOptions>;
}

export function gated<T extends object>(activities: T, gate: Promise<void>): T {
  const refused = gate.then(
    () => undefined,
    (err: unknown) => ApplicationFailure.retryable(`this worker may not run activities: ${(err as Error).message}`),
  );
  return Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [
      name,
      async (...args: unknown[]) => {
        const failure = await refused;
        if (failure) throw failure;
        return (fn as (...a: unknown[]) => unknown)(...args);
      },
    ]),
  ) as T;
}

export async function createNodepoolWorker(opts: NodepoolWorkerOptions): Promise<Worker> {
  const activities = createActivities(opts);
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: opts.taskQueue,
    // A prebuilt bundle (worker/bundle.ts) when given; otherwise bundled here (tests).
    ...(opts.overrides?.workflowBundle ? {} : { workflowsPath: WORKFLOWS_PATH, bundlerOptions: BUNDLER_OPTIONS }),
    activities: opts.activityGate ? gated(activities, opts.activityGate) : activities,
    // On SIGTERM running activities get this long to finish before they are cancelled (and later retried),
    // so a deploy does not throw away a conversion that is nearly done. Match the service manager's stop timeout.
    shutdownGraceTime: '2 minutes',
    // The one workflow thread runs workflow tasks one at a time; more in flight only interleaves them, so each takes
    // longer. After a restart every pool replays its whole history: with the SDK's 40, five pools replaying together
    // all outran the task timeout, were dropped and replayed again (20-25 s to 2,000 READY instead of 11, and 20-40
    // MiB more memory: bench:pool). Two is the least the SDK takes (one sticky and one normal poll).
    maxConcurrentWorkflowTaskExecutions: 2,
    ...opts.overrides,
  });
}
