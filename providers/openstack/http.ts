// HTTP with the things every OpenStack call needs: a deadline, errors mapped to the typed provider errors,
// Retry-After honoured, and secrets scrubbed from anything a cloud echoes back.
import { createReadStream } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Transform } from 'node:stream';
import { Invalid, NotFound, ProviderError, QuotaExceeded, RateLimited, Transient, redact } from '../errors.ts';

export interface RequestSpec {
  /** Short name used in errors and fault injection, e.g. 'server.create'. */
  operation: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  json?: unknown;
  /**
   * A file to stream as the body. Each attempt (a re-send after re-authentication) opens it afresh and
   * passes it through a new `through` transform (used to hash what was sent).
   */
  upload?: { path: string; through?: () => Transform };
  /** Overrides the client's default deadline (uploads need far longer than API calls). */
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON when the cloud sent JSON, otherwise undefined. */
  body: unknown;
}

export interface HttpClientOptions {
  timeoutMs: number;
  /** Values to scrub from every error message: passwords, secrets, tokens. */
  secrets: () => Iterable<string | undefined>;
  userAgent?: string;
}

/** Default wait when a 429 names no Retry-After. */
const DEFAULT_RETRY_AFTER_MS = 1000;

export class HttpClient {
  readonly #opts: HttpClientOptions;
  constructor(opts: HttpClientOptions) {
    this.#opts = opts;
  }

  get timeoutMs(): number {
    return this.#opts.timeoutMs;
  }

  async request(spec: RequestSpec): Promise<HttpResponse> {
    const timeoutMs = spec.timeoutMs ?? this.#opts.timeoutMs;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': this.#opts.userAgent ?? 'nodepool-ts',
      ...spec.headers,
    };
    let body: string | undefined;
    if (spec.json !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = JSON.stringify(spec.json);
    }
    try {
      const res = spec.upload
        ? await streamFile(spec.method, spec.url, headers, spec.upload, controller.signal)
        : await fetchText(spec.method, spec.url, headers, body, controller.signal);
      const parsed = parseJson(res.text, res.headers);
      if (res.status >= 200 && res.status < 300) return { status: res.status, headers: res.headers, body: parsed };
      throw this.#errorFor(spec.operation, res.status, res.headers, parsed, res.text);
    } catch (err) {
      if (err instanceof ProviderError) throw err;
      if (controller.signal.aborted) {
        throw new Transient(
          `${spec.operation}: no complete answer from ${describeUrl(spec.url)} within ${timeoutMs} ms`,
          {
            operation: spec.operation,
          },
        );
      }
      throw new Transient(
        this.#scrub(`${spec.operation}: request to ${describeUrl(spec.url)} failed: ${networkReason(err)}`),
        { operation: spec.operation },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  #scrub(text: string): string {
    return redact(text, this.#opts.secrets());
  }

  #scrubJson(parsed: unknown): unknown {
    if (parsed === undefined || parsed === null || typeof parsed !== 'object') return parsed;
    return JSON.parse(this.#scrub(JSON.stringify(parsed))) as unknown;
  }

  #errorFor(operation: string, status: number, headers: Headers, parsed: unknown, text: string): ProviderError {
    // Scrub before cloudMessage truncates, so a secret cut at the limit cannot survive in part.
    const detail = cloudMessage(this.#scrubJson(parsed), this.#scrub(text));
    const message = `${operation}: HTTP ${status}: ${detail}`;
    const details = { operation, status };
    if (status >= 300 && status < 400) {
      const where = headers.get('location') ?? '(no Location)';
      return new Invalid(
        `${operation}: HTTP ${status}: redirected to ${where}; put the final URL in clouds.yaml`,
        details,
      );
    }
    const retryAfter = headers.get('retry-after');
    if (status === 429 || (status === 413 && retryAfter !== null)) {
      return new RateLimited(message, { ...details, retryAfterMs: parseRetryAfter(retryAfter) });
    }
    if (status === 404 || status === 410) return new NotFound(message, details);
    if (status === 413 && /too large/i.test(detail)) return new Invalid(message, details);
    // Nova words Neutron's port quota its own way ("Maximum number of ports exceeded"): capacity, not a bad request.
    if (status === 413 || (status === 403 && /quota exceeded|maximum number of ports exceeded/i.test(detail)))
      return new QuotaExceeded(message, details);
    if (status === 409 && operation === 'server.create') {
      // On create a conflict is about the request, not a transition: asking again gets the same answer.
      const hint = /network/i.test(detail)
        ? `; the cloud offers several networks and "auto" cannot choose: name one in the pool's networks (or none)`
        : '; retrying the same request will not help';
      return new Invalid(`${message}${hint}`, details);
    }
    // 409 is a server or image caught mid-transition (task_state, locked, saving): it settles by itself.
    if (status === 409 || status === 408 || status >= 500) return new Transient(message, details);
    return new Invalid(message, details);
  }
}

interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
}

/**
 * Every API call of the process shares these agents: at most API_SOCKETS connections per endpoint, kept open
 * between calls. fetch (undici) opens a connection per concurrent call and keeps them: a worker launching 500
 * nodes held 1,100 sockets to five clouds, and ~20 MiB of memory with them. An idle connection is closed after
 * 4 s (as undici does), before the 5 s after which many API servers close it themselves: a request sent on a
 * connection the server is closing fails. A server's Keep-Alive timeout hint, when shorter, wins (Node's agent).
 */
const API_SOCKETS = 16;
const agentOptions = { keepAlive: true, maxSockets: API_SOCKETS, maxFreeSockets: API_SOCKETS, timeout: 4_000 };
const httpAgent = new HttpAgent(agentOptions);
const httpsAgent = new HttpsAgent(agentOptions);

function fetchText(
  method: string,
  url: string,
  headers: Record<string, string>,
  body: string | undefined,
  signal: AbortSignal,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const https = target.protocol === 'https:';
    const send = https ? httpsRequest : httpRequest;
    const sized = body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) };
    // Never follows redirects (node:http does not): X-Auth-Token would go wherever the Location points.
    const req = send(target, { method, headers: sized, signal, agent: https ? httpsAgent : httpAgent }, (res) =>
      collect(res, resolve, reject),
    );
    req.on('error', reject);
    req.end(body);
  });
}

