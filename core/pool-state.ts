// A provider pool's state and every change to it, as pure functions: the pool workflow holds the state and
// calls these on each event (a plan, launch results, deletions, a reconcile against the cloud, an operator's
// hold or delete), so each transition is tested without Temporal. Every change returns the node transitions
// to record in PostgreSQL.
import { pickFlavor } from './flavor.ts';
import type {
  LabelPolicy,
  Plan,
  PlannerInput,
  PoolNode,
  PoolNodeState,
  PoolPlanConfig,
  PoolRequest,
  QuotaHeadroom,
  Resources,
} from './pool-types.ts';

/** A node as the pool workflow keeps it: the planner's view plus what the cloud told us. */
export interface NodeRecord extends PoolNode {
  /** The server's name in the cloud (hostname-format). */
  hostname: string;
  externalId?: string;
  ip?: string;
  ipv6?: string;
  az?: string;
  hostKeys?: string[];
  /** How CI logs in: the image's username, SSH port and python (nodepool's node attributes for Zuul). */
  username?: string;
  connectionPort?: number;
  pythonPath?: string;
  /** Why it failed or is deleted, in the operator's words. */
  reason?: string;
  /** Workflow time (ms) the node was created. */
  createdAt: number;
}

export type RequestState = 'pending' | 'fulfilled' | 'failed';

export interface RequestRecord extends PoolRequest {
  state: RequestState;
  /** The nodes handed over (fulfilled). */
  nodeIds: number[];
  /** Why it waits (pending) or failed. */
  reason?: string;
  /** Workflow time it was fulfilled or failed. */
  doneAt?: number;
}

/** What the pool knows of its configuration: the planning part (launch details stay in the worker). */
export interface PoolSettings {
  provider: string;
  pools: PoolPlanConfig[];
  labels: Record<string, LabelPolicy>;
  maxHoldAge?: number;
  maxConcurrency?: number;
  /** Pools whose launches ignore the cloud's quota. */
  ignoreQuota: boolean;
}

export interface PoolImage {
  uploadId: number;
  externalId: string;
}

export interface PoolState {
  nodes: NodeRecord[];
  requests: RequestRecord[];
  /** Current upload per diskimage (from the catalog). */
  images: Record<string, PoolImage>;
  withdrawn: number[];
  validations: { diskimage: string; uploadId: number; externalId: string }[];
  /** Cloud limits minus what servers that are not ours use. */
  quota: QuotaHeadroom;
  /** flavor name → resources, from the cloud. */
  flavors: Record<string, Resources>;
  /** Servers tagged as ours but unknown: server id → consecutive reconciles seen and first sighting. */
  leakSuspects: Record<string, { seen: number; since: number }>;
  /** Labels whose min-ready launches keep failing: failures in a row, and no refill before `until`. */
  labelBackoff?: Record<string, { failures: number; until: number; reason: string }>;
}

/** After this many failed launches in a row, a label's min-ready refills back off (doubling, up to 10 minutes). */
export const BACKOFF_AFTER = 3;
const BACKOFF_BASE_MS = 10_000;
const BACKOFF_MAX_MS = 600_000;

/** A node transition to record in PostgreSQL. */
export interface NodeChange {
  id: number;
  state: PoolNodeState | 'deleted';
  reason?: string;
}

export interface RequestChange {
  key: string;
  state: RequestState;
  reason?: string;
  nodeIds?: number[];
}

export function emptyPoolState(): PoolState {
  return {
    nodes: [],
    requests: [],
    images: {},
    withdrawn: [],
    validations: [],
    quota: { instances: null, cores: null, ramMB: null },
    flavors: {},
    leakSuspects: {},
  };
}

/** The planner's input from the pool's state. */
/** A label's flavor resources from the cloud's flavors: by name, or by nodepool's min-ram rule. */
function flavorResources(flavors: Record<string, Resources>, name: string, minRam?: number): Resources | undefined {
  if (minRam === undefined) return flavors[name];
  const list = Object.entries(flavors).map(([n, r]) => ({ name: n, ramMB: r.ramMB, vcpus: r.cores, r }));
  return pickFlavor(list, name, minRam)?.r;
}

