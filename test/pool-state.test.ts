// The pool's state transitions (core/pool-state.ts): applying plans, launch and delete results, reconciles
// against the cloud, and the operators' hold, delete and release.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from './support/fast-check.ts';
import {
  applyDeleted,
  applyLaunchResults,
  applyPlan,
  backedOffLabels,
  deleteNode,
  emptyPoolState,
  holdNode,
  plannerInput,
  pruneRequests,
  reconcile,
  releaseNodes,
  type NodeRecord,
  type PoolSettings,
  type PoolState,
} from '../core/pool-state.ts';
import type { Plan } from '../core/pool-types.ts';

const R = { instances: 1, cores: 2, ramMB: 2048 };

function node(id: number, state: NodeRecord['state'], extra: Partial<NodeRecord> = {}): NodeRecord {
  return {
    id,
    launchKey: `k${id}`,
    pool: 'main',
    label: 'ubuntu',
    state,
    stateSince: 0,
    resources: R,
    hostname: `ubuntu-east-${id}`,
    createdAt: 0,
    ...extra,
  };
}

function stateWith(nodes: NodeRecord[], extra: Partial<PoolState> = {}): PoolState {
  return { ...emptyPoolState(), nodes, ...extra };
}

const emptyPlan: Plan = { allocate: [], fulfil: [], launch: [], delete: [], fail: [], wait: [], minReadyWait: [] };
const name = (label: string, id: number) => `${label}-east-${id}`;

const settings: PoolSettings = {
  provider: 'east',
  pools: [
    { name: 'main', maxServers: 10, labels: [{ label: 'ubuntu', image: { diskimage: 'ubuntu' }, flavor: 'm1.small' }] },
  ],
  labels: { ubuntu: { minReady: 2 } },
  ignoreQuota: false,
};

test('planner input: flavors give label resources, only pending requests go in, ignore-provider-quota lifts quota', () => {
  const s = stateWith([node(1, 'ready')], {
    flavors: { 'm1.small': R },
    quota: { instances: 5, cores: 10, ramMB: 1000 },
    images: { ubuntu: { uploadId: 7, externalId: 'img-7' } },
    requests: [
      { key: 'a', labels: ['ubuntu'], priority: 200, requestor: 'ci', submittedAt: 1, state: 'pending', nodeIds: [] },
      {
        key: 'b',
        labels: ['ubuntu'],
        priority: 200,
        requestor: 'ci',
        submittedAt: 1,
        state: 'fulfilled',
        nodeIds: [1],
      },
    ],
  });
  const input = plannerInput(s, settings, 1000);
  assert.deepEqual(input.pools[0]?.labels[0]?.resources, R);
  assert.deepEqual(input.currentUploads, { ubuntu: 7 });
  assert.deepEqual(
    input.requests.map((r) => r.key),
    ['a'],
  );
  assert.deepEqual(input.quota, { instances: 5, cores: 10, ramMB: 1000 });
  assert.deepEqual(plannerInput(s, { ...settings, ignoreQuota: true }, 1000).quota, {
    instances: null,
    cores: null,
    ramMB: null,
  });
});

test('applying a plan: launches get the reserved ids, names and images; deletions, allocations and hand-overs land', () => {
  const s = stateWith([node(1, 'ready'), node(2, 'used')], {
    images: { ubuntu: { uploadId: 7, externalId: 'img-7' } },
    requests: [
      {
        key: 'r',
        labels: ['ubuntu', 'ubuntu'],
        priority: 200,
        requestor: 'ci',
        submittedAt: 1,
        state: 'pending',
        nodeIds: [],
      },
    ],
  });
  const plan: Plan = {
    ...emptyPlan,
    allocate: [{ requestKey: 'r', nodeIds: [1] }],
    launch: [{ pool: 'main', label: 'ubuntu', reason: 'request', requestKey: 'r', uploadId: 7, resources: R }],
    delete: [{ nodeId: 2, reason: 'used' }],
    wait: [{ requestKey: 'r', reason: 'one node is booting' }],
  };
  const a = applyPlan(s, plan, 50, [100], name, (id) => `launch-${id}`);
  const launched = a.state.nodes.find((n) => n.id === 100) as NodeRecord;
  assert.deepEqual(
    [launched.state, launched.hostname, launched.requestKey, launched.uploadId, launched.launchKey],
    ['building', 'ubuntu-east-100', 'r', 7, 'launch-100'],
  );
  assert.equal(a.launches[0]?.imageId, 'img-7');
  assert.equal(a.state.nodes.find((n) => n.id === 1)?.requestKey, 'r');
  assert.equal(a.state.nodes.find((n) => n.id === 2)?.state, 'deleting');
  assert.deepEqual(
    a.deletions.map((n) => n.id),
    [2],
  );
  assert.equal(a.state.requests[0]?.reason, 'one node is booting');
  assert.deepEqual(a.nodeChanges, [
    { id: 2, state: 'deleting', reason: 'used' },
    { id: 100, state: 'building' },
  ]);
  assert.throws(() => applyPlan(s, plan, 50, [], name, String), /no node id for launch 0/);
});

