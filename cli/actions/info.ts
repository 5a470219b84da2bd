// `nodepool info PROVIDER`: what a provider's cloud holds for us, asked through a worker (which has the
// credentials), never by the CLI itself.
import { randomUUID } from 'node:crypto';
import type { ProviderSnapshot } from '../../core/views.ts';
import { poolWorkflowId } from '../../workflows/ids.ts';
import { poolQuery, type PoolView } from '../../workflows/pool-api.ts';
import { providerInfo } from '../../workflows/provider-info.ts';
import { askWorker } from '../ask-worker.ts';
import { CliError } from '../errors.ts';
import { renderTable as table } from '../table.ts';
import { connectTemporal, loadCliConfig } from '../temporal.ts';
import type { InfoArgs } from '../commands/info.ts';

const of = (used: number | undefined, limit: number | null | undefined): string =>
  `${used ?? 0}/${limit === null || limit === undefined ? 'unlimited' : limit}`;

/** The pool's occupancy per pool and label, and its one-line summary ("why is nothing launching?"). */
export function renderOccupancy(p: PoolView): string {
  const states = ['building', 'ready', 'in-use', 'used', 'hold', 'deleting', 'failed'];
  return [
    `Pool: ${p.summary}`,
    table(
      ['Pool', 'Label', ...states.map((x) => x.charAt(0).toUpperCase() + x.slice(1))],
      p.occupancy.map((o) => [o.pool, o.label, ...states.map((x) => o.states[x] ?? 0)]),
    ),
    ...p.minReadyWaits.map((w) => `min-ready ${w.label} waits: ${w.reason}`),
  ].join('\n');
}

export function renderInfo(s: ProviderSnapshot, pool?: PoolView): string {
  const q = s.quota;
  return [
    ...(pool ? [renderOccupancy(pool), ''] : []),
    `Provider ${s.provider} (cloud ${s.cloud}${s.region ? `, region ${s.region}` : ''}, image format ${s.imageFormat})`,
    `Quota: instances ${of(q.usage.instances, q.limits.instances)}, cores ${of(q.usage.cores, q.limits.cores)}, ram ${of(q.usage.ramMB, q.limits.ramMB)} MB`,
    '',
    `Servers (${s.servers.length} ours, ${s.foreignServers} not ours and never touched):`,
    table(
      ['Server ID', 'Name', 'State', 'IP', 'Node', 'Image'],
      s.servers.map((x) => [x.id, x.name, x.state, x.ip ?? '', x.nodeId ?? '', x.image ?? '']),
    ),
    '',
    `Images (${s.images.length} ours, ${s.foreignImages} not ours):`,
    table(
      ['Image ID', 'Name', 'State', 'Upload', 'Size'],
      s.images.map((x) => [x.id, x.name, x.state, x.uploadId ?? '', x.size ?? '']),
    ),
    '',
    'Flavors:',
    table(
      ['Name', 'vCPUs', 'RAM (MB)', 'Disk (GB)'],
      s.flavors.map((f) => [f.name, f.vcpus, f.ramMB, f.diskGB]),
    ),
  ].join('\n');
}

export async function info(args: InfoArgs): Promise<void> {
  const config = loadCliConfig(args.config);
  if (config && !config.providers.some((p) => p.name === args.provider)) {
    const known = config.providers.map((p) => p.name).join(', ') || 'none';
    throw new CliError(`provider ${args.provider} is not in ${args.config} (providers: ${known})`, 2);
  }
  const t = await connectTemporal(config);
  try {
    const [snapshot, pool] = await Promise.all([
      askWorker(t, providerInfo, [args.provider], {
        timeoutSeconds: args.timeout,
        workflowId: `provider-info/${args.provider}/${randomUUID()}`,
        what: `info ${args.provider}`,
      }),
      // A provider without pools has no pool workflow: its occupancy is simply not shown.
      t.client.workflow
        .getHandle(poolWorkflowId(args.provider))
        .query(poolQuery)
        .catch(() => undefined),
    ]);
    process.stdout.write(
      args.json ? `${JSON.stringify({ ...snapshot, pool }, null, 2)}\n` : `${renderInfo(snapshot, pool)}\n`,
    );
  } finally {
    await t.close();
  }
}
