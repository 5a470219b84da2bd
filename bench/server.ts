// The Temporal dev server a benchmark starts for itself: in memory, on free loopback ports, with nodepool's
// search attributes, as the test harness starts it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { ensureTemporalCli, freePort } from '../scripts/tools.ts';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes.ts';

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
