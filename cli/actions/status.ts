import { NodepoolClient, NodepoolError } from '../../client/nodepool-client.ts';
import {
  imageStatuses,
  labelStatuses,
  providerStatuses,
  type ImageStatus,
  type LabelStatus,
  type ProviderStatus,
} from '../../up/summary.ts';
import type { RequestRecord } from '../../workflows/pool-api.ts';
import { catalogProviders, readCatalogs } from '../catalogs.ts';
import type { StatusArgs } from '../commands/status.ts';
import { CliError } from '../errors.ts';
import { renderTable } from '../table.ts';
import { connectTemporal, loadCliConfig, type CliTemporal } from '../temporal.ts';

export interface StatusReport {
  temporal: { address: string; namespace: string; taskQueue: string };
  /** Worker identities Temporal saw polling the task queue in the last minute. */
  workers: string[];
  providers: ProviderStatus[];
  images: ImageStatus[];
  labels: LabelStatus[];
  requests: (RequestRecord & { provider: string })[];
}

/** Workers seen polling within this long count as running (Temporal lists a stopped one for a few minutes). */
const RECENT_MS = 60_000;

async function workers(t: CliTemporal): Promise<string[]> {
  const { pollers } = await t.client.workflowService.describeTaskQueue({
    namespace: t.namespace,
    // temporal.api.enums.v1: TASK_QUEUE_KIND_NORMAL, TASK_QUEUE_TYPE_WORKFLOW.
    taskQueue: { name: t.taskQueue, kind: 1 },
    taskQueueType: 1,
  });
  const now = Date.now();
  return (pollers ?? [])
    .filter((p) => now - Number(p.lastAccessTime?.seconds ?? 0) * 1000 < RECENT_MS)
    .map((p) => p.identity ?? '?')
    .sort();
}

function nodesText(nodes: Record<string, number>): string {
  const order = ['ready', 'building', 'in-use', 'hold', 'used', 'deleting', 'failed'];
  const parts = order.filter((s) => nodes[s]).map((s) => `${nodes[s]} ${s}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

export function renderStatus(r: StatusReport): string {
  const out: string[] = [];
  const { address, namespace, taskQueue } = r.temporal;
  out.push(
    `Temporal ${address}, namespace ${namespace}, task queue ${taskQueue}: ` +
      (r.workers.length > 0
        ? `${r.workers.length} worker${r.workers.length === 1 ? '' : 's'} polling (${r.workers.join(', ')})`
        : 'NO worker polling (start one: nodepool up, or npm run worker -- -c nodepool.yaml)'),
    '',
    'Providers',
    renderTable(
      ['Provider', 'Images READY', 'Nodes', 'Requests', 'Pool says'],
      r.providers.map((p) => [
        p.provider,
        `${p.imagesReady}/${p.images}`,
        p.pool ? nodesText(p.nodes) : 'no pool',
        `${p.requests.pending} pending, ${p.requests.fulfilled} fulfilled, ${p.requests.failed} failed`,
        // The pool's summary starts with its provider's name, which the first column already shows.
        p.summary?.startsWith(`${p.provider}: `) ? p.summary.slice(p.provider.length + 2) : (p.summary ?? ''),
      ]),
    ),
    '',
    'Images',
    renderTable(
      ['Image', 'Provider', 'State', 'Current upload', 'Version', 'Image ID', 'Age (hours)', 'Latest'],
      r.images.map((i) => [
        i.image,
        i.provider,
        i.state.toUpperCase(),
        i.current?.id ?? '',
        i.current?.version ?? '',
        i.current?.externalId ?? '',
        i.current ? i.current.ageHours.toFixed(2) : '',
        i.latest ? `upload ${i.latest.id}: ${i.latest.state}${i.latest.reason ? ` (${i.latest.reason})` : ''}` : '',
      ]),
    ),
    '',
    'Labels',
    renderTable(
      ['Label', 'Min ready', 'Ready', 'Booting', 'In use', 'Held', 'Providers'],
      r.labels.map((l) => [l.label, l.minReady ?? '', l.ready, l.building, l.inUse, l.held, l.providers.join(', ')]),
    ),
  );
  const waits = r.labels
    .filter((l) => l.ready < (l.minReady ?? 0))
    .flatMap((l) => l.waits.map((w) => `  ${l.label}: ${w}`));
  if (waits.length > 0) out.push('Why refills wait:', ...waits);
  const pending = r.requests.filter((q) => q.state === 'pending');
  const count = (s: string) => r.requests.filter((q) => q.state === s).length;
  out.push(
    '',
    `Requests: ${pending.length} pending, ${count('fulfilled')} fulfilled, ${count('failed')} failed (nodepool request-list shows them)`,
    ...pending.map((q) => `  ${q.key} (${q.labels.join(', ')}) in ${q.provider}: ${q.reason ?? 'waiting'}`),
  );
  return out.join('\n');
}

export async function status(args: StatusArgs): Promise<void> {
  const config = loadCliConfig(args.config);
  const t = await connectTemporal(config);
  try {
    const withPools = config?.providers.filter((p) => p.pools.length > 0).map((p) => p.name);
    const nodepool = new NodepoolClient(t.client, withPools ? { providers: withPools } : {});
    let pools;
    try {
      pools = await nodepool.pools();
    } catch (err) {
      if (err instanceof NodepoolError)
        throw new CliError(`${err.message}; is a nodepool worker running on task queue ${t.taskQueue}?`, 1);
      throw err;
    }
    const [catalogs, seen] = await Promise.all([readCatalogs(t, await catalogProviders(t, config)), workers(t)]);
    const images = imageStatuses(config, catalogs, Date.now());
    const report: StatusReport = {
      temporal: { address: t.address, namespace: t.namespace, taskQueue: t.taskQueue },
      workers: seen,
      providers: providerStatuses(config, images, pools),
      images,
      labels: labelStatuses(config, pools),
      requests: pools
        .flatMap((p) => p.requests.map((q) => ({ ...q, provider: p.provider })))
        .sort((a, b) => a.submittedAt - b.submittedAt),
    };
    process.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : `${renderStatus(report)}\n`);
  } finally {
    await t.close();
  }
}
