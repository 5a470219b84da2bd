// One writer per output file. A zombie attempt (its heartbeat timed out, it is still running) and its retry
// may work on the same output at once, in one worker or in two: without a lock each removes the other's
// temporary files as "left by a dead attempt", or renames its own result over the other's after the other
// reported its checksum. The lock is a file beside the output, created exclusively, naming its holder; a
// contender waits while the holder lives and takes the lock over when it is dead.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, open, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LockHolder {
  token: string;
  /** Who holds it, for messages: e.g. the workflow, activity and attempt. */
  owner: string;
  host: string;
  bootId: string;
  pid: number;
  /** The process's start time (clock ticks after boot), so a reused pid is not taken for the holder. */
  procStart: string;
  since: string;
}

export interface OutputLockOptions {
  owner?: string | undefined;
  signal?: AbortSignal | undefined;
  /** Told once when the lock is busy, and when a dead holder's lock is taken over. */
  log?: ((line: string) => void) | undefined;
  /** Called once when the lock is busy and this attempt starts waiting. */
  onWait?: (() => void) | undefined;
  /** A lock from another host whose holder has not refreshed it for this long is taken over. */
  staleMs?: number;
  /** How often the holder refreshes the lock's time and checks it still holds it. */
  refreshMs?: number;
}

export function lockPathFor(output: string): string {
  return join(dirname(resolve(output)), `.${basename(output)}.lock`);
}

function readProcStart(pid: number | 'self'): string | undefined {
  try {
    // Field 22 of /proc/PID/stat, counted after the command name (which may contain spaces).
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function readBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

const me = { host: hostname(), bootId: readBootId(), pid: process.pid, procStart: readProcStart('self') ?? '' };

/** Whether the process that wrote `h` still runs. Only meaningful on the same host and boot. */
function holderAlive(h: LockHolder): boolean {
  // With /proc, the start time tells a live holder from a process that later got its pid.
  if (me.procStart) return readProcStart(h.pid) === h.procStart;
  try {
    process.kill(h.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const h = JSON.parse(text) as Partial<LockHolder>;
    return typeof h.token === 'string' && typeof h.pid === 'number' ? (h as LockHolder) : undefined;
  } catch {
    return undefined;
  }
}

/** Pure: is this lock's holder gone? `ageMs` is the time since the lock file was last refreshed. */
export function isStale(
  holder: LockHolder | undefined,
  ageMs: number,
  staleMs: number,
  sameMachine: (h: LockHolder) => boolean,
  alive: (h: LockHolder) => boolean,
): boolean {
  // Unreadable: a holder that died between creating and writing it, or a torn write; only age can tell.
  if (!holder) return ageMs > staleMs;
  if (sameMachine(holder)) return !alive(holder);
  return ageMs > staleMs;
}

const sameMachine = (h: LockHolder): boolean => h.host === me.host && h.bootId === me.bootId;

export function describeHolder(h: LockHolder | undefined): string {
  if (!h) return 'an unknown holder';
  return `${h.owner || 'an unnamed attempt'} (pid ${h.pid} on ${h.host}, since ${h.since})`;
}

export class LockLost extends Error {}

/**
 * Runs `fn` holding the output's lock. `fn` gets a signal that aborts if the lock is lost (taken over
 * because this holder looked dead from another host), and `stillHeld()` to check just before committing.
 */
export async function withOutputLock<T>(
  output: string,
  opts: OutputLockOptions,
  fn: (held: { signal: AbortSignal; stillHeld(): Promise<void> }) => Promise<T>,
): Promise<T> {
  const path = lockPathFor(output);
  const staleMs = opts.staleMs ?? 120_000;
  const refreshMs = opts.refreshMs ?? 10_000;
  const holder: LockHolder = {
    token: randomBytes(8).toString('hex'),
    owner: opts.owner ?? '',
    ...me,
    since: new Date().toISOString(),
  };
  let ino: number | undefined;
  let toldWaiting = false;
  for (let delay = 50; ino === undefined; delay = Math.min(delay * 2, 1000)) {
    opts.signal?.throwIfAborted();
    try {
      const fh = await open(path, 'wx');
      try {
        await fh.writeFile(JSON.stringify(holder));
        ino = (await fh.stat()).ino;
      } finally {
        await fh.close();
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const st = await stat(path).catch(() => undefined);
    if (!st) continue;
    const current = parseHolder(await readFile(path, 'utf8').catch(() => ''));
    if (isStale(current, Date.now() - st.mtimeMs, staleMs, sameMachine, holderAlive)) {
      // Moved aside, not removed: if another contender replaced the stale lock with its own in the
      // meantime, the inode tells, and that live lock goes back.
      const aside = `${path}.stale-${holder.token}`;
      try {
        await rename(path, aside);
      } catch {
        continue;
      }
      const moved = await stat(aside);
      if (moved.ino === st.ino) {
        opts.log?.(`taking over the lock on ${output} from ${describeHolder(current)}, which is gone`);
      } else {
        await link(aside, path).catch(() => undefined);
      }
      await rm(aside, { force: true });
      delay = 25;
      continue;
    }
    if (!toldWaiting) {
      opts.log?.(`waiting for ${describeHolder(current)}, which is writing ${output}`);
      opts.onWait?.();
      toldWaiting = true;
    }
    await sleep(delay, undefined, opts.signal ? { signal: opts.signal } : {}).catch((err: unknown) => {
      throw opts.signal?.aborted ? opts.signal.reason : err;
    });
  }

  const lost = new AbortController();
  const check = async (): Promise<void> => {
    const st = await stat(path).catch(() => undefined);
    if (st?.ino !== ino) {
      const err = new LockLost(`the lock on ${output} was taken over by another attempt; this attempt stops`);
      lost.abort(err);
      throw err;
    }
  };
  const refresh = setInterval(() => {
    void check()
      .then(() => utimes(path, new Date(), new Date()))
      .catch(() => undefined);
  }, refreshMs);
  try {
    return await fn({ signal: lost.signal, stillHeld: check });
  } finally {
    clearInterval(refresh);
    const st = await stat(path).catch(() => undefined);
    if (st?.ino === ino) await rm(path, { force: true });
  }
}