/** Labels whose min-ready refills wait for a backoff to pass, with why. */
export function backedOffLabels(state: PoolState, now: number): { label: string; reason: string }[] {
  return Object.entries(state.labelBackoff ?? {})
    .filter(([, b]) => b.until > now)
    .map(([label, b]) => ({
      label,
      reason: `${b.failures} launches failed in a row (last: ${b.reason}); next min-ready launch in ${Math.ceil((b.until - now) / 1000)} s`,
    }));
}

export function plannerInput(state: PoolState, settings: PoolSettings, now: number): PlannerInput {
  const waiting = new Set(backedOffLabels(state, now).map((b) => b.label));
  const withResources = settings.pools.map((p) => ({
    ...p,
    labels: p.labels.map((l) => {
      const resources = l.flavor === undefined ? undefined : flavorResources(state.flavors, l.flavor, l.minRam);
      return resources ? { ...l, resources } : { ...l };
    }),
  }));
  return {
    now,
    provider: settings.provider,
    pools: withResources,
    // A label in backoff refills nothing; requests still launch for it (and fail on their own if it is broken).
    labels: Object.fromEntries(
      Object.entries(settings.labels).map(([l, p]) => [l, waiting.has(l) ? { ...p, minReady: 0 } : p]),
    ),
    ...(settings.maxHoldAge === undefined ? {} : { maxHoldAge: settings.maxHoldAge }),
    ...(settings.maxConcurrency === undefined ? {} : { maxConcurrency: settings.maxConcurrency }),
    quota: settings.ignoreQuota ? { instances: null, cores: null, ramMB: null } : state.quota,
    currentUploads: Object.fromEntries(Object.entries(state.images).map(([k, v]) => [k, v.uploadId])),
    withdrawnUploads: state.withdrawn,
    validations: state.validations.map(({ diskimage, uploadId }) => ({ diskimage, uploadId })),
    nodes: state.nodes,
    requests: state.requests.filter((r) => r.state === 'pending'),
  };
}

export interface LaunchOrder {
  node: NodeRecord;
  /** The cloud image to boot: the current upload's id, or a cloud image name/id. */
  imageId?: string;
  cloudImage?: string;
}

export interface Applied {
  state: PoolState;
  launches: LaunchOrder[];
  deletions: NodeRecord[];
  nodeChanges: NodeChange[];
  requestChanges: RequestChange[];
}

/**
 * Applies a plan. `ids` are fresh node ids for the plan's launches (allocated in PostgreSQL beforehand), and
 * `hostname(label, id)` names their servers.
 */
export function applyPlan(
  state: PoolState,
  plan: Plan,
  now: number,
  ids: number[],
  hostname: (label: string, id: number) => string,
  launchKey: (id: number) => string,
): Applied {
  const nodes = new Map(state.nodes.map((n) => [n.id, { ...n }]));
  const requests = new Map(state.requests.map((r) => [r.key, { ...r }]));
  const nodeChanges: NodeChange[] = [];
  const requestChanges: RequestChange[] = [];
  const deletions: NodeRecord[] = [];
  const launches: LaunchOrder[] = [];

  for (const a of plan.allocate)
    for (const id of a.nodeIds) {
      const n = nodes.get(id);
      if (n) n.requestKey = a.requestKey;
    }
  for (const d of plan.delete) {
    const n = nodes.get(d.nodeId);
    if (!n || n.state === 'deleting') continue;
    Object.assign(n, { state: 'deleting', stateSince: now, reason: d.reason });
    nodeChanges.push({ id: n.id, state: 'deleting', reason: d.reason });
    deletions.push(n);
  }
  for (const f of plan.fulfil) {
    for (const id of f.nodeIds) {
      const n = nodes.get(id);
      if (!n) continue;
      Object.assign(n, { state: 'in-use', stateSince: now, requestKey: f.requestKey });
      nodeChanges.push({ id, state: 'in-use' });
    }
    const r = requests.get(f.requestKey);
    if (r) {
      Object.assign(r, { state: 'fulfilled', nodeIds: f.nodeIds, doneAt: now });
      delete r.reason;
      requestChanges.push({ key: r.key, state: 'fulfilled', nodeIds: f.nodeIds });
    }
  }
  for (const f of plan.fail) {
    const r = requests.get(f.requestKey);
    if (!r || r.state !== 'pending') continue;
    Object.assign(r, { state: 'failed', reason: f.reason, doneAt: now });
    requestChanges.push({ key: r.key, state: 'failed', reason: f.reason });
  }
  for (const w of plan.wait) {
    const r = requests.get(w.requestKey);
    if (r && r.state === 'pending' && r.reason !== w.reason) r.reason = w.reason;
  }
  plan.launch.forEach((l, i) => {
    const id = ids[i];
    if (id === undefined) throw new Error(`no node id for launch ${i} of ${plan.launch.length}`);
    const node: NodeRecord = {
      id,
      launchKey: launchKey(id),
      pool: l.pool,
      label: l.label,
      state: 'building',
      stateSince: now,
      resources: { ...l.resources },
      hostname: hostname(l.label, id),
      createdAt: now,
      ...(l.uploadId === undefined ? {} : { uploadId: l.uploadId }),
      ...(l.requestKey === undefined ? {} : { requestKey: l.requestKey }),
      ...(l.reason === 'validation' ? { validation: true } : {}),
    };
    nodes.set(id, node);
    nodeChanges.push({ id, state: 'building' });
    const image =
      l.uploadId === undefined
        ? undefined
        : (Object.values(state.images).find((x) => x.uploadId === l.uploadId)?.externalId ??
          state.validations.find((v) => v.uploadId === l.uploadId)?.externalId);
    launches.push({
      node,
      ...(image === undefined ? {} : { imageId: image }),
      ...(l.cloudImage === undefined ? {} : { cloudImage: l.cloudImage }),
    });
  });
  return {
    state: {
      ...state,
      nodes: [...nodes.values()].sort((a, b) => a.id - b.id),
      requests: [...requests.values()],
    },
    launches,
    deletions,
    nodeChanges,
    requestChanges,
  };
}

