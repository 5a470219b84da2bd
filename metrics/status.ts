// Gauges of the state the pools and image catalogs keep in Temporal (nodes per state, requests, uploads, quota
// headroom), set from their query answers at every scrape: the statsd gauges nodepool's launcher sent. They are
// the same on every worker (they read the same workflows), so dashboards take max() over workers.
import { Gauge, Registry } from 'prom-client';
import type { Config } from '../config/index.ts';
import type { PoolNodeState } from '../core/pool-types.ts';
import type { CatalogView } from '../workflows/image-catalog.ts';
import type { PoolView } from '../workflows/pool-api.ts';

export const NODE_STATES: readonly PoolNodeState[] = [
  'building',
  'ready',
  'in-use',
  'used',
  'hold',
  'deleting',
  'failed',
];

export interface StatusSnapshot {
  pools: PoolView[];
  catalogs: CatalogView[];
  /** Workflow ids that did not answer. */
  unanswered: string[];
  /** Workflow ids asked. */
  asked: string[];
}

export interface StatusMetrics {
  registry: Registry;
  update(snapshot: StatusSnapshot): void;
}

export function createStatusMetrics(config: Config): StatusMetrics {
  const registry = new Registry();
  const g = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new Gauge<L>({ name, help, labelNames, registers: [registry] });
  const nodes = g('nodepool_nodes', 'Nodes per provider, pool, label and state', [
    'provider',
    'pool',
    'label',
    'state',
  ]);
  const maxServers = g('nodepool_pool_max_servers', "A pool's max-servers (nodepool.yaml)", ['provider', 'pool']);
  const requests = g('nodepool_requests', 'Node requests a pool knows, per provider and state', ['provider', 'state']);
  const headroom = g(
    'nodepool_provider_quota_available',
    "Quota a pool may use: the cloud's limit less what servers not ours use (resource: instances, cores, ram_mb); unlimited resources are absent",
    ['provider', 'resource'],
  );
  const used = g(
    'nodepool_provider_nodes_resources',
    "What a pool's nodes use of the quota, per provider and resource (instances, cores, ram_mb)",
    ['provider', 'resource'],
  );
  const uploads = g('nodepool_image_uploads', 'Image uploads a catalog keeps, per provider, image and state', [
    'provider',
    'image',
    'state',
  ]);
  const up = g('nodepool_status_workflow_up', 'Whether a pool or catalog workflow answered its query at this scrape', [
    'workflow',
  ]);

  return {
    registry,
    update(s) {
      for (const gauge of [nodes, maxServers, requests, headroom, used, uploads, up]) gauge.reset();
      for (const p of config.providers)
        for (const pool of p.pools) maxServers.set({ provider: p.name, pool: pool.name }, pool.maxServers);
      for (const v of s.pools) {
        for (const o of v.occupancy)
          for (const state of NODE_STATES)
            nodes.set({ provider: v.provider, pool: o.pool, label: o.label, state }, o.states[state] ?? 0);
        for (const state of ['pending', 'fulfilled', 'failed'])
          requests.set({ provider: v.provider, state }, v.requests.filter((r) => r.state === state).length);
        const quota = [
          ['instances', v.quota.instances],
          ['cores', v.quota.cores],
          ['ram_mb', v.quota.ramMB],
        ] as const;
        for (const [resource, value] of quota)
          if (value !== null) headroom.set({ provider: v.provider, resource }, value);
        const sum = { instances: 0, cores: 0, ram_mb: 0 };
        for (const n of v.nodes) {
          sum.instances += n.resources.instances;
          sum.cores += n.resources.cores;
          sum.ram_mb += n.resources.ramMB;
        }
        for (const [resource, value] of Object.entries(sum)) used.set({ provider: v.provider, resource }, value);
      }
      for (const c of s.catalogs) {
        const counts = new Map<string, number>();
        for (const u of c.uploads) {
          if (u.state === 'deleted') continue;
          const key = `${u.image}\0${u.state}`;
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
        for (const [key, n] of counts) {
          const [image, state] = key.split('\0') as [string, string];
          uploads.set({ provider: c.provider, image, state }, n);
        }
      }
      for (const w of s.asked) up.set({ workflow: w }, s.unanswered.includes(w) ? 0 : 1);
    },
  };
}
