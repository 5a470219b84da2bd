// The pool planner: from what a provider's pool workflow knows (config, nodes, requests, quota headroom,
// current images) to what it does next (allocations, hand-overs, launches, deletions, failures), each with the
// reason an operator reads in `request-list`, `list` and the Web UI. Pure and deterministic, so the workflow
// can call it on every event and replay it.
//
// Order of business: deletions; then requests, one at a time in priority order, each served from ONE pool;
// then validation boots of new uploads; then min-ready refills.
// - A request gets everything it is missing at once (READY nodes plus launches that fit every limit) or
//   nothing: partial reservations by waiting requests are how pools deadlock.
// - The first request waiting on a limit of a pool (or on the quota) is the head of that line: the capacity is
//   held for it against every new request after it and against min-ready (strict priority), the READY nodes
//   it will get are set aside for it, and idle READY nodes nobody ahead asked for are deleted to make its room.
// - Requests already holding nodes go first and are never held back by another's wait: a request nodepool
//   started serving is finished before the next one starts, and two half-served requests never wait on
//   each other.
// - READY nodes reserved for a request that is gone, failed, or does not need them are deleted: nothing else
//   would ever free them.
import type {
  LaunchReason,
  Plan,
  PlannedLaunch,
  PlannerInput,
  PoolLabelPlan,
  PoolNode,
  PoolPlanConfig,
  PoolRequest,
  Resources,
} from './pool-types.ts';
import {
  concurrencyReason,
  copyLedger,
  firstLimit,
  firstLimitForAll,
  freeLaunchSlots,
  neverFits,
  openLedger,
  releaseCapacity,
  setQuotaAside,
  startLaunch,
  sumResources,
  useCapacity,
  type Ledger,
} from './pool-capacity.ts';
import { plannedDeletions } from './pool-deletions.ts';

interface Planning {
  input: PlannerInput;
  plan: Plan;
  /** By id: every order the planner walks is stable. */
  nodes: PoolNode[];
  byId: Map<number, PoolNode>;
  /** READY or building nodes reserved for each request key, by id. */
  reservedBy: Map<string, PoolNode[]>;
  /** READY unreserved nodes that may be allocated, per pool and label, longest idle first (see freeOf). */
  free: Map<string, PoolNode[]>;
  /** Deleted by this plan. */
  going: Set<number>;
  /** Allocated by this plan. */
  allocated: Set<number>;
  ledger: Ledger;
  /** Pools whose free capacity is held for a request waiting on one of their limits, and why. */
  poolHeld: Map<string, string>;
  /** Set when a request waits on the cloud quota: nothing after it launches in this provider. */
  providerHeld?: string;
  /** The requests at the head of the line for a pool's or the provider's capacity, in service order. */
  heads: HeadOfLine[];
  /** READY nodes set aside for a head of line, and for which. */
  setAside: Map<number, HeadOfLine>;
}

/**
 * The first request waiting on a limit of a pool (or on the quota): that capacity is held for it, the READY
 * nodes it will get are set aside for it, and it may delete idle nodes to make room.
 */
interface HeadOfLine {
  request: PoolRequest;
  pool: PoolPlanConfig;
  scope: 'pool' | 'provider';
  reason: string;
  /** What it will launch once there is room. */
  toLaunch: PoolLabelPlan[];
  /** The quota set aside for it while it waits on a pool limit. */
  quota?: Resources;
}

type ImageChoice = { uploadId: number } | { cloudImage: string };
type Attempt = { ok: true } | { ok: false; reason: string };

/** A label needs n nodes: [a, a, b] → a: 2, b: 1, in first-mention order. */
function counts(labels: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of labels) m.set(l, (m.get(l) ?? 0) + 1);
  return m;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function labelIn(pool: PoolPlanConfig, label: string): PoolLabelPlan | undefined {
  return pool.labels.find((l) => l.label === label);
}

/** How reasons name what a node costs: its flavor, or its label when the flavor's name is not given. */
function who(lp: PoolLabelPlan): string {
  return lp.flavor ?? `label ${lp.label}`;
}

function flavorUnknown(ctx: Planning, lp: PoolLabelPlan): string {
  const flavor = lp.flavor ? `flavor ${lp.flavor} of label ${lp.label}` : `the flavor of label ${lp.label}`;
  return `${flavor} is not known yet in ${ctx.input.provider}`;
}

