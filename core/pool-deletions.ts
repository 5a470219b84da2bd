// Which nodes a pool deletes now, each with the reason an operator reads in `nodepool list` and the logs.
// Nodes in flight (building, in-use, already deleting) are the workflow's business, never the planner's; a
// validation node belongs to its validation until it is used or fails.
import type { PlannerInput, PoolNode } from './pool-types.ts';

/** Human durations: "45 s", "12 min", "3.5 h". */
export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  if (s < 120 * 60) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

function offered(input: PlannerInput, node: PoolNode): string | undefined {
  const pool = input.pools.find((p) => p.name === node.pool);
  if (!pool) return `pool ${node.pool} is no longer in the configuration of ${input.provider}`;
  if (!pool.labels.some((l) => l.label === node.label)) return `pool ${node.pool} no longer offers label ${node.label}`;
  return undefined;
}

function whyDelete(
  input: PlannerInput,
  node: PoolNode,
  withdrawn: Set<number>,
  pending: Set<string>,
): string | undefined {
  const { now } = input;
  switch (node.state) {
    case 'building':
    case 'in-use':
    case 'deleting':
      return undefined;
    case 'used':
      return 'used: released by its user (nodes serve one job)';
    case 'failed':
      return 'failed: its launch or ready check did not succeed';
    default:
      break;
  }
  if (node.validation) return undefined;
  if (node.deleteRequested) return 'deleted by an operator';
  if (node.state === 'hold') {
    const held = node.holdReason ? ` (held: ${node.holdReason})` : '';
    if (node.holdUntil !== undefined && node.holdUntil <= now)
      return `hold expired at ${new Date(node.holdUntil).toISOString()}${held}`;
    if (input.maxHoldAge !== undefined && now - node.stateSince > input.maxHoldAge * 1000)
      return `held for ${duration(now - node.stateSince)}, longer than max-hold-age (${duration(input.maxHoldAge * 1000)})${held}`;
    return undefined;
  }
  // READY from here on; an allocated node is its request's, while that request is pending. Reserved for a
  // request that is gone (cancelled, failed), it would hold its capacity forever.
  if (node.requestKey !== undefined)
    return pending.has(node.requestKey)
      ? undefined
      : `reserved for request ${node.requestKey}, which is no longer pending`;
  const gone = offered(input, node);
  if (gone) return gone;
  if (node.uploadId !== undefined && withdrawn.has(node.uploadId))
    return `booted from upload ${node.uploadId}, which an operator withdrew (image-delete)`;
  const maxAge = input.labels[node.label]?.maxReadyAge;
  const idle = now - (node.readySince ?? node.stateSince);
  if (maxAge !== undefined && idle > maxAge * 1000)
    return `idle READY for ${duration(idle)}, longer than max-ready-age of ${node.label} (${duration(maxAge * 1000)})`;
  return undefined;
}

/** The nodes to delete now, by node id. */
export function plannedDeletions(input: PlannerInput): { nodeId: number; reason: string }[] {
  const withdrawn = new Set(input.withdrawnUploads);
  const pending = new Set(input.requests.map((r) => r.key));
  const out: { nodeId: number; reason: string }[] = [];
  for (const node of [...input.nodes].sort((a, b) => a.id - b.id)) {
    const reason = whyDelete(input, node, withdrawn, pending);
    if (reason) out.push({ nodeId: node.id, reason });
  }
  return out;
}
