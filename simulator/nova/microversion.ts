// Nova's microversion contract: which version a request asked for, the headers that echo it, and the
// unauthenticated version documents clients read to learn the supported range.
import type { Cloud } from '../cloud.ts';
import type { Reply, RequestContext } from '../http.ts';
import { HttpError } from '../http.ts';

const MIN_MICROVERSION: [number, number] = [2, 1];
const MAX_MICROVERSION: [number, number] = [2, 104];

const fmt = (v: [number, number]) => `${v[0]}.${v[1]}`;
const cmp = (a: [number, number], b: [number, number]) => a[0] - b[0] || a[1] - b[1];
export const atLeast = (ctx: RequestContext, minor: number) => cmp(ctx.microversion, [2, minor]) >= 0;

/** Reads the microversion headers; OpenStack-API-Version wins over the legacy one. */
export function parseMicroversion(ctx: RequestContext): [number, number] {
  let raw: string | undefined;
  const modern = ctx.req.headers['openstack-api-version'];
  if (typeof modern === 'string') {
    for (const part of modern.split(',')) {
      const [service, value] = part.trim().split(/\s+/);
      if (service?.toLowerCase() === 'compute' && value !== undefined) raw = value;
    }
  }
  const legacy = ctx.req.headers['x-openstack-nova-api-version'];
  if (raw === undefined && typeof legacy === 'string') raw = legacy.trim();
  if (raw === undefined) return MIN_MICROVERSION;
  if (raw.toLowerCase() === 'latest') return MAX_MICROVERSION;
  const m = /^(\d+)\.(\d+)$/.exec(raw);
  if (!m) throw new HttpError(400, `Invalid API version request string ${raw}`);
  const v: [number, number] = [Number(m[1]), Number(m[2])];
  if (cmp(v, MIN_MICROVERSION) < 0 || cmp(v, MAX_MICROVERSION) > 0) {
    throw new HttpError(
      406,
      `Version ${raw} is not supported by the API. Minimum is ${fmt(MIN_MICROVERSION)} and maximum is ${fmt(MAX_MICROVERSION)}.`,
    );
  }
  return v;
}

export function microversionHeaders(v: [number, number]): Record<string, string> {
  return {
    'OpenStack-API-Version': `compute ${fmt(v)}`,
    'X-OpenStack-Nova-API-Version': fmt(v),
    Vary: 'OpenStack-API-Version, X-OpenStack-Nova-API-Version',
  };
}

function versionEntry(cloud: Cloud, region: string, current: boolean) {
  const root = `${cloud.baseUrl}/${region}/compute`;
  return current
    ? {
        id: 'v2.1',
        status: 'CURRENT',
        version: fmt(MAX_MICROVERSION),
        min_version: fmt(MIN_MICROVERSION),
        updated: '2013-07-23T11:33:21Z',
        links: [{ rel: 'self', href: `${root}/v2.1/` }],
      }
    : {
        id: 'v2.0',
        status: 'SUPPORTED',
        version: '',
        min_version: '',
        updated: '2011-01-21T11:33:21Z',
        links: [{ rel: 'self', href: `${root}/v2/` }],
      };
}

/** GET on the unversioned compute root and on /v2.1 answer without a token, as Nova does. */
export function computeDiscovery(cloud: Cloud, ctx: RequestContext): Reply | undefined {
  if (ctx.method !== 'GET') return undefined;
  if (ctx.path.length === 0) {
    return {
      status: 200,
      json: { versions: [versionEntry(cloud, ctx.region, false), versionEntry(cloud, ctx.region, true)] },
    };
  }
  if (ctx.path.length === 1 && ctx.path[0] === 'v2.1') {
    return {
      status: 200,
      json: {
        version: {
          ...versionEntry(cloud, ctx.region, true),
          links: [
            { rel: 'self', href: `${cloud.computeUrl(ctx.region)}/` },
            { rel: 'describedby', type: 'text/html', href: 'http://docs.openstack.org/' },
          ],
          'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' }],
        },
      },
    };
  }
  return undefined;
}
