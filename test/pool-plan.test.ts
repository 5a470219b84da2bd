// The pool planner, rule by rule: each test is named after the rule it proves. Property tests are in
// pool-plan-properties.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planPool } from '../core/pool-plan.ts';
import type { PlannerInput, PoolNodeState, PoolPlanConfig } from '../core/pool-types.ts';
import { LARGE, SMALL, T0, applyPlan, bootNodes, poolInput, poolNode, poolRequest } from './support/pool-apply.ts';

const HOUR = 3_600_000;
const mainWith = (over: Partial<PoolPlanConfig>, base = poolInput()): PoolPlanConfig[] => [
  { ...(base.pools[0] as PoolPlanConfig), ...over },
];
const launches = (input: PlannerInput) =>
  planPool(input).launch.map((l) => `${l.pool}/${l.label}/${l.reason}${l.requestKey ? `/${l.requestKey}` : ''}`);
const waitOf = (input: PlannerInput, key: string) => planPool(input).wait.find((w) => w.requestKey === key)?.reason;

// ---------------------------------------------------------------------------------------------------------
// Capacity

test('capacity: nodes in every state count against max-servers', () => {
  const states: PoolNodeState[] = ['building', 'ready', 'in-use', 'used', 'hold', 'deleting', 'failed'];
  const nodes = states.map((state, i) => poolNode(i + 1, { state, requestKey: state === 'ready' ? 'r0' : undefined }));
  const input = poolInput({ pools: mainWith({ maxServers: 7 }), nodes, requests: [poolRequest('r1', ['small'])] });
  assert.deepEqual(planPool(input).launch, []);
  assert.equal(waitOf(input, 'r1'), 'pool main is at max-servers (7/7)');
  assert.deepEqual(launches({ ...input, pools: mainWith({ maxServers: 8 }) }), ['main/small/request/r1']);
});

test('capacity: nodes of a pool no longer in the config still count against the quota', () => {
  const input = poolInput({
    quota: { instances: 3, cores: null, ramMB: null },
    nodes: [poolNode(1, { pool: 'old', state: 'in-use' }), poolNode(2, { pool: 'old', state: 'in-use' })],
    requests: [poolRequest('r1', ['small', 'small'])],
  });
  assert.equal(waitOf(input, 'r1'), 'at quota in east: 2/3 instances, 2 more needed');
  assert.deepEqual(planPool(input).launch, []);
});

test('capacity: several launches in one plan never exceed max-servers together', () => {
  const input = poolInput({
    pools: mainWith({ maxServers: 3 }),
    labels: { small: { minReady: 5 } },
    requests: [poolRequest('r1', ['small']), poolRequest('r2', ['large'], { submittedAt: T0 })],
  });
  const plan = planPool(input);
  assert.deepEqual(launches(input), ['main/small/request/r1', 'main/large/request/r2', 'main/small/min-ready']);
  assert.deepEqual(plan.minReadyWait, [
    { label: 'small', reason: 'min-ready 5, 1 READY or booting: pool main is at max-servers (3/3)' },
  ]);
});

test('capacity: max-cores counts cores, and the reason names the flavor', () => {
  const input = poolInput({
    pools: mainWith({ maxServers: 100, maxCores: 80 }),
    nodes: Array.from({ length: 39 }, (_, i) => poolNode(i + 1, { state: 'in-use' })),
    requests: [poolRequest('r1', ['large'])],
  });
  assert.equal(waitOf(input, 'r1'), 'max-cores of pool main: 78/80 used, m1.large needs 4');
  // The same room takes a small node.
  assert.deepEqual(launches({ ...input, requests: [poolRequest('r2', ['small'])] }), ['main/small/request/r2']);
});

test('capacity: max-ram counts MB', () => {
  const input = poolInput({
    pools: mainWith({ maxRam: 16384 }),
    nodes: [poolNode(1, { state: 'in-use', resources: LARGE })],
    requests: [poolRequest('r1', ['large', 'small'])],
  });
  assert.equal(waitOf(input, 'r1'), 'max-ram of pool main: 8192/16384 MB used, 2 new nodes need 10240 MB');
});

test('capacity: the cloud quota limits instances, cores and RAM across all pools', () => {
  const full = Array.from({ length: 20 }, (_, i) => poolNode(i + 1, { state: 'in-use' }));
  const input = (quota: PlannerInput['quota']) =>
    poolInput({
      provider: 'rax-dfw',
      pools: mainWith({ maxServers: 100 }),
      quota,
      nodes: full,
      requests: [poolRequest('r1', ['large'])],
    });
  assert.equal(
    waitOf(input({ instances: 20, cores: null, ramMB: null }), 'r1'),
    'at quota in rax-dfw: 20/20 instances',
  );
  assert.equal(
    waitOf(input({ instances: null, cores: 42, ramMB: null }), 'r1'),
    'at quota in rax-dfw: 40/42 cores, m1.large needs 4',
  );
  assert.equal(
    waitOf(input({ instances: null, cores: null, ramMB: 45000 }), 'r1'),
    'at quota in rax-dfw: 40960/45000 MB RAM, m1.large needs 8192 MB',
  );
  assert.deepEqual(launches(input({ instances: 21, cores: 44, ramMB: 49152 })), ['main/large/request/r1']);
});

