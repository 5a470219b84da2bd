// Which nodepool.yaml a task queue runs. Workers on one task queue answer each other's tasks, so they must
// share one configuration: a worker with another one would fail the others' work ("provider X is not in this
// worker's nodepool.yaml") or act on other settings. Every worker joins with a digest of its configuration;
// the first sets it, later ones must match, and a new one replaces it only when the operator says so (or when
// no worker of the old one is left). Pure: the registry workflow calls these with its own clock.

/** A worker that has not been heard from for this long is taken as gone (it died without leaving). */
export const MEMBER_STALE_MS = 60_000;
/** How often a worker confirms it is alive and asks whether its configuration is still the task queue's. */
export const HEARTBEAT_MS = 10_000;

/** What the registry shows about a configuration: names only, never settings (histories are visible). */
export interface ConfigSummary {
  digest: string;
  providers: string[];
  diskimages: string[];
  labels: string[];
  /** The files the worker loaded, as it named them. */
  files: string[];
}

export interface Member {
  identity: string;
  digest: string;
  lastSeen: number;
}

export interface RegistryState {
  current?: ConfigSummary & { since: number; setBy: string };
  members: Record<string, Member>;
}

export interface JoinRequest {
  identity: string;
  config: ConfigSummary;
  /** The operator's word that this configuration replaces the registered one (`--replace-config`). */
  replace: boolean;
}

export interface LiveMember {
  identity: string;
  digest: string;
  secondsAgo: number;
}

export type JoinResult =
  | { accepted: true; how: 'first' | 'same' | 'abandoned' | 'replaced'; previous?: ConfigSummary }
  | { accepted: false; registered: ConfigSummary; holders: LiveMember[] };

export interface HeartbeatResult {
  /** False once another configuration replaced this worker's: it must stop. */
  current: boolean;
  registered?: ConfigSummary & { since: number; setBy: string };
}

export function emptyRegistry(): RegistryState {
  return { members: {} };
}

function live(state: RegistryState, now: number): Record<string, Member> {
  return Object.fromEntries(Object.entries(state.members).filter(([, m]) => now - m.lastSeen < MEMBER_STALE_MS));
}

function summaryOf(c: RegistryState['current']): ConfigSummary | undefined {
  if (!c) return undefined;
  return { digest: c.digest, providers: c.providers, diskimages: c.diskimages, labels: c.labels, files: c.files };
}

export function join(
  state: RegistryState,
  req: JoinRequest,
  now: number,
): { state: RegistryState; result: JoinResult } {
  const members = live(state, now);
  const admit = (how: 'first' | 'same' | 'abandoned' | 'replaced'): { state: RegistryState; result: JoinResult } => {
    const previous = summaryOf(state.current);
    const current =
      how === 'same' && state.current ? state.current : { ...req.config, since: now, setBy: req.identity };
    const member = { identity: req.identity, digest: req.config.digest, lastSeen: now };
    const result: JoinResult =
      (how === 'replaced' || how === 'abandoned') && previous
        ? { accepted: true, how, previous }
        : { accepted: true, how };
    return { state: { current, members: { ...members, [req.identity]: member } }, result };
  };
  if (!state.current) return admit('first');
  if (state.current.digest === req.config.digest) return admit('same');
  // Workers still running the registered configuration; replaced ones that have not noticed yet do not count.
  const digest = state.current.digest;
  const holders = Object.values(members).filter((m) => m.identity !== req.identity && m.digest === digest);
  if (holders.length === 0) return admit('abandoned');
  if (req.replace) return admit('replaced');
  return {
    state: { ...state, members },
    result: {
      accepted: false,
      registered: summaryOf(state.current) as ConfigSummary,
      holders: holders
        .map((m) => ({ identity: m.identity, digest: m.digest, secondsAgo: Math.round((now - m.lastSeen) / 1000) }))
        .sort((a, b) => a.identity.localeCompare(b.identity)),
    },
  };
}

export function heartbeat(
  state: RegistryState,
  identity: string,
  digest: string,
  now: number,
): { state: RegistryState; result: HeartbeatResult } {
  const current = state.current?.digest === digest;
  const members = live(state, now);
  // A worker forgotten as stale (a long pause) comes back if its configuration is still the one.
  if (current || members[identity]) members[identity] = { identity, digest, lastSeen: now };
  return {
    state: { ...state, members },
    result: { current, ...(state.current ? { registered: state.current } : {}) },
  };
}

export function leave(state: RegistryState, identity: string): RegistryState {
  return { ...state, members: Object.fromEntries(Object.entries(state.members).filter(([id]) => id !== identity)) };
}
