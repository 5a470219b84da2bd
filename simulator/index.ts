// An OpenStack-compatible cloud (Keystone v3, Nova v2.1, Glance v2 subsets) on loopback, for tests and demos.
// The contract below is what the OpenStack driver is written against; docs/simulator.md explains it.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { Cloud } from './cloud.ts';
import type { Knobs, KnobsPatch } from './knobs.ts';
import { DEFAULT_KNOBS, mergeKnobs } from './knobs.ts';
import { Router } from './server.ts';

export type { Knobs, KnobsPatch, Operation, FaultRule, FaultKind } from './knobs.ts';
export { DEFAULT_KNOBS, OPERATIONS } from './knobs.ts';

export interface SimCloudOptions {
  /** Created if missing; state survives restart. */
  stateDir: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 = pick a free port. */
  port?: number;
  /** Default 1. */
  seed?: number;
  /** Default ['RegionOne']. */
  regions?: string[];
  /** Default 2222. */
  sshPort?: number;
  /** Partial<Knobs>; quota may be partial too. */
  knobs?: KnobsPatch;
}

export interface SimCloud {
  /** http://127.0.0.1:PORT */
  baseUrl: string;
  /** `${baseUrl}/identity`; clients append /v3, and GET on it returns version discovery. */
  authUrl: string;
  /** Partial<Knobs> (quota may be partial too); rejects on unknown keys or bad values. */
  setKnobs(k: KnobsPatch): Promise<void>;
  knobs(): Knobs;
  close(): Promise<void>;
}

const REGION_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export async function startSimCloud(opts: SimCloudOptions): Promise<SimCloud> {
  const host = opts.host ?? '127.0.0.1';
  const regions = opts.regions ?? ['RegionOne'];
  if (regions.length === 0) throw new Error('sim-cloud needs at least one region');
  for (const r of regions) {
    if (!REGION_RE.test(r) || r === 'identity' || r === 'admin') {
      throw new Error(`invalid region name '${r}': use letters, digits, '.', '_' or '-', and not identity/admin`);
    }
  }
  const knobs = mergeKnobs(DEFAULT_KNOBS, opts.knobs ?? {});
  const seed = opts.seed ?? 1;

  const ready: { router?: Router } = {};
  const http = createServer((req, res) => {
    if (ready.router) ready.router.handle(req, res);
    else res.writeHead(503).end();
  });
  // Uploads may be slow on purpose (throttled); never let Node cut them off.
  http.requestTimeout = 0;
  await new Promise<void>((ok, fail) => {
    http.once('error', fail);
    http.listen(opts.port ?? 0, host, () => {
      http.off('error', fail);
      ok();
    });
  });
  const port = (http.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const baseUrl = `http://${urlHost}:${port}`;

  let cloud: Cloud | undefined;
  try {
    cloud = new Cloud({
      stateDir: resolve(opts.stateDir),
      baseUrl,
      regions,
      seed,
      sshPort: opts.sshPort ?? 2222,
      knobs,
    });
    await cloud.restoreSsh();
  } catch (err) {
    await cloud?.ssh.closeAll();
    cloud?.store.discard();
    await new Promise((r) => http.close(r));
    throw err;
  }
  const started = cloud;
  const setKnobs = (patch: unknown): Knobs => {
    started.knobs = mergeKnobs(started.knobs, patch);
    ready.router?.faults.resetCounts();
    started.advance();
    return started.knobs;
  };
  const r = new Router(started, seed, { setKnobs });
  ready.router = r;
  started.advance();

  return {
    baseUrl,
    authUrl: `${baseUrl}/identity`,
    setKnobs: async (k) => {
      setKnobs(k);
    },
    knobs: () => structuredClone(started.knobs),
    close: async () => {
      for (const s of r.held) s.destroy();
      http.closeAllConnections();
      await new Promise((ok) => http.close(ok));
      await started.close();
    },
  };
}
