// Ports `nodepool up` listens on: checked before anything starts, so a second `up` (or any program holding a
// port) is named in one clear sentence instead of a child's exit code; the simulators' ports are kept in the
// data directory, so a restart serves the same URLs the resumed state refers to.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { freePort } from '../scripts/tools.ts';

/** Whether something already listens on host:port (a bind fails with EADDRINUSE). */
export function portInUse(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) =>
      err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(true) : reject(err),
    );
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(false)));
  });
}

export interface PortNeed {
  port: number;
  /** What listens there, e.g. "the Temporal server". */
  what: string;
  /** How to choose another, e.g. "--temporal-port PORT". */
  fix: string;
}

/** The first needed port that is taken, as an operator-facing sentence; undefined when all are free. */
export async function takenPort(needs: PortNeed[], host = '127.0.0.1'): Promise<string | undefined> {
  for (const n of needs)
    if (await portInUse(n.port, host))
      return (
        `port ${n.port} on ${host}, for ${n.what}, is already in use (another nodepool up, a Temporal server, or ` +
        `another program): stop it, or choose another with ${n.fix}`
      );
  return undefined;
}

export interface SimulatorPorts {
  http: number;
  ssh: number;
}

type PortFile = { simulators?: Record<string, Partial<SimulatorPorts>> };

function readPorts(file: string): PortFile {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as PortFile;
  } catch {
    return {};
  }
}

/**
 * Each simulator's ports: the ones it had last time when they are still free, otherwise new free ones; an SSH
 * port fixed by nodepool.yaml (connection-port) is used as it is. Written back for the next start.
 */
export async function simulatorPorts(
  file: string,
  sims: { provider: string; sshPort?: number }[],
): Promise<Map<string, SimulatorPorts>> {
  const known = readPorts(file).simulators ?? {};
  const out = new Map<string, SimulatorPorts>();
  const taken = new Set<number>();
  const pick = async (previous: number | undefined): Promise<number> => {
    if (previous !== undefined && !taken.has(previous) && !(await portInUse(previous))) return previous;
    for (;;) {
      const p = await freePort();
      if (!taken.has(p)) return p;
    }
  };
  for (const s of sims) {
    const http = await pick(known[s.provider]?.http);
    taken.add(http);
    const ssh = s.sshPort ?? (await pick(known[s.provider]?.ssh));
    taken.add(ssh);
    out.set(s.provider, { http, ssh });
  }
  writeFileSync(file, `${JSON.stringify({ simulators: Object.fromEntries(out) }, null, 2)}\n`);
  return out;
}