test('a fulfilled request hands its nodes over; a failed one records why', () => {
  const s = stateWith([node(1, 'ready', { requestKey: 'r' })], {
    requests: [
      {
        key: 'r',
        labels: ['ubuntu'],
        priority: 200,
        requestor: 'ci',
        submittedAt: 1,
        state: 'pending',
        nodeIds: [],
        reason: 'waiting',
      },
      { key: 'x', labels: ['nope'], priority: 200, requestor: 'ci', submittedAt: 1, state: 'pending', nodeIds: [] },
    ],
  });
  const a = applyPlan(
    s,
    {
      ...emptyPlan,
      fulfil: [{ requestKey: 'r', nodeIds: [1] }],
      fail: [{ requestKey: 'x', reason: 'no pool offers label nope' }],
    },
    9,
    [],
    name,
    String,
  );
  assert.equal(a.state.nodes[0]?.state, 'in-use');
  const r = a.state.requests.find((x) => x.key === 'r');
  assert.deepEqual([r?.state, r?.nodeIds, r?.reason, r?.doneAt], ['fulfilled', [1], undefined, 9]);
  assert.equal(a.state.requests.find((x) => x.key === 'x')?.reason, 'no pool offers label nope');
  assert.deepEqual(
    a.requestChanges.map((c) => c.state),
    ['fulfilled', 'failed'],
  );
});

test('launch results: ready, failed and quota-aborted nodes; late or repeated results change nothing', () => {
  const s = stateWith([node(1, 'building'), node(2, 'building'), node(3, 'building'), node(4, 'ready')]);
  const r = applyLaunchResults(
    s,
    [
      { id: 1, outcome: 'ready', externalId: 'srv-1', ip: '10.0.0.1', hostKeys: ['ssh-ed25519 AAAA'] },
      { id: 2, outcome: 'failed', reason: 'ERROR', externalId: 'srv-2' },
      { id: 3, outcome: 'aborted', reason: 'over quota' },
      { id: 4, outcome: 'failed', reason: 'late' },
    ],
    77,
  );
  const byId = (id: number) => r.state.nodes.find((n) => n.id === id);
  assert.deepEqual(
    [byId(1)?.state, byId(1)?.ip, byId(1)?.readySince, byId(1)?.hostKeys],
    ['ready', '10.0.0.1', 77, ['ssh-ed25519 AAAA']],
  );
  assert.deepEqual([byId(2)?.state, byId(2)?.reason, byId(2)?.externalId], ['failed', 'ERROR', 'srv-2']);
  assert.equal(byId(3), undefined, 'an aborted launch leaves no node');
  assert.equal(byId(4)?.state, 'ready', 'a result for a node that is not building is ignored');
  assert.equal(r.quotaHit, true);
  assert.deepEqual(applyLaunchResults(r.state, [{ id: 1, outcome: 'failed', reason: 'again' }], 80).nodeChanges, []);
});

test('a validation node reports its upload good or bad and is used up', () => {
  const s = stateWith(
    [node(1, 'building', { validation: true, uploadId: 9 }), node(2, 'building', { validation: true, uploadId: 10 })],
    {
      validations: [
        { diskimage: 'ubuntu', uploadId: 9, externalId: 'i9' },
        { diskimage: 'ubuntu', uploadId: 10, externalId: 'i10' },
      ],
    },
  );
  const r = applyLaunchResults(
    s,
    [
      { id: 1, outcome: 'ready', externalId: 's1', hostKeys: [] },
      { id: 2, outcome: 'failed', reason: 'no SSH within 60 s' },
    ],
    5,
  );
  assert.deepEqual(r.validated, [
    { uploadId: 9, ok: true },
    { uploadId: 10, ok: false, reason: 'no SSH within 60 s' },
  ]);
  assert.equal(r.state.nodes.find((n) => n.id === 1)?.state, 'used');
  assert.deepEqual(r.state.validations, []);
});

