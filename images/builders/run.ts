// Runs a builder as the leader of its own process group, its output appended line by line to the build log,
// and makes sure that when it ends (done, cancelled or out of time) nothing it started is left running:
// disk-image-create starts chroots, apt and mounts whose processes outlive a killed shell.
import { spawn } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RunBuilderOptions {
  cmd: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  logPath: string;
  signal?: AbortSignal | undefined;
  timeoutMs: number;
  /** How long a process group gets after SIGTERM (for dib's own cleanup traps) before SIGKILL. */
  graceMs?: number;
  /** Each output line, as written to the log. */
  onLine?: (line: string) => void;
}

export type RunOutcome =
  | { kind: 'exited'; code: number | null; signal: NodeJS.Signals | null; tail: string[] }
  | { kind: 'timeout'; tail: string[] }
  | { kind: 'aborted'; tail: string[] };

const TAIL_LINES = 15;

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Pure: the process groups of `root` and all its descendants, from (pid, ppid, pgid) rows. */
export function groupsOfTree(rows: { pid: number; ppid: number; pgid: number }[], root: number): number[] {
  const children = new Map<number, number[]>();
  for (const r of rows) children.set(r.ppid, [...(children.get(r.ppid) ?? []), r.pid]);
  const pgidOf = new Map(rows.map((r) => [r.pid, r.pgid]));
  const groups = new Set<number>([root]);
  const todo = [root];
  for (let pid = todo.pop(); pid !== undefined; pid = todo.pop()) {
    const g = pgidOf.get(pid);
    if (g !== undefined && g > 1) groups.add(g);
    todo.push(...(children.get(pid) ?? []));
  }
  return [...groups];
}

/** (pid, ppid, pgid) of every process, from /proc; empty where there is no /proc. */
function processTable(): { pid: number; ppid: number; pgid: number }[] {
  let names: string[];
  try {
    names = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    return [];
  }
  const rows: { pid: number; ppid: number; pgid: number }[] = [];
  for (const name of names) {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const [, ppid, pgid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      rows.push({ pid: Number(name), ppid: Number(ppid), pgid: Number(pgid) });
    } catch {
      // Gone while we looked.
    }
  }
  return rows;
}

async function waitGroupsGone(groups: number[], ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (let delay = 20; groups.some(groupAlive); delay = Math.min(delay * 2, 250)) {
    if (Date.now() > deadline) return false;
    await sleep(delay);
  }
  return true;
}

function signalGroups(groups: number[], sig: NodeJS.Signals): void {
  for (const g of groups) {
    try {
      process.kill(-g, sig);
    } catch {
      // Already gone.
    }
  }
}

/**
 * SIGTERM to the builder's process group and to every group its descendants made (dpkg runs its maintainer
 * scripts in a session of its own), then SIGKILL to whatever is left after the grace period; waits until all
 * are gone. The groups are collected before the first signal, while the process tree still shows them.
 */
export async function endProcessTree(leader: number, graceMs: number): Promise<void> {
  const groups = groupsOfTree(processTable(), leader).filter(groupAlive);
  if (groups.length === 0) return;
  signalGroups(groups, 'SIGTERM');
  if (await waitGroupsGone(groups, graceMs)) return;
  signalGroups(groups, 'SIGKILL');
  await waitGroupsGone(groups, 30_000);
}

export async function runBuilder(opts: RunBuilderOptions): Promise<RunOutcome> {
  opts.signal?.throwIfAborted();
  const log = createWriteStream(opts.logPath, { flags: 'a' });
  const logOpen = new Promise<void>((resolve, reject) => {
    log.once('open', () => resolve());
    log.once('error', reject);
  });
  await logOpen;
  const tail: string[] = [];
  const line = (text: string): void => {
    log.write(`${text}\n`);
    tail.push(text);
    if (tail.length > TAIL_LINES) tail.shift();
    opts.onLine?.(text);
  };
  // detached: a new session and process group, so the whole tree can be signalled at once.
  const child = spawn(opts.cmd, opts.args, {
    cwd: opts.cwd,
    env: opts.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const spawned = new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (err) => resolve(err));
  });
  const spawnError = await spawned;
  if (spawnError) {
    await new Promise((r) => log.end(r));
    throw spawnError;
  }
  const pgid = child.pid as number;
  const outputs = [child.stdout, child.stderr].map(
    (stream) =>
      new Promise<void>((resolve) => {
        const rl = createInterface({ input: stream, crlfDelay: Infinity });
        rl.on('line', line);
        rl.once('close', resolve);
      }),
  );
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );

  let stopped: 'timeout' | 'aborted' | undefined;
  const stop = (why: 'timeout' | 'aborted'): void => {
    if (stopped) return;
    stopped = why;
    void endProcessTree(pgid, opts.graceMs ?? 30_000);
  };
  const timer = setTimeout(() => stop('timeout'), opts.timeoutMs);
  const onAbort = (): void => stop('aborted');
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const result = await exited;
    // Whatever the leader left behind in its group (a daemon an apt postinst started, a sleeping child) goes too.
    await endProcessTree(pgid, opts.graceMs ?? 30_000);
    // A process that left the group (a daemon that called setsid) may still hold the pipes open.
    const drained = await Promise.race([Promise.all(outputs).then(() => true), sleep(5000).then(() => false)]);
    if (!drained) {
      child.stdout.destroy();
      child.stderr.destroy();
      line('nodepool: a process outside the build process group still held its output open; stopped reading it');
    }
    if (stopped === 'timeout') return { kind: 'timeout', tail };
    if (stopped === 'aborted') return { kind: 'aborted', tail };
    return { kind: 'exited', ...result, tail };
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    await new Promise((r) => log.end(r));
  }
}
