// What a pool workflow does with a plan, reduced to the state change, so tests can plan → apply → plan again
// and check that a plan is idempotent and that a simulated pool converges. Pure: returns a new input.
import type { Plan, PlannerInput, PoolNode, PoolRequest } from '../../core/pool-types.ts';

export interface ApplyOptions {
  /** Id of the first launched node; default: one past the largest id in the input. */
  firstId?: number;
}

/**
 * Applies a plan: allocations reserve nodes (requestKey); launches become `building` nodes with fresh ids;
 * deletes go to `deleting`; fulfilled requests' nodes go `in-use` and the request leaves the pending list, as
 * failed requests do. Every change is dated `input.now`.
 */
export function applyPlan(input: PlannerInput, plan: Plan, opts: ApplyOptions = {}): PlannerInput {
  const now = input.now;
  const nodes = new Map(input.nodes.map((n) => [n.id, { ...n }]));
  const node = (id: number, what: string): PoolNode => {
    const n = nodes.get(id);
    if (!n) throw new Error(`the plan ${what} node ${id}, which is not in the input`);
    return n;
  };
  for (const a of plan.allocate) for (const id of a.nodeIds) node(id, 'allocates').requestKey = a.requestKey;
  for (const d of plan.delete) Object.assign(node(d.nodeId, 'deletes'), { state: 'deleting', stateSince: now });
  for (const f of plan.fulfil)
    for (const id of f.nodeIds) Object.assign(node(id, 'hands over'), { state: 'in-use', stateSince: now });
  let next = opts.firstId ?? Math.max(0, ...input.nodes.map((n) => n.id)) + 1;
  for (const l of plan.launch) {
    const id = next++;
    const launched: PoolNode = {
      id,
      launchKey: `launch-${id}`,
      pool: l.pool,
      label: l.label,
      state: 'building',
      stateSince: now,
      resources: { ...l.resources },
    };
    if (l.uploadId !== undefined) launched.uploadId = l.uploadId;
    if (l.requestKey !== undefined) launched.requestKey = l.requestKey;
    if (l.reason === 'validation') launched.validation = true;
    nodes.set(id, launched);
  }
  const done = new Set([...plan.fulfil, ...plan.fail].map((r) => r.requestKey));
  return {
    ...input,
    nodes: [...nodes.values()].sort((a, b) => a.id - b.id),
    requests: input.requests.filter((r) => !done.has(r.key)),
  };
}

/** Building nodes finish booting: READY since `input.now` (all of them, or those listed). */
export function bootNodes(input: PlannerInput, ids?: number[]): PlannerInput {
  const which = (n: PoolNode) => n.state === 'building' && (ids === undefined || ids.includes(n.id));
  return {
    ...input,
    nodes: input.nodes.map((n) =>
      which(n) ? { ...n, state: 'ready', stateSince: input.now, readySince: input.now } : n,
    ),
  };
}

/** The cloud confirmed deletions: `deleting` nodes are gone. */
export function forgetDeleted(input: PlannerInput): PlannerInput {
  return { ...input, nodes: input.nodes.filter((n) => n.state !== 'deleting') };
}

/** Users release in-use nodes: they become `used`. */
export function releaseNodes(input: PlannerInput, ids?: number[]): PlannerInput {
  const which = (n: PoolNode) => n.state === 'in-use' && (ids === undefined || ids.includes(n.id));
  return { ...input, nodes: input.nodes.map((n) => (which(n) ? { ...n, state: 'used', stateSince: input.now } : n)) };
}

// ---------------------------------------------------------------------------------------------------------
// Small builders for planner inputs: one provider "east", pool "main" (max-servers 10) offering `small`
// (m1.small: 2 cores, 2 GiB) and `large` (m1.large: 4 cores, 8 GiB), both booting diskimage "ubuntu" whose
// current upload is 100; no quota, no policy. Tests override what they exercise.

export const T0 = Date.UTC(2026, 0, 1, 12);
export const SMALL = { instances: 1, cores: 2, ramMB: 2048 };
export const LARGE = { instances: 1, cores: 4, ramMB: 8192 };

export function poolInput(over: Partial<PlannerInput> = {}): PlannerInput {
  return {
    now: T0,
    provider: 'east',
    pools: [
      {
        name: 'main',
        maxServers: 10,
        labels: [
          { label: 'small', image: { diskimage: 'ubuntu' }, flavor: 'm1.small', resources: SMALL },
          { label: 'large', image: { diskimage: 'ubuntu' }, flavor: 'm1.large', resources: LARGE },
        ],
      },
    ],
    labels: {},
    quota: { instances: null, cores: null, ramMB: null },
    currentUploads: { ubuntu: 100 },
    withdrawnUploads: [],
    validations: [],
    nodes: [],
    requests: [],
    ...over,
  };
}

/** A READY unallocated `small` node in pool main, booted from upload 100, READY since T0 - id minutes. */
export function poolNode(id: number, over: Partial<PoolNode> = {}): PoolNode {
  return {
    id,
    launchKey: `launch-${id}`,
    pool: 'main',
    label: 'small',
    state: 'ready',
    stateSince: T0 - id * 60_000,
    readySince: T0 - id * 60_000,
    uploadId: 100,
    resources: SMALL,
    ...over,
  };
}

export function poolRequest(key: string, labels: string[], over: Partial<PoolRequest> = {}): PoolRequest {
  return { key, labels, priority: 200, requestor: 'zuul', submittedAt: T0 - 1000, ...over };
}