test('capacity: max-concurrency caps nodes in building, existing and planned', () => {
  const input = poolInput({
    maxConcurrency: 3,
    nodes: [poolNode(1, { state: 'building' })],
    labels: { small: { minReady: 5 } },
  });
  const plan = planPool(input);
  assert.equal(plan.launch.length, 2);
  assert.deepEqual(plan.minReadyWait, [
    { label: 'small', reason: 'min-ready 5, 3 READY or booting: launch concurrency 3/3 in east' },
  ]);
});

test('capacity: a label whose flavor is not known yet does not launch', () => {
  const pools = mainWith({
    labels: [{ label: 'large', image: { diskimage: 'ubuntu' }, flavor: 'm1.large' }],
  });
  const input = poolInput({ pools, requests: [poolRequest('r1', ['large'])], labels: { large: { minReady: 1 } } });
  const plan = planPool(input);
  assert.deepEqual(plan.launch, []);
  assert.deepEqual(plan.wait, [
    { requestKey: 'r1', reason: 'flavor m1.large of label large is not known yet in east' },
  ]);
  assert.deepEqual(plan.minReadyWait, [
    {
      label: 'large',
      reason: 'min-ready 1, 0 READY or booting: flavor m1.large of label large is not known yet in east',
    },
  ]);
  assert.deepEqual(plan.fail, [], 'an unknown flavor is not a reason to fail');
});

// ---------------------------------------------------------------------------------------------------------
// Deletions

test('deletions: used and failed nodes are deleted', () => {
  const plan = planPool(poolInput({ nodes: [poolNode(1, { state: 'used' }), poolNode(2, { state: 'failed' })] }));
  assert.deepEqual(plan.delete, [
    { nodeId: 1, reason: 'used: released by its user (nodes serve one job)' },
    { nodeId: 2, reason: 'failed: its launch or ready check did not succeed' },
  ]);
});

test('deletions: a hold ends at holdUntil (≤ now); a hold without expiry stays', () => {
  const nodes = [
    poolNode(1, { state: 'hold', holdReason: 'debug job 42', holdUntil: T0 }),
    poolNode(2, { state: 'hold', holdUntil: T0 + 1 }),
    poolNode(3, { state: 'hold', stateSince: T0 - 1000 * HOUR }),
  ];
  assert.deepEqual(planPool(poolInput({ nodes })).delete, [
    { nodeId: 1, reason: 'hold expired at 2026-01-01T12:00:00.000Z (held: debug job 42)' },
  ]);
});

test('deletions: max-hold-age caps every hold, measured from when it was held', () => {
  const nodes = [
    poolNode(1, { state: 'hold', stateSince: T0 - 3 * HOUR, holdUntil: T0 + 100 * HOUR }),
    poolNode(2, { state: 'hold', stateSince: T0 - 2 * HOUR }),
  ];
  assert.deepEqual(planPool(poolInput({ nodes, maxHoldAge: 7200 })).delete, [
    { nodeId: 1, reason: 'held for 3.0 h, longer than max-hold-age (2.0 h)' },
  ]);
});

test('deletions: idle READY unallocated nodes older than max-ready-age are replaced', () => {
  const nodes = [
    poolNode(1, { readySince: T0 - 2 * HOUR }),
    poolNode(2, { readySince: undefined, stateSince: T0 - 2 * HOUR }), // falls back to stateSince
    poolNode(3, { readySince: T0 - 2 * HOUR, requestKey: 'r9' }), // allocated: its request's
    poolNode(4, { readySince: T0 - 2 * HOUR, validation: true }),
    poolNode(5, { readySince: T0 - HOUR }),
  ];
  const plan = planPool(
    poolInput({
      nodes,
      labels: { small: { minReady: 3, maxReadyAge: 3600 } },
      requests: [poolRequest('r9', ['small'])],
    }),
  );
  assert.deepEqual(plan.delete, [
    { nodeId: 1, reason: 'idle READY for 2.0 h, longer than max-ready-age of small (60 min)' },
    { nodeId: 2, reason: 'idle READY for 2.0 h, longer than max-ready-age of small (60 min)' },
  ]);
  // Node 5 counts toward min-ready; the two deleted ones are replaced in the same plan.
  assert.deepEqual(
    plan.launch.map((l) => l.reason),
    ['min-ready', 'min-ready'],
  );
});

test('deletions: READY unallocated nodes booted from a withdrawn upload are replaced', () => {
  const nodes = [poolNode(1, { uploadId: 99 }), poolNode(2, { uploadId: 99, requestKey: 'r1' }), poolNode(3)];
  const input = poolInput({ nodes, withdrawnUploads: [99], requests: [poolRequest('r1', ['small'])] });
  assert.deepEqual(planPool(input).delete, [
    { nodeId: 1, reason: 'booted from upload 99, which an operator withdrew (image-delete)' },
  ]);
});

