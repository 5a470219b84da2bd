import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { DatabaseStatus } from '../activities/health.ts';

const { databaseStatus } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
});

export interface WorkerHealth {
  taskQueue: string;
  database: DatabaseStatus;
}

/** Proves a worker on the task queue is polling and its database is migrated. */
export async function workerHealth(taskQueue: string): Promise<WorkerHealth> {
  return { taskQueue, database: await databaseStatus() };
}
