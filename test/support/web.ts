// Reading the status server as its clients do: plain HTTP with an Accept header, and Prometheus' text format.
import { request } from 'node:http';

export interface HttpAnswer {
  status: number;
  type: string;
  body: string;
}

/** GET (or another method) with an Accept header; never throws on an HTTP error status. */
export async function get(url: string, accept?: string, method = 'GET'): Promise<HttpAnswer> {
  const res = await fetch(url, { method, headers: accept ? { accept } : {} });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: await res.text() };
}

export async function getJson<T>(url: string): Promise<T> {
  const r = await get(url, 'application/json');
  if (r.status !== 200) throw new Error(`GET ${url}: ${r.status} ${r.body}`);
  return JSON.parse(r.body) as T;
}

/** Connects to host:port and reports how: 'connected' or the socket error's code (e.g. ECONNREFUSED). */
export function tryConnect(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: '/ready', timeout: 5000, agent: false }, (res) => {
      res.resume();
      resolve('connected');
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text exposition format (what prom-client writes), samples only. */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of the samples named `name` whose labels include `labels` (0 when there is none). */
export function metric(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((n, s) => n + s.value, 0);
}

/** Whether any sample named `name` has these labels. */
export function hasMetric(samples: Sample[], name: string, labels: Record<string, string> = {}): boolean {
  return samples.some((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

export async function scrape(base: string): Promise<Sample[]> {
  const r = await get(`${base}metrics`);
  if (r.status !== 200) throw new Error(`GET ${base}metrics: ${r.status} ${r.body}`);
  return parseMetrics(r.body);
}