test('deletions: READY unallocated nodes whose pool or label left the config are deleted', () => {
  const nodes = [
    poolNode(1, { pool: 'gone' }),
    poolNode(2, { label: 'medium' }),
    poolNode(3, { pool: 'gone', requestKey: 'r1' }),
    poolNode(4, { pool: 'gone', state: 'in-use' }),
  ];
  assert.deepEqual(planPool(poolInput({ nodes, requests: [poolRequest('r1', ['small'])] })).delete, [
    { nodeId: 1, reason: 'pool gone is no longer in the configuration of east' },
    { nodeId: 2, reason: 'pool main no longer offers label medium' },
  ]);
});

test('deletions: READY nodes reserved for a request that is no longer pending are deleted', () => {
  const nodes = [
    poolNode(1, { requestKey: 'cancelled' }),
    poolNode(2, { requestKey: 'cancelled', state: 'building' }),
    poolNode(3, { requestKey: 'cancelled', state: 'in-use' }),
    poolNode(4, { requestKey: 'r1' }),
  ];
  assert.deepEqual(planPool(poolInput({ nodes, requests: [poolRequest('r1', ['small'])] })).delete, [
    { nodeId: 1, reason: 'reserved for request cancelled, which is no longer pending' },
  ]);
});

test('deletions: a request that fails releases its READY reservations by deleting them', () => {
  const nodes = [poolNode(1, { requestKey: 'r1' }), poolNode(2, { requestKey: 'r1', state: 'building' })];
  const plan = planPool(poolInput({ nodes, requests: [poolRequest('r1', ['small', 'gpu'])] }));
  assert.deepEqual(plan.fail, [{ requestKey: 'r1', reason: 'no pool of east offers label gpu' }]);
  assert.deepEqual(plan.delete, [
    { nodeId: 1, reason: 'reserved for request r1, which failed: no pool of east offers label gpu' },
  ]);
});

test('deletions: READY nodes reserved for a request beyond what it asks for are deleted', () => {
  // r1 was first submitted for [small, large]; its key now asks for [small] only.
  const nodes = [
    poolNode(1, { requestKey: 'r1' }),
    poolNode(2, { requestKey: 'r1', label: 'large', resources: LARGE }),
  ];
  const plan = planPool(poolInput({ nodes, requests: [poolRequest('r1', ['small'])] }));
  assert.deepEqual(plan.fulfil, [{ requestKey: 'r1', nodeIds: [1] }]);
  assert.deepEqual(plan.delete, [
    { nodeId: 2, reason: 'reserved for request r1, which does not need it (it asks for small)' },
  ]);
});

test('deletions: building, in-use and deleting nodes are never deleted, even when asked or expired', () => {
  const old = { stateSince: T0 - 100 * HOUR, readySince: T0 - 100 * HOUR, deleteRequested: true, uploadId: 99 };
  const nodes = [
    poolNode(1, { ...old, state: 'building' }),
    poolNode(2, { ...old, state: 'in-use' }),
    poolNode(3, { ...old, state: 'deleting' }),
  ];
  const input = poolInput({ nodes, withdrawnUploads: [99], labels: { small: { minReady: 0, maxReadyAge: 1 } } });
  assert.deepEqual(planPool(input).delete, []);
});

test('deletions: a node an operator deleted goes when it is not in use', () => {
  const nodes = [
    poolNode(1, { deleteRequested: true }),
    poolNode(2, { deleteRequested: true, state: 'hold', holdReason: 'x' }),
    poolNode(3, { deleteRequested: true, requestKey: 'r1' }),
    poolNode(4, { deleteRequested: true, state: 'in-use' }),
  ];
  assert.deepEqual(
    planPool(poolInput({ nodes })).delete.map((d) => [d.nodeId, d.reason]),
    [
      [1, 'deleted by an operator'],
      [2, 'deleted by an operator'],
      [3, 'deleted by an operator'],
    ],
  );
});

test('deletions: validation nodes are deleted only when used or failed', () => {
  const v = { validation: true, uploadId: 101, readySince: T0 - 100 * HOUR, stateSince: T0 - 100 * HOUR };
  const nodes = [
    poolNode(1, { ...v }),
    poolNode(2, { ...v, state: 'hold', holdUntil: T0 - 1 }),
    poolNode(3, { ...v, deleteRequested: true }),
    poolNode(4, { ...v, pool: 'gone' }),
    poolNode(5, { ...v, state: 'used' }),
    poolNode(6, { ...v, state: 'failed' }),
  ];
  const input = poolInput({
    nodes,
    withdrawnUploads: [101],
    maxHoldAge: 1,
    labels: { small: { minReady: 0, maxReadyAge: 1 } },
  });
  assert.deepEqual(
    planPool(input).delete.map((d) => d.nodeId),
    [5, 6],
  );
});

// ---------------------------------------------------------------------------------------------------------
// Requests

const twoPools = (): PoolPlanConfig[] => [
  {
    name: 'main',
    maxServers: 10,
    labels: [{ label: 'small', image: { diskimage: 'ubuntu' }, flavor: 'm1.small', resources: SMALL }],
  },
  {
    name: 'big',
    maxServers: 10,
    labels: [
      { label: 'small', image: { diskimage: 'ubuntu' }, flavor: 'm1.small', resources: SMALL },
      { label: 'large', image: { cloudImage: 'centos-9' }, flavor: 'm1.large', resources: LARGE },
    ],
  },
];

