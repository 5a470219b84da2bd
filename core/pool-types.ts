// The pool planner's contract: what a provider's pool workflow knows (config, nodes, requests, quota, current
// images) and what the planner decides from it. Pure data: no Temporal, no I/O, JSON-serialisable, so the
// same values travel in workflow state, continue-as-new and queries.

/** A node's life in a pool. `building` covers create → ACTIVE → ready check. */
export type PoolNodeState = 'building' | 'ready' | 'in-use' | 'used' | 'hold' | 'deleting' | 'failed';

export interface Resources {
  /** Instances this counts as (1 for a server). */
  instances: number;
  cores: number;
  ramMB: number;
}

export interface PoolNode {
  /** The node's database id: what operators type (`nodepool hold 42`). */
  id: number;
  /** Idempotency key of the launch; also the server name's suffix. */
  launchKey: string;
  pool: string;
  label: string;
  state: PoolNodeState;
  /** Workflow time (ms since epoch) of the last state change. */
  stateSince: number;
  /** When the node became READY (for max-ready-age); unset before. */
  readySince?: number;
  /** The image upload it was booted from; absent for cloud-image labels. */
  uploadId?: number;
  /** The request this node is reserved for or serving. A READY node with a requestKey is allocated. */
  requestKey?: string;
  /** Set while held: why, and when the hold ends (ms since epoch). */
  holdReason?: string;
  holdUntil?: number;
  /** What it costs against max-cores / max-ram / cloud quota; from its flavor. */
  resources: Resources;
  /** A node booted only to validate a new upload: never assigned, never counted toward min-ready. */
  validation?: boolean;
  /** Set when an operator deleted it; the planner never reassigns it. */
  deleteRequested?: boolean;
}

export interface PoolRequest {
  /** The caller's idempotency key; a resubmission with the same key is the same request. */
  key: string;
  labels: string[];
  /** Lower is more urgent (nodepool: min-ready 100, default 200). */
  priority: number;
  requestor: string;
  /** Workflow time (ms) it arrived: FIFO within a priority. */
  submittedAt: number;
}

/** How a pool label boots: from the provider's current upload of a diskimage, or from a cloud image. */
export type LabelImage = { diskimage: string } | { cloudImage: string };

export interface PoolLabelPlan {
  label: string;
  image: LabelImage;
  /** The flavor's name (`flavor-name`), for reasons like "m1.large needs 4"; the label's name stands in without it. */
  flavor?: string;
  /** nodepool's min-ram: the flavor is the smallest whose name contains `flavor` with at least this RAM. */
  minRam?: number;
  /** Flavor resources; undefined until the flavor list was read (then launches of it wait). */
  resources?: Resources;
}

export interface PoolPlanConfig {
  name: string;
  maxServers: number;
  maxCores?: number;
  maxRam?: number;
  labels: PoolLabelPlan[];
}

export interface LabelPolicy {
  minReady: number;
  /** Seconds a READY unallocated node may idle before it is replaced. */
  maxReadyAge?: number;
}

/** What the cloud lets us use, after subtracting what servers that are not ours use. null: unlimited. */
export interface QuotaHeadroom {
  instances: number | null;
  cores: number | null;
  ramMB: number | null;
}

export interface PlannerInput {
  /** Workflow time, ms since epoch. */
  now: number;
  provider: string;
  pools: PoolPlanConfig[];
  /** Global label policy (nodepool's top-level `labels`). */
  labels: Record<string, LabelPolicy>;
  /** Seconds; caps every hold. */
  maxHoldAge?: number;
  /** Parallel launches (nodes in `building`) allowed in this provider; undefined: no cap. */
  maxConcurrency?: number;
  /** Total cloud limits available to nodepool (limits minus foreign usage); our own nodes are NOT subtracted. */
  quota: QuotaHeadroom;
  /** Current READY upload per diskimage in this provider; a diskimage absent here has none (launches wait). */
  currentUploads: Record<string, number>;
  /** Why a diskimage has no current upload here, for request wait reasons (e.g. "no READY upload yet"). */
  imageMissingReasons?: Record<string, string>;
  /** Uploads withdrawn by an operator (image-delete): READY unallocated nodes booted from them are replaced. */
  withdrawnUploads: number[];
  /** New uploads waiting for a validation boot in this provider. */
  validations: { diskimage: string; uploadId: number }[];
  nodes: PoolNode[];
  /** Pending requests routed to this provider (fulfilled ones are gone from here). */
  requests: PoolRequest[];
}

export type LaunchReason = 'request' | 'min-ready' | 'validation';

export interface PlannedLaunch {
  pool: string;
  label: string;
  reason: LaunchReason;
  /** The request the node will be reserved for (reason 'request'). */
  requestKey?: string;
  /** The upload to boot from (diskimage labels). */
  uploadId?: number;
  /** The cloud image to boot from (cloud-image labels). */
  cloudImage?: string;
  resources: Resources;
}

export interface Plan {
  /** READY unallocated nodes now reserved for a request (partial: the rest is launched or waits). */
  allocate: { requestKey: string; nodeIds: number[] }[];
  /** Requests whose every label now has a READY node reserved: hand them over (nodes go in-use). */
  fulfil: { requestKey: string; nodeIds: number[] }[];
  launch: PlannedLaunch[];
  delete: { nodeId: number; reason: string }[];
  /** Requests this provider can never serve (label not offered, larger than a pool can ever hold). */
  fail: { requestKey: string; reason: string }[];
  /** Why each still-pending request waits, e.g. "at quota in rax-dfw: 20/20 instances". */
  wait: { requestKey: string; reason: string }[];
  /** Why min-ready refills are held back, per label, when they are. */
  minReadyWait: { label: string; reason: string }[];
}