/** What a launcher reports for one node. */
export type LaunchResult =
  | {
      id: number;
      outcome: 'ready';
      externalId: string;
      ip?: string;
      ipv6?: string;
      az?: string;
      hostKeys: string[];
      username?: string;
      connectionPort?: number;
      pythonPath?: string;
    }
  | { id: number; outcome: 'failed'; reason: string; externalId?: string }
  /** The cloud refused for quota before anything existed: not an attempt; the node is dropped. */
  | { id: number; outcome: 'aborted'; reason: string };

export function applyLaunchResults(
  state: PoolState,
  results: LaunchResult[],
  now: number,
): {
  state: PoolState;
  nodeChanges: NodeChange[];
  requestChanges: RequestChange[];
  quotaHit: boolean;
  validated: { uploadId: number; ok: boolean; reason?: string }[];
} {
  const nodeChanges: NodeChange[] = [];
  const requestChanges: RequestChange[] = [];
  let requests = state.requests;
  const backoff = { ...(state.labelBackoff ?? {}) };
  const validated: { uploadId: number; ok: boolean; reason?: string }[] = [];
  let quotaHit = false;
  let nodes = state.nodes;
  for (const r of results) {
    const n = nodes.find((x) => x.id === r.id);
    // Only a building node takes a launch result: a late or repeated one changes nothing.
    if (!n || n.state !== 'building') continue;
    let next: NodeRecord | undefined;
    if (r.outcome === 'ready') {
      next = {
        ...n,
        state: 'ready',
        stateSince: now,
        readySince: now,
        externalId: r.externalId,
        hostKeys: r.hostKeys,
        ...(r.ip ? { ip: r.ip } : {}),
        ...(r.ipv6 ? { ipv6: r.ipv6 } : {}),
        ...(r.az ? { az: r.az } : {}),
        ...(r.username ? { username: r.username } : {}),
        ...(r.connectionPort ? { connectionPort: r.connectionPort } : {}),
        ...(r.pythonPath ? { pythonPath: r.pythonPath } : {}),
      };
      nodeChanges.push({ id: n.id, state: 'ready' });
      if (!n.validation) delete backoff[n.label];
      if (n.validation && n.uploadId !== undefined) {
        validated.push({ uploadId: n.uploadId, ok: true });
        // A validation node has done its job once it booted: it is used up.
        next = { ...next, state: 'used', stateSince: now, reason: 'validation boot passed' };
        nodeChanges.push({ id: n.id, state: 'used', reason: 'validation boot passed' });
      }
    } else if (r.outcome === 'failed') {
      next = {
        ...n,
        state: 'failed',
        stateSince: now,
        reason: r.reason,
        ...(r.externalId ? { externalId: r.externalId } : {}),
      };
      nodeChanges.push({ id: n.id, state: 'failed', reason: r.reason });
      if (n.validation && n.uploadId !== undefined)
        validated.push({ uploadId: n.uploadId, ok: false, reason: r.reason });
      else if (n.requestKey !== undefined) {
        // launch-retries are spent: the request fails, as nodepool declines it, instead of launching forever.
        const reason = `launching ${n.label} failed: ${r.reason}`;
        const key = n.requestKey;
        if (requests.some((q) => q.key === key && q.state === 'pending')) {
          requests = requests.map((q) =>
            q.key === key && q.state === 'pending' ? { ...q, state: 'failed' as const, reason, doneAt: now } : q,
          );
          requestChanges.push({ key, state: 'failed', reason });
        }
      } else {
        const failures = (backoff[n.label]?.failures ?? 0) + 1;
        const wait =
          failures < BACKOFF_AFTER ? 0 : Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (failures - BACKOFF_AFTER));
        backoff[n.label] = { failures, until: now + wait, reason: r.reason };
      }
    } else {
      quotaHit = true;
      nodeChanges.push({ id: n.id, state: 'deleted', reason: r.reason });
      nodes = nodes.filter((x) => x.id !== n.id);
      continue;
    }
    nodes = nodes.map((x) => (x.id === n.id ? (next as NodeRecord) : x));
  }
  const doneValidations = new Set(validated.map((v) => v.uploadId));
  return {
    state: {
      ...state,
      nodes,
      requests,
      labelBackoff: backoff,
      validations: state.validations.filter((v) => !doneValidations.has(v.uploadId)),
    },
    nodeChanges,
    requestChanges,
    quotaHit,
    validated,
  };
}

