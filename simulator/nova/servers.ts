// How Nova shows servers (the server document per microversion, list filters and paging) and how it
// finds and deletes one; creation lives in server-create.ts.
import type { Cloud } from '../cloud.ts';
import { FLAVORS } from '../cloud.ts';
import type { Reply, RequestContext } from '../http.ts';
import { HttpError, isObject, isoSeconds, readJson } from '../http.ts';
import { accessIp, checkServerName, invalid } from './validation.ts';
import type { ServerRecord, TokenRecord } from '../state.ts';
import { flavorById } from './flavors.ts';
import { atLeast } from './microversion.ts';
import { afterMarker, pageLimit } from './paging.ts';

/** What Nova's date-time format accepts: ISO 8601 dates with an optional time and offset, nothing looser. */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$/;

/** Epoch ms of an ISO 8601 date-time; a time without an offset is UTC, as in Nova. NaN when not ISO 8601. */
function parseIsoUtc(text: string): number {
  const m = ISO_8601.exec(text);
  if (!m) return NaN;
  if (m[1] === undefined) return Date.parse(`${text}T00:00:00Z`);
  const t = text.replace(' ', 'T');
  return Date.parse(m[4] === undefined ? `${t}Z` : t);
}

const PROGRESS_STATUSES = new Set(['ACTIVE', 'BUILD', 'REBUILD', 'RESIZE', 'VERIFY_RESIZE', 'MIGRATING']);

export function serverLinks(cloud: Cloud, region: string, id: string) {
  return [
    { rel: 'self', href: `${cloud.computeUrl(region)}/servers/${id}` },
    { rel: 'bookmark', href: `${cloud.baseUrl}/${region}/compute/servers/${id}` },
  ];
}

/** Where the server's one address shows: its first network, by name ('private' for servers from older states). */
function addressNetwork(cloud: Cloud, s: ServerRecord): string | undefined {
  if (s.networks === undefined) return 'private';
  const first = s.networks[0];
  if (first === undefined) return undefined;
  return cloud.knobs.networks.find((n) => n.id === first)?.name ?? first;
}

