// The pool's records in the database: recordPoolChanges writes a whole batch in a few statements, so these tests
// hold it to what applying the batch's transitions one by one would leave, on both databases.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  collapseNodeChanges,
  nodeRecordActivities,
  type PoolRecords,
  type RecordedNode,
} from '../activities/node-records.ts';
import { migrate, openDatabase, type Orm } from '../db/orm.ts';
import { NODE_STATES } from '../db/entities/index.ts';
import fc from './support/fast-check.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

/** What a node row holds after its transitions are applied one at a time. */
interface ModelNode {
  launchKey: string;
  pool: string;
  label: string;
  hostname: string;
  validation: boolean;
  state: string;
  externalId: string | null;
  ip: string | null;
  ipv6: string | null;
  az: string | null;
  hostKeys: string[];
  reason: string | null;
  ready: boolean;
  holdReason: string | null;
  holdUntil: number | null;
  requestKey: string | null;
}

function applyModel(
  nodes: Map<number, ModelNode>,
  requests: Map<string, { state: string; reason: string | null; priority: number }>,
  batch: PoolRecords,
): Set<number> {
  for (const r of batch.requests)
    requests.set(r.key, { state: r.state, reason: r.reason ?? null, priority: r.priority });
  const moved = new Set<number>();
  // A node's row is made from the launch details any of its transitions in the batch carries.
  const launch = new Map(
    batch.nodes.filter((n) => n.launchKey && n.pool && n.label && n.hostname).map((n) => [n.id, n]),
  );
  for (const n of batch.nodes) {
    let row = nodes.get(n.id);
    if (!row) {
      const l = launch.get(n.id);
      if (!l) continue;
      row = {
        launchKey: l.launchKey as string,
        pool: l.pool as string,
        label: l.label as string,
        hostname: l.hostname as string,
        validation: l.validation ?? false,
        state: n.state,
        externalId: null,
        ip: null,
        ipv6: null,
        az: null,
        hostKeys: [],
        reason: null,
        ready: false,
        holdReason: null,
        holdUntil: null,
        requestKey: null,
      };
      nodes.set(n.id, row);
      moved.add(n.id);
    }
    if (row.state !== n.state) moved.add(n.id);
    row.state = n.state;
    if (n.externalId !== undefined) row.externalId = n.externalId;
    if (n.ip !== undefined) row.ip = n.ip;
    if (n.ipv6 !== undefined) row.ipv6 = n.ipv6;
    if (n.az !== undefined) row.az = n.az;
    if (n.hostKeys !== undefined) row.hostKeys = n.hostKeys;
    if (n.reason !== undefined) row.reason = n.reason;
    if (n.state === 'ready') row.ready = true;
    if (n.state === 'hold') {
      row.holdReason = n.holdReason ?? null;
      row.holdUntil = n.holdUntil ?? null;
    }
    if (n.requestKey !== undefined && requests.has(n.requestKey)) row.requestKey = n.requestKey;
  }
  return moved;
}

const KEYS = ['req-a', 'req-b', 'req-c'];
const ids = fc.integer({ min: 1, max: 6 });
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const change: fc.Arbitrary<RecordedNode> = fc
  .record({
    id: ids,
    state: fc.constantFrom(...NODE_STATES),
    launch: fc.boolean(),
    externalId: maybe(fc.uuid()),
    ip: maybe(fc.ipV4()),
    az: maybe(fc.constantFrom('nova', 'az2')),
    hostKeys: maybe(fc.array(fc.constantFrom('ssh-ed25519 AAAA', 'ssh-rsa BBBB'), { maxLength: 2 })),
    reason: maybe(fc.constantFrom('boot timeout', "it's gone")),
    holdReason: maybe(fc.constantFrom('debug job 42')),
    holdUntil: maybe(fc.integer({ min: 1_700_000_000_000, max: 1_900_000_000_000 })),
    requestKey: maybe(fc.constantFrom(...KEYS, 'never-recorded')),
  })
  .map(({ launch, id, ...rest }) => {
    const n: RecordedNode = { id, ...rest };
    for (const k of Object.keys(n) as (keyof RecordedNode)[]) if (n[k] === undefined) delete n[k];
    if (launch) Object.assign(n, { launchKey: `launch-${id}`, pool: 'main', label: 'debian', hostname: `np-${id}` });
    return n;
  });
const batch: fc.Arbitrary<PoolRecords> = fc.record({
  provider: fc.constant('east'),
  nodes: fc.array(change, { maxLength: 12 }),
  requests: fc.array(
    fc.record({
      key: fc.constantFrom(...KEYS),
      labels: fc.constant(['debian']),
      requestor: fc.constant('zuul'),
      priority: fc.constantFrom(100, 200),
      state: fc.constantFrom('pending' as const, 'fulfilled' as const, 'failed' as const),
      nodeIds: fc.constant([]),
      reason: maybe(fc.constantFrom('at quota in east: 20/20 instances')),
    }),
    { maxLength: 3 },
  ),
});

interface Backend {
  name: string;
  open(): Promise<Orm>;
  cleanup(): Promise<void>;
}

const backends: (() => Backend)[] = [
  () => {
    let db: TestDatabase | undefined;
    return {
      name: 'PostgreSQL',
      async open() {
        db = await createTestDatabase('node_records');
        return openDatabase({ url: db.url });
      },
      cleanup: async () => db?.drop(),
    };
  },
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'nodepool-records-'));
    return {
      name: 'PGlite',
      open: () => openDatabase({ dataDir: join(dir, 'data') }),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  },
];

