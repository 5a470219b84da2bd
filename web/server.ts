// The worker's status server, in place of nodepool's webapp: /image-list, /dib-image-list, /node-list,
// /label-list, /request-list (JSON when the client accepts application/json, the CLI's text tables otherwise,
// `?fields=a,b` picking columns), /ready, Prometheus /metrics, and a status page at /. It listens on nodepool.yaml's
// `webapp` port and listen_address (127.0.0.1 unless configured), and only reads: nothing here changes state.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import type { Config } from '../config/index.ts';
import type { Orm } from '../db/orm.ts';
import { registry } from '../metrics/registry.ts';
import { createStatusMetrics } from '../metrics/status.ts';
import { renderStatusPage } from './page.ts';
import { createStatusSource, StatusUnavailable } from './source.ts';
import {
  FieldsError,
  dibImageListing,
  imageListing,
  labelListing,
  nodeListing,
  present,
  requestListing,
  type Listing,
} from './tables.ts';

export interface StatusLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface StatusServerOptions {
  config: Config;
  client: Client;
  orm: Orm;
  taskQueue: string;
  /** The worker this server reports on: /ready follows its state, and the server stops when it stops. */
  worker?: { getState(): string };
  log?: StatusLog;
  /** Override nodepool.yaml's webapp.port (0: any free port). */
  port?: number;
  /** Override nodepool.yaml's webapp.listen_address. */
  host?: string;
}

export interface StatusServer {
  url: string;
  host: string;
  port: number;
  close(): Promise<void>;
}

/** The server could not listen (port in use, address not on this machine). */
export class StatusServerError extends Error {}

