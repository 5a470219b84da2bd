// The reply shape handlers return (so the router can delay, drop or replace it) and the three error dialects:
// Keystone's {"error":{…}}, Nova's {"<name>":{code,message}} and Glance's WebOb bodies.
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  json?: unknown;
  text?: string;
  stream?: Readable;
}

export type Service = 'identity' | 'compute' | 'image' | 'network' | 'admin';

export class HttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly extra: Record<string, unknown>;
  /** Set when the error comes from a layer that answers in its own dialect (keystonemiddleware's 401). */
  dialect?: Service;
  constructor(status: number, message: string, headers: Record<string, string> = {}, extra = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
    this.extra = extra;
  }
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  410: 'Gone',
  413: 'Request Entity Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

const NOVA_NAMES: Record<number, string> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'badMethod',
  409: 'conflictingRequest',
  413: 'overLimit',
  415: 'badMediaType',
  429: 'overLimit',
  501: 'notImplemented',
  503: 'serviceUnavailable',
};

export function errorReply(requestService: Service, err: HttpError, req: IncomingMessage): Reply {
  const service = err.dialect ?? requestService;
  const headers = { ...err.headers };
  const title = TITLES[err.status] ?? 'Error';
  if (service === 'compute') {
    const name = NOVA_NAMES[err.status] ?? 'computeFault';
    const body: Record<string, unknown> = { code: err.status, message: err.message, ...err.extra };
    if (headers['Retry-After'] !== undefined) body.retryAfter = headers['Retry-After'];
    return { status: err.status, headers, json: { [name]: body } };
  }
  if (service === 'network') {
    const type = typeof err.extra.type === 'string' ? err.extra.type : title.replace(/ /g, '');
    return { status: err.status, headers, json: { NeutronError: { type, message: err.message, detail: '' } } };
  }
  if (service === 'image') {
    const accept = req.headers.accept ?? '';
    if (accept.includes('json')) {
      return {
        status: err.status,
        headers,
        json: { message: `${err.message}<br /><br />\n\n\n`, code: `${err.status} ${title}`, title },
      };
    }
    return { status: err.status, headers, text: `${err.status} ${title}\n\n${err.message}\n\n   ` };
  }
  return { status: err.status, headers, json: { error: { code: err.status, title, message: err.message } } };
}

export async function readJson(req: IncomingMessage, service: Service): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 1024 * 1024) throw new HttpError(413, 'Request body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    const message =
      service === 'compute'
        ? 'Malformed request body'
        : service === 'identity'
          ? 'The request body is not valid JSON.'
          : 'Malformed JSON in request body.';
    throw new HttpError(400, message);
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Seconds-resolution ISO time the way Nova and Glance print it: 2013-09-03T04:01:32Z. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Keystone's microsecond form: 2015-11-07T02:58:43.578887Z. */
export function isoMicro(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, '000Z');
}

/** What every handler gets: the parsed request plus whatever the router learned (region, microversion, token). */
export interface RequestContext {
  req: IncomingMessage;
  url: URL;
  method: string;
  /** Path segments after the service prefix, e.g. ['servers', '<id>', 'metadata']. */
  path: string[];
  region: string;
  /** Nova microversion as [major, minor]; [2, 1] elsewhere. */
  microversion: [number, number];
  /** The x-openstack-request-id this request is answered with. */
  requestId: string;
}