/** Servers confirmed gone: their nodes leave the pool. */
export function applyDeleted(state: PoolState, ids: number[]): { state: PoolState; nodeChanges: NodeChange[] } {
  const gone = new Set(ids);
  const nodeChanges = state.nodes.filter((n) => gone.has(n.id)).map((n) => ({ id: n.id, state: 'deleted' as const }));
  return { state: { ...state, nodes: state.nodes.filter((n) => !gone.has(n.id)) }, nodeChanges };
}

/** A server as a reconcile sees it. */
export interface CloudServer {
  id: string;
  name: string;
  state: 'building' | 'active' | 'error' | 'deleting' | 'deleted' | 'other';
  /** Our node id tag, when present. */
  nodeId?: string;
  /** Set on snapshot builds' template servers: those belong to the image builder, not the pool. */
  uploadId?: string;
  fault?: string;
}

export interface Reconciled {
  state: PoolState;
  nodeChanges: NodeChange[];
  /** Servers to delete as leaks: tagged as ours, unknown to the pool, seen twice and older than the grace. */
  leaks: CloudServer[];
}

/**
 * Drift between the pool and the cloud: a node whose server vanished or went to ERROR has failed (the planner
 * deletes it); a server tagged as ours that no node knows is a leak once two consecutive reconciles saw it and
 * the grace period has passed. Servers without our tag never reach here.
 */
export function reconcile(state: PoolState, servers: CloudServer[], now: number, graceMs: number): Reconciled {
  const byId = new Map(servers.map((s) => [s.id, s]));
  const nodeChanges: NodeChange[] = [];
  const nodes = state.nodes.map((n) => {
    if (!n.externalId || n.state === 'building' || n.state === 'deleting' || n.state === 'failed') return n;
    const s = byId.get(n.externalId);
    const reason =
      !s || s.state === 'deleted'
        ? `server ${n.externalId} vanished from the cloud`
        : s.state === 'error'
          ? `server ${n.externalId} went to ERROR${s.fault ? `: ${s.fault}` : ''}`
          : undefined;
    if (!reason) return n;
    nodeChanges.push({ id: n.id, state: 'failed', reason });
    return { ...n, state: 'failed' as const, stateSince: now, reason };
  });
  const known = new Set(state.nodes.flatMap((n) => (n.externalId ? [n.externalId] : [])));
  // A launch in flight (or retrying) makes servers before it tells us their ids: its node id tag says they
  // are ours. Once the node knows its server, another server with its tag is a duplicate, hence a leak.
  const launching = new Set(
    state.nodes.filter((n) => n.state === 'building' || !n.externalId).map((n) => String(n.id)),
  );
  const suspects: PoolState['leakSuspects'] = {};
  const leaks: CloudServer[] = [];
  for (const s of servers) {
    if (s.state === 'deleted' || s.uploadId !== undefined || known.has(s.id)) continue;
    if (s.nodeId !== undefined && launching.has(s.nodeId)) continue;
    const before = state.leakSuspects[s.id];
    const seen = (before?.seen ?? 0) + 1;
    const since = before?.since ?? now;
    if (seen >= 2 && now - since >= graceMs) leaks.push(s);
    else suspects[s.id] = { seen, since };
  }
  return { state: { ...state, nodes, leakSuspects: suspects }, nodeChanges, leaks };
}