test('requests: served from the first pool, in config order, offering every label', () => {
  const input = poolInput({
    pools: twoPools(),
    nodes: [poolNode(1, { pool: 'main' })],
    requests: [poolRequest('r1', ['small', 'large'])],
  });
  const plan = planPool(input);
  // Node 1 is READY in main, but the request needs both labels from one pool: big.
  assert.deepEqual(plan.allocate, []);
  assert.deepEqual(plan.launch, [
    { pool: 'big', label: 'small', reason: 'request', requestKey: 'r1', uploadId: 100, resources: SMALL },
    { pool: 'big', label: 'large', reason: 'request', requestKey: 'r1', cloudImage: 'centos-9', resources: LARGE },
  ]);
  assert.deepEqual(plan.wait, [{ requestKey: 'r1', reason: 'launching 2 nodes in pool big' }]);
  assert.deepEqual(planPool({ ...input, requests: [poolRequest('r2', ['small'])] }).allocate, [
    { requestKey: 'r2', nodeIds: [1] },
  ]);
});

test('requests: repeated labels mean several nodes of that label', () => {
  const input = poolInput({
    nodes: [poolNode(1), poolNode(2, { label: 'large', resources: LARGE })],
    requests: [poolRequest('r1', ['small', 'small', 'large'])],
  });
  const plan = planPool(input);
  // Longest idle first: node 2 has been READY for 2 minutes, node 1 for one.
  assert.deepEqual(plan.allocate, [{ requestKey: 'r1', nodeIds: [2, 1] }]);
  assert.deepEqual(launches(input), ['main/small/request/r1']);
});

test('requests: a label no pool offers, or labels never offered together, fail the request', () => {
  const input = poolInput({
    pools: twoPools().map((p) => (p.name === 'big' ? { ...p, labels: p.labels.slice(1) } : p)),
    requests: [poolRequest('r1', ['small', 'gpu']), poolRequest('r2', ['small', 'large'])],
  });
  assert.deepEqual(planPool(input).fail, [
    { requestKey: 'r1', reason: 'no pool of east offers label gpu' },
    {
      requestKey: 'r2',
      reason: 'no single pool of east offers small, large together (small in pool main; large in pool big)',
    },
  ]);
  assert.deepEqual(planPool(poolInput({ requests: [poolRequest('r3', [])] })).fail, [
    { requestKey: 'r3', reason: 'the request names no labels' },
  ]);
});

test('requests: a request larger than a pool or the quota could ever hold fails, even with the pool empty', () => {
  const req = (labels: string[]) => [poolRequest('r1', labels)];
  const failOf = (input: PlannerInput) => planPool(input).fail[0]?.reason;
  assert.equal(
    failOf(poolInput({ pools: mainWith({ maxServers: 2 }), requests: req(['small', 'small', 'small']) })),
    'pool main can never hold it: max-servers is 2, the request needs 3 servers',
  );
  assert.equal(
    failOf(poolInput({ pools: mainWith({ maxCores: 6 }), requests: req(['large', 'small', 'small']) })),
    'pool main can never hold it: max-cores is 6, the request needs 8 cores',
  );
  assert.equal(
    failOf(poolInput({ pools: mainWith({ maxRam: 4096 }), requests: req(['large']) })),
    'pool main can never hold it: max-ram is 4096 MB, the request needs 8192 MB',
  );
  assert.equal(
    failOf(poolInput({ quota: { instances: null, cores: 3, ramMB: null }, requests: req(['large']) })),
    'the quota of east can never hold it: 3 cores available to nodepool, the request needs 4',
  );
  // A fuller pool is not a reason to fail: it waits.
  const busy = poolInput({
    pools: mainWith({ maxServers: 3 }),
    nodes: [poolNode(1, { state: 'in-use' })],
    requests: req(['small', 'small', 'small']),
  });
  assert.deepEqual(planPool(busy).fail, []);
  assert.equal(waitOf(busy, 'r1'), 'max-servers of pool main: 1/3 used, 3 more needed');
});

test('requests: a later pool that can hold it is chosen when the first never could', () => {
  const pools = twoPools().map((p) => (p.name === 'main' ? { ...p, maxServers: 1 } : p));
  const input = poolInput({ pools, requests: [poolRequest('r1', ['small', 'small'])] });
  assert.deepEqual(launches(input), ['big/small/request/r1', 'big/small/request/r1']);
});

test('requests: nodes already reserved count first, and the request is fulfilled when all are READY', () => {
  const nodes = [
    poolNode(1, { requestKey: 'r1' }),
    poolNode(2, { requestKey: 'r1', state: 'building' }),
    poolNode(3), // free, not needed: r1's two nodes are reserved already
  ];
  const input = poolInput({ nodes, requests: [poolRequest('r1', ['small', 'small'])] });
  let plan = planPool(input);
  assert.deepEqual([plan.allocate, plan.launch, plan.fulfil], [[], [], []]);
  assert.deepEqual(plan.wait, [{ requestKey: 'r1', reason: 'waiting for node 2 to boot' }]);
  plan = planPool(bootNodes(input));
  assert.deepEqual(plan.fulfil, [{ requestKey: 'r1', nodeIds: [1, 2] }]);
  assert.deepEqual(plan.wait, []);
});

