// `nodepool info PROVIDER`: what a provider's cloud holds for us, asked through a worker (which has the
// credentials), never by the CLI itself.
import { randomUUID } from 'node:crypto';
import type { CommandModule } from 'yargs';
import { ActivityFailure, TimeoutFailure, WorkflowFailedError, type Client } from '@temporalio/client';
import type { ProviderSnapshot } from '../../activities/provider.ts';
import { providerInfo } from '../../workflows/index.ts';
import { CliError } from '../errors.ts';
import { renderTable as table } from '../table.ts';
import { connectTemporal, loadCliConfig } from '../temporal.ts';

interface InfoArgs {
  provider: string;
  json: boolean;
  config: string;
  timeout: number;
}

const of = (used: number | undefined, limit: number | null | undefined): string =>
  `${used ?? 0}/${limit === null || limit === undefined ? 'unlimited' : limit}`;

export function renderInfo(s: ProviderSnapshot): string {
  const q = s.quota;
  return [
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

/** A timeout has three usual causes; the workflow's history tells which, so the operator looks in the right place. */
async function whyTimedOut(client: Client, workflowId: string, taskQueue: string, timeout: number): Promise<string> {
  const handle = client.workflow.getHandle(workflowId);
  const [description, history] = await Promise.all([handle.describe(), handle.fetchHistory()]);
  const events = history.events ?? [];
  const taskFailure = events.findLast((e) => e.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes;
  if (taskFailure?.failure?.message)
    return `the worker failed the workflow task: ${taskFailure.failure.message} (see the worker's log)`;
  const pending = description.raw.pendingActivities?.[0];
  if (pending?.lastFailure?.message)
    return `no answer within ${timeout}s: the worker's last attempt (${pending.attempt ?? 1}) failed with: ${pending.lastFailure.message}`;
  if (!events.some((e) => e.workflowTaskStartedEventAttributes))
    return `no worker answered on task queue ${taskQueue} within ${timeout}s`;
  if (pending)
    return `no answer within ${timeout}s: the worker is still waiting on the cloud (attempt ${pending.attempt ?? 1})`;
  return `no answer within ${timeout}s from the worker on task queue ${taskQueue}`;
}

export const infoCommand: CommandModule<{ config: string }, InfoArgs> = {
  command: 'info <provider>',
  describe: "Show a provider's quota, flavors, and the servers and images nodepool owns there",
  builder: (y) =>
    y
      .positional('provider', { type: 'string', demandOption: true, describe: 'provider name from nodepool.yaml' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON for scripts' })
      .option('timeout', { type: 'number', default: 120, describe: 'seconds to wait for a worker to answer' }),
  handler: async (args) => {
    const config = loadCliConfig(args.config);
    if (config && !config.providers.some((p) => p.name === args.provider)) {
      const known = config.providers.map((p) => p.name).join(', ') || 'none';
      throw new CliError(`provider ${args.provider} is not in ${args.config} (providers: ${known})`, 2);
    }
    const t = await connectTemporal(config);
    const workflowId = `provider-info/${args.provider}/${randomUUID()}`;
    try {
      const snapshot = await t.client.workflow.execute(providerInfo, {
        taskQueue: t.taskQueue,
        workflowId,
        args: [args.provider],
        workflowExecutionTimeout: `${args.timeout} seconds`,
      });
      process.stdout.write(args.json ? `${JSON.stringify(snapshot, null, 2)}\n` : `${renderInfo(snapshot)}\n`);
    } catch (err) {
      if (err instanceof WorkflowFailedError) {
        if (err.cause instanceof TimeoutFailure)
          throw new CliError(await whyTimedOut(t.client, workflowId, t.taskQueue, args.timeout), 1);
        const inner = err.cause instanceof ActivityFailure ? (err.cause.cause ?? err.cause) : err.cause;
        throw new CliError(`info ${args.provider} failed: ${inner?.message ?? err.message}`, 1);
      }
      throw err;
    } finally {
      await t.close();
    }
  },
};