function imageOf(ctx: Planning, lp: PoolLabelPlan): ImageChoice | string {
  if ('cloudImage' in lp.image) return { cloudImage: lp.image.cloudImage };
  const uploadId = ctx.input.currentUploads[lp.image.diskimage];
  if (uploadId !== undefined) return { uploadId };
  const why = ctx.input.imageMissingReasons?.[lp.image.diskimage];
  return `label ${lp.label} has no READY image in ${ctx.input.provider}${why ? `: ${why}` : ''}`;
}

function launchOf(
  pool: PoolPlanConfig,
  lp: PoolLabelPlan,
  resources: Resources,
  reason: LaunchReason,
  image: ImageChoice,
  requestKey?: string,
): PlannedLaunch {
  const launch: PlannedLaunch = { pool: pool.name, label: lp.label, reason, resources: { ...resources } };
  if (requestKey !== undefined) launch.requestKey = requestKey;
  if ('uploadId' in image) launch.uploadId = image.uploadId;
  else launch.cloudImage = image.cloudImage;
  return launch;
}

function heldFor(ctx: Planning, pool: PoolPlanConfig): string | undefined {
  return ctx.providerHeld ?? ctx.poolHeld.get(pool.name);
}

/** One launch for min-ready or a validation: within every limit, or the first reason it cannot. */
function launchOne(
  ctx: Planning,
  pool: PoolPlanConfig,
  lp: PoolLabelPlan,
  reason: LaunchReason,
  image?: ImageChoice,
): Attempt {
  if (!lp.resources) return { ok: false, reason: flavorUnknown(ctx, lp) };
  const boot = image ?? imageOf(ctx, lp);
  if (typeof boot === 'string') return { ok: false, reason: boot };
  const hit = firstLimit(ctx.ledger, pool, lp.resources, 1, who(lp));
  if (hit) return { ok: false, reason: hit.reason };
  const held = heldFor(ctx, pool);
  if (held) return { ok: false, reason: held };
  if (freeLaunchSlots(ctx.ledger) < 1) return { ok: false, reason: concurrencyReason(ctx.ledger) };
  useCapacity(ctx.ledger, pool.name, lp.resources);
  startLaunch(ctx.ledger);
  ctx.plan.launch.push(launchOf(pool, lp, lp.resources, reason, boot));
  return { ok: true };
}

// ---------------------------------------------------------------------------------------------------------
// Requests

/**
 * The nodes (READY or building) already reserved for a request, matched to the labels it asked for, READY ones
 * first; and the surplus it does not need (reserved under an earlier submission of its key with other labels).
 */
function reservations(ctx: Planning, request: PoolRequest): { matched: PoolNode[]; surplus: PoolNode[] } {
  const left = counts(request.labels);
  const matched: PoolNode[] = [];
  const surplus: PoolNode[] = [];
  const mine = (ctx.reservedBy.get(request.key) ?? []).filter((n) => !ctx.going.has(n.id));
  for (const n of [...mine.filter((n) => n.state === 'ready'), ...mine.filter((n) => n.state === 'building')]) {
    const wanted = left.get(n.label) ?? 0;
    if (wanted > 0) {
      left.set(n.label, wanted - 1);
      matched.push(n);
    } else surplus.push(n);
  }
  return { matched, surplus };
}

/** Priority, then arrival, then key; a request already holding nodes first; one entry per key. */
function requestOrder(ctx: Planning): PoolRequest[] {
  const sorted = [...ctx.input.requests].sort(
    (a, b) => a.priority - b.priority || a.submittedAt - b.submittedAt || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
  );
  const seen = new Set<string>();
  const unique = sorted.filter((r) => !seen.has(r.key) && seen.add(r.key));
  const started = new Set(unique.filter((r) => reservations(ctx, r).matched.length > 0));
  return [...started, ...unique.filter((r) => !started.has(r))];
}