/** `view`: some fields appear in show only (server_groups), others in show and detail alike. */
export function renderServer(
  cloud: Cloud,
  ctx: RequestContext,
  s: ServerRecord,
  view: 'show' | 'detail' = 'show',
): Record<string, unknown> {
  const flavor = flavorById(s.flavorId) ?? FLAVORS[0]!;
  const root = `${cloud.baseUrl}/${s.region}/compute`;
  const network = addressNetwork(cloud, s);
  const visibleAddresses = s.status !== 'BUILD' && s.status !== 'DELETED' && network !== undefined;
  const out: Record<string, unknown> = {
    id: s.id,
    name: s.name,
    status: s.status,
    tenant_id: s.projectId,
    user_id: s.userId,
    metadata: s.metadata,
    hostId: s.status === 'BUILD' ? '' : `${s.id.replace(/-/g, '').slice(0, 28)}${'0'.repeat(28)}`.slice(0, 56),
    image: s.imageId === '' ? '' : { id: s.imageId, links: [{ rel: 'bookmark', href: `${root}/images/${s.imageId}` }] },
    flavor: atLeast(ctx, 47)
      ? {
          vcpus: flavor.vcpus,
          ram: flavor.ram,
          disk: flavor.disk,
          ephemeral: 0,
          swap: 0,
          original_name: flavor.name,
          extra_specs: {},
        }
      : { id: flavor.id, links: [{ rel: 'bookmark', href: `${root}/flavors/${flavor.id}` }] },
    created: s.created,
    updated: s.updated,
    addresses: visibleAddresses
      ? {
          [network]: [{ version: 4, addr: s.address, 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': s.mac }],
        }
      : {},
    accessIPv4: s.accessIPv4 ?? '',
    accessIPv6: s.accessIPv6 ?? '',
    links: serverLinks(cloud, s.region, s.id),
    key_name: s.keyName,
    config_drive: s.configDrive,
    security_groups: s.status === 'BUILD' ? undefined : s.securityGroups.map((name) => ({ name })),
    'OS-DCF:diskConfig': 'MANUAL',
    'OS-EXT-AZ:availability_zone': s.status === 'BUILD' ? '' : s.availabilityZone,
    'OS-EXT-STS:power_state': s.powerState,
    'OS-EXT-STS:task_state': s.taskState,
    'OS-EXT-STS:vm_state': s.vmState,
    'OS-SRV-USG:launched_at': s.launchedAt,
    'OS-SRV-USG:terminated_at': s.terminatedAt,
    'os-extended-volumes:volumes_attached': (s.volumes ?? []).map((v) =>
      atLeast(ctx, 3) ? { id: v.id, delete_on_termination: v.deleteOnTermination } : { id: v.id },
    ),
  };
  if (out.security_groups === undefined) delete out.security_groups;
  if (PROGRESS_STATUSES.has(s.status)) out.progress = s.status === 'ACTIVE' ? 100 : 0;
  if (s.status === 'ERROR') {
    out.fault = {
      code: 500,
      created: s.updated,
      message: 'No valid host was found. There are not enough hosts available.',
    };
  }
  if (atLeast(ctx, 9)) out.locked = false;
  if (atLeast(ctx, 19)) out.description = s.description;
  if (atLeast(ctx, 26)) out.tags = s.tags;
  if (atLeast(ctx, 63)) out.trusted_image_certificates = null;
  if (atLeast(ctx, 73)) out.locked_reason = null;
  if (atLeast(ctx, 90)) out['OS-EXT-SRV-ATTR:hostname'] = s.name.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  if (atLeast(ctx, 96)) out.pinned_availability_zone = null;
  if (atLeast(ctx, 71) && view === 'show') out.server_groups = [];
  if (atLeast(ctx, 100)) out.scheduler_hints = s.schedulerHints ?? {};
  return out;
}

/** The caller's server in this region; deleted ones and other projects' are 404, as in Nova. */
export function liveServer(cloud: Cloud, ctx: RequestContext, token: TokenRecord, id: string): ServerRecord {
  const s = cloud.state.servers[id];
  if (!s || s.region !== ctx.region || s.projectId !== token.projectId) {
    throw new HttpError(404, `Instance ${id} could not be found.`);
  }
  return s;
}

export function listServers(cloud: Cloud, ctx: RequestContext, token: TokenRecord, detail: boolean): Reply {
  const p = ctx.url.searchParams;
  const changesSince = p.get('changes-since') ?? p.get('changes_since');
  let since: number | undefined;
  if (changesSince !== null) {
    since = parseIsoUtc(changesSince);
    if (Number.isNaN(since)) {
      throw new HttpError(
        400,
        `Invalid input for query parameters changes-since. Value: ${changesSince}. '${changesSince}' is not a 'date-time'`,
      );
    }
  }
  let candidates = Object.values(cloud.state.servers);
  if (since !== undefined) {
    if (cloud.pruneDeleted()) cloud.save();
    candidates = candidates.concat(Object.values(cloud.state.deletedServers));
  }
  let servers = candidates.filter(
    (s) =>
      s.region === ctx.region &&
      s.projectId === token.projectId &&
      (since === undefined || Date.parse(s.updated) >= since - 999),
  );
  const name = p.get('name');
  if (name !== null) {
    let re: RegExp;
    try {
      re = new RegExp(name);
    } catch {
      re = new RegExp(name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    }
    servers = servers.filter((s) => re.test(s.name));
  }
  const status = p.get('status');
  if (status !== null) servers = servers.filter((s) => s.status === status.toUpperCase());
  const image = p.get('image');
  if (image !== null) servers = servers.filter((s) => s.imageId === image.split('/').pop());
  const flavor = p.get('flavor');
  if (flavor !== null) servers = servers.filter((s) => s.flavorId === flavor.split('/').pop());
  const ip = p.get('ip');
  if (ip !== null) servers = servers.filter((s) => s.status !== 'BUILD' && s.address.includes(ip));
  if (atLeast(ctx, 83)) {
    const az = p.get('availability_zone');
    if (az !== null) servers = servers.filter((s) => s.availabilityZone === az);
    const key = p.get('key_name');
    if (key !== null) servers = servers.filter((s) => s.keyName === key);
  }
  servers.sort((a, b) => b.seq - a.seq);
  servers = afterMarker(ctx, servers);
  const limit = pageLimit(ctx);
  const page = servers.slice(0, limit);
  const json: Record<string, unknown> = {
    servers: page.map((s) =>
      detail
        ? renderServer(cloud, ctx, s, 'detail')
        : { id: s.id, name: s.name, links: serverLinks(cloud, s.region, s.id) },
    ),
  };
  const last = page[page.length - 1];
  if (page.length === limit && last !== undefined) {
    const next = new URLSearchParams(p);
    next.set('limit', String(limit));
    next.set('marker', last.id);
    const path = detail ? 'servers/detail' : 'servers';
    json.servers_links = [{ rel: 'next', href: `${cloud.computeUrl(ctx.region)}/${path}?${next.toString()}` }];
  }
  return { status: 200, json };
}

export async function deleteServer(cloud: Cloud, s: ServerRecord): Promise<Reply> {
  const now = Date.now();
  if (cloud.knobs.hangDeletes) {
    s.deleting = true;
    s.taskState = 'deleting';
    s.updated = isoSeconds(now);
    cloud.save();
    return { status: 204 };
  }
  s.status = 'DELETED';
  s.vmState = 'deleted';
  s.taskState = null;
  s.powerState = 0;
  s.terminatedAt = new Date(now).toISOString().replace('Z', '000');
  s.updated = isoSeconds(now);
  s.deletedAt = now;
  delete cloud.state.servers[s.id];
  cloud.state.deletedServers[s.id] = s;
  cloud.save();
  await cloud.ssh.discard(s.id);
  return { status: 204 };
}

/** PUT /servers/{id}: rename, set accessIPv4/v6, and (2.19) the description; answers with the server. */
export async function updateServer(cloud: Cloud, ctx: RequestContext, s: ServerRecord): Promise<Reply> {
  const body = await readJson(ctx.req, 'compute');
  if (!isObject(body) || !isObject(body.server)) throw invalid('root', body, "'server' is a required property");
  const u = body.server;
  const allowed = [
    'name',
    'accessIPv4',
    'accessIPv6',
    'OS-DCF:diskConfig',
    ...(atLeast(ctx, 19) ? ['description'] : []),
  ];
  for (const key of Object.keys(u)) {
    if (!allowed.includes(key)) {
      throw invalid('server', u, `Additional properties are not allowed ('${key}' was unexpected)`);
    }
  }
  if (u.name !== undefined) s.name = checkServerName(u.name);
  if (u.accessIPv4 !== undefined) s.accessIPv4 = accessIp(u.accessIPv4, 'accessIPv4');
  if (u.accessIPv6 !== undefined) s.accessIPv6 = accessIp(u.accessIPv6, 'accessIPv6');
  if (u.description !== undefined) {
    if (u.description !== null && (typeof u.description !== 'string' || u.description.length > 255)) {
      throw invalid('description', u.description, 'description must be a string of at most 255 characters or null');
    }
    s.description = u.description as string | null;
  }
  s.updated = isoSeconds(Date.now());
  cloud.save();
  return { status: 200, json: { server: renderServer(cloud, ctx, s) } };
}
