// The Temporal dev server `nodepool up` runs: its state in the data directory (so a restart resumes every
// workflow and schedule), nodepool's search attributes registered at start, the Web UI on loopback without
// its internet news feed.
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTES, dynamicConfigArgs } from '../workflows/search-attributes.ts';
import { Service } from './service.ts';

export interface TemporalServerOptions {
  cli: string;
  dataDir: string;
  logDir: string;
  host: string;
  port: number;
  uiPort: number;
  namespace: string;
}

export function temporalArgs(o: TemporalServerOptions): string[] {
  const args = ['server', 'start-dev', '--ip', o.host, '--port', String(o.port), '--ui-port', String(o.uiPort)];
  args.push('--db-filename', join(o.dataDir, 'temporal.db'), '--log-level', 'warn', '--ui-disable-news-fetch');
  if (o.namespace !== 'default') args.push('--namespace', o.namespace);
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  args.push(...dynamicConfigArgs());
  return args;
}

export function startTemporalServer(o: TemporalServerOptions): Service {
  return new Service({
    name: 'the Temporal server',
    command: o.cli,
    args: temporalArgs(o),
    logFile: join(o.logDir, 'temporal.log'),
  });
}

/** Resolves once the frontend answers; rejects with the server's own words if it exits first. */
export async function waitForTemporal(
  address: string,
  server: Service | undefined,
  signal: AbortSignal,
  timeoutMs = 90_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  for (let pause = 100; ; pause = Math.min(pause * 2, 500)) {
    signal.throwIfAborted();
    if (server && !server.running) throw new Error(server.explain(await server.exited));
    try {
      const c = await Connection.connect({ address, connectTimeout: 1000 });
      try {
        await c.workflowService.getSystemInfo({});
        return;
      } finally {
        await c.close();
      }
    } catch (err) {
      lastError = (err as Error).message;
    }
    if (Date.now() > deadline)
      throw new Error(
        `the Temporal server at ${address} did not answer within ${timeoutMs / 1000}s (${lastError})` +
          (server ? `; see ${server.logFile}` : ''),
      );
    await new Promise((r) => setTimeout(r, pause));
  }
}