test('requests: READY free nodes of the pool are allocated, longest idle first, and fulfil at once', () => {
  const nodes = [
    poolNode(1, { readySince: T0 - 5 * 60_000 }),
    poolNode(2, { readySince: T0 - 50 * 60_000 }),
    poolNode(3, { readySince: T0 - 500 * 60_000, validation: true }),
    poolNode(4, { readySince: T0 - 500 * 60_000, deleteRequested: true }),
    poolNode(5, { readySince: T0 - 500 * 60_000, requestKey: 'other' }),
    poolNode(6, { readySince: T0 - 500 * 60_000, state: 'hold' }),
    poolNode(7, { readySince: T0 - 5 * 60_000 }),
  ];
  const plan = planPool(poolInput({ nodes, requests: [poolRequest('r1', ['small', 'small'])] }));
  assert.deepEqual(plan.allocate, [{ requestKey: 'r1', nodeIds: [2, 1] }]);
  assert.deepEqual(plan.fulfil, [{ requestKey: 'r1', nodeIds: [2, 1] }]);
  assert.deepEqual(plan.launch, []);
});

test('requests: what is missing is launched, reserved for the request, from the current upload', () => {
  const plan = planPool(poolInput({ nodes: [poolNode(1)], requests: [poolRequest('r1', ['small', 'large'])] }));
  assert.deepEqual(plan.allocate, [{ requestKey: 'r1', nodeIds: [1] }]);
  assert.deepEqual(plan.launch, [
    { pool: 'main', label: 'large', reason: 'request', requestKey: 'r1', uploadId: 100, resources: LARGE },
  ]);
  assert.deepEqual(plan.wait, [{ requestKey: 'r1', reason: 'launching 1 node in pool main' }]);
});

test('requests: a label whose image has no READY upload waits, saying why', () => {
  const input = poolInput({
    currentUploads: {},
    imageMissingReasons: { ubuntu: 'upload 101 failed validation: ssh handshake timed out' },
    requests: [poolRequest('r1', ['small'])],
  });
  assert.equal(
    waitOf(input, 'r1'),
    'label small has no READY image in east: upload 101 failed validation: ssh handshake timed out',
  );
  assert.equal(waitOf({ ...input, imageMissingReasons: undefined }, 'r1'), 'label small has no READY image in east');
});

test('requests: priority first, then arrival, then key', () => {
  const input = poolInput({
    pools: mainWith({ maxServers: 2 }),
    requests: [
      poolRequest('late', ['small'], { priority: 200, submittedAt: T0 }),
      poolRequest('b-early', ['small'], { priority: 200, submittedAt: T0 - 5 }),
      poolRequest('a-early', ['small'], { priority: 200, submittedAt: T0 - 5 }),
      poolRequest('urgent', ['small'], { priority: 100, submittedAt: T0 }),
    ],
  });
  assert.deepEqual(launches(input), ['main/small/request/urgent', 'main/small/request/a-early']);
});

test('requests: strict priority: a request waiting on a limit holds that capacity against later ones', () => {
  // 8 of 10 used; r1 (first) needs 3 and waits; r2 needs 1 and would fit, but must not take r1's room.
  const input = poolInput({
    nodes: Array.from({ length: 8 }, (_, i) => poolNode(i + 1, { state: 'in-use' })),
    labels: { large: { minReady: 1 } },
    requests: [
      poolRequest('r1', ['small', 'small', 'small'], { priority: 100 }),
      poolRequest('r2', ['small'], { priority: 200 }),
    ],
  });
  const plan = planPool(input);
  assert.deepEqual(plan.launch, []);
  assert.deepEqual(plan.wait, [
    { requestKey: 'r1', reason: 'max-servers of pool main: 8/10 used, 3 more needed' },
    {
      requestKey: 'r2',
      reason:
        'capacity in pool main is held for request r1 (priority 100), which waits: max-servers of pool main: 8/10 used, 3 more needed',
    },
  ]);
  assert.match(plan.minReadyWait[0]?.reason ?? '', /held for request r1/);
});

test('requests: waiting on the quota holds capacity in every pool of the provider', () => {
  const input = poolInput({
    pools: twoPools(),
    quota: { instances: 2, cores: null, ramMB: null },
    requests: [poolRequest('r1', ['large', 'large', 'large'], { priority: 100 }), poolRequest('r2', ['small'])],
  });
  assert.deepEqual(planPool(input).fail, [
    {
      requestKey: 'r1',
      reason: 'the quota of east can never hold it: 2 instances available to nodepool, the request needs 3 servers',
    },
  ]);
  const busy = {
    ...input,
    quota: { instances: 4, cores: null, ramMB: null },
    nodes: [poolNode(1, { state: 'in-use' }), poolNode(2, { state: 'in-use' })],
  };
  const plan = planPool(busy);
  assert.deepEqual(plan.launch, []);
  assert.equal(waitOf(busy, 'r1'), 'at quota in east: 2/4 instances, 3 more needed');
  assert.match(waitOf(busy, 'r2') ?? '', /^capacity in east is held for request r1/);
});

