// The messages a provider's pool workflow answers: what CI clients, the CLI, the catalog and the launcher
// activities send it. Definitions only, so clients import them without the workflow's code.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { LaunchResult, NodeRecord, RequestRecord } from '../core/pool-state.ts';
import type { ProviderOffer } from '../core/request-routing.ts';

export type { LaunchResult, NodeRecord, RequestRecord } from '../core/pool-state.ts';

export interface NodeRequestInput {
  /** The caller's idempotency key: a retried request with the same key is the same request. */
  key: string;
  labels: string[];
  requestor: string;
  /** Lower is more urgent; default 200 (nodepool's default; min-ready is 100). */
  priority?: number;
}

/** A node handed to a request: what a CI job needs to reach it. */
export interface AssignedNode {
  id: number;
  provider: string;
  pool: string;
  label: string;
  hostname: string;
  externalId?: string;
  ip?: string;
  ipv6?: string;
  hostKeys: string[];
  /** How to log in: the image's username, SSH port and python interpreter. */
  username?: string;
  connectionPort?: number;
  pythonPath?: string;
}

export interface RequestStatus {
  key: string;
  provider: string;
  state: 'pending' | 'fulfilled' | 'failed';
  labels: string[];
  priority: number;
  requestor: string;
  /** Why it waits or failed. */
  reason?: string;
  nodes: AssignedNode[];
  submittedAt: number;
}

export interface HoldInput {
  id: number;
  reason: string;
  /** Seconds from now; max-hold-age caps it. */
  expiresInSeconds?: number;
}

export interface NodeView extends NodeRecord {
  provider: string;
  /** Age of the current state in seconds. */
  stateAgeSeconds: number;
}

export interface PoolView {
  provider: string;
  nodes: NodeView[];
  requests: RequestRecord[];
  /** Why min-ready refills wait, per label. */
  minReadyWaits: { label: string; reason: string }[];
  /** Occupancy per pool and label. */
  occupancy: { pool: string; label: string; states: Record<string, number> }[];
  quota: { instances: number | null; cores: number | null; ramMB: number | null };
  /** What the last plan could not do, in one line: the answer to "why is nothing launching?". */
  summary: string;
}

/**
 * A pool's workflow task timeout: Temporal's default. A task normally takes milliseconds, but after a worker restart
 * the first one replays the run's whole history (1.4 s for 3,200 events on an idle 2-core machine, twice that under
 * load, and two pools replay at once): a task that outruns its timeout is dropped and replayed from the start, so
 * the 3 s this once was kept pools replaying for tens of seconds. The price: a lost task (a hold or delete update
 * racing a signal can end "task not found" on completion) is retried after this long.
 */
export const POOL_TASK_TIMEOUT = '10 seconds';

/** A request from CI; its answer is read with `requestQuery` (fulfilled at once from READY nodes, or pending). */
export const requestNodesSignal = defineSignal<[NodeRequestInput]>('requestNodes');
export const requestQuery = defineQuery<RequestStatus | undefined, [string]>('request');
/** For routing: what this provider offers for these labels, and whether it already knows the key. */
export const offerQuery = defineQuery<{ offer: ProviderOffer; knows?: RequestStatus }, [string[], string?]>('offer');
export const poolQuery = defineQuery<PoolView>('pool');
/** Which pool holds a node (for release, hold and delete by id). */
export const hasNodeQuery = defineQuery<boolean, [number]>('hasNode');
/** The user is done with these nodes: they are deleted and replaced. */
export const releaseNodesSignal = defineSignal<[number[]]>('releaseNodes');
export const holdNodeUpdate = defineUpdate<{ id: number; until?: number }, [HoldInput]>('holdNode');
export const deleteNodeUpdate = defineUpdate<{ id: number; immediate: boolean }, [{ id: number; now: boolean }]>(
  'deleteNode',
);
/** From launcher activities, as nodes finish. */
export const launchResultsSignal = defineSignal<[LaunchResult[]]>('launchResults');
/** From deleter activities, as servers are confirmed gone. */
export const deletedSignal = defineSignal<[number[]]>('nodesDeleted');
/** nodepool.yaml changed (a worker started): read the pool's settings again. */
export const configChangedSignal = defineSignal('configChanged');