const STATE_POLL_MS = 1000;

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** JSON when the Accept header names application/json (with a q above 0), as nodepool's webapp decided. */
export function wantsJson(accept: string | undefined): boolean {
  return (accept ?? '').split(',').some((part) => {
    const [type, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
    if (type !== 'application/json') return false;
    const q = params.find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
}

function send(res: ServerResponse, status: number, type: string, body: string, head: boolean): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(head ? undefined : body);
}

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

/** Builds the request handler; exported for tests that need no socket. */
export function statusHandler(opts: StatusServerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const source = createStatusSource(opts);
  const statusMetrics = createStatusMetrics(opts.config);

  const lists: Record<string, () => Promise<Listing>> = {
    '/image-list': async () => imageListing(await source.catalogs(), Date.now()),
    '/dib-image-list': async () => dibImageListing(await source.builds(), Date.now()),
    '/node-list': async () => nodeListing(await source.pools()),
    '/label-list': async () => labelListing(opts.config, await source.pools()),
    '/request-list': async () => requestListing(await source.pools()),
  };

  async function readiness(): Promise<string[]> {
    const problems: string[] = [];
    const state = opts.worker?.getState();
    if (state !== undefined && state !== 'RUNNING') problems.push(`the worker is ${state.toLowerCase()}`);
    const [db, temporal] = await Promise.allSettled([
      opts.orm.checkConnection(),
      opts.client.withDeadline(Date.now() + 5000, () => opts.client.workflowService.getSystemInfo({})),
    ]);
    if (db.status === 'rejected') problems.push(`database: ${(db.reason as Error).message}`);
    else if (!db.value.ok) problems.push(`database: ${db.value.reason ?? 'not connected'}`);
    if (temporal.status === 'rejected') problems.push(`temporal: ${(temporal.reason as Error).message}`);
    return problems;
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.setHeader('allow', 'GET, HEAD');
      throw new HttpError(405, `${req.method ?? '?'} is not allowed: the status pages only read`);
    }
    const url = new URL(req.url ?? '/', 'http://status.invalid');
    const json = wantsJson(req.headers.accept);
    const list = lists[url.pathname];
    if (list) {
      const fields = url.searchParams
        .get('fields')
        ?.split(',')
        .map((f) => f.trim())
        .filter(Boolean);
      const body = present(await list(), fields && fields.length > 0 ? fields : undefined, json);
      return send(res, 200, json ? JSON_TYPE : TEXT, body, head);
    }
    if (url.pathname === '/ready') {
      const problems = await readiness();
      const status = problems.length === 0 ? 200 : 503;
      if (json) return send(res, status, JSON_TYPE, `${JSON.stringify({ ready: status === 200, problems })}\n`, head);
      return send(res, status, TEXT, status === 200 ? 'OK\n' : `not ready: ${problems.join('; ')}\n`, head);
    }
    if (url.pathname === '/metrics') {
      statusMetrics.update(await source.snapshot());
      const body = `${await registry.metrics()}\n${await statusMetrics.registry.metrics()}`;
      return send(res, 200, registry.contentType, body, head);
    }
    if (url.pathname === '/' || url.pathname === '/index.html') {
      const s = await source.snapshot();
      const refresh = Number(url.searchParams.get('refresh') ?? 0);
      const page = renderStatusPage({
        config: opts.config,
        pools: s.pools,
        catalogs: s.catalogs,
        errors: s.errors,
        now: Date.now(),
        refresh: Number.isInteger(refresh) && refresh > 0 && refresh <= 3600 ? refresh : 0,
      });
      return send(res, 200, 'text/html; charset=utf-8', page, head);
    }
    throw new HttpError(404, `no page ${url.pathname}; try /, ${Object.keys(lists).join(', ')}, /ready or /metrics`);
  }

  return (req, res) => {
    route(req, res).catch((err: unknown) => {
      const status =
        err instanceof HttpError
          ? err.status
          : err instanceof FieldsError
            ? 400
            : err instanceof StatusUnavailable
              ? 503
              : 500;
      const message = (err as Error).message;
      if (status === 500) opts.log?.error({ err: message, url: req.url }, 'status page failed');
      if (res.headersSent) return void res.destroy();
      const json = wantsJson(req.headers.accept);
      send(
        res,
        status,
        json ? JSON_TYPE : TEXT,
        json ? `${JSON.stringify({ error: message })}\n` : `${message}\n`,
        req.method === 'HEAD',
      );
    });
  };
}

function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      const why =
        err.code === 'EADDRINUSE'
          ? 'the port is in use'
          : err.code === 'EADDRNOTAVAIL'
            ? 'the address is not one of this machine'
            : err.code === 'EACCES'
              ? 'not allowed (ports below 1024 need privileges)'
              : err.message;
      reject(
        new StatusServerError(
          `cannot serve status pages on ${host}:${port}: ${why}; set webapp.port / webapp.listen_address in nodepool.yaml`,
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

/**
 * Starts the status server. It never keeps the process alive by itself and stops with the worker it reports on.
 * When it cannot listen it throws StatusServerError, unless a log is given: then the error is logged and the
 * worker goes on without status pages (they are a window on the work, not the work).
 */
export async function startStatusServer(opts: StatusServerOptions): Promise<StatusServer | undefined> {
  const host = opts.host ?? opts.config.webapp.listenAddress;
  const port = opts.port ?? opts.config.webapp.port;
  const server = createServer(statusHandler(opts));
  let address: AddressInfo;
  try {
    address = await listen(server, port, host);
  } catch (err) {
    if (!opts.log || !(err instanceof StatusServerError)) throw err;
    opts.log.error({ host, port }, err.message);
    return undefined;
  }
  server.unref();
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${shown}:${address.port}/`;
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      clearInterval(watch);
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closed;
  };
  const watch = setInterval(() => {
    const state = opts.worker?.getState();
    if (state === 'STOPPED' || state === 'FAILED') void close();
  }, STATE_POLL_MS);
  watch.unref();
  if (!opts.worker) clearInterval(watch);
  opts.log?.info({ url }, 'status pages and /metrics served');
  return { url, host: address.address, port: address.port, close };
}
