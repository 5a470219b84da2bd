// The pool's records in PostgreSQL: node rows made before a launch (their ids are what operators type), every
// node and request transition the pool workflow makes, and the pool's settings from nodepool.yaml. Run as local
// activities in batches: the pool records after the fact and never waits on the database to answer a request.
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../config/index.ts';
import { minReadyShare } from '../core/min-ready.ts';
import type { NodeRecord, PoolSettings, RequestRecord } from '../core/pool-state.ts';
import type { Orm } from '../db/orm.ts';
import { Node, NodeRequest } from '../db/entities/index.ts';
import { upsertNode, upsertNodeRequest } from '../db/upsert.ts';

export interface RecordedNode extends Omit<Partial<NodeRecord>, 'state'> {
  id: number;
  state: NodeRecord['state'] | 'deleted';
}

export interface PoolRecords {
  provider: string;
  nodes: RecordedNode[];
  requests: (Pick<RequestRecord, 'key' | 'labels' | 'requestor' | 'priority' | 'state' | 'nodeIds'> & {
    reason?: string;
  })[];
}

export function nodeRecordActivities(deps: { orm: Orm; config?: Config }) {
  const { orm } = deps;
  return {
    /** The pool's planning settings from this worker's nodepool.yaml. */
    async poolSettings(providerName: string): Promise<PoolSettings & { hostnameFormat: string }> {
      const config = deps.config;
      const provider = config?.providers.find((p) => p.name === providerName);
      if (!config || !provider)
        throw ApplicationFailure.nonRetryable(
          `provider ${providerName} is not in this worker's nodepool.yaml`,
          'UnknownProvider',
        );
      return {
        provider: provider.name,
        pools: provider.pools.map((p) => ({
          name: p.name,
          maxServers: p.maxServers,
          ...(p.maxCores === undefined ? {} : { maxCores: p.maxCores }),
          ...(p.maxRam === undefined ? {} : { maxRam: p.maxRam }),
          labels: p.labels.map((l) => ({
            label: l.name,
            image: l.image,
            flavor: l.flavorName,
            ...(l.minRam === undefined ? {} : { minRam: l.minRam }),
          })),
        })),
        labels: Object.fromEntries(
          config.labels.map((l) => {
            const offering = config.providers
              .filter((p) => p.pools.some((pool) => pool.labels.some((x) => x.name === l.name)))
              .map((p) => p.name);
            const minReady = minReadyShare(l.minReady, offering, provider.name);
            return [l.name, { minReady, ...(l.maxReadyAge === undefined ? {} : { maxReadyAge: l.maxReadyAge }) }];
          }),
        ),
        ...(config.maxHoldAge === undefined ? {} : { maxHoldAge: config.maxHoldAge }),
        ...(provider.maxConcurrency === undefined ? {} : { maxConcurrency: provider.maxConcurrency }),
        ignoreQuota: provider.pools.length > 0 && provider.pools.every((p) => p.ignoreProviderQuota),
        hostnameFormat: provider.hostnameFormat,
      };
    },

    /**
     * Node ids for launches to come, drawn from the node table's sequence: the pool names a node's server from
     * its id before the launch starts, without waiting on the database then.
     */
    async reserveNodeIds(count: number): Promise<number[]> {
      const rows = await orm.em
        .fork()
        .getConnection()
        .execute<{ id: string | number }[]>(
          `select nextval('node_id_seq') as id from generate_series(1, ${Math.max(1, Math.min(10_000, Math.floor(count)))})`,
        );
      return rows.map((r: { id: string | number }) => Number(r.id)).sort((a: number, b: number) => a - b);
    },

    /** Node and request transitions, in the order the pool made them. */
    async recordPoolChanges(input: PoolRecords): Promise<void> {
      const em = orm.em.fork();
      const requestIds = new Map<string, number>();
      for (const r of input.requests) {
        const row = await upsertNodeRequest(em, {
          requestKey: r.key,
          labels: r.labels,
          requestor: r.requestor,
          priority: r.priority,
          state: r.state,
          provider: input.provider,
          reason: r.reason ?? null,
        });
        requestIds.set(r.key, row.id);
      }
      for (const n of input.nodes) {
        let row = await em.findOne(Node, n.id);
        if (!row) {
          // A new node: its id was reserved (reserveNodeIds), its row is made now.
          if (!n.launchKey || !n.pool || !n.label || !n.hostname) continue;
          await upsertNode(em, {
            id: n.id,
            launchKey: n.launchKey,
            provider: input.provider,
            pool: n.pool,
            label: n.label,
            hostname: n.hostname,
            state: n.state,
            validation: n.validation ?? false,
            ...(n.uploadId === undefined ? {} : { upload: n.uploadId as never }),
          });
          row = await em.findOneOrFail(Node, n.id);
        }
        const data: Partial<Node> = { state: n.state };
        if (n.externalId !== undefined) data.externalId = n.externalId;
        if (n.ip !== undefined) data.ip = n.ip;
        if (n.ipv6 !== undefined) data.ipv6 = n.ipv6;
        if (n.az !== undefined) data.az = n.az;
        if (n.hostKeys !== undefined) data.hostKeys = n.hostKeys;
        if (n.reason !== undefined) data.reason = n.reason;
        if (n.state === 'ready' && !row.readyAt) data.readyAt = new Date();
        if (n.state === 'hold') {
          data.holdReason = n.holdReason ?? null;
          data.holdExpiresAt = n.holdUntil === undefined ? null : new Date(n.holdUntil);
        }
        if (n.requestKey !== undefined) {
          const id = requestIds.get(n.requestKey) ?? (await em.findOne(NodeRequest, { requestKey: n.requestKey }))?.id;
          if (id !== undefined) data.request = id as never;
        }
        await upsertNode(em, {
          launchKey: row.launchKey,
          provider: row.provider,
          pool: row.pool,
          label: row.label,
          hostname: row.hostname,
          ...data,
        });
      }
    },
  };
}
