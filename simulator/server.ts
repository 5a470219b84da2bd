// HTTP front door: routes /identity, /<region>/compute, /<region>/image and /admin, and applies the knobs
// that act on whole requests (rate limit, latency, injected faults) before a handler runs.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Cloud } from './cloud.ts';
import { image, imageDiscovery, imageOperation } from './glance/index.ts';
import type { Reply, RequestContext, Service } from './http.ts';
import { HttpError, errorReply, readJson } from './http.ts';
import { authenticate, identity } from './keystone.ts';
import type { Knobs, Operation } from './knobs.ts';
import { KnobsError } from './knobs.ts';
import { FaultInjector } from './faults.ts';
import { compute, computeOperation } from './nova/index.ts';
import { computeDiscovery, microversionHeaders, parseMicroversion } from './nova/microversion.ts';
import { network, networkDiscovery, networkOperation } from './neutron.ts';

export interface RouterHooks {
  setKnobs(patch: unknown): Knobs;
}

const FAULT_MESSAGES: Record<Service, Record<500 | 503, string>> = {
  compute: {
    500: "Unexpected API Error. Please contact the administrator\n<class 'nova.exception_Remote.SimulatedFault'>",
    503: 'The server is currently unavailable. Please try again at a later time.',
  },
  identity: {
    500: 'An unexpected error prevented the server from fulfilling your request.',
    503: 'The service is temporarily unavailable.',
  },
  image: {
    500: 'The server has either erred or is incapable of performing the requested operation.',
    503: 'The server is currently unavailable. Please retry your request later.',
  },
  network: {
    500: 'Request Failed: internal server error while processing your request.',
    503: 'The server is currently unavailable. Please try again at a later time.',
  },
  admin: { 500: 'internal error', 503: 'unavailable' },
};

function isLoopback(addr: string | undefined): boolean {
  return addr !== undefined && (addr.startsWith('127.') || addr === '::1' || addr.startsWith('::ffff:127.'));
}

export class Router {
  private readonly cloud: Cloud;
  private readonly hooks: RouterHooks;
  readonly faults: FaultInjector;
  /** Sockets held open by 'timeout' faults, released on close. */
  readonly held = new Set<Socket>();

  constructor(cloud: Cloud, seed: number, hooks: RouterHooks) {
    this.cloud = cloud;
    this.hooks = hooks;
    this.faults = new FaultInjector(seed);
  }

  handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.dispatch(req, res).catch((err: unknown) => {
      process.stderr.write(`sim-cloud: ${(err as Error).stack ?? String(err)}\n`);
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 500, message: 'simulator bug', title: 'Internal Server Error' } }));
      } else res.destroy();
    });
  };

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.cloud.baseUrl);
    const segments = url.pathname.split('/').filter((s) => s !== '');
    const method = req.method ?? 'GET';
    const [first, second] = segments;
    let service: Service;
    let region = '';
    let path: string[];
    if (first === 'admin') {
      service = 'admin';
      path = segments.slice(1);
    } else if (first === 'identity') {
      service = 'identity';
      path = segments.slice(1);
    } else if (
      first !== undefined &&
      (second === 'compute' || second === 'image' || second === 'network') &&
      this.cloud.regions.includes(first)
    ) {
      service = second;
      region = first;
      path = segments.slice(2);
    } else {
      const ctx = {
        req,
        url,
        method,
        path: segments,
        region: '',
        microversion: [2, 1],
        requestId: '',
      } as RequestContext;
      const known = this.cloud.regions.map((r) => `/${r}/compute, /${r}/image, /${r}/network`).join(', ');
      return this.send(
        res,
        ctx,
        errorReply('identity', new HttpError(404, `No such endpoint; try /identity, ${known}`), req),
      );
    }
    const requestId = `req-${randomUUID()}`;
    const ctx: RequestContext = { req, url, method, path, region, microversion: [2, 1], requestId };
    const extraHeaders: Record<string, string> = { 'x-openstack-request-id': requestId };
    if (service === 'compute') extraHeaders['x-compute-request-id'] = extraHeaders['x-openstack-request-id']!;
    let reply: Reply;
    try {
      if (service === 'admin') {
        reply = await this.admin(ctx);
      } else {
        this.cloud.advance();
        const knobs = this.cloud.knobs;
        if (this.faults.overRateLimit(knobs, Date.now())) {
          const after = String(knobs.rateLimit?.retryAfterSeconds ?? 1);
          throw new HttpError(429, 'This request was rate-limited.', { 'Retry-After': after });
        }
        const delay = this.faults.latency(knobs);
        if (delay > 0) await new Promise((r) => setTimeout(r, delay));
        if (service === 'compute') {
          try {
            ctx.microversion = parseMicroversion(ctx);
          } finally {
            Object.assign(extraHeaders, microversionHeaders(ctx.microversion));
          }
        }
        reply = await this.route(service, ctx, res);
      }
    } catch (err) {
      if (err instanceof Dropped || err instanceof Held) return;
      if (!(err instanceof HttpError)) throw err;
      reply = errorReply(service, err, req);
    }
    reply.headers = { ...extraHeaders, ...(reply.headers ?? {}) };
    this.send(res, ctx, reply);
  }

  private async route(service: Service, ctx: RequestContext, res: ServerResponse): Promise<Reply> {
    let op: Operation | undefined;
    let run: () => Promise<Reply>;
    if (service === 'identity') {
      if (ctx.method === 'POST' && ctx.path.join('/') === 'v3/auth/tokens') op = 'auth';
      run = () => identity(this.cloud, ctx);
    } else if (service === 'compute') {
      const discovery = computeDiscovery(this.cloud, ctx);
      if (discovery) return discovery;
      if (ctx.path[0] !== 'v2.1') throw new HttpError(404, 'The resource could not be found.');
      const token = authenticate(this.cloud, ctx);
      op = computeOperation(ctx);
      run = () => compute(this.cloud, ctx, token);
    } else if (service === 'network') {
      const discovery = networkDiscovery(this.cloud, ctx);
      if (discovery) return discovery;
      authenticate(this.cloud, ctx);
      op = networkOperation(ctx);
      run = async () => network(this.cloud, ctx);
    } else {
      const discovery = imageDiscovery(this.cloud, ctx);
      if (discovery) return discovery;
      const token = authenticate(this.cloud, ctx);
      op = imageOperation(ctx);
      run = () => image(this.cloud, ctx, token);
    }
    const fault = op === undefined ? undefined : this.faults.pick(this.cloud.knobs, op);
    if (fault === 'error500' || fault === 'error503') {
      const status = fault === 'error500' ? 500 : 503;
      throw new HttpError(status, FAULT_MESSAGES[service][status]);
    }
    if (fault === 'timeout') {
      const socket = ctx.req.socket;
      this.held.add(socket);
      socket.once('close', () => this.held.delete(socket));
      throw new Held();
    }
    if (fault === 'drop') {
      // The action takes effect (whatever its outcome), but the client never hears about it.
      const outcome = await run().catch((err: unknown) => err);
      if (process.env.SIM_CLOUD_DEBUG) {
        process.stderr.write(
          `sim-cloud: dropped ${ctx.method} ${ctx.url.pathname} after ${outcome instanceof Error ? outcome.message : 'success'}\n`,
        );
      }
      res.destroy();
      throw new Dropped();
    }
    return run();
  }

  private async admin(ctx: RequestContext): Promise<Reply> {
    if (!isLoopback(ctx.req.socket.remoteAddress)) throw new HttpError(403, 'The admin endpoint is loopback-only.');
    if (ctx.path.join('/') !== 'knobs') throw new HttpError(404, 'Admin routes: GET/PUT /admin/knobs');
    if (ctx.method === 'GET') return { status: 200, json: this.cloud.knobs };
    if (ctx.method === 'PUT') {
      const patch = await readJson(ctx.req, 'admin');
      try {
        return { status: 200, json: this.hooks.setKnobs(patch) };
      } catch (err) {
        if (err instanceof KnobsError) throw new HttpError(400, err.message);
        throw err;
      }
    }
    throw new HttpError(405, 'Use GET or PUT on /admin/knobs');
  }

  private send(res: ServerResponse, ctx: RequestContext, reply: Reply): void {
    const headers: Record<string, string> = { ...(reply.headers ?? {}) };
    const head = ctx.method === 'HEAD';
    if (reply.stream) {
      res.writeHead(reply.status, headers);
      if (head) {
        reply.stream.destroy();
        res.end();
        return;
      }
      reply.stream.pipe(res);
      reply.stream.once('error', () => res.destroy());
      return;
    }
    let payload: Buffer | undefined;
    if (reply.json !== undefined) {
      payload = Buffer.from(JSON.stringify(reply.json));
      headers['Content-Type'] = 'application/json';
    } else if (reply.text !== undefined) {
      payload = Buffer.from(reply.text);
      headers['Content-Type'] = 'text/plain; charset=UTF-8';
    }
    if (reply.status !== 204 && reply.status !== 304) headers['Content-Length'] = String(payload?.length ?? 0);
    res.writeHead(reply.status, headers);
    res.end(head || reply.status === 204 ? undefined : payload);
  }
}

class Dropped extends Error {}
class Held extends Error {}
