// A child process `nodepool up` runs (the Temporal server, the worker). It writes straight to its log file in the
// data directory — no pipe through `up`, so it never depends on `up` being alive to write — and `up` follows the
// file for readiness messages and quotes its last lines when it fails. It runs in its own process group, so a
// Ctrl-C in the terminal reaches `up` alone and `up` stops its children in order (the worker before the server
// it talks to).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readSync, statSync, writeSync } from 'node:fs';

const TAIL_LINES = 15;
const FOLLOW_MS = 200;

export interface ServiceOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** What was appended to a file from `offset` on. */
function readFrom(file: string, offset: number): string {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const size = statSync(file).size;
    if (size <= offset) return '';
    const buf = Buffer.alloc(size - offset);
    const n = readSync(fd, buf, 0, buf.length, offset);
    return buf.subarray(0, n).toString('utf8');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export class Service {
  readonly name: string;
  readonly logFile: string;
  readonly #child: ChildProcess;
  /** Where this run's output starts in the log file. */
  readonly #start: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #spawnError: Error | undefined;
  #expected = false;

  constructor(opts: ServiceOptions) {
    this.name = opts.name;
    this.logFile = opts.logFile;
    const fd = openSync(opts.logFile, 'a');
    writeSync(fd, `--- ${new Date().toISOString()} ${opts.command} ${opts.args.join(' ')}\n`);
    this.#start = statSync(opts.logFile).size;
    try {
      this.#child = spawn(opts.command, opts.args, {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        stdio: ['ignore', fd, fd],
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
    this.exited = new Promise((resolve) => {
      this.#child.once('error', (err) => {
        this.#spawnError = err;
        resolve({ code: null, signal: null });
      });
      this.#child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    // Last resort: `up` ending without its stop sequence must not leave servers behind.
    const kill = (): void => this.kill('SIGKILL');
    process.once('exit', kill);
    void this.exited.then(() => process.off('exit', kill));
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null && this.#spawnError === undefined;
  }

  /** True once `stop` was called: an exit after that is not a failure. */
  get stopping(): boolean {
    return this.#expected;
  }

  /** Calls `fn` with each line this run writes to its log, until the returned function is called. */
  onLine(fn: (line: string) => void): () => void {
    let offset = this.#start;
    let partial = '';
    const timer = setInterval(() => {
      const text = readFrom(this.logFile, offset);
      if (text === '') return;
      offset += Buffer.byteLength(text);
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) fn(line);
    }, FOLLOW_MS);
    return () => clearInterval(timer);
  }

  /** Why it is not running, with its last output, for an error message. */
  explain(exit: { code: number | null; signal: NodeJS.Signals | null }): string {
    if (this.#spawnError) return `cannot run ${this.name}: ${this.#spawnError.message}`;
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    const tail = readFrom(this.logFile, this.#start).trimEnd().split('\n').filter(Boolean).slice(-TAIL_LINES);
    const last = tail.length > 0 ? `; its last output:\n${tail.map((l) => `    ${l}`).join('\n')}` : '';
    return `${this.name} ${how} (log: ${this.logFile})${last}`;
  }

  /** Signals the whole process group (a build script the worker runs goes too). */
  kill(signal: NodeJS.Signals): void {
    if (!this.running || this.#child.pid === undefined) return;
    try {
      process.kill(-this.#child.pid, signal);
    } catch {
      // Already gone.
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited within graceMs. */
  async stop(graceMs: number): Promise<void> {
    this.#expected = true;
    if (this.running && this.#child.pid !== undefined) {
      // The process itself first: it stops what it started in its own order.
      this.#child.kill('SIGTERM');
      const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    // Anything it left in its group (a build script) goes with it.
    if (this.#child.pid !== undefined)
      try {
        process.kill(-this.#child.pid, 'SIGKILL');
      } catch {
        // The group is empty.
      }
  }
}