function notOffered(ctx: Planning, wanted: string[]): string {
  const { pools, provider } = ctx.input;
  const where = (label: string) => pools.filter((p) => labelIn(p, label)).map((p) => p.name);
  const unknown = wanted.filter((l) => where(l).length === 0);
  if (unknown.length > 0) return unknown.map((l) => `no pool of ${provider} offers label ${l}`).join('; ');
  const each = wanted.map((l) => `${l} in pool ${where(l).join(', ')}`).join('; ');
  return `no single pool of ${provider} offers ${wanted.join(', ')} together (${each})`;
}

/** The first pool (config order) offering every label that could ever hold the whole request, or why none. */
function choosePool(ctx: Planning, request: PoolRequest): PoolPlanConfig | string {
  const wanted = [...counts(request.labels).keys()];
  const offering = ctx.input.pools.filter((p) => wanted.every((l) => labelIn(p, l)));
  if (offering.length === 0) return notOffered(ctx, wanted);
  let firstWhyNot: string | undefined;
  for (const pool of offering) {
    // An unknown flavor counts at its least, so this never fails a request wrongly.
    const need = sumResources(request.labels.map((l) => labelIn(pool, l)?.resources ?? AT_LEAST));
    const whyNot = neverFits(pool, ctx.input.quota, ctx.input.provider, need);
    if (!whyNot) return pool;
    firstWhyNot ??= whyNot;
  }
  return firstWhyNot as string;
}

const AT_LEAST: Resources = { instances: 1, cores: 0, ramMB: 0 };

/** What launching these costs; a flavor not known yet counts at its least (one instance). */
function costs(toLaunch: PoolLabelPlan[]): { resources: Resources; who: string }[] {
  return toLaunch.map((lp) => ({ resources: lp.resources ?? AT_LEAST, who: who(lp) }));
}

const idleLongest = (a: PoolNode, b: PoolNode) =>
  (a.readySince ?? a.stateSince) - (b.readySince ?? b.stateSince) || a.id - b.id;

/** Free READY nodes of a label in `pool`, longest idle first: unreserved, not validating, not going, not allocated. */
function freeOf(ctx: Planning, pool: string, label: string): PoolNode[] {
  const key = `${pool}\u0000${label}`;
  // Going and allocated only grow during a plan: drop them for good.
  const list = (ctx.free.get(key) ?? []).filter((n) => !ctx.going.has(n.id) && !ctx.allocated.has(n.id));
  ctx.free.set(key, list);
  return list;
}

/**
 * A node set aside for a head of line went elsewhere (to a request already holding nodes, or deleted to make
 * room for an earlier head): set aside the next free one of its label, or plan to launch one. The next plan
 * would see it so; counting it now keeps a plan and its replan in agreement.
 */
function replaceSetAside(ctx: Planning, node: PoolNode): void {
  const head = ctx.setAside.get(node.id);
  if (!head) return;
  ctx.setAside.delete(node.id);
  const next = freeOf(ctx, head.pool.name, node.label).find((n) => !ctx.setAside.has(n.id));
  if (next) {
    ctx.setAside.set(next.id, head);
    return;
  }
  const lp = labelIn(head.pool, node.label) as PoolLabelPlan;
  head.toLaunch.push(lp);
  if (head.quota && lp.resources) {
    setQuotaAside(ctx.ledger, lp.resources);
    head.quota = sumResources([head.quota, lp.resources]);
  }
}

/**
 * A head of line waiting while idle READY nodes nobody asked for fill its limit would wait forever (with
 * min-ready 0 and no max-ready-age they never go): delete the longest-idle ones, as few as make it fit once
 * they and the nodes already being deleted are gone; only when that is enough, otherwise they still serve.
 * Runs once every request has been served, so a plan applied and planned again deletes nothing more.
 */
