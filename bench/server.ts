// The Temporal dev server a benchmark starts for itself: in memory, on free loopback ports, with nodepool's
// search attributes, as the test harness starts it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, openSync } from 'node:fs';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { ensureTemporalCli, freePort } from '../scripts/tools.ts';
import { SEARCH_ATTRIBUTES, dynamicConfigArgs } from '../workflows/search-attributes.ts';

export interface Server {
  proc: ChildProcess;
  address: string;
  version: string;
}

export async function startServer(logDir: string): Promise<Server> {
  const cli = ensureTemporalCli();
  const version = spawnSync(cli, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const port = await freePort();
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port)];
  args.push('--ui-port', String(await freePort()), '--log-level', 'warn');
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  args.push(...dynamicConfigArgs());
  const out = openSync(join(logDir, 'temporal.log'), 'w');
  const proc = spawn(cli, args, { stdio: ['ignore', out, out] });
  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`temporal server exited with ${proc.exitCode}; see its log`);
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      await conn.workflowService.getSystemInfo({});
      await conn.close();
      return { proc, address, version };
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`temporal server not ready at ${address}: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Child processes a benchmark starts (simulators, workers), each stopped at the end. */
export class Children {
  readonly #all = new Set<ChildProcess>();
  readonly #root: string;
  readonly #onStderr: ((line: string) => void) | undefined;

  constructor(root: string, onStderr?: (line: string) => void) {
    this.#root = root;
    this.#onStderr = onStderr;
  }

  /** `node ARGS` from the repository root. */
  run(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
    const child = spawn(process.execPath, args, {
      cwd: this.#root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#all.add(child);
    child.once('exit', () => this.#all.delete(child));
    // BENCH_LOG=FILE keeps every child's output, for when a phase fails.
    if (process.env.BENCH_LOG) {
      const out = createWriteStream(process.env.BENCH_LOG, { flags: 'a' });
      child.stdout?.pipe(out);
      child.stderr?.pipe(out);
    }
    if (this.#onStderr) {
      const onLine = this.#onStderr;
      child.stderr?.on('data', (d: Buffer) => {
        for (const line of d.toString().split('\n')) onLine(line);
      });
    }
    return child;
  }

  /** SIGTERM first (a worker drains and exits, writing a CPU profile when asked), then SIGKILL. */
  async stopAll(graceMs = 2000): Promise<void> {
    for (const c of this.#all) c.kill('SIGTERM');
    if (this.#all.size > 0) await new Promise((r) => setTimeout(r, graceMs));
    for (const c of this.#all) c.kill('SIGKILL');
  }
}

/** Resolves with the first match of `pattern` in the child's output, or fails if it exits first. */
export function waitFor(child: ChildProcess, pattern: RegExp, ms = 60_000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}:\n${out.slice(-2000)}`)), ms);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (c) => reject(new Error(`exited ${c} before ${pattern}:\n${out.slice(-2000)}`)));
  });
}

/** A clouds.yaml naming each simulator by its auth URL (the simulators' fixed bench credentials). */
export function simCloudsYaml(sims: { name: string; authUrl: string }[]): string {
  const entries = sims.map(
    (s) =>
      `  ${s.name}:\n    auth: {auth_url: '${s.authUrl}', username: nodepool, password: secret, project_name: nodepool, user_domain_name: Default, project_domain_name: Default}\n    region_name: RegionOne\n`,
  );
  return `clouds:\n${entries.join('')}`;
}
