// What a worker sets up in Temporal when it starts, from its nodepool.yaml: the build schedules and the
// perpetual per-provider workflows (image catalogs and node pools). Idempotent: every worker of a deployment may run it.
import { WorkflowIdConflictPolicy, type Client } from '@temporalio/client';
import type { Config } from '../config/index.ts';
import { imageCatalog } from '../workflows/image-catalog.ts';
import { catalogWorkflowId, poolWorkflowId } from '../workflows/ids.ts';
import { POOL_TASK_TIMEOUT, configChangedSignal } from '../workflows/pool-api.ts';
import { providerPool } from '../workflows/provider-pool.ts';
import { syncSchedules, type ScheduleSync } from './schedules.ts';

export interface Startup {
  schedules: ScheduleSync;
  catalogs: string[];
  pools: string[];
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
  // Pools start, or (already running) read their settings again: this nodepool.yaml may have changed them.
  const pools: string[] = [];
  for (const p of config.providers) {
    if (p.pools.length === 0) continue;
    await client.workflow.signalWithStart(providerPool, {
      workflowId: poolWorkflowId(p.name),
      taskQueue,
      args: [{ provider: p.name }],
      signal: configChangedSignal,
      signalArgs: [],
      workflowTaskTimeout: POOL_TASK_TIMEOUT,
      staticSummary: `node pool of ${p.name}`,
    });
    pools.push(p.name);
  }
  return { schedules, catalogs, pools };
}