function makeRoom(ctx: Planning, at: number): void {
  const { request, pool, toLaunch, scope, reason } = ctx.heads[at] as HeadOfLine;
  const ahead = new Set(ctx.heads.slice(0, at + 1));
  const trial = copyLedger(ctx.ledger);
  // What it and the heads after it set aside is not in its own way.
  for (const later of ctx.heads.slice(at)) if (later.quota) setQuotaAside(trial, later.quota, -1);
  for (const n of ctx.nodes)
    if (n.state === 'deleting' || ctx.going.has(n.id)) releaseCapacity(trial, n.pool, n.resources);
  const needs = costs(toLaunch);
  if (!firstLimitForAll(trial, pool, needs)) return;
  const idle = ctx.nodes
    .filter(
      (n) =>
        n.state === 'ready' &&
        n.requestKey === undefined &&
        !n.validation &&
        !ctx.going.has(n.id) &&
        !ctx.allocated.has(n.id) &&
        !ahead.has(ctx.setAside.get(n.id) as HeadOfLine),
    )
    .sort(idleLongest);
  // The pool's own idle nodes first when its own limit binds; other pools' only help with the quota.
  const candidates =
    scope === 'pool'
      ? [...idle.filter((n) => n.pool === pool.name), ...idle.filter((n) => n.pool !== pool.name)]
      : idle;
  const chosen: PoolNode[] = [];
  for (const n of candidates) {
    releaseCapacity(trial, n.pool, n.resources);
    chosen.push(n);
    if (firstLimitForAll(trial, pool, needs)) continue;
    for (const c of chosen) {
      ctx.plan.delete.push({
        nodeId: c.id,
        reason: `idle, deleted to make room for request ${request.key}: ${reason}`,
      });
      ctx.going.add(c.id);
      replaceSetAside(ctx, c);
    }
    return;
  }
}

/**
 * Why the launches a request is missing cannot all start now; undefined when they can. Capacity held for a
 * waiting request stops new requests, not one already holding nodes: finishing it frees them (a node serves
 * one job), where stopping it could leave two started requests each holding what the other needs.
 */
function launchesBlocked(
  ctx: Planning,
  pool: PoolPlanConfig,
  toLaunch: PoolLabelPlan[],
  started: boolean,
): { reason: string; holds?: 'pool' | 'provider' } | undefined {
  for (const lp of toLaunch) if (!lp.resources) return { reason: flavorUnknown(ctx, lp) };
  for (const lp of toLaunch) {
    const image = imageOf(ctx, lp);
    if (typeof image === 'string') return { reason: image };
  }
  const hit = firstLimitForAll(ctx.ledger, pool, costs(toLaunch));
  if (hit) return { reason: hit.reason, holds: hit.scope };
  const held = toLaunch.length > 0 && !started ? heldFor(ctx, pool) : undefined;
  return held ? { reason: held } : undefined;
}

/**
 * The first request waiting on a limit of its pool, or on the quota, becomes the head of that line: the
 * capacity is held for it against every new request after it. Waiting on a pool limit, it also needs quota:
 * set aside while there is room, or, if the quota is short too, the whole provider is held.
 */
function becomeHead(ctx: Planning, head: HeadOfLine, readyForIt: number[]): void {
  if (ctx.providerHeld) return;
  if (head.scope === 'pool') {
    if (ctx.poolHeld.has(head.pool.name)) return;
    if (firstLimitForAll(ctx.ledger, undefined, costs(head.toLaunch))) head.scope = 'provider';
    else {
      head.quota = sumResources(head.toLaunch.map((lp) => lp.resources as Resources));
      setQuotaAside(ctx.ledger, head.quota);
    }
  }
  const { key, priority } = head.request;
  const where = head.scope === 'pool' ? `pool ${head.pool.name}` : ctx.input.provider;
  const held = `capacity in ${where} is held for request ${key} (priority ${priority}), which waits: ${head.reason}`;
  if (head.scope === 'pool') ctx.poolHeld.set(head.pool.name, held);
  else ctx.providerHeld = held;
  for (const id of readyForIt) ctx.setAside.set(id, head);
  ctx.heads.push(head);
}

/** Deletes the READY ones of reserved nodes nobody will use (building ones are orphaned, then go once READY). */
function dropReservations(ctx: Planning, nodes: PoolNode[], reason: string): void {
  for (const n of nodes)
    if (n.state === 'ready') {
      ctx.plan.delete.push({ nodeId: n.id, reason });
      ctx.going.add(n.id);
    }
}

/**
 * Fails what no pool here can ever serve, and drops READY reservations nobody will use, before any request
 * is served (so every decision after sees the same nodes going). Returns the pool that serves the request.
 */
