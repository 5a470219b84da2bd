// The pool's records in PostgreSQL: node rows made before a launch (their ids are what operators type), every
// node and request transition the pool workflow makes, and the pool's settings from nodepool.yaml. Run as
// background activities in batches: the pool records after the fact and never waits on the database to answer
// a request.
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../config/index.ts';
import { poolSettingsFor, type ProviderPoolSettings } from '../core/pool-settings.ts';
import type { NodeRecord, RequestRecord } from '../core/pool-state.ts';
import type { SqlEntityManager } from '@mikro-orm/sql';
import type { Orm } from '../db/orm.ts';

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
    async poolSettings(providerName: string): Promise<ProviderPoolSettings> {
      const settings = deps.config && poolSettingsFor(deps.config, providerName);
      if (!settings)
        throw ApplicationFailure.nonRetryable(
          `provider ${providerName} is not in this worker's nodepool.yaml`,
          'UnknownProvider',
        );
      return settings;
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

    /**
     * Node and request transitions, in the order the pool made them, in three statements whatever the batch
     * holds: a pool at churn records hundreds of transitions a second, and a round trip per row made the
     * database the worker's busiest work. Replays are harmless: every statement sets what the batch says.
     */
    async recordPoolChanges(input: PoolRecords): Promise<void> {
      const requests = [...new Map(input.requests.map((r) => [r.key, r])).values()].map((r) => ({
        request_key: r.key,
        labels: r.labels,
        requestor: r.requestor,
        priority: r.priority,
        state: r.state,
        reason: r.reason ?? null,
      }));
      const nodes = collapseNodeChanges(input.nodes);
      // Both our drivers (PostgreSQL, PGlite) are SQL drivers; em.execute runs inside the transaction (PGlite
      // has one connection, so a statement outside it would wait for the transaction forever).
      await (orm.em.fork() as unknown as SqlEntityManager).transactional(async (em) => {
        if (requests.length > 0) await em.execute(RECORD_REQUESTS, [JSON.stringify(requests), input.provider], 'run');
        if (nodes.length === 0) return;
        const rows = JSON.stringify(nodes);
        await em.execute(INSERT_NODES, [input.provider, rows], 'run');
        await em.execute(UPDATE_NODES, [rows], 'run');
      });
    },
  };
}

/** A node's changes in one batch, folded into what its row must end up as (SQL updates each row once). */
interface NodeRow {
  id: number;
  state: RecordedNode['state'];
  /** The batch moved the node through more than one state, so its state changed even if it ends where it began. */
  moved: boolean;
  becameReady: boolean;
  held: boolean;
  [field: string]: unknown;
}

const CARRIED = ['launchKey', 'pool', 'label', 'hostname', 'validation', 'uploadId'] as const;
const UPDATED = ['externalId', 'ip', 'ipv6', 'az', 'hostKeys', 'reason'] as const;

export function collapseNodeChanges(changes: RecordedNode[]): NodeRow[] {
  const rows = new Map<number, NodeRow>();
  for (const n of changes) {
    const row = rows.get(n.id) ?? { id: n.id, state: n.state, moved: false, becameReady: false, held: false };
    if (row.state !== n.state) row.moved = true;
    row.state = n.state;
    if (n.state === 'ready') row.becameReady = true;
    if (n.state === 'hold') {
      row.held = true;
      row.holdReason = n.holdReason ?? null;
      row.holdUntil = n.holdUntil ?? null;
    }
    for (const k of [...CARRIED, ...UPDATED]) if (n[k] !== undefined) row[k] = n[k];
    // Every key in turn: the row links to the last of them that names a recorded request.
    if (n.requestKey !== undefined)
      row.requestKeys = [...((row.requestKeys as string[] | undefined) ?? []), n.requestKey];
    rows.set(n.id, row);
  }
  return [...rows.values()];
}

// Request ids come from the sequence, so rows that exist are updated and only the others inserted: an
// INSERT … ON CONFLICT would spend an id on every update.
const RECORD_REQUESTS = `
with input as (
  select * from jsonb_to_recordset(?::jsonb)
    as x(request_key text, labels jsonb, requestor text, priority int, state text, reason text)
), pool as (
  select ?::text as provider
), updated as (
  update node_request r
     set labels = i.labels, requestor = i.requestor, priority = i.priority, state = i.state, provider = (select provider from pool),
         reason = i.reason, updated_at = now(), row_version = r.row_version + 1,
         state_changed_at = case when r.state is distinct from i.state then now() else r.state_changed_at end
    from input i
   where r.request_key = i.request_key
  returning r.request_key
)
insert into node_request (request_key, labels, requestor, priority, state, provider, reason,
                          created_at, updated_at, state_changed_at, row_version)
select i.request_key, i.labels, i.requestor, i.priority, i.state, (select provider from pool), i.reason,
       now(), now(), now(), 1
  from input i
 where not exists (select 1 from node_request r where r.request_key = i.request_key)
on conflict (request_key) do nothing`;

// A new node's row: its id was reserved (reserveNodeIds) before the launch, so this spends no sequence value.
const INSERT_NODES = `
insert into node (id, launch_key, provider, pool, label, hostname, state, validation, upload_id,
                  created_at, updated_at, state_changed_at, row_version)
select (d->>'id')::int, d->>'launchKey', ?, d->>'pool', d->>'label', d->>'hostname', d->>'state',
       coalesce((d->>'validation')::boolean, false), (d->>'uploadId')::int, now(), now(), now(), 1
  from jsonb_array_elements(?::jsonb) d
 where d->>'launchKey' is not null and d->>'pool' is not null and d->>'label' is not null
   and d->>'hostname' is not null
on conflict do nothing`;

const field = (column: string, key: string, value = `d->>'${key}'`) =>
  `${column} = case when jsonb_exists(d, '${key}') then ${value} else n.${column} end`;

const UPDATE_NODES = `
update node n
   set state = d->>'state',
       state_changed_at = case when n.state is distinct from d->>'state' or (d->>'moved')::boolean
                               then now() else n.state_changed_at end,
       ${field('external_id', 'externalId')},
       ${field('ip', 'ip')},
       ${field('ipv6', 'ipv6')},
       ${field('az', 'az')},
       ${field('host_keys', 'hostKeys', `d->'hostKeys'`)},
       ${field('reason', 'reason')},
       ready_at = case when (d->>'becameReady')::boolean and n.ready_at is null then now() else n.ready_at end,
       hold_reason = case when (d->>'held')::boolean then d->>'holdReason' else n.hold_reason end,
       hold_expires_at = case when (d->>'held')::boolean
                              then to_timestamp((d->>'holdUntil')::double precision / 1000) else n.hold_expires_at end,
       request_id = coalesce((select r.id
                                from jsonb_array_elements_text(d->'requestKeys') with ordinality k(key, i)
                                join node_request r on r.request_key = k.key
                               order by k.i desc limit 1), n.request_id),
       updated_at = now(),
       row_version = n.row_version + 1
  from jsonb_array_elements(?::jsonb) d
 where n.id = (d->>'id')::int`;