test('reconcile: vanished or ERROR servers fail their nodes; leaks need two sightings and the grace period', () => {
  const s = stateWith([
    node(1, 'ready', { externalId: 'a' }),
    node(2, 'in-use', { externalId: 'b' }),
    node(3, 'building'),
    node(4, 'ready', { externalId: 'd' }),
  ]);
  const servers = [
    { id: 'a', name: 'ubuntu-east-1', state: 'active' as const, nodeId: '1' },
    { id: 'd', name: 'ubuntu-east-4', state: 'error' as const, nodeId: '4', fault: 'host died' },
    { id: 'c', name: 'ubuntu-east-3', state: 'building' as const, nodeId: '3' }, // launch in flight
    { id: 'x', name: 'stray', state: 'active' as const, nodeId: '999' },
    { id: 'dup', name: 'ubuntu-east-1', state: 'active' as const, nodeId: '1' }, // a second server for node 1
    { id: 't', name: 'img-1.template.nodepool.local', state: 'active' as const, uploadId: '5' },
  ];
  const first = reconcile(s, servers, 1_000, 60_000);
  const byId = (st: PoolState, id: number) => st.nodes.find((n) => n.id === id);
  assert.equal(byId(first.state, 2)?.state, 'failed');
  assert.match(byId(first.state, 2)?.reason ?? '', /vanished/);
  assert.match(byId(first.state, 4)?.reason ?? '', /ERROR: host died/);
  assert.equal(byId(first.state, 3)?.state, 'building');
  assert.deepEqual(first.leaks, []);
  assert.deepEqual(
    Object.keys(first.state.leakSuspects).sort(),
    ['dup', 'x'],
    'template servers belong to the builder',
  );
  const early = reconcile(first.state, servers, 30_000, 60_000);
  assert.deepEqual(early.leaks, [], 'seen twice but within the grace period');
  const late = reconcile(early.state, servers, 61_000, 60_000);
  assert.deepEqual(late.leaks.map((x) => x.id).sort(), ['dup', 'x']);
  assert.deepEqual(reconcile(early.state, [], 61_000, 60_000).state.leakSuspects, {}, 'gone servers are forgotten');
});

test('hold: only ready, in-use or used nodes; max-hold-age caps the expiry', () => {
  const s = stateWith([node(1, 'ready'), node(2, 'building')]);
  const r = holdNode(s, 1, 'debug job 42', 10_000_000, 1_000, 3600);
  assert.ok(!('refused' in r));
  assert.equal(r.until, 1_000 + 3_600_000);
  assert.equal(r.state.nodes[0]?.state, 'hold');
  assert.equal(r.state.nodes[0]?.holdReason, 'debug job 42');
  assert.match((holdNode(s, 2, 'x', undefined, 0, undefined) as { refused: string }).refused, /building/);
  assert.match((holdNode(s, 9, 'x', undefined, 0, undefined) as { refused: string }).refused, /not in this pool/);
  assert.equal((holdNode(s, 1, 'x', undefined, 0, undefined) as { until?: number }).until, undefined);
});

test('delete: an in-use node waits for its user unless --now; others go at once', () => {
  const s = stateWith([node(1, 'in-use'), node(2, 'ready'), node(3, 'deleting'), node(4, 'building')]);
  const waits = deleteNode(s, 1, false, 5) as { state: PoolState; immediate: boolean };
  assert.equal(waits.immediate, false);
  assert.equal(waits.state.nodes[0]?.deleteRequested, true);
  assert.equal(waits.state.nodes[0]?.state, 'in-use');
  const now = deleteNode(s, 1, true, 5) as { state: PoolState; immediate: boolean };
  assert.equal(now.state.nodes[0]?.state, 'used');
  assert.equal((deleteNode(s, 2, false, 5) as { immediate: boolean }).immediate, true);
  assert.match((deleteNode(s, 3, false, 5) as { refused: string }).refused, /already being deleted/);
  assert.equal((deleteNode(s, 4, false, 5) as { state: PoolState }).state.nodes[3]?.state, 'building');
});

test('release: in-use nodes become used; others are untouched', () => {
  const s = stateWith([node(1, 'in-use'), node(2, 'hold')]);
  const r = releaseNodes(s, [1, 2, 3], 8);
  assert.deepEqual(
    r.state.nodes.map((n) => n.state),
    ['used', 'hold'],
  );
  assert.deepEqual(r.nodeChanges, [{ id: 1, state: 'used' }]);
});

