// A child process `nodepool up` runs (the Temporal server, the worker): its output goes to a log file in the
// data directory and, line by line, to whoever watches for readiness; its last lines explain a failure. It runs
// in its own process group, so a Ctrl-C in the terminal reaches `up` alone and `up` stops its children in
// order (the worker before the server it talks to).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';

const TAIL_LINES = 15;

export interface ServiceOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export class Service {
  readonly name: string;
  readonly logFile: string;
  readonly #child: ChildProcess;
  readonly #log: WriteStream;
  readonly #tail: string[] = [];
  readonly #watchers = new Set<(line: string) => void>();
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #spawnError: Error | undefined;
  #expected = false;

  constructor(opts: ServiceOptions) {
    this.name = opts.name;
    this.logFile = opts.logFile;
    this.#log = createWriteStream(opts.logFile, { flags: 'a' });
    this.#log.write(`--- ${new Date().toISOString()} ${opts.command} ${opts.args.join(' ')}\n`);
    this.#child = spawn(opts.command, opts.args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.exited = new Promise((resolve) => {
      this.#child.once('error', (err) => {
        this.#spawnError = err;
        resolve({ code: null, signal: null });
      });
      this.#child.once('close', (code, signal) => resolve({ code, signal }));
    });
    for (const stream of [this.#child.stdout, this.#child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        this.#log.write(`${line}\n`);
        this.#tail.push(line);
        if (this.#tail.length > TAIL_LINES) this.#tail.shift();
        for (const w of this.#watchers) w(line);
      });
    }
    // Last resort: `up` dying without its stop sequence must not leave servers behind.
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

  onLine(fn: (line: string) => void): () => void {
    this.#watchers.add(fn);
    return () => this.#watchers.delete(fn);
  }

  /** Why it is not running, with its last output, for an error message. */
  explain(exit: { code: number | null; signal: NodeJS.Signals | null }): string {
    if (this.#spawnError) return `cannot run ${this.name}: ${this.#spawnError.message}`;
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    const tail = this.#tail.length > 0 ? `; its last output:\n${this.#tail.map((l) => `    ${l}`).join('\n')}` : '';
    return `${this.name} ${how} (log: ${this.logFile})${tail}`;
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
    await new Promise<void>((resolve) => this.#log.end(resolve));
  }
}