function triage(ctx: Planning, request: PoolRequest): PoolPlanConfig | undefined {
  const key = request.key;
  const { matched, surplus } = reservations(ctx, request);
  const pool = request.labels.length === 0 ? 'the request names no labels' : choosePool(ctx, request);
  if (typeof pool === 'string') {
    ctx.plan.fail.push({ requestKey: key, reason: pool });
    dropReservations(ctx, [...matched, ...surplus], `reserved for request ${key}, which failed: ${pool}`);
    return undefined;
  }
  dropReservations(
    ctx,
    surplus,
    `reserved for request ${key}, which does not need it (it asks for ${request.labels.join(', ')})`,
  );
  return pool;
}

function serve(ctx: Planning, request: PoolRequest, pool: PoolPlanConfig): void {
  const { plan } = ctx;
  const key = request.key;
  const { matched } = reservations(ctx, request);

  // What it still needs after the nodes already reserved for it, then READY free nodes of the pool (the
  // longest-idle first), then launches.
  const missing = counts(request.labels);
  const reserved = new Map<string, PoolNode[]>();
  const take = (into: Map<string, PoolNode[]>, n: PoolNode) => {
    const left = missing.get(n.label) ?? 0;
    if (left <= 0) return false;
    missing.set(n.label, left - 1);
    into.set(n.label, [...(into.get(n.label) ?? []), n]);
    return true;
  };
  for (const n of matched) take(reserved, n);
  const started = matched.length > 0;
  const allocated = new Map<string, PoolNode[]>();
  const picked: PoolNode[] = [];
  for (const label of [...missing.keys()])
    for (const n of freeOf(ctx, pool.name, label)) {
      if ((missing.get(label) ?? 0) <= 0) break;
      // Nodes set aside for a head of line are not for new requests behind it.
      if (!started && ctx.setAside.has(n.id)) continue;
      take(allocated, n);
      picked.push(n);
    }
  const allocatedIds = picked.sort(idleLongest).map((n) => n.id);
  const toLaunch: PoolLabelPlan[] = [];
  for (const label of request.labels) {
    const left = missing.get(label) ?? 0;
    if (left <= 0) continue;
    missing.set(label, left - 1);
    toLaunch.push(labelIn(pool, label) as PoolLabelPlan);
  }

  const blocked = launchesBlocked(ctx, pool, toLaunch, started);
  if (blocked) {
    // Nothing is reserved for a waiting request; a limit it waits on may make it a head of line.
    if (blocked.holds)
      becomeHead(ctx, { request, pool, toLaunch, scope: blocked.holds, reason: blocked.reason }, allocatedIds);
    plan.wait.push({ requestKey: key, reason: blocked.reason });
    return;
  }

  for (const id of allocatedIds) {
    ctx.allocated.add(id);
    replaceSetAside(ctx, ctx.byId.get(id) as PoolNode);
  }
  if (allocatedIds.length > 0) plan.allocate.push({ requestKey: key, nodeIds: allocatedIds });
  // Capacity for every missing node is taken now; max-concurrency only paces when they start, and the request,
  // holding nodes from now on, goes first in the next plans.
  let launching = 0;
  for (const lp of toLaunch) {
    const resources = lp.resources as Resources;
    useCapacity(ctx.ledger, pool.name, resources);
    if (freeLaunchSlots(ctx.ledger) < 1) continue;
    startLaunch(ctx.ledger);
    plan.launch.push(launchOf(pool, lp, resources, 'request', imageOf(ctx, lp) as ImageChoice, key));
    launching++;
  }

  const booting = [...reserved.values()].flat().filter((n) => n.state === 'building');
  if (toLaunch.length === 0 && booting.length === 0) {
    const nodeIds = request.labels.map((label) => {
      const pick = (reserved.get(label) ?? []).shift() ?? (allocated.get(label) ?? []).shift();
      return (pick as PoolNode).id;
    });
    plan.fulfil.push({ requestKey: key, nodeIds });
    return;
  }
  const progress: string[] = [];
  if (booting.length > 0)
    progress.push(
      `waiting for ${booting.length === 1 ? 'node' : 'nodes'} ${booting.map((n) => n.id).join(', ')} to boot`,
    );
  if (launching > 0) progress.push(`launching ${plural(launching, 'node')} in pool ${pool.name}`);
  const deferred = toLaunch.length - launching;
  if (deferred > 0)
    progress.push(
      `${deferred === 1 ? '1 launch waits' : `${deferred} launches wait`} for ${concurrencyReason(ctx.ledger)}`,
    );
  plan.wait.push({ requestKey: key, reason: progress.join('; ') });
}

