// The pool of one provider, perpetual: it holds the provider's nodes and the requests routed to it, asks the
// pure planner (core/pool-plan.ts) what to do on every event, and does it through batched activities —
// launchers that boot many nodes and report each as it finishes, deleters that confirm servers gone, and a
// periodic reconcile against the cloud that catches drift and leaks. Requests from CI arrive as updates and
// are answered at once when READY nodes exist; every node and request transition is recorded in PostgreSQL
// after the fact, so the database never slows an answer. continue-as-new carries the compact state.
import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  makeContinueAsNewFunc,
  getExternalWorkflowHandle,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { LaunchNode } from '../activities/nodes.ts';
import type { PoolRecords, RecordedNode } from '../activities/node-records.ts';
import { formatHostname } from '../config/names.ts';
import { planPool } from '../core/pool-plan.ts';
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
  type LaunchOrder,
  type LaunchResult,
  type NodeChange,
  type NodeRecord,
  type PoolSettings,
  type PoolState,
  type RequestChange,
  type RequestRecord,
} from '../core/pool-state.ts';
import type { Plan, PoolNode } from '../core/pool-types.ts';
import type { ProviderOffer } from '../core/request-routing.ts';
import { imagesChangedSignal, validateUploadSignal, validationResultSignal } from './image-catalog.ts';
import { catalogWorkflowId } from './ids.ts';
import {
  configChangedSignal,
  deleteNodeUpdate,
  deletedSignal,
  hasNodeQuery,
  holdNodeUpdate,
  launchResultsSignal,
  offerQuery,
  poolQuery,
  releaseNodesSignal,
  requestNodesSignal,
  requestQuery,
  POOL_TASK_TIMEOUT,
  type AssignedNode,
  type PoolView,
  type RequestStatus,
} from './pool-api.ts';
import { NODEPOOL_PROVIDER, NODEPOOL_STATE } from './search-attributes.ts';

export interface ProviderPoolInput {
  provider: string;
  state?: PoolState;
  settings?: PoolSettings & { hostnameFormat: string };
  /** Node ids reserved in PostgreSQL for launches to come. */
  spareIds?: number[];
  /** Seconds between reconciles with the cloud (nodepool's cleanup runs every 60 s). */
  reconcileSeconds?: number;
  /** A leaked server must also be this old (seconds since first seen) before it is deleted. */
  leakGraceSeconds?: number;
  /** Finished requests are remembered this long (seconds) so a retried key gets the same answer. */
  requestRetentionSeconds?: number;
  lastReconcile?: number;
  /** Continue-as-new after this many history events (default 8,000; tests make it small). */
  maxEvents?: number;
}

// Regular activities, not local ones: a local activity keeps the pool's workflow task open while it runs, and
// every request waiting on that task waits with it.
const records = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '200 milliseconds', maximumInterval: '10 seconds' },
});

// The record of every transition: retried until PostgreSQL takes it (the workflow's state is the truth meanwhile).
const { recordPoolChanges } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

const cloud = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 5 },
});

const { launchNodes } = proxyActivities<Activities>({
  // Each node has its own launch-timeout and boot-timeout inside; this bounds a batch that hangs.
  startToCloseTimeout: '3 hours',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '5 seconds', maximumInterval: '1 minute', maximumAttempts: 5 },
});

