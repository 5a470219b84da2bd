// What a provider's nodes use against each limit (pool max-servers / max-cores / max-ram, the cloud quota
// headroom, launch concurrency), and the operator's words for the first limit a launch would break. Every node
// counts, whatever its state: a deleting server still holds its quota until the cloud lets it go.
import type { PlannerInput, PoolPlanConfig, QuotaHeadroom, Resources } from './pool-types.ts';

export interface Ledger {
  readonly provider: string;
  readonly quota: QuotaHeadroom;
  readonly maxConcurrency: number | undefined;
  /** Used per pool name, including pools no longer in the configuration. */
  readonly pools: Map<string, Resources>;
  readonly total: Resources;
  /** Quota set aside for requests waiting on a pool limit, so launches elsewhere do not take it meanwhile. */
  readonly setAside: Resources;
  /** Nodes in `building`, existing and planned. */
  building: number;
}

/** A limit a launch would break. Pool limits hold back that pool; quota holds back the whole provider. */
export interface LimitHit {
  scope: 'pool' | 'provider';
  reason: string;
}

const none = (): Resources => ({ instances: 0, cores: 0, ramMB: 0 });

function add(into: Resources, r: Resources): void {
  into.instances += r.instances;
  into.cores += r.cores;
  into.ramMB += r.ramMB;
}

export function sumResources(all: Resources[]): Resources {
  const total = none();
  for (const r of all) add(total, r);
  return total;
}

export function openLedger(input: PlannerInput): Ledger {
  const ledger: Ledger = {
    provider: input.provider,
    quota: input.quota,
    maxConcurrency: input.maxConcurrency,
    pools: new Map(),
    total: none(),
    setAside: none(),
    building: 0,
  };
  for (const node of input.nodes) {
    useCapacity(ledger, node.pool, node.resources);
    if (node.state === 'building') ledger.building++;
  }
  return ledger;
}

export function copyLedger(l: Ledger): Ledger {
  return {
    ...l,
    pools: new Map([...l.pools].map(([name, used]) => [name, { ...used }])),
    total: { ...l.total },
    setAside: { ...l.setAside },
  };
}

/** Counts a new node against its pool and the quota (not against concurrency: see startLaunch). */
export function useCapacity(l: Ledger, pool: string, r: Resources): void {
  let used = l.pools.get(pool);
  if (!used) l.pools.set(pool, (used = none()));
  add(used, r);
  add(l.total, r);
}

/** Gives back what a node uses (for "what if the nodes being deleted were gone"). */
export function releaseCapacity(l: Ledger, pool: string, r: Resources): void {
  useCapacity(l, pool, { instances: -r.instances, cores: -r.cores, ramMB: -r.ramMB });
}

/** Sets quota aside for a waiting request (negative to give it back). */
export function setQuotaAside(l: Ledger, r: Resources, sign: 1 | -1 = 1): void {
  l.setAside.instances += sign * r.instances;
  l.setAside.cores += sign * r.cores;
  l.setAside.ramMB += sign * r.ramMB;
}

export function startLaunch(l: Ledger): void {
  l.building++;
}

/** Launch slots left under max-concurrency (Infinity when uncapped). */
export function freeLaunchSlots(l: Ledger): number {
  return l.maxConcurrency === undefined ? Infinity : Math.max(0, l.maxConcurrency - l.building);
}

export function concurrencyReason(l: Ledger): string {
  return `launch concurrency ${l.building}/${l.maxConcurrency ?? '∞'} in ${l.provider}`;
}

/**
 * The first limit that `need` (the resources of `count` new nodes; `who` names them, e.g. the flavor) would
 * break, in the order an operator would look: the pool's own limits (unless `pool` is undefined: quota only),
 * then the cloud quota, where what is set aside for waiting requests counts as used.
 */