test('requests: a request waiting for an image or a flavor does not hold capacity', () => {
  const pools = twoPools();
  const input = poolInput({
    pools: [pools[1] as PoolPlanConfig],
    currentUploads: {},
    requests: [poolRequest('r1', ['small'], { priority: 100 }), poolRequest('r2', ['large'])],
  });
  assert.deepEqual(launches(input), ['big/large/request/r2']);
});

test('requests: all or nothing: a request whose launches do not all fit reserves no READY node', () => {
  const input = poolInput({
    pools: mainWith({ maxServers: 3 }),
    nodes: [poolNode(1), poolNode(2, { state: 'in-use' })],
    requests: [poolRequest('r1', ['small', 'small', 'small']), poolRequest('r2', ['small'], { submittedAt: T0 })],
  });
  const plan = planPool(input);
  assert.deepEqual(
    plan.allocate.filter((a) => a.requestKey === 'r1'),
    [],
    'node 1 is not reserved for a request that cannot be completed',
  );
  assert.deepEqual(launches(input), []);
  assert.equal(waitOf(input, 'r1'), 'max-servers of pool main: 2/3 used, 2 more needed');
});

test('requests: a READY node a waiting request would get may serve a later request; launches stay in order', () => {
  const pools = mainWith({
    labels: [
      { label: 'small', image: { diskimage: 'ubuntu' }, flavor: 'm1.small', resources: SMALL },
      { label: 'large', image: { diskimage: 'fedora' }, flavor: 'm1.large', resources: LARGE },
    ],
  });
  const input = poolInput({
    pools,
    nodes: [poolNode(1)],
    requests: [poolRequest('r1', ['small', 'large']), poolRequest('r2', ['small'], { submittedAt: T0 })],
  });
  const plan = planPool(input);
  // r1 cannot boot large at all; holding node 1 for it would only delay r2.
  assert.equal(waitOf(input, 'r1'), 'label large has no READY image in east');
  assert.deepEqual(plan.fulfil, [{ requestKey: 'r2', nodeIds: [1] }]);
});

test('requests: idle READY nodes nobody asked for are deleted to make room for a request waiting on a limit', () => {
  const input = poolInput({
    pools: mainWith({ maxServers: 4 }),
    nodes: [
      poolNode(1, { label: 'large', resources: LARGE, readySince: T0 - 5 * 60_000 }),
      poolNode(2, { label: 'large', resources: LARGE, readySince: T0 - 50 * 60_000 }),
      poolNode(3, { state: 'used' }),
      poolNode(4),
    ],
    requests: [poolRequest('r1', ['small', 'small', 'small'])],
  });
  const plan = planPool(input);
  // Node 4 is r1's; node 3 is being deleted anyway; one more slot is needed: the longest-idle large node.
  assert.deepEqual(plan.delete, [
    { nodeId: 2, reason: 'idle, deleted to make room for request r1: pool main is at max-servers (4/4)' },
    { nodeId: 3, reason: 'used: released by its user (nodes serve one job)' },
  ]);
  assert.deepEqual(plan.launch, []);
  // Once they are gone, r1 gets node 4 and two launches.
  const after = planPool({ ...input, nodes: [poolNode(1, { label: 'large', resources: LARGE }), poolNode(4)] });
  assert.deepEqual(after.allocate, [{ requestKey: 'r1', nodeIds: [4] }]);
  assert.equal(after.launch.length, 2);
  // Nothing is deleted when that would not be enough.
  const busy = {
    ...input,
    nodes: [...input.nodes, poolNode(5, { state: 'in-use' }), poolNode(6, { state: 'in-use' })],
  };
  assert.deepEqual(
    planPool(busy).delete.map((d) => d.nodeId),
    [3],
  );
});

test('requests: the READY nodes the head of line will get are set aside for it, not given to new requests', () => {
  const input = poolInput({
    pools: mainWith({ maxServers: 3 }),
    nodes: [poolNode(1), poolNode(2, { state: 'in-use' })],
    requests: [poolRequest('r1', ['small', 'small', 'small']), poolRequest('r2', ['small'], { submittedAt: T0 })],
  });
  const plan = planPool(input);
  assert.deepEqual([plan.allocate, plan.fulfil, plan.launch], [[], [], []]);
  assert.equal(
    waitOf(input, 'r2'),
    'capacity in pool main is held for request r1 (priority 200), which waits: max-servers of pool main: 2/3 used, 2 more needed',
  );
});