// Deleting is retried until the cloud confirms: a server we meant to delete must not keep running.
const { deleteNodes, deleteLeakedServers } = proxyActivities<Activities>({
  startToCloseTimeout: '20 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});

const LAUNCH_BATCH = 50;
const SPARE_IDS_LOW = 64;
const SPARE_IDS_BATCH = 256;
// History and update limits of one run (Temporal allows 2,000 updates and 50k events); continue-as-new well before,
// at our own length rather than at the server's suggestion (which came near 4,000 events here): a worker that
// restarts replays the current run, and the replay must end well within POOL_TASK_TIMEOUT.
const MAX_EVENTS = 4_000;
// Runs started before that limit drain at 8,000 events or the server's suggestion: a run in flight at the upgrade
// keeps its limit, since a replay that began draining earlier than its history did would not match it.
const MAX_EVENTS_BEFORE_PATCH = 8_000;
const RUN_LENGTH_PATCH = 'pool-runs-of-4000-events';
const MAX_UPDATES = 1_500;
// Past this, continue-as-new even with launches in flight (the next run resumes them).
const HARD_MAX_EVENTS = 20_000;
// How long continue-as-new waits for launches and deletions in flight before it goes anyway.
const MAX_DRAIN_MS = 30_000;

function failureText(err: unknown): string {
  let cause: unknown = err;
  while (cause instanceof ActivityFailure && cause.cause) cause = cause.cause;
  return cause instanceof Error ? cause.message : String(cause);
}

export async function providerPool(input: ProviderPoolInput): Promise<never> {
  const provider = input.provider;
  const reconcileMs = (input.reconcileSeconds ?? 60) * 1000;
  const graceMs = (input.leakGraceSeconds ?? 300) * 1000;
  const keepRequestsMs = (input.requestRetentionSeconds ?? 3600) * 1000;
  const maxEvents = input.maxEvents ?? (patched(RUN_LENGTH_PATCH) ? MAX_EVENTS : MAX_EVENTS_BEFORE_PATCH);
  let state: PoolState = input.state ?? emptyPoolState();
  let settings = input.settings;
  let spareIds = input.spareIds ?? [];
  let lastReconcile = input.lastReconcile ?? 0;
  let needSettings = settings === undefined;
  let needImages = input.state === undefined;
  let dirty = true;
  let lastPlan: Plan | undefined;
  let updates = 0;
  let draining = false;
  let drainingSince = 0;
  const launching = new Set<number>();
  const deleting = new Set<number>();
  const background: Promise<void>[] = [];
  const pendingNodes = new Map<number, RecordedNode>();
  const pendingRequests = new Map<string, PoolRecords['requests'][number]>();

  upsertSearchAttributes([
    { key: NODEPOOL_PROVIDER, value: [provider] },
    { key: NODEPOOL_STATE, value: 'running' },
  ]);

  // ---- recording ---------------------------------------------------------------------------------------
  const recordNodes = (changes: NodeChange[]): void => {
    for (const c of changes) {
      const n = state.nodes.find((x) => x.id === c.id);
      const row: RecordedNode = n ? { ...n, ...c } : { ...(pendingNodes.get(c.id) ?? {}), ...c };
      pendingNodes.set(c.id, row);
    }
  };
  const recordRequests = (changes: RequestChange[]): void => {
    for (const c of changes) {
      const r = state.requests.find((x) => x.key === c.key);
      if (!r) continue;
      pendingRequests.set(r.key, {
        key: r.key,
        labels: r.labels,
        requestor: r.requestor,
        priority: r.priority,
        state: r.state,
        nodeIds: r.nodeIds,
        ...(r.reason ? { reason: r.reason } : {}),
      });
    }
  };

  // ---- views -------------------------------------------------------------------------------------------
  const assigned = (ids: number[]): AssignedNode[] =>
    ids.flatMap((id) => {
      const n = state.nodes.find((x) => x.id === id);
      if (!n) return [];
      return [
        {
          id: n.id,
          provider,
          pool: n.pool,
          label: n.label,
          hostname: n.hostname,
          hostKeys: n.hostKeys ?? [],
          ...(n.externalId ? { externalId: n.externalId } : {}),
          ...(n.ip ? { ip: n.ip } : {}),
          ...(n.ipv6 ? { ipv6: n.ipv6 } : {}),
          ...(n.username ? { username: n.username } : {}),
          ...(n.connectionPort ? { connectionPort: n.connectionPort } : {}),
          ...(n.pythonPath ? { pythonPath: n.pythonPath } : {}),
        },
      ];
    });
  const status = (r: RequestRecord): RequestStatus => ({
    key: r.key,
    provider,
    state: r.state,
    labels: r.labels,
    priority: r.priority,
    requestor: r.requestor,
    ...(r.reason ? { reason: r.reason } : {}),
    nodes: r.state === 'fulfilled' ? assigned(r.nodeIds) : [],
    submittedAt: r.submittedAt,
  });
  const offer = (): ProviderOffer => {
    const ready: Record<string, number> = {};
    for (const n of state.nodes)
      if (n.state === 'ready' && !n.requestKey && !n.validation && !n.deleteRequested)
        ready[n.label] = (ready[n.label] ?? 0) + 1;
    const missing = new Set<string>();
    for (const p of settings?.pools ?? [])
      for (const l of p.labels) if ('diskimage' in l.image && !state.images[l.image.diskimage]) missing.add(l.label);
    const live = state.nodes.filter((n) => n.state !== 'deleting').length;
    const max = (settings?.pools ?? []).reduce((s, p) => s + p.maxServers, 0);
    const cap = state.quota.instances === null ? max - live : Math.min(max - live, state.quota.instances - live);
    return {
      provider,
      poolLabels: (settings?.pools ?? []).map((p) => p.labels.map((l) => l.label)),
      ready,
      capacity: Math.max(0, cap),
      pending: state.requests.filter((r) => r.state === 'pending').length,
      missingImages: [...missing],
    };
  };

  // ---- planning ----------------------------------------------------------------------------------------
  /** Plans and applies what needs no I/O first (allocations, hand-overs, failures); launches and deletions too
   * unless `quick` (an update handler answers now and leaves the rest to the loop). */
  function planAndApply(quick: boolean): void {
    if (!settings) return;
    const now = Date.now();
    const plan = planPool(plannerInput(state, settings, now));
    lastPlan = plan;
    const launchable = quick || draining ? [] : plan.launch.slice(0, spareIds.length);
    const ids = spareIds.slice(0, launchable.length);
    const applied = applyPlan(
      state,
      { ...plan, launch: launchable, delete: quick ? [] : plan.delete },
      now,
      ids,
      (label, id) => formatHostname({ name: provider, hostnameFormat: settings?.hostnameFormat ?? '' }, label, id),
      () => uuid4(),
    );
    spareIds = spareIds.slice(ids.length);
    state = applied.state;
    recordNodes(applied.nodeChanges);
    recordRequests(applied.requestChanges);
    // More launches than reserved ids: plan again once ids are reserved (never while draining, or the loop spins).
    if (!quick && !draining && plan.launch.length > launchable.length) dirty = true;
    if (!quick) {
      startLaunches(applied.launches);
      // While draining for continue-as-new nothing new starts: the next run starts the deletions marked here.
      if (!draining) startDeletions(applied.deletions);
    }
  }

  function startLaunches(orders: LaunchOrder[]): void {
    for (let i = 0; i < orders.length; i += LAUNCH_BATCH) {
      const batch = orders.slice(i, i + LAUNCH_BATCH);
      const nodes: LaunchNode[] = batch.map((o) => ({
        id: o.node.id,
        hostname: o.node.hostname,
        pool: o.node.pool,
        label: o.node.label,
        ...(o.imageId ? { imageId: o.imageId } : {}),
        ...(o.cloudImage ? { cloudImage: o.cloudImage } : {}),
        ...(o.node.validation ? { validation: true } : {}),
        ...(o.node.validation && o.node.uploadId !== undefined
          ? { diskimage: state.validations.find((v) => v.uploadId === o.node.uploadId)?.diskimage ?? '' }
          : {}),
      }));
      for (const n of nodes) launching.add(n.id);
      background.push(
        launchNodes
          .executeWithOptions({ summary: `launch ${nodes.length} node(s) in ${provider}` }, [{ provider, nodes }])
          .then((results) => onLaunchResults(results))
          .catch((err: unknown) => {
            // The whole batch failed (for example its label vanished from nodepool.yaml): its nodes failed.
            const reason = `launch batch failed: ${failureText(err)}`;
            onLaunchResults(nodes.map((n) => ({ id: n.id, outcome: 'failed', reason }) satisfies LaunchResult));
          })
          .finally(() => {
            for (const n of nodes) launching.delete(n.id);
            dirty = true;
          }),
      );
    }
  }

  /** Building nodes without a launcher in this run (after continue-as-new): their launches resume. */
  function resumeLaunches(): void {
    const orphans = state.nodes.filter((n) => n.state === 'building' && !launching.has(n.id));
    if (orphans.length === 0) return;
    startLaunches(
      orphans.map((node) => {
        const image =
          node.uploadId === undefined
            ? undefined
            : (Object.values(state.images).find((x) => x.uploadId === node.uploadId)?.externalId ??
              state.validations.find((v) => v.uploadId === node.uploadId)?.externalId);
        const cloudImage = settings?.pools
          .find((p) => p.name === node.pool)
          ?.labels.find((l) => l.label === node.label)?.image;
        return {
          node,
          ...(image ? { imageId: image } : {}),
          ...(cloudImage && 'cloudImage' in cloudImage ? { cloudImage: cloudImage.cloudImage } : {}),
        };
      }),
    );
  }

  function startDeletions(nodes: NodeRecord[]): void {
    const fresh = nodes.filter((n) => !deleting.has(n.id));
    if (fresh.length === 0) return;
    for (const n of fresh) deleting.add(n.id);
    for (let i = 0; i < fresh.length; i += LAUNCH_BATCH) {
      const batch = fresh.slice(i, i + LAUNCH_BATCH);
      background.push(
        deleteNodes
          .executeWithOptions({ summary: `delete ${batch.length} node(s) in ${provider}` }, [
            {
              provider,
              nodes: batch.map((n) => ({
                id: n.id,
                hostname: n.hostname,
                ...(n.externalId ? { externalId: n.externalId } : {}),
              })),
            },
          ])
          .then((ids) => onDeleted(ids))
          .finally(() => {
            for (const n of batch) deleting.delete(n.id);
            dirty = true;
          }),
      );
    }
  }

  function onLaunchResults(results: LaunchResult[]): void {
    const applied = applyLaunchResults(state, results, Date.now());
    state = applied.state;
    recordNodes(applied.nodeChanges);
    recordRequests(applied.requestChanges);
    if (applied.quotaHit) lastReconcile = 0;
    for (const v of applied.validated) {
      background.push(
        getExternalWorkflowHandle(catalogWorkflowId(provider))
          .signal(validationResultSignal, v)
          .catch(() => undefined),
      );
    }
    if (applied.nodeChanges.length > 0) dirty = true;
  }

  function onDeleted(ids: number[]): void {
    const applied = applyDeleted(state, ids);
    state = applied.state;
    recordNodes(applied.nodeChanges);
    if (applied.nodeChanges.length > 0) dirty = true;
  }

  // ---- handlers ----------------------------------------------------------------------------------------
  // A request arrives as a signal and its answer is read by query: a query sent after the signal is answered
  // only once the signal is handled, so the pair is two round trips, and signals (unlike updates, whose
  // speculative workflow tasks can be lost racing the launchers' signals) never stall the pool.
  setHandler(requestNodesSignal, (req) => {
    if (!req || typeof req.key !== 'string' || req.key.length === 0 || req.key.length > 255) return;
    if (state.requests.some((r) => r.key === req.key)) return;
    const labels = Array.isArray(req.labels)
      ? req.labels.filter((l: unknown): l is string => typeof l === 'string')
      : [];
    const record: RequestRecord = {
      key: req.key,
      labels,
      requestor: typeof req.requestor === 'string' ? req.requestor : 'unknown',
      priority: Number.isInteger(req.priority) ? (req.priority as number) : 200,
      submittedAt: Date.now(),
      state: 'pending',
      nodeIds: [],
    };
    // A malformed request is answered, with why, rather than dropped: its client is waiting for it.
    if (labels.length === 0 || labels.length !== (req.labels?.length ?? 0)) {
      record.state = 'failed';
      record.reason = 'a request needs at least one label, each a name';
      record.doneAt = Date.now();
    }
    state = { ...state, requests: [...state.requests, record] };
    recordRequests([{ key: req.key, state: record.state }]);
    if (record.state === 'pending') planAndApply(true);
    dirty = true;
  });
  setHandler(requestQuery, (key) => {
    const r = state.requests.find((x) => x.key === key);
    return r ? status(r) : undefined;
  });
  setHandler(offerQuery, (_labels, key) => {
    // Before its settings are read the pool offers nothing: saying so (the client asks again) beats a request
    // failing with "no provider offers label X" in a pool's first moments.
    if (!settings) throw new Error(`the pool of ${provider} is starting`);
    const known = key === undefined ? undefined : state.requests.find((r) => r.key === key);
    return { offer: offer(), ...(known ? { knows: status(known) } : {}) };
  });
  setHandler(hasNodeQuery, (id) => state.nodes.some((n) => n.id === id));
  setHandler(poolQuery, (): PoolView => {
    const now = Date.now();
    const occupancy = new Map<string, { pool: string; label: string; states: Record<string, number> }>();
    for (const p of settings?.pools ?? [])
      for (const l of p.labels) occupancy.set(`${p.name}/${l.label}`, { pool: p.name, label: l.label, states: {} });
    for (const n of state.nodes) {
      const o = occupancy.get(`${n.pool}/${n.label}`) ?? { pool: n.pool, label: n.label, states: {} };
      o.states[n.state] = (o.states[n.state] ?? 0) + 1;
      occupancy.set(`${n.pool}/${n.label}`, o);
    }
    return {
      provider,
      nodes: state.nodes.map((n) => ({ ...n, provider, stateAgeSeconds: Math.max(0, (now - n.stateSince) / 1000) })),
      requests: state.requests,
      minReadyWaits: [...backedOffLabels(state, now), ...(lastPlan?.minReadyWait ?? [])],
      occupancy: [...occupancy.values()],
      quota: state.quota,
      summary: summary(),
    };
  });
  setHandler(releaseNodesSignal, (ids) => {
    const applied = releaseNodes(state, ids, Date.now());
    state = applied.state;
    recordNodes(applied.nodeChanges);
    dirty = true;
  });
  setHandler(
    holdNodeUpdate,
    (h) => {
      updates++;
      const now = Date.now();
      const until = h.expiresInSeconds === undefined ? undefined : now + h.expiresInSeconds * 1000;
      const r = holdNode(state, h.id, h.reason, until, now, settings?.maxHoldAge);
      if ('refused' in r) throw ApplicationFailure.nonRetryable(r.refused, 'HoldRefused');
      state = r.state;
      recordNodes([r.change]);
      dirty = true;
      return Promise.resolve({ id: h.id, ...(r.until === undefined ? {} : { until: r.until }) });
    },
    {
      validator: (h) => {
        const r = holdNode(state, h.id, h.reason, undefined, Date.now(), settings?.maxHoldAge);
        if ('refused' in r) throw new Error(r.refused);
        if (typeof h.reason !== 'string' || h.reason.trim() === '') throw new Error('a hold needs a reason');
      },
    },
  );
  setHandler(
    deleteNodeUpdate,
    (d) => {
      updates++;
      const r = deleteNode(state, d.id, d.now, Date.now());
      if ('refused' in r) throw ApplicationFailure.nonRetryable(r.refused, 'DeleteRefused');
      state = r.state;
      if (r.change) recordNodes([r.change]);
      dirty = true;
      return Promise.resolve({ id: d.id, immediate: r.immediate });
    },
    {
      validator: (d) => {
        const r = deleteNode(state, d.id, d.now, Date.now());
        if ('refused' in r) throw new Error(r.refused);
      },
    },
  );
  setHandler(launchResultsSignal, (results) => onLaunchResults(results));
  setHandler(deletedSignal, (ids) => onDeleted(ids));
  setHandler(imagesChangedSignal, (current, withdrawn) => {
    state = {
      ...state,
      images: Object.fromEntries(
        Object.entries(current).map(([k, v]) => [k, { uploadId: v.uploadId, externalId: v.externalId }]),
      ),
      ...(withdrawn ? { withdrawn } : {}),
    };
    dirty = true;
  });
  setHandler(validateUploadSignal, (v) => {
    if (state.validations.some((x) => x.uploadId === v.uploadId)) return;
    state = {
      ...state,
      validations: [...state.validations, { diskimage: v.image, uploadId: v.uploadId, externalId: v.externalId }],
    };
    dirty = true;
  });
  setHandler(configChangedSignal, () => {
    needSettings = true;
  });

  function summary(): string {
    const byState: Record<string, number> = {};
    for (const n of state.nodes) byState[n.state] = (byState[n.state] ?? 0) + 1;
    const counts = Object.entries(byState)
      .map(([s, n]) => `${n} ${s}`)
      .join(', ');
    const waits = [
      ...(lastPlan?.wait ?? []).map((w) => `request ${w.requestKey}: ${w.reason}`),
      ...(lastPlan?.minReadyWait ?? []).map((w) => `min-ready ${w.label}: ${w.reason}`),
    ];
    return `${provider}: ${counts || 'no nodes'}${waits.length ? `; waiting: ${waits.slice(0, 3).join('; ')}` : ''}`;
  }

  function nextWake(now: number): number {
    let at = lastReconcile + reconcileMs;
    if (draining) at = Math.min(at, drainingSince + MAX_DRAIN_MS + 1);
    for (const b of Object.values(state.labelBackoff ?? {})) if (b.until > now) at = Math.min(at, b.until);
    const labels = settings?.labels ?? {};
    for (const n of state.nodes) {
      const age = labels[n.label]?.maxReadyAge;
      if (n.state === 'ready' && !n.requestKey && age !== undefined)
        at = Math.min(at, (n.readySince ?? n.stateSince) + age * 1000);
      if (n.state === 'hold' && n.holdUntil !== undefined) at = Math.min(at, n.holdUntil);
      if (n.state === 'hold' && settings?.maxHoldAge !== undefined)
        at = Math.min(at, n.stateSince + settings.maxHoldAge * 1000);
    }
    return Math.max(1, at - now);
  }

  /**
   * Records what changed in PostgreSQL, in the background: one activity at a time, each taking everything
   * pending, so a burst of changes is one write and no answer to a request waits for the database.
   */
  let flushing = false;
  function startFlush(): void {
    if (flushing || (pendingNodes.size === 0 && pendingRequests.size === 0)) return;
    flushing = true;
    const batch: PoolRecords = { provider, nodes: [...pendingNodes.values()], requests: [...pendingRequests.values()] };
    pendingNodes.clear();
    pendingRequests.clear();
    background.push(
      recordPoolChanges(batch).finally(() => {
        flushing = false;
        startFlush();
      }),
    );
  }
  async function flushRecords(): Promise<void> {
    startFlush();
    await condition(() => !flushing && pendingNodes.size === 0 && pendingRequests.size === 0);
  }

  /**
   * Timers for time-based work (reconcile, max-ready-age, hold expiry). A timer is only started when the next
   * wake-up moves earlier than every timer already running: one per wake-up, not one per loop (a loop that woke
   * for a request would otherwise start and cancel a timer each time, two history events per request).
   */
  let woke = false;
  const wakes = new Set<number>();
  function armWake(at: number): void {
    if (at >= Math.min(Infinity, ...wakes)) return;
    wakes.add(at);
    void sleep(Math.max(1, at - Date.now())).then(() => {
      wakes.delete(at);
      woke = true;
    });
  }

  /** Keeps node ids reserved ahead, in the background, so no launch waits for the database. */
  let reserving = false;
  function reserveIds(): void {
    if (reserving || spareIds.length >= SPARE_IDS_LOW) return;
    reserving = true;
    background.push(
      records
        .reserveNodeIds(SPARE_IDS_BATCH)
        .then((ids) => {
          spareIds = [...spareIds, ...ids];
          dirty = true;
        })
        .finally(() => {
          reserving = false;
        }),
    );
  }

  // ---- the loop ----------------------------------------------------------------------------------------
  for (;;) {
    if (needSettings) {
      needSettings = false;
      settings = await records.poolSettings(provider);
      dirty = true;
    }
    if (needImages) {
      needImages = false;
      const catalog = await cloud.catalogImages(provider);
      state = { ...state, images: catalog.current, withdrawn: catalog.withdrawn };
    }
    if (spareIds.length === 0) spareIds = await records.reserveNodeIds(SPARE_IDS_BATCH);
    else reserveIds();
    if (Date.now() - lastReconcile >= reconcileMs) {
      lastReconcile = Date.now();
      try {
        const seen = await cloud.reconcileProvider(provider);
        state = { ...state, quota: seen.quota, flavors: seen.flavors };
        const r = reconcile(state, seen.servers, Date.now(), graceMs);
        state = r.state;
        recordNodes(r.nodeChanges);
        if (r.leaks.length > 0)
          background.push(
            deleteLeakedServers
              .executeWithOptions({ summary: `delete ${r.leaks.length} leaked server(s) in ${provider}` }, [
                { provider, serverIds: r.leaks.map((s) => s.id) },
              ])
              .then(() => undefined),
          );
      } catch (err) {
        // The cloud did not answer: plan with what we knew; the next reconcile tries again.
        setCurrentDetails(`**${provider}**: reconcile failed: ${failureText(err)}`);
      }
    }
    state = pruneRequests(state, Date.now(), keepRequestsMs);
    dirty = false;
    if (!draining) {
      resumeLaunches();
      startDeletions(state.nodes.filter((n) => n.state === 'deleting'));
    }
    planAndApply(false);
    startFlush();
    setCurrentDetails(summary());

    const info = workflowInfo();
    if (info.historyLength > maxEvents || updates > MAX_UPDATES || info.continueAsNewSuggested) {
      // Launches and deletions in flight finish in this run first (their results come back here), unless the
      // history must go now or they take long: the next run resumes whatever is still building or deleting.
      if (!draining) drainingSince = Date.now();
      draining = true;
      const idle = launching.size === 0 && deleting.size === 0;
      const waited = Date.now() - drainingSince > MAX_DRAIN_MS;
      if (idle || waited || info.historyLength > HARD_MAX_EVENTS || updates > 1_900) {
        await condition(allHandlersFinished);
        await flushRecords();
        await makeContinueAsNewFunc<typeof providerPool>({ workflowTaskTimeout: POOL_TASK_TIMEOUT })({
          ...input,
          state,
          ...(settings ? { settings } : {}),
          spareIds,
          lastReconcile,
        });
      }
    }
    armWake(Date.now() + nextWake(Date.now()));
    await condition(() => dirty || needSettings || woke);
    woke = false;
  }
}

export type { PoolNode };
