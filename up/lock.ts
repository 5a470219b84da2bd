// One `nodepool up` per data directory: the Temporal database, PGlite and the simulators' state are each one
// process's. The lock file holds the running one's pid and addresses, so a second `up` can say which one runs
// and where, instead of failing later on a locked file or a taken port.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface UpLockInfo {
  pid: number;
  temporal: string;
  webUi?: string;
  startedAt: string;
  /** The children it started (each the leader of its process group), for the next `up` if this one is killed. */
  children?: number[];
}

export class DataDirInUse extends Error {
  override name = 'DataDirInUse';
  readonly holder: UpLockInfo;
  constructor(dataDir: string, holder: UpLockInfo) {
    super(
      `nodepool up is already running with data directory ${dataDir} (pid ${holder.pid}, Temporal ${holder.temporal}` +
        `${holder.webUi ? `, Web UI ${holder.webUi}` : ''}, since ${holder.startedAt}); ` +
        `stop it first (Ctrl-C where it runs, or kill ${holder.pid}), or give this one another --data-dir`,
    );
    this.holder = holder;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export const lockFile = (dataDir: string): string => join(dataDir, 'up.lock');

export interface DataDirLock {
  release(): void;
  /** Records the children started so far. */
  children(pids: number[]): void;
  /** Children of an earlier `up` that was killed (SIGKILL leaves them running), still running on this directory. */
  leftovers: number[];
}

/** Whether a process runs with this data directory on its command line (so a reused pid is left alone). */
function runsOn(pid: number, dataDir: string): boolean {
  try {
    return isAlive(pid) && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dataDir);
  } catch {
    return false;
  }
}

/** Takes the data directory or throws DataDirInUse; the lock is released at exit too. */
export function lockDataDir(dataDir: string, info: UpLockInfo): DataDirLock {
  const file = lockFile(dataDir);
  let leftovers: number[] = [];
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${JSON.stringify(info)}\n`, { flag: 'wx' });
      const release = (): void => rmSync(file, { force: true });
      process.once('exit', release);
      return {
        release: () => {
          process.off('exit', release);
          release();
        },
        children: (pids) => writeFileSync(file, `${JSON.stringify({ ...info, children: pids })}\n`),
        leftovers,
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let holder: UpLockInfo | undefined;
      try {
        holder = JSON.parse(readFileSync(file, 'utf8')) as UpLockInfo;
      } catch {
        // Unreadable: left half-written by a process that died.
      }
      if (holder && Number.isInteger(holder.pid) && holder.pid !== process.pid && isAlive(holder.pid))
        throw new DataDirInUse(dataDir, holder);
      // Left by an `up` that was killed; what it started may still hold the ports and files.
      leftovers = (holder?.children ?? []).filter((pid) => Number.isInteger(pid) && runsOn(pid, dataDir));
      rmSync(file, { force: true });
    }
  }
  throw new Error(`could not lock the data directory ${dataDir} (${file})`);
}