test('requests: a node set aside for the head of line that a started request takes is replaced by the next free one', () => {
  const nodes = [
    poolNode(1, { readySince: T0 - 50 * 60_000 }),
    poolNode(2, { readySince: T0 - 5 * 60_000 }),
    poolNode(3, { label: 'large', resources: LARGE }),
    poolNode(4, { state: 'in-use' }),
    poolNode(5, { state: 'building', requestKey: 'started-low' }),
    poolNode(6, { state: 'building', requestKey: 'started-high', label: 'large', resources: LARGE }),
  ];
  const input = poolInput({
    pools: mainWith({ maxServers: 6 }),
    nodes,
    requests: [
      poolRequest('started-high', ['large', 'small', 'large', 'large'], { priority: 100 }),
      poolRequest('started-low', ['small', 'small'], { priority: 300 }),
    ],
  });
  const plan = planPool(input);
  // started-high waits for room for one more large node, with nodes 1 and 3 set aside for it; started-low,
  // already holding node 5, takes node 1, and node 2 is set aside in its place: nothing idle to delete.
  assert.deepEqual(plan.allocate, [{ requestKey: 'started-low', nodeIds: [1] }]);
  assert.deepEqual(plan.delete, []);
  assert.equal(waitOf(input, 'started-high'), 'pool main is at max-servers (6/6)');
});

test('requests: a request already holding nodes is never held back by another one waiting', () => {
  // Both are half served; holding back the second would leave each waiting on the other's nodes.
  const input = poolInput({
    pools: mainWith({ maxServers: 4 }),
    nodes: [poolNode(1, { requestKey: 'a' }), poolNode(2, { requestKey: 'b' }), poolNode(3, { state: 'in-use' })],
    requests: [
      poolRequest('a', ['small', 'small', 'small'], { priority: 100 }),
      poolRequest('b', ['small', 'small'], { priority: 200 }),
    ],
  });
  assert.deepEqual(launches(input), ['main/small/request/b']);
  assert.equal(waitOf(input, 'a'), 'max-servers of pool main: 3/4 used, 2 more needed');
});

test('requests: waiting on a pool limit sets aside the quota it needs, so launches elsewhere leave it', () => {
  const pools = twoPools().map((p) => (p.name === 'main' ? { ...p, maxServers: 1 } : p));
  const input = poolInput({
    pools,
    quota: { instances: 4, cores: null, ramMB: null },
    nodes: [poolNode(1, { state: 'in-use' })],
    labels: { large: { minReady: 3 } },
    requests: [poolRequest('r1', ['small'])],
  });
  const plan = planPool(input);
  assert.equal(waitOf(input, 'r1'), 'pool main is at max-servers (1/1)');
  assert.deepEqual(launches(input), ['big/large/min-ready', 'big/large/min-ready']);
  assert.deepEqual(plan.minReadyWait, [
    {
      label: 'large',
      reason:
        'min-ready 3, 2 READY or booting: at quota in east: 4/4 instances (1 of them set aside for waiting requests)',
    },
  ]);
});

test('requests: a request already holding nodes goes first, so pools cannot deadlock', () => {
  // r-low holds node 1 and lost its second node (failed). r-high arrived since and needs both slots.
  const input = poolInput({
    pools: mainWith({ maxServers: 2 }),
    nodes: [poolNode(1, { requestKey: 'r-low' })],
    requests: [
      poolRequest('r-low', ['small', 'small'], { priority: 300 }),
      poolRequest('r-high', ['small', 'small'], { priority: 100 }),
    ],
  });
  const plan = planPool(input);
  assert.deepEqual(launches(input), ['main/small/request/r-low']);
  assert.equal(waitOf(input, 'r-high'), 'pool main is at max-servers (2/2)');
  assert.equal(plan.fail.length, 0);
});

test('requests: a resubmitted key is one request', () => {
  const input = poolInput({
    requests: [poolRequest('r1', ['small']), poolRequest('r1', ['small'], { submittedAt: T0 })],
  });
  assert.deepEqual(launches(input), ['main/small/request/r1']);
});

test('requests: max-concurrency paces a request’s launches; its capacity is taken all the same', () => {
  const input = poolInput({
    pools: mainWith({ maxServers: 4 }),
    maxConcurrency: 2,
    labels: { small: { minReady: 2 } },
    requests: [poolRequest('r1', ['small', 'small', 'small'])],
  });
  const plan = planPool(input);
  assert.deepEqual(launches(input), ['main/small/request/r1', 'main/small/request/r1']);
  assert.equal(
    waitOf(input, 'r1'),
    'launching 2 nodes in pool main; 1 launch waits for launch concurrency 2/2 in east',
  );
  assert.deepEqual(plan.minReadyWait, [
    // r1's third node holds its server slot; the fourth fits but no launch slot is left.
    { label: 'small', reason: 'min-ready 2, 0 READY or booting: launch concurrency 2/2 in east' },
  ]);
});

// ---------------------------------------------------------------------------------------------------------
// Min-ready

test('min-ready: counts READY unallocated and unreserved building nodes, launches the difference', () => {
  const nodes = [
    poolNode(1),
    poolNode(2, { state: 'building' }),
    poolNode(3, { state: 'building', requestKey: 'r9' }),
    poolNode(4, { requestKey: 'r9' }),
    poolNode(5, { validation: true }),
    poolNode(6, { state: 'in-use' }),
    poolNode(7, { label: 'large', resources: LARGE }),
    poolNode(8, { state: 'building', deleteRequested: true }), // goes once READY
  ];
  const input = poolInput({ nodes, labels: { small: { minReady: 4 }, large: { minReady: 1 } } });
  assert.deepEqual(launches(input), ['main/small/min-ready', 'main/small/min-ready']);
});