test('deleted nodes leave; finished requests are forgotten after the retention', () => {
  const s = stateWith([node(1, 'deleting'), node(2, 'ready')], {
    requests: [
      {
        key: 'old',
        labels: [],
        priority: 1,
        requestor: 'x',
        submittedAt: 0,
        state: 'fulfilled',
        nodeIds: [],
        doneAt: 0,
      },
      {
        key: 'new',
        labels: [],
        priority: 1,
        requestor: 'x',
        submittedAt: 0,
        state: 'failed',
        nodeIds: [],
        doneAt: 900,
      },
      { key: 'open', labels: [], priority: 1, requestor: 'x', submittedAt: 0, state: 'pending', nodeIds: [] },
    ],
  });
  assert.deepEqual(
    applyDeleted(s, [1]).state.nodes.map((n) => n.id),
    [2],
  );
  assert.deepEqual(
    pruneRequests(s, 1_000, 500).requests.map((r) => r.key),
    ['new', 'open'],
  );
});

test('property: launch results never create nodes and never touch nodes that are not building', () => {
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom('building', 'ready', 'in-use', 'used', 'hold', 'deleting', 'failed'), { maxLength: 12 }),
      fc.array(fc.record({ id: fc.integer({ min: 0, max: 14 }), ok: fc.boolean() }), { maxLength: 20 }),
      (states, results) => {
        const s = stateWith(states.map((st, i) => node(i, st as NodeRecord['state'])));
        const r = applyLaunchResults(
          s,
          results.map((x) =>
            x.ok
              ? { id: x.id, outcome: 'ready' as const, externalId: `s${x.id}`, hostKeys: [] }
              : { id: x.id, outcome: 'failed' as const, reason: 'no' },
          ),
          1,
        );
        assert.ok(r.state.nodes.length <= s.nodes.length);
        for (const n of s.nodes)
          if (n.state !== 'building')
            assert.deepEqual(
              r.state.nodes.find((x) => x.id === n.id),
              n,
            );
      },
    ),
  );
});

test('a launch that spent its retries fails its request, as nodepool declines it, instead of launching forever', () => {
  const s = stateWith([node(1, 'building', { requestKey: 'r' }), node(2, 'ready', { requestKey: 'r', label: 'big' })], {
    requests: [
      {
        key: 'r',
        labels: ['ubuntu', 'big'],
        priority: 200,
        requestor: 'ci',
        submittedAt: 0,
        state: 'pending',
        nodeIds: [],
      },
    ],
  });
  const r = applyLaunchResults(s, [{ id: 1, outcome: 'failed', reason: 'launch failed 3 times; last: ERROR' }], 10);
  assert.equal(r.state.requests[0]?.state, 'failed');
  assert.equal(r.state.requests[0]?.reason, 'launching ubuntu failed: launch failed 3 times; last: ERROR');
  assert.deepEqual(r.requestChanges, [
    { key: 'r', state: 'failed', reason: 'launching ubuntu failed: launch failed 3 times; last: ERROR' },
  ]);
  assert.equal(r.state.labelBackoff?.ubuntu, undefined, 'a request launch does not count against min-ready');
});

test('min-ready refills of a label whose launches keep failing back off, doubling; a READY node clears it', () => {
  let s = stateWith([]);
  const fail = (id: number, at: number) => {
    s = { ...s, nodes: [...s.nodes, node(id, 'building')] };
    s = applyLaunchResults(s, [{ id, outcome: 'failed', reason: 'no SSH' }], at).state;
  };
  fail(1, 0);
  fail(2, 0);
  assert.deepEqual(backedOffLabels(s, 0), [], 'two failures: no backoff yet');
  fail(3, 0);
  assert.match(
    backedOffLabels(s, 0)[0]?.reason ?? '',
    /^3 launches failed in a row \(last: no SSH\); next min-ready launch in 10 s$/,
  );
  assert.equal(plannerInput(s, settings, 5_000).labels.ubuntu?.minReady, 0);
  assert.equal(plannerInput(s, settings, 10_000).labels.ubuntu?.minReady, 2, 'after the backoff, refills resume');
  fail(4, 10_000);
  assert.equal(s.labelBackoff?.ubuntu?.until, 30_000, 'the next failure doubles the wait');
  s = { ...s, nodes: [...s.nodes, node(5, 'building')] };
  s = applyLaunchResults(s, [{ id: 5, outcome: 'ready', externalId: 'x', hostKeys: [] }], 11_000).state;
  assert.deepEqual(backedOffLabels(s, 11_000), []);
});
