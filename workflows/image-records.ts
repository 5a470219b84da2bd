// Short workflows that read the builds' records for the CLI (dib-image-list, build-log): the CLI acts only
// through Temporal, and the build records and logs live with the workers.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { BuildLog, DibImage } from '../core/views.ts';

const { listImageBuilds, readBuildLog } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
});

export async function dibImageList(): Promise<DibImage[]> {
  return await listImageBuilds();
}

export async function buildLog(buildId: number, maxBytes: number): Promise<BuildLog> {
  return await readBuildLog({ buildId, maxBytes });
}
