// Neutron v2.0, read-only and networks only: what a client needs to turn a network name into the uuid Nova
// wants. The networks come from the `networks` knob; every project sees all of them, as shared and external
// networks are seen.
import type { Cloud } from './cloud.ts';
import type { Reply, RequestContext } from './http.ts';
import { HttpError } from './http.ts';
import { AVAILABILITY_ZONE } from './cloud.ts';
import type { Operation } from './knobs.ts';
import type { NetworkKnob } from './knobs.ts';

/** The service project that owns the networks (an administrator made them). */
const NETWORK_OWNER = '0b1d3f5a7c9e4b2d8f6a4c2e0a1b3c5d';
const CREATED = '2024-01-01T00:00:00Z';

export function networkDiscovery(cloud: Cloud, ctx: RequestContext): Reply | undefined {
  if (ctx.method !== 'GET' || ctx.path.length !== 0) return undefined;
  return {
    status: 200,
    json: {
      versions: [
        { id: 'v2.0', status: 'CURRENT', links: [{ href: `${cloud.networkUrl(ctx.region)}/v2.0/`, rel: 'self' }] },
      ],
    },
  };
}

export function networkOperation(ctx: RequestContext): Operation | undefined {
  return ctx.path[0] === 'v2.0' && ctx.path[1] === 'networks' ? 'network.list' : undefined;
}

export function renderNetwork(n: NetworkKnob): Record<string, unknown> {
  return {
    id: n.id,
    name: n.name,
    status: 'ACTIVE',
    admin_state_up: true,
    shared: !n.external,
    'router:external': n.external,
    subnets: [],
    tenant_id: NETWORK_OWNER,
    project_id: NETWORK_OWNER,
    mtu: 1500,
    availability_zone_hints: [],
    availability_zones: [AVAILABILITY_ZONE],
    ipv4_address_scope: null,
    ipv6_address_scope: null,
    port_security_enabled: true,
    description: '',
    tags: [],
    created_at: CREATED,
    updated_at: CREATED,
    revision_number: 1,
  };
}

function notFound(type: string, message: string): HttpError {
  return new HttpError(404, message, {}, { type });
}

/** Routes under /<region>/network. */
export function network(cloud: Cloud, ctx: RequestContext): Reply {
  const [v, coll, id, ...extra] = ctx.path;
  if (v !== 'v2.0' || extra.length > 0) throw notFound('HTTPNotFound', 'The resource could not be found.');
  if (coll !== 'networks') throw notFound('HTTPNotFound', 'The resource could not be found.');
  if (ctx.method !== 'GET') {
    throw new HttpError(
      405,
      'The simulated Neutron is read-only: networks come from the networks knob.',
      {},
      {
        type: 'HTTPMethodNotAllowed',
      },
    );
  }
  const fields = ctx.url.searchParams.getAll('fields');
  const shape = (n: NetworkKnob) => {
    const full = renderNetwork(n);
    return fields.length === 0 ? full : Object.fromEntries(Object.entries(full).filter(([k]) => fields.includes(k)));
  };
  if (id !== undefined) {
    const n = cloud.knobs.networks.find((x) => x.id === id);
    if (!n) throw notFound('NetworkNotFound', `Network ${id} could not be found.`);
    return { status: 200, json: { network: shape(n) } };
  }
  // Neutron filters on any attribute by equality; a repeated parameter matches any of its values.
  const filters = new Map<string, string[]>();
  for (const [k, val] of ctx.url.searchParams) {
    if (k === 'fields' || k === 'limit' || k === 'marker' || k === 'sort_key' || k === 'sort_dir') continue;
    filters.set(k, [...(filters.get(k) ?? []), val]);
  }
  const networks = cloud.knobs.networks.filter((n) => {
    const doc = renderNetwork(n);
    return [...filters].every(([k, vals]) => k in doc && vals.includes(String(doc[k])));
  });
  return { status: 200, json: { networks: networks.map(shape) } };
}