export type OperatorRefusal = { refused: string };

/** `nodepool hold ID`: a READY, in-use or used node stops being used or deleted until the hold ends. */
export function holdNode(
  state: PoolState,
  id: number,
  reason: string,
  until: number | undefined,
  now: number,
  maxHoldAge: number | undefined,
): OperatorRefusal | { state: PoolState; change: NodeChange; until?: number } {
  const n = state.nodes.find((x) => x.id === id);
  if (!n) return { refused: `node ${id} is not in this pool` };
  if (n.state === 'hold') return { refused: `node ${id} is already held: ${n.holdReason ?? ''}` };
  if (!['ready', 'in-use', 'used'].includes(n.state))
    return { refused: `node ${id} is ${n.state}; only ready, in-use or used nodes can be held` };
  // max-hold-age caps every hold.
  const cap = maxHoldAge === undefined ? undefined : now + maxHoldAge * 1000;
  const end = until === undefined ? cap : cap === undefined ? until : Math.min(until, cap);
  const held: NodeRecord = { ...n, state: 'hold', stateSince: now, holdReason: reason };
  if (end === undefined) delete held.holdUntil;
  else held.holdUntil = end;
  return {
    state: { ...state, nodes: state.nodes.map((x) => (x.id === id ? held : x)) },
    change: { id, state: 'hold', reason },
    ...(end === undefined ? {} : { until: end }),
  };
}

/**
 * `nodepool delete ID [--now]`: any node goes; an in-use node waits for its user unless `now`.
 * Returns whether it is deleted at once (otherwise marked and deleted on release).
 */
export function deleteNode(
  state: PoolState,
  id: number,
  now: boolean,
  at: number,
): OperatorRefusal | { state: PoolState; immediate: boolean; change?: NodeChange } {
  const n = state.nodes.find((x) => x.id === id);
  if (!n) return { refused: `node ${id} is not in this pool` };
  if (n.state === 'deleting') return { refused: `node ${id} is already being deleted` };
  const reason = 'deleted by an operator';
  if (n.state === 'in-use' && !now) {
    const marked = { ...n, deleteRequested: true };
    return { state: { ...state, nodes: state.nodes.map((x) => (x.id === id ? marked : x)) }, immediate: false };
  }
  // A building node's launch is still running: it is marked and the planner deletes it when the launch ends.
  const next: NodeRecord =
    n.state === 'building'
      ? { ...n, deleteRequested: true }
      : { ...n, state: 'used', stateSince: at, reason, deleteRequested: true };
  return {
    state: { ...state, nodes: state.nodes.map((x) => (x.id === id ? next : x)) },
    immediate: n.state !== 'building',
    ...(n.state === 'building' ? {} : { change: { id, state: 'used' as const, reason } }),
  };
}

/** A request's nodes are released by their user: in-use → used (and deleted by the planner). */
export function releaseNodes(
  state: PoolState,
  ids: number[],
  now: number,
): { state: PoolState; nodeChanges: NodeChange[] } {
  const set = new Set(ids);
  const nodeChanges: NodeChange[] = [];
  const nodes = state.nodes.map((n) => {
    if (!set.has(n.id) || (n.state !== 'in-use' && n.state !== 'ready')) return n;
    nodeChanges.push({ id: n.id, state: 'used' });
    return { ...n, state: 'used' as const, stateSince: now };
  });
  return { state: { ...state, nodes }, nodeChanges };
}

/** Forget finished requests after `keepMs` (their keys stop deduplicating then). */
export function pruneRequests(state: PoolState, now: number, keepMs: number): PoolState {
  return {
    ...state,
    requests: state.requests.filter((r) => r.state === 'pending' || (r.doneAt ?? now) > now - keepMs),
  };
}
