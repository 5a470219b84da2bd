// Shared helpers for the simulator tests: a simulator on a fresh state dir, a token, and a small fetch wrapper.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimCloud } from '../simulator/index.ts';
import type { SimCloud, SimCloudOptions } from '../simulator/index.ts';
import { until } from './support/poll.ts';

export interface Sim extends SimCloud {
  stateDir: string;
  compute: string;
  image: string;
  /** Closes the simulator and removes its state dir. */
  dispose(): Promise<void>;
}

export function tempDir(prefix = 'sim-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function startSim(opts: Partial<SimCloudOptions> = {}): Promise<Sim> {
  const stateDir = opts.stateDir ?? tempDir();
  const sim = await startSimCloud({ sshPort: 2222, ...opts, stateDir });
  const region = opts.regions?.[0] ?? 'RegionOne';
  return Object.assign(sim, {
    stateDir,
    compute: `${sim.baseUrl}/${region}/compute/v2.1`,
    image: `${sim.baseUrl}/${region}/image`,
    dispose: async () => {
      await sim.close();
      rmSync(stateDir, { recursive: true, force: true });
    },
  });
}

export const PASSWORD_AUTH = {
  auth: {
    identity: {
      methods: ['password'],
      password: { user: { name: 'nodepool', domain: { name: 'Default' }, password: 'secret' } },
    },
    scope: { project: { name: 'nodepool', domain: { id: 'default' } } },
  },
};

export async function issueToken(sim: SimCloud, body: unknown = PASSWORD_AUTH): Promise<string> {
  const r = await fetch(`${sim.authUrl}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (r.status !== 201) throw new Error(`auth failed: ${r.status} ${await r.text()}`);
  const token = r.headers.get('x-subject-token');
  if (!token) throw new Error('no X-Subject-Token');
  return token;
}

export interface ApiResult {
  status: number;
  headers: Headers;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  text: string;
}

export async function api(
  url: string,
  opts: {
    method?: string;
    token?: string;
    json?: unknown;
    headers?: Record<string, string>;
    body?: RequestInit['body'];
  } = {},
): Promise<ApiResult> {
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers['x-auth-token'] = opts.token;
  let body = opts.body;
  if (opts.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(opts.json);
  }
  const r = await fetch(url, { method: opts.method ?? 'GET', headers, body, duplex: 'half' } as RequestInit);
  const text = await r.text();
  let parsed: unknown = undefined;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: r.status, headers: r.headers, body: parsed, text };
}

export { until };

/** Creates and uploads a small active image; returns its id. */
export async function activeImage(
  sim: Sim,
  token: string,
  bytes = Buffer.from('qcow2-ish test data'),
): Promise<string> {
  const created = await api(`${sim.image}/v2/images`, {
    method: 'POST',
    token,
    json: { name: 'base', disk_format: 'qcow2', container_format: 'bare' },
  });
  if (created.status !== 201) throw new Error(`image create: ${created.status} ${created.text}`);
  const id = created.body.id as string;
  const up = await api(`${sim.image}/v2/images/${id}/file`, {
    method: 'PUT',
    token,
    headers: { 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  if (up.status !== 204) throw new Error(`image upload: ${up.status} ${up.text}`);
  return id;
}

export const MV = (v: string) => ({ 'OpenStack-API-Version': `compute ${v}` });

export async function createServer(
  sim: Sim,
  token: string,
  imageId: string,
  extra: Record<string, unknown> = {},
  version = '2.79',
): Promise<ApiResult> {
  return api(`${sim.compute}/servers`, {
    method: 'POST',
    token,
    headers: MV(version),
    json: { server: { name: 'vm', flavorRef: '1', imageRef: imageId, networks: 'auto', ...extra } },
  });
}

export async function waitStatus(sim: Sim, token: string, id: string, status: string): Promise<ApiResult> {
  return until(`server ${id} ${status}`, async () => {
    const r = await api(`${sim.compute}/servers/${id}`, { token, headers: MV('2.79') });
    return r.body?.server?.status === status ? r : undefined;
  });
}