test('collapseNodeChanges folds each node into one row, noting every state it passed through', () => {
  const rows = collapseNodeChanges([
    { id: 1, state: 'building', launchKey: 'k1', pool: 'main', label: 'debian', hostname: 'np-1' },
    { id: 2, state: 'in-use', requestKey: 'r' },
    { id: 1, state: 'ready', ip: '10.0.0.1' },
    { id: 1, state: 'building' },
  ]);
  assert.deepEqual(rows, [
    {
      id: 1,
      state: 'building',
      moved: true,
      becameReady: true,
      held: false,
      launchKey: 'k1',
      pool: 'main',
      label: 'debian',
      hostname: 'np-1',
      ip: '10.0.0.1',
    },
    { id: 2, state: 'in-use', moved: false, becameReady: false, held: false, requestKeys: ['r'] },
  ]);
});

for (const makeBackend of backends) {
  const backend = makeBackend();
  describe(`pool records on ${backend.name}`, () => {
    let orm: Orm;
    before(async () => {
      orm = await backend.open();
      await migrate(orm);
    });
    after(async () => {
      await orm.close();
      await backend.cleanup();
    });

    const reset = () => orm.em.getConnection().execute('truncate node, node_request restart identity');

    async function dbNodes(): Promise<Map<number, ModelNode & { changedAt: Date; updatedAt: Date }>> {
      const rows = await orm.em
        .getConnection()
        .execute<Record<string, unknown>[]>(
          `select n.*, r.request_key from node n left join node_request r on r.id = n.request_id`,
        );
      return new Map(
        rows.map((r: Record<string, unknown>) => [
          Number(r.id),
          {
            launchKey: r.launch_key as string,
            pool: r.pool as string,
            label: r.label as string,
            hostname: r.hostname as string,
            validation: r.validation as boolean,
            state: r.state as string,
            externalId: r.external_id as string | null,
            ip: r.ip as string | null,
            ipv6: r.ipv6 as string | null,
            az: r.az as string | null,
            hostKeys: (typeof r.host_keys === 'string' ? JSON.parse(r.host_keys) : r.host_keys) as string[],
            reason: r.reason as string | null,
            ready: r.ready_at !== null,
            holdReason: r.hold_reason as string | null,
            holdUntil: r.hold_expires_at === null ? null : new Date(r.hold_expires_at as string).getTime(),
            requestKey: r.request_key as string | null,
            changedAt: new Date(r.state_changed_at as string),
            updatedAt: new Date(r.updated_at as string),
          },
        ]),
      );
    }

    test('any sequence of batches leaves the rows that applying each transition in turn would', async () => {
      const records = nodeRecordActivities({ orm });
      await fc.assert(
        fc.asyncProperty(fc.array(batch, { minLength: 1, maxLength: 4 }), async (batches) => {
          await reset();
          const model = new Map<number, ModelNode>();
          const requests = new Map<string, { state: string; reason: string | null; priority: number }>();
          for (const b of batches) {
            const before = await dbNodes();
            const moved = applyModel(model, requests, b);
            await records.recordPoolChanges(b);
            // Recorded twice, as a retried activity would: the rows end the same.
            const once = await dbNodes();
            await records.recordPoolChanges(b);
            const after = await dbNodes();
            for (const [id, row] of after) {
              const { changedAt, updatedAt, ...rest } = row;
              const { changedAt: c1, updatedAt: _u, ...restOnce } = once.get(id) ?? row;
              assert.deepEqual(rest, restOnce, `node ${id} changed on replay`);
              assert.ok(updatedAt >= c1);
              // The first recording moved state_changed_at exactly for the nodes whose state moved.
              const prior = before.get(id);
              const movedNow = c1.getTime() !== (prior?.changedAt.getTime() ?? -1);
              assert.equal(movedNow, moved.has(id), `node ${id}: state_changed_at moved ${movedNow}`);
              void changedAt;
            }
            assert.deepEqual(
              new Map([...after].map(([id, { changedAt: _c, updatedAt: _u, ...rest }]) => [id, rest])),
              model,
            );
            const reqs: {
              request_key: string;
              state: string;
              reason: string | null;
              priority: number;
              provider: string;
            }[] = await orm.em
              .getConnection()
              .execute('select request_key, state, reason, priority, provider from node_request');
            assert.deepEqual(
              new Map(reqs.map((r) => [r.request_key, { state: r.state, reason: r.reason, priority: r.priority }])),
              requests,
            );
            assert.ok(reqs.every((r) => r.provider === 'east'));
          }
        }),
        { numRuns: 25 },
      );
    });

    test('updating requests spends no ids: a new request after many updates takes the next one', async () => {
      await reset();
      const records = nodeRecordActivities({ orm });
      const req = (key: string, state: 'pending' | 'fulfilled') => ({
        key,
        labels: ['debian'],
        requestor: 'zuul',
        priority: 200,
        state,
        nodeIds: [],
      });
      await records.recordPoolChanges({ provider: 'east', nodes: [], requests: [req('a', 'pending')] });
      for (let i = 0; i < 5; i++)
        await records.recordPoolChanges({ provider: 'east', nodes: [], requests: [req('a', 'fulfilled')] });
      await records.recordPoolChanges({ provider: 'east', nodes: [], requests: [req('b', 'pending')] });
      const rows: { id: number; request_key: string }[] = await orm.em
        .getConnection()
        .execute('select id, request_key from node_request order by id');
      assert.deepEqual(
        rows.map((r) => [Number(r.id), r.request_key]),
        [
          [1, 'a'],
          [2, 'b'],
        ],
      );
    });

    test('reserved node ids come from the node sequence, ascending and never reused', async () => {
      await reset();
      const records = nodeRecordActivities({ orm });
      const first = await records.reserveNodeIds(3);
      const second = await records.reserveNodeIds(2);
      assert.deepEqual(first, [1, 2, 3]);
      assert.deepEqual(second, [4, 5]);
    });
  });
}