// ---------------------------------------------------------------------------------------------------------
// Validations and min-ready

function validate(ctx: Planning): void {
  const seen = new Set<number>();
  for (const v of ctx.input.validations) {
    if (seen.has(v.uploadId)) continue;
    seen.add(v.uploadId);
    if (ctx.nodes.some((n) => n.validation && n.uploadId === v.uploadId)) continue;
    for (const pool of ctx.input.pools) {
      const lp = pool.labels.find((l) => 'diskimage' in l.image && l.image.diskimage === v.diskimage);
      if (!lp) continue;
      // Held back by a limit it tries again on the next plan; its upload stays "validating" meanwhile.
      launchOne(ctx, pool, lp, 'validation', { uploadId: v.uploadId });
      break;
    }
  }
}

function minReady(ctx: Planning): void {
  const { input, plan } = ctx;
  const labels = [...new Set(input.pools.flatMap((p) => p.labels.map((l) => l.label)))];
  for (const label of labels) {
    const wanted = input.labels[label]?.minReady ?? 0;
    if (wanted <= 0) continue;
    let available = ctx.nodes.filter(
      (n) =>
        n.label === label &&
        !n.validation &&
        n.requestKey === undefined &&
        !n.deleteRequested &&
        !ctx.going.has(n.id) &&
        ((n.state === 'ready' && !ctx.allocated.has(n.id)) || n.state === 'building'),
    ).length;
    const pools = input.pools.filter((p) => labelIn(p, label));
    while (available < wanted) {
      const reasons: string[] = [];
      let launched = false;
      for (const pool of pools) {
        const attempt = launchOne(ctx, pool, labelIn(pool, label) as PoolLabelPlan, 'min-ready');
        if (attempt.ok) {
          launched = true;
          break;
        }
        if (!reasons.includes(attempt.reason)) reasons.push(attempt.reason);
      }
      if (!launched) {
        plan.minReadyWait.push({
          label,
          reason: `min-ready ${wanted}, ${available} READY or booting: ${reasons.join('; ')}`,
        });
        break;
      }
      available++;
    }
  }
}

/** What the pool of one provider does next. */
export function planPool(input: PlannerInput): Plan {
  const plan: Plan = { allocate: [], fulfil: [], launch: [], delete: [], fail: [], wait: [], minReadyWait: [] };
  plan.delete = plannedDeletions(input);
  const nodes = [...input.nodes].sort((a, b) => a.id - b.id);
  const reservedBy = new Map<string, PoolNode[]>();
  const free = new Map<string, PoolNode[]>();
  for (const n of nodes) {
    if (n.requestKey !== undefined && (n.state === 'ready' || n.state === 'building')) {
      if (!reservedBy.has(n.requestKey)) reservedBy.set(n.requestKey, []);
      reservedBy.get(n.requestKey)?.push(n);
    }
    if (n.state === 'ready' && n.requestKey === undefined && !n.validation && !n.deleteRequested) {
      const key = `${n.pool}\u0000${n.label}`;
      if (!free.has(key)) free.set(key, []);
      free.get(key)?.push(n);
    }
  }
  for (const list of free.values()) list.sort(idleLongest);
  const ctx: Planning = {
    input,
    plan,
    nodes,
    byId: new Map(nodes.map((n) => [n.id, n])),
    reservedBy,
    free,
    going: new Set(plan.delete.map((d) => d.nodeId)),
    allocated: new Set(),
    ledger: openLedger(input),
    poolHeld: new Map(),
    heads: [],
    setAside: new Map(),
  };
  const served: [PoolRequest, PoolPlanConfig][] = [];
  for (const request of requestOrder(ctx)) {
    const pool = triage(ctx, request);
    if (pool) served.push([request, pool]);
  }
  for (const [request, pool] of served) serve(ctx, request, pool);
  ctx.heads.forEach((_, at) => makeRoom(ctx, at));
  plan.delete.sort((a, b) => a.nodeId - b.nodeId);
  validate(ctx);
  minReady(ctx);
  return plan;
}