test('min-ready: labels in several pools fill them in config order', () => {
  const pools = twoPools().map((p) => (p.name === 'main' ? { ...p, maxServers: 2 } : p));
  const input = poolInput({ pools, labels: { small: { minReady: 3 }, large: { minReady: 1 } } });
  assert.deepEqual(launches(input), [
    'main/small/min-ready',
    'main/small/min-ready',
    'big/small/min-ready',
    'big/large/min-ready',
  ]);
});

test('min-ready: held back, it says why for each pool offering the label', () => {
  const pools = twoPools().map((p) => ({ ...p, maxServers: 0 }));
  const plan = planPool(poolInput({ pools, labels: { small: { minReady: 1 } } }));
  assert.deepEqual(plan.minReadyWait, [
    {
      label: 'small',
      reason: 'min-ready 1, 0 READY or booting: pool main is at max-servers (0/0); pool big is at max-servers (0/0)',
    },
  ]);
});

test('min-ready: requests consume capacity first', () => {
  const input = poolInput({
    pools: mainWith({ maxServers: 2 }),
    labels: { small: { minReady: 2 } },
    requests: [poolRequest('r1', ['large', 'large'])],
  });
  assert.deepEqual(launches(input), ['main/large/request/r1', 'main/large/request/r1']);
});

test('min-ready: ignores labels no pool of this provider offers', () => {
  assert.deepEqual(launches(poolInput({ labels: { gpu: { minReady: 3 } } })), []);
});

// ---------------------------------------------------------------------------------------------------------
// Validations

test('validations: one boot per new upload, in the first pool/label using its diskimage, before min-ready', () => {
  const pools = twoPools();
  const input = poolInput({
    pools: [{ ...(pools[0] as PoolPlanConfig), maxServers: 1 }],
    labels: { small: { minReady: 1 } },
    validations: [
      { diskimage: 'ubuntu', uploadId: 101 },
      { diskimage: 'ubuntu', uploadId: 101 },
      { diskimage: 'fedora', uploadId: 300 }, // not used by any pool here
    ],
  });
  const plan = planPool(input);
  assert.deepEqual(plan.launch, [
    { pool: 'main', label: 'small', reason: 'validation', uploadId: 101, resources: SMALL },
  ]);
  assert.match(plan.minReadyWait[0]?.reason ?? '', /max-servers \(1\/1\)/);
});

test('validations: an upload with a validation node (in any state) is not booted again', () => {
  const input = poolInput({
    validations: [{ diskimage: 'ubuntu', uploadId: 101 }],
    nodes: [poolNode(1, { validation: true, uploadId: 101, state: 'failed' })],
  });
  assert.deepEqual(planPool(input).launch, []);
});

test('validations: come after requests', () => {
  const input = poolInput({
    pools: mainWith({ maxServers: 1 }),
    validations: [{ diskimage: 'ubuntu', uploadId: 101 }],
    requests: [poolRequest('r1', ['small'])],
  });
  assert.deepEqual(launches(input), ['main/small/request/r1']);
});

test('validation nodes are never allocated to requests nor counted toward min-ready', () => {
  const input = poolInput({
    nodes: [poolNode(1, { validation: true, uploadId: 101 })],
    labels: { small: { minReady: 1 } },
    requests: [poolRequest('r1', ['small'])],
  });
  const plan = planPool(input);
  assert.deepEqual(plan.allocate, []);
  assert.deepEqual(launches(input), ['main/small/request/r1', 'main/small/min-ready']);
});

// ---------------------------------------------------------------------------------------------------------
// Determinism and idempotence

test('the same input gives the same plan, whatever the order of nodes and requests', () => {
  const input = poolInput({
    pools: twoPools(),
    nodes: [poolNode(3), poolNode(1, { state: 'used' }), poolNode(2, { pool: 'big' })],
    labels: { small: { minReady: 2 }, large: { minReady: 1 } },
    requests: [poolRequest('b', ['small']), poolRequest('a', ['small', 'large'])],
  });
  const shuffled = { ...input, nodes: [...input.nodes].reverse(), requests: [...input.requests].reverse() };
  assert.deepEqual(planPool(shuffled), planPool(input));
  assert.deepEqual(planPool(structuredClone(input)), planPool(input));
});

test('applying a plan and planning again does not repeat its launches or allocations', () => {
  const input = poolInput({
    pools: twoPools(),
    nodes: [poolNode(1), poolNode(2, { state: 'used' })],
    labels: { small: { minReady: 2 }, large: { minReady: 1 } },
    validations: [{ diskimage: 'ubuntu', uploadId: 101 }],
    requests: [poolRequest('a', ['small', 'large']), poolRequest('b', ['small'])],
  });
  const first = planPool(input);
  assert.ok(first.launch.length > 0 && first.allocate.length > 0 && first.delete.length > 0);
  const again = planPool(applyPlan(input, first));
  assert.deepEqual([again.launch, again.allocate, again.delete, again.fulfil, again.fail], [[], [], [], [], []]);
});