function collect(res: IncomingMessage, resolve: (r: RawResponse) => void, reject: (err: Error) => void): void {
  const chunks: Buffer[] = [];
  res.on('data', (c: Buffer) => chunks.push(c));
  res.on('error', reject);
  res.on('end', () => {
    const h = new Headers();
    for (const [k, v] of Object.entries(res.headers)) {
      if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : v);
    }
    resolve({ status: res.statusCode ?? 0, headers: h, text: Buffer.concat(chunks).toString('utf8') });
  });
}

/**
 * Streams a file with node:http(s) rather than fetch: undici keeps every chunk of a streamed request body
 * alive until the response arrives (1 GiB of RSS for a 1 GiB image), while a piped request holds one chunk.
 */
function streamFile(
  method: string,
  url: string,
  headers: Record<string, string>,
  upload: NonNullable<RequestSpec['upload']>,
  signal: AbortSignal,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    // Its own connection, not the API agents': an upload must not wait behind API calls, nor they behind it.
    const req = send(target, { method, headers, signal }, (res) => collect(res, resolve, reject));
    req.on('error', reject);
    const file = createReadStream(upload.path, { highWaterMark: 1 << 20 });
    const source = upload.through ? file.pipe(upload.through()) : file;
    file.on('error', (err) => req.destroy(err));
    // The cloud may answer (and close) before taking the whole body, e.g. a 413 or 401: stop reading then.
    req.on('close', () => file.destroy());
    source.pipe(req);
  });
}

function parseJson(text: string, headers: Headers): unknown {
  if (text === '') return undefined;
  const type = headers.get('content-type') ?? '';
  if (!type.includes('json') && !/^\s*[[{]/.test(text)) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Pulls the human message out of the three envelopes OpenStack uses: Keystone's {"error":{...}}, Nova's
 * {"<name>":{"code","message"}} and Glance's flat WebOb {"message","code","title"}; plain text otherwise.
 */
export function cloudMessage(parsed: unknown, text: string): string {
  let msg: unknown;
  if (parsed && typeof parsed === 'object') {
    const obj = parsed as Record<string, unknown>;
    if (typeof obj.message === 'string') msg = obj.message;
    else {
      const inner = Object.values(obj).find((v) => v && typeof v === 'object' && 'message' in v) as
        { message?: unknown } | undefined;
      msg = inner?.message;
    }
  }
  const raw = typeof msg === 'string' ? msg : text.replace(/<[^>]*>/g, ' ');
  const clean = raw
    .replace(/<br\s*\/?>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return clean === '' ? '(no message)' : clean.slice(0, 500);
}

/** Seconds or an HTTP date, per RFC 9110; never negative. */
export function parseRetryAfter(value: string | null, now = Date.now()): number {
  if (value === null || value.trim() === '') return DEFAULT_RETRY_AFTER_MS;
  const seconds = Number(value.trim());
  if (Number.isFinite(seconds)) return Math.max(0, Math.round(seconds * 1000));
  const at = Date.parse(value);
  if (Number.isNaN(at)) return DEFAULT_RETRY_AFTER_MS;
  return Math.max(0, at - now);
}

function networkReason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && code.startsWith('E'))
    return err.message.includes(code) ? err.message : `${code} ${err.message}`;
  const cause = err.cause as { code?: string; message?: string } | undefined;
  if (cause && (cause.code || cause.message)) return [cause.code, cause.message].filter(Boolean).join(' ');
  return err.message;
}

/** Scheme, host and path only: query strings are ours, but keep errors short. */
function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(bad URL)';
  }
}

/** A request against one service's endpoint: `path` is relative to it; auth headers are added by the caller. */
export type ServiceRequest = Omit<RequestSpec, 'url'> & {
  path: string;
  query?: URLSearchParams | Record<string, string | undefined>;
};
export type ServiceCall = (req: ServiceRequest) => Promise<HttpResponse>;

export function joinUrl(base: string, path: string, query?: ServiceRequest['query']): string {
  const url = `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
  const params =
    query instanceof URLSearchParams
      ? query
      : new URLSearchParams(Object.entries(query ?? {}).filter((e): e is [string, string] => e[1] !== undefined));
  const qs = params.toString();
  return qs ? `${url}?${qs}` : url;
}
