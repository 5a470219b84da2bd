// What a worker sets up in Temporal when it starts, from its nodepool.yaml: the build schedules and the
// perpetual per-provider workflows. Idempotent: every worker of a deployment may run it.
import { WorkflowIdConflictPolicy, type Client } from '@temporalio/client';
import type { Config } from '../config/index.ts';
import { imageCatalog } from '../workflows/image-catalog.ts';
import { catalogWorkflowId } from '../workflows/ids.ts';
import { syncSchedules, type ScheduleSync } from './schedules.ts';

export interface Startup {
  schedules: ScheduleSync;
  catalogs: string[];
}

export async function startNodepool(client: Client, config: Config, taskQueue: string): Promise<Startup> {
  const schedules = await syncSchedules(client, config, taskQueue);
  const catalogs: string[] = [];
  for (const p of config.providers) {
    await client.workflow.start(imageCatalog, {
      workflowId: catalogWorkflowId(p.name),
      taskQueue,
      args: [{ provider: p.name }],
      // Already running: that is the one.
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      staticSummary: `image catalog of ${p.name}`,
    });
    catalogs.push(p.name);
  }
  return { schedules, catalogs };
}
