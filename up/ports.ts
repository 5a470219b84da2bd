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

export function writePorts(file: string, ports: Map<string, SimulatorPorts>): void {
  writeFileSync(file, `${JSON.stringify({ simulators: Object.fromEntries(ports) }, null, 2)}\n`);
}

/**
 * Each simulator's ports: the ones it had last time when they are still free; otherwise HTTP 0 (the simulator
 * binds any free port: choosing one here could lose it to another program before the bind) and a new free SSH
 * port (it must be known before: connection-port says it). An SSH port fixed by nodepool.yaml is used as it is.
 */
export async function simulatorPorts(
  file: string,
  sims: { provider: string; sshPort?: number }[],
): Promise<Map<string, SimulatorPorts>> {
  const known = readPorts(file).simulators ?? {};
  const out = new Map<string, SimulatorPorts>();
  const taken = new Set<number>();
  const pick = async (previous: number | undefined, any: boolean): Promise<number> => {
    if (previous !== undefined && !taken.has(previous) && !(await portInUse(previous))) return previous;
    if (any) return 0;
    for (;;) {
      const p = await freePort();
      if (!taken.has(p)) return p;
    }
  };
  for (const s of sims) {
    const http = await pick(known[s.provider]?.http, true);
    taken.add(http);
    const ssh = s.sshPort ?? (await pick(known[s.provider]?.ssh, false));
    taken.add(ssh);
    out.set(s.provider, { http, ssh });
  }
  return out;
}
