import { randomUUID } from 'node:crypto';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { NodepoolClient, NodepoolError } from '../../client/nodepool-client.ts';
import { parseDuration } from '../../config/index.ts';
import type { NodeView, PoolView, RequestRecord, RequestStatus } from '../../workflows/pool-api.ts';
import type { DeleteArgs, HoldArgs, ListArgs, ReleaseArgs, RequestArgs } from '../commands/nodes.ts';
import { CliError } from '../errors.ts';
import { renderTable } from '../table.ts';
import { connectTemporal, loadCliConfig, type CliTemporal } from '../temporal.ts';

async function withClient<T>(configPath: string, fn: (c: NodepoolClient, t: CliTemporal) => Promise<T>): Promise<T> {
  const config = loadCliConfig(configPath);
  const t = await connectTemporal(config);
  const providers = config?.providers.filter((p) => p.pools.length > 0).map((p) => p.name);
  try {
    return await fn(new NodepoolClient(t.client, providers ? { providers } : {}), t);
  } catch (err) {
    if (err instanceof NodepoolError) throw new CliError(err.message, 1);
    // A validator refused (unknown node, already held, ...): nothing changed.
    if (err instanceof WorkflowUpdateFailedError) throw new CliError(err.cause?.message ?? err.message, 2);
    throw err;
  } finally {
    await t.close();
  }
}

/** nodepool's age column: DD:HH:MM:SS. */
export function age(seconds: number): string {
  const s = Math.floor(seconds);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(Math.floor(s / 86400))}:${pad(Math.floor((s % 86400) / 3600))}:${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
}

function held(n: NodeView): string {
  if (n.state === 'hold') return `held: ${n.holdReason ?? ''}`;
  if (n.requestKey && (n.state === 'in-use' || n.state === 'ready')) return `locked: ${n.requestKey}`;
  return '';
}

export const LIST_HEAD = ['ID', 'Provider', 'Label', 'Server ID', 'Public IPv4', 'State', 'Age', 'Locked/Held'];

/** One node's cells under LIST_HEAD (shared with the status pages' /node-list). */
export function listCells(n: NodeView): (string | number)[] {
  return [n.id, n.provider, n.label, n.externalId ?? '', n.ip ?? '', n.state, age(n.stateAgeSeconds), held(n)];
}

export function listNodes(pools: PoolView[]): NodeView[] {
  return pools.flatMap((p) => p.nodes).sort((a, b) => a.id - b.id);
}

export function renderList(pools: PoolView[]): string {
  return renderTable(LIST_HEAD, listNodes(pools).map(listCells));
}

export const REQUEST_LIST_HEAD = [
  'Request ID',
  'Priority',
  'State',
  'Requestor',
  'Node Types',
  'Nodes',
  'Provider',
  'Reason',
];

export type RequestListRow = RequestRecord & { provider: string };

export function requestListRows(pools: PoolView[]): RequestListRow[] {
  return pools
    .flatMap((p) => p.requests.map((r) => ({ ...r, provider: p.provider })))
    .sort((a, b) => a.submittedAt - b.submittedAt);
}

/** One request's cells under REQUEST_LIST_HEAD (shared with the status pages' /request-list). */
export function requestListCells(r: RequestListRow): (string | number)[] {
  return [r.key, r.priority, r.state, r.requestor, r.labels.join(','), r.nodeIds.join(','), r.provider, r.reason ?? ''];
}

export async function list(args: ListArgs): Promise<void> {
  await withClient(args.config, async (c) => {
    const pools = await c.pools();
    process.stdout.write(
      args.json
        ? `${JSON.stringify(
            pools.flatMap((p) => p.nodes),
            null,
            2,
          )}\n`
        : `${renderList(pools)}\n`,
    );
  });
}

function describeRequest(s: RequestStatus): string {
  if (s.state === 'fulfilled')
    return [
      `request ${s.key}: fulfilled by ${s.provider}`,
      renderTable(
        ['ID', 'Label', 'Hostname', 'IP', 'Server ID'],
        s.nodes.map((n) => [n.id, n.label, n.hostname, n.ip ?? n.ipv6 ?? '', n.externalId ?? '']),
      ),
    ].join('\n');
  if (s.state === 'failed') return `request ${s.key}: failed: ${s.reason ?? 'no reason given'}`;
  return `request ${s.key}: pending in ${s.provider}${s.reason ? `: ${s.reason}` : ''}`;
}

export async function request(args: RequestArgs): Promise<void> {
  if (!Number.isFinite(args.timeout) || args.timeout < 0)
    throw new CliError(`--timeout must be a number of seconds ≥ 0, got ${String(args.timeout)}`, 2);
  if (!Number.isInteger(args.priority))
    throw new CliError(`--priority must be a whole number, got ${String(args.priority)}`, 2);
  const key = args.key ?? `cli-${randomUUID()}`;
  await withClient(args.config, async (c) => {
    const s = await c.requestNodes(
      { key, labels: args.labels.map(String), requestor: args.requestor, priority: args.priority },
      { wait: args.wait, timeoutMs: args.timeout * 1000 },
    );
    process.stdout.write(args.json ? `${JSON.stringify(s, null, 2)}\n` : `${describeRequest(s)}\n`);
    if (s.state === 'failed') process.exitCode = 2;
    else if (args.wait && s.state === 'pending') process.exitCode = 1;
  });
}

export async function release(args: ReleaseArgs): Promise<void> {
  await withClient(args.config, async (c) => {
    for (const r of await c.release(args.ids.map(Number)))
      process.stdout.write(`node ${r.id} released in ${r.provider}: it is deleted and replaced\n`);
  });
}

export async function hold(args: HoldArgs): Promise<void> {
  let seconds: number | undefined;
  if (args.expires !== undefined) {
    seconds = parseDuration(args.expires);
    if (seconds === undefined || seconds <= 0)
      throw new CliError(`--expires must be a duration like 90m, 2h or 1d, got ${args.expires}`, 2);
  }
  await withClient(args.config, async (c) => {
    const r = await c.hold(args.id, args.reason, seconds);
    const until = r.until === undefined ? 'until deleted' : `until ${new Date(r.until).toISOString()}`;
    process.stdout.write(`node ${r.id} in ${r.provider} held ${until}: ${args.reason}\n`);
  });
}

export async function deleteNode(args: DeleteArgs): Promise<void> {
  await withClient(args.config, async (c) => {
    const r = await c.deleteNode(args.id, args.now);
    process.stdout.write(
      r.immediate
        ? `node ${r.id} in ${r.provider} is being deleted\n`
        : `node ${r.id} in ${r.provider} will be deleted when its user releases it (--now deletes it at once)\n`,
    );
  });
}

export async function requestList(args: ListArgs): Promise<void> {
  await withClient(args.config, async (c) => {
    const pools = await c.pools();
    const requests = requestListRows(pools);
    if (args.json) {
      process.stdout.write(`${JSON.stringify(requests, null, 2)}\n`);
      return;
    }
    process.stdout.write(`${renderTable(REQUEST_LIST_HEAD, requests.map(requestListCells))}\n`);
    const idle = pools.flatMap((p) => p.minReadyWaits.map((w) => `  ${p.provider} ${w.label}: ${w.reason}`));
    if (idle.length > 0) process.stdout.write(`min-ready waits:\n${idle.join('\n')}\n`);
  });
}
