// A worker's side of the configuration registry (core/config-registry.ts, workflows/config-registry.ts): the
// digest of its normalised nodepool.yaml, joining before its activities run, heartbeats that tell it when
// another configuration replaced its own, and leaving when it stops.
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { WithStartWorkflowOperation, WorkflowIdConflictPolicy, type Client } from '@temporalio/client';
import type { Config } from '../config/index.ts';
import {
  HEARTBEAT_MS,
  type ConfigSummary,
  type HeartbeatResult,
  type JoinResult,
  type LiveMember,
} from '../core/config-registry.ts';
import {
  configRegistryWorkflowId,
  heartbeatUpdate,
  joinUpdate,
  leaveSignal,
  nodepoolConfigRegistry,
} from '../workflows/config-registry.ts';

/** Keys whose values may differ between workers of one deployment: how each one reaches its services. */
const PER_HOST_KEYS = new Set(['temporal', 'database', 'webapp']);

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  return value;
}

/**
 * The digest of what makes workers answer tasks alike: the loaded configuration (defaults applied, diskimages
 * inherited, paths absolute) without the per-host connection sections. clouds.yaml is not part of it.
 */
export function configDigest(config: Config): string {
  const shared = Object.fromEntries(Object.entries(config).filter(([k]) => !PER_HOST_KEYS.has(k)));
  return createHash('sha256')
    .update(JSON.stringify(canonical(shared)))
    .digest('hex');
}

export function configSummary(config: Config, files: string[]): ConfigSummary {
  return {
    digest: configDigest(config),
    providers: config.providers.map((p) => p.name),
    diskimages: config.diskimages.map((d) => d.name),
    labels: config.labels.map((l) => l.name),
    files,
  };
}

export function workerIdentity(): string {
  return `${process.pid}@${hostname()}`;
}

const short = (digest: string): string => digest.slice(0, 12);
const names = (list: string[]): string => (list.length > 0 ? list.join(', ') : 'none');

function describe(s: ConfigSummary): string {
  return `digest ${short(s.digest)}, providers ${names(s.providers)}, diskimages ${names(s.diskimages)}`;
}

export function describeRefusal(
  taskQueue: string,
  mine: ConfigSummary,
  registered: ConfigSummary,
  holders: LiveMember[],
): string {
  const who = holders.map((h) => `${h.identity} (seen ${h.secondsAgo} s ago)`).join(', ');
  return (
    `task queue ${taskQueue} runs another nodepool.yaml (${describe(registered)}; files ${names(registered.files)}) ` +
    `on ${holders.length} worker${holders.length === 1 ? '' : 's'}: ${who}. This worker's (${describe(mine)}; files ` +
    `${names(mine.files)}) would answer their tasks with other settings, so it does not start. Give every worker ` +
    'the same files, or start this one with --replace-config to make its configuration the one (workers with the ' +
    'old one then stop); a worker that died is forgotten after a minute.'
  );
}

export interface RegistryMembership {
  result: Extract<JoinResult, { accepted: true }>;
  /** Resolves when another configuration has replaced this worker's (the worker must stop). */
  replaced: Promise<HeartbeatResult>;
  /**
   * Stops the heartbeats, waiting for one on its way. Call it before the worker drains: a heartbeat sent once the
   * worker no longer polls may find no one to apply it until after the leave, and bring the worker back as a
   * live member.
   */
  stopHeartbeats(): Promise<void>;
  /** Stops the heartbeats and leaves the registry. */
  close(): Promise<void>;
}

export class ConfigRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigRefused';
  }
}

/**
 * Joins the task queue's registry, whose workflow runs on the task queue itself: the caller's worker must be
 * polling it (with its activities held until this resolves), so that even the first worker of a deployment has
 * someone to answer its join. Throws ConfigRefused when another configuration holds the queue.
 */
export async function joinConfigRegistry(opts: {
  client: Client;
  taskQueue: string;
  summary: ConfigSummary;
  identity: string;
  replace: boolean;
  onHeartbeatError?: (err: Error) => void;
  /** Between heartbeats; tests shorten it. */
  heartbeatMs?: number;
}): Promise<RegistryMembership> {
  const workflowId = configRegistryWorkflowId(opts.taskQueue);
  const result = await opts.client.workflow.executeUpdateWithStart(joinUpdate, {
    args: [{ identity: opts.identity, config: opts.summary, replace: opts.replace }],
    startWorkflowOperation: new WithStartWorkflowOperation(nodepoolConfigRegistry, {
      workflowId,
      taskQueue: opts.taskQueue,
      args: [{}],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      staticSummary: `which nodepool.yaml task queue ${opts.taskQueue} runs`,
    }),
  });
  if (!result.accepted)
    throw new ConfigRefused(describeRefusal(opts.taskQueue, opts.summary, result.registered, result.holders));

  const handle = opts.client.workflow.getHandle(workflowId);
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let inflight: Promise<void> = Promise.resolve();
  const replaced = new Promise<HeartbeatResult>((resolve) => {
    const beat = async (): Promise<void> => {
      if (closed) return;
      try {
        // Bounded: an update nobody answers (no worker polling the task queue) must not hold the worker's
        // shutdown, which waits for this heartbeat before it leaves.
        const r = await opts.client.withDeadline(Date.now() + HEARTBEAT_MS, () =>
          handle.executeUpdate(heartbeatUpdate, {
            args: [{ identity: opts.identity, digest: opts.summary.digest }],
          }),
        );
        if (!r.current) return resolve(r);
      } catch (err) {
        // Temporal unreachable for a while: the worker itself reports that; try again at the next beat.
        opts.onHeartbeatError?.(err as Error);
      }
      schedule();
    };
    const schedule = (): void => {
      if (!closed)
        timer = setTimeout(() => {
          inflight = beat();
        }, opts.heartbeatMs ?? HEARTBEAT_MS);
    };
    schedule();
  });
  const stopHeartbeats = async (): Promise<void> => {
    closed = true;
    clearTimeout(timer);
    // A heartbeat still on its way would land after the leave and bring this worker back as a live member
    // (core/config-registry.ts keeps a current configuration's members), so that a restart with changed files
    // right after it stopped was refused until it went stale. The leave goes after it.
    await inflight;
  };
  return {
    result,
    replaced,
    stopHeartbeats,
    async close() {
      await stopHeartbeats();
      await handle.signal(leaveSignal, { identity: opts.identity }).catch(() => undefined);
    },
  };
}

export function describeReplacement(taskQueue: string, mine: ConfigSummary, r: HeartbeatResult): string {
  const by = r.registered
    ? `${describe(r.registered)}, set by ${r.registered.setBy} at ${new Date(r.registered.since).toISOString()}`
    : 'another configuration';
  return (
    `task queue ${taskQueue} now runs another nodepool.yaml (${by}); this worker's (${describe(mine)}) is no ` +
    'longer the one, so it stopped polling. Restart it with the new files.'
  );
}