export function firstLimit(
  l: Ledger,
  pool: PoolPlanConfig | undefined,
  need: Resources,
  count: number,
  who: string,
): LimitHit | undefined {
  const needs = count === 1 ? `${who} needs` : `${count} new nodes need`;
  const more = `${need.instances} more needed`;
  if (pool) {
    const used = l.pools.get(pool.name) ?? none();
    if (used.instances + need.instances > pool.maxServers) {
      const reason =
        used.instances >= pool.maxServers
          ? `pool ${pool.name} is at max-servers (${used.instances}/${pool.maxServers})`
          : `max-servers of pool ${pool.name}: ${used.instances}/${pool.maxServers} used, ${more}`;
      return { scope: 'pool', reason };
    }
    if (pool.maxCores !== undefined && used.cores + need.cores > pool.maxCores)
      return {
        scope: 'pool',
        reason: `max-cores of pool ${pool.name}: ${used.cores}/${pool.maxCores} used, ${needs} ${need.cores}`,
      };
    if (pool.maxRam !== undefined && used.ramMB + need.ramMB > pool.maxRam)
      return {
        scope: 'pool',
        reason: `max-ram of pool ${pool.name}: ${used.ramMB}/${pool.maxRam} MB used, ${needs} ${need.ramMB} MB`,
      };
  }
  const q = l.quota;
  const at = `at quota in ${l.provider}`;
  const used = {
    instances: l.total.instances + l.setAside.instances,
    cores: l.total.cores + l.setAside.cores,
    ramMB: l.total.ramMB + l.setAside.ramMB,
  };
  const aside = (k: keyof Resources, unit: string) =>
    l.setAside[k] > 0 ? ` (${l.setAside[k]}${unit} of them set aside for waiting requests)` : '';
  if (q.instances !== null && used.instances + need.instances > q.instances)
    return {
      scope: 'provider',
      reason:
        (used.instances >= q.instances
          ? `${at}: ${used.instances}/${q.instances} instances`
          : `${at}: ${used.instances}/${q.instances} instances, ${more}`) + aside('instances', ''),
    };
  if (q.cores !== null && used.cores + need.cores > q.cores)
    return {
      scope: 'provider',
      reason: `${at}: ${used.cores}/${q.cores} cores, ${needs} ${need.cores}${aside('cores', '')}`,
    };
  if (q.ramMB !== null && used.ramMB + need.ramMB > q.ramMB)
    return {
      scope: 'provider',
      reason: `${at}: ${used.ramMB}/${q.ramMB} MB RAM, ${needs} ${need.ramMB} MB${aside('ramMB', ' MB')}`,
    };
  return undefined;
}

/** The first limit that launching all of `labels` in `pool` together would break, named as for one node. */
export function firstLimitForAll(
  l: Ledger,
  pool: PoolPlanConfig | undefined,
  labels: { resources: Resources; who: string }[],
): LimitHit | undefined {
  const need = none();
  for (const [i, lp] of labels.entries()) {
    add(need, lp.resources);
    const hit = firstLimit(l, pool, need, i + 1, lp.who);
    if (hit) return hit;
  }
  return undefined;
}

/**
 * Why `pool` could never hold nodes needing `need` in total, even with nothing else running (a request larger
 * than a limit waits forever otherwise). Unknown flavors are passed as their lower bound (1 instance).
 */
export function neverFits(pool: PoolPlanConfig, quota: QuotaHeadroom, provider: string, need: Resources) {
  const servers = (n: number) => `${n} server${n === 1 ? '' : 's'}`;
  if (need.instances > pool.maxServers)
    return `pool ${pool.name} can never hold it: max-servers is ${pool.maxServers}, the request needs ${servers(need.instances)}`;
  if (pool.maxCores !== undefined && need.cores > pool.maxCores)
    return `pool ${pool.name} can never hold it: max-cores is ${pool.maxCores}, the request needs ${need.cores} cores`;
  if (pool.maxRam !== undefined && need.ramMB > pool.maxRam)
    return `pool ${pool.name} can never hold it: max-ram is ${pool.maxRam} MB, the request needs ${need.ramMB} MB`;
  const quotaOf = `the quota of ${provider} can never hold it`;
  if (quota.instances !== null && need.instances > quota.instances)
    return `${quotaOf}: ${quota.instances} instances available to nodepool, the request needs ${servers(need.instances)}`;
  if (quota.cores !== null && need.cores > quota.cores)
    return `${quotaOf}: ${quota.cores} cores available to nodepool, the request needs ${need.cores}`;
  if (quota.ramMB !== null && need.ramMB > quota.ramMB)
    return `${quotaOf}: ${quota.ramMB} MB RAM available to nodepool, the request needs ${need.ramMB} MB`;
  return undefined;
}
