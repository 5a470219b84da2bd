// Runs a builder as the leader of its own process group, its output appended line by line to the build log,
// and makes sure that when it ends (done, cancelled or out of time) nothing it started is left running:
// disk-image-create starts chroots, apt and mounts whose processes outlive a killed shell.
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
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

async function waitGroupGone(pgid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (let delay = 20; groupAlive(pgid); delay = Math.min(delay * 2, 250)) {
    if (Date.now() > deadline) return false;
    await sleep(delay);
  }
  return true;
}

/** SIGTERM to the whole group, then SIGKILL to whatever is left after the grace period; waits until it is gone. */
export async function endProcessGroup(pgid: number, graceMs: number): Promise<void> {
  if (!groupAlive(pgid)) return;
  try {
    process.kill(-pgid, 'SIGTERM');
  } catch {
    return;
  }
  if (await waitGroupGone(pgid, graceMs)) return;
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    return;
  }
  await waitGroupGone(pgid, 30_000);
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
    void endProcessGroup(pgid, opts.graceMs ?? 30_000);
  };
  const timer = setTimeout(() => stop('timeout'), opts.timeoutMs);
  const onAbort = (): void => stop('aborted');
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const result = await exited;
    // Whatever the leader left behind in its group (a daemon an apt postinst started, a sleeping child) goes too.
    await endProcessGroup(pgid, opts.graceMs ?? 30_000);
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
