// Nova v2.1 subset: version discovery, servers (create/get/list/delete, metadata, createImage and console
// output actions), flavors, limits and availability zones, shaped by the request's microversion.
import type { Cloud, Flavor } from './cloud.ts';
import { AVAILABILITY_ZONE, FLAVORS, USER } from './cloud.ts';
import type { Reply, RequestContext } from './http.ts';
import type { Operation } from './knobs.ts';
import { HttpError, isObject, isoSeconds, readJson } from './http.ts';
import { generateHostKey } from './ssh.ts';
import type { ImageRecord, ServerRecord, TokenRecord } from './state.ts';

export const MIN_MICROVERSION: [number, number] = [2, 1];
export const MAX_MICROVERSION: [number, number] = [2, 104];
const MAX_LIMIT = 1000;
const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const META_KEY_RE = /^[a-zA-Z0-9-_:. ]{1,255}$/;

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

function invalid(field: string, value: unknown, reason: string): HttpError {
  return new HttpError(400, `Invalid input for field/attribute ${field}. Value: ${JSON.stringify(value)}. ${reason}`);
}

function notFound(id: string): HttpError {
  return new HttpError(404, `Instance ${id} could not be found.`);
}

function flavorById(ref: string): Flavor | undefined {
  const id = ref.split('/').pop() ?? ref;
  return FLAVORS.find((f) => f.id === id);
}

function projectServers(cloud: Cloud, token: TokenRecord, region: string): ServerRecord[] {
  return Object.values(cloud.state.servers).filter(
    (s) => s.region === region && s.projectId === token.projectId && s.status !== 'DELETED',
  );
}

function usage(cloud: Cloud, token: TokenRecord, region: string) {
  const servers = projectServers(cloud, token, region);
  let cores = 0;
  let ram = 0;
  for (const s of servers) {
    const f = flavorById(s.flavorId);
    cores += f?.vcpus ?? 0;
    ram += f?.ram ?? 0;
  }
  return { instances: servers.length, cores, ram };
}

function checkMetadata(cloud: Cloud, metadata: unknown, field: string): Record<string, string> {
  if (!isObject(metadata)) throw invalid(field, metadata, `${JSON.stringify(metadata)} is not of type 'object'`);
  for (const [k, v] of Object.entries(metadata)) {
    if (!META_KEY_RE.test(k)) throw invalid(field, metadata, `'${k}' does not match any of the regexes`);
    if (typeof v !== 'string') throw invalid(`${field}/${k}`, v, `${JSON.stringify(v)} is not of type 'string'`);
    if (v.length > 255) throw invalid(`${field}/${k}`, v, `'${v}' is too long`);
  }
  const max = cloud.knobs.quota.metadataItems;
  if (max >= 0 && Object.keys(metadata).length > max) {
    throw new HttpError(403, `Maximum number of metadata items exceeds ${max}`);
  }
  return metadata as Record<string, string>;
}

const CREATE_KEYS = new Set([
  'name',
  'imageRef',
  'flavorRef',
  'metadata',
  'min_count',
  'max_count',
  'networks',
  'key_name',
  'user_data',
  'security_groups',
  'availability_zone',
  'config_drive',
  'block_device_mapping',
  'block_device_mapping_v2',
  'description',
  'hostname',
  'tags',
  'trusted_image_certificates',
  'host',
  'hypervisor_hostname',
  'OS-DCF:diskConfig',
  'adminPass',
  'accessIPv4',
  'accessIPv6',
  'personality',
  'return_reservation_id',
]);

async function createServer(cloud: Cloud, ctx: RequestContext, token: TokenRecord): Promise<Reply> {
  const body = await readJson(ctx.req, 'compute');
  if (!isObject(body) || !isObject(body.server)) {
    throw invalid('root', body, "'server' is a required property");
  }
  const s = body.server;
  for (const key of Object.keys(s)) {
    if (!CREATE_KEYS.has(key)) {
      throw invalid('server', s, `Additional properties are not allowed ('${key}' was unexpected)`);
    }
  }
  if (typeof s.name !== 'string' || s.name.length < 1 || s.name.length > 255 || s.name.trim() !== s.name) {
    throw invalid('name', s.name, 'name must be a string of 1 to 255 characters without leading or trailing spaces');
  }
  if (typeof s.flavorRef !== 'string' && typeof s.flavorRef !== 'number') {
    throw invalid('flavorRef', s.flavorRef, "'flavorRef' is a required property");
  }
  const flavor = flavorById(String(s.flavorRef));
  if (!flavor) throw new HttpError(400, `Flavor ${String(s.flavorRef)} could not be found.`);
  if (typeof s.imageRef !== 'string' || s.imageRef === '') {
    throw new HttpError(400, 'Block Device Mapping is Invalid: You specified more local devices than the limit allows');
  }
  const imageId = s.imageRef.split('/').pop() ?? '';
  if (!UUID_RE.test(imageId)) throw invalid('imageRef', s.imageRef, `'${s.imageRef}' is not a 'uuid'`);
  const image: ImageRecord | undefined = cloud.state.images[imageId];
  if (!image || image.region !== ctx.region) throw new HttpError(400, 'Can not find requested image');
  if (image.status !== 'active') throw new HttpError(400, `Image ${imageId} is not active.`);
  if (atLeast(ctx, 37)) {
    if (s.networks === undefined) throw invalid('server', s, "'networks' is a required property");
  }
  if (s.networks !== undefined) {
    const ok =
      (atLeast(ctx, 37) && (s.networks === 'auto' || s.networks === 'none')) ||
      (Array.isArray(s.networks) && s.networks.every((n) => isObject(n)));
    if (!ok) throw invalid('networks', s.networks, `${JSON.stringify(s.networks)} is not of type 'array'`);
  }
  const metadata = s.metadata === undefined ? {} : checkMetadata(cloud, s.metadata, 'metadata');
  if (s.key_name !== undefined && (typeof s.key_name !== 'string' || s.key_name === '')) {
    throw new HttpError(400, 'Invalid key_name provided.');
  }
  if (s.availability_zone !== undefined && s.availability_zone !== AVAILABILITY_ZONE) {
    throw new HttpError(400, 'The requested availability zone is not available');
  }
  if (s.user_data !== undefined) {
    if (typeof s.user_data !== 'string' || !/^[A-Za-z0-9+/=\s]*$/.test(s.user_data) || s.user_data.length > 65535) {
      throw invalid('user_data', s.user_data, 'user_data must be Base64 of at most 65535 bytes');
    }
  }
  let securityGroups = ['default'];
  if (s.security_groups !== undefined) {
    if (
      !Array.isArray(s.security_groups) ||
      !s.security_groups.every((g) => isObject(g) && typeof g.name === 'string')
    ) {
      throw invalid('security_groups', s.security_groups, 'expected a list of {"name": …}');
    }
    securityGroups = s.security_groups.map((g) => String((g as { name: string }).name));
  }
  const tags = Array.isArray(s.tags) && atLeast(ctx, 52) ? s.tags.map(String) : [];

  const q = cloud.knobs.quota;
  const used = usage(cloud, token, ctx.region);
  const checks: Array<[string, number, number, number]> = [
    ['instances', 1, used.instances, q.instances],
    ['cores', flavor.vcpus, used.cores, q.cores],
    ['ram', flavor.ram, used.ram, q.ramMB],
  ];
  const overs = checks.filter(([, req, u, allowed]) => allowed >= 0 && u + req > allowed);
  if (overs.length > 0) {
    const j = (i: 0 | 1 | 2 | 3) => overs.map((o) => String(o[i])).join(', ');
    throw new HttpError(
      403,
      `Quota exceeded for ${j(0)}: Requested ${j(1)}, but already used ${j(2)} of ${j(3)} ${j(0)}`,
    );
  }

  const now = Date.now();
  const id = cloud.uuid();
  const draw = cloud.bootDraw();
  const key = generateHostKey();
  const server: ServerRecord = {
    id,
    seq: cloud.store.nextSeq(),
    region: ctx.region,
    name: s.name,
    projectId: token.projectId ?? '',
    userId: USER.id,
    flavorId: flavor.id,
    imageId,
    metadata,
    status: 'BUILD',
    vmState: 'building',
    taskState: 'scheduling',
    powerState: 0,
    fate: draw.error ? 'ERROR' : 'ACTIVE',
    readyAt: now + draw.seconds * 1000,
    created: isoSeconds(now),
    updated: isoSeconds(now),
    launchedAt: null,
    terminatedAt: null,
    address: '',
    mac: `fa:16:3e:${cloud.randomHex(6).replace(/(..)(?!$)/g, '$1:')}`,
    hostKeyPrivate: key.privateKey,
    hostKeyPublic: key.publicKey,
    availabilityZone: AVAILABILITY_ZONE,
    keyName: typeof s.key_name === 'string' ? s.key_name : null,
    adminPass: cloud.randomHex(12),
    securityGroups,
    configDrive: s.config_drive === true || s.config_drive === 'True' ? 'True' : '',
    description: typeof s.description === 'string' ? s.description : null,
    tags,
    deleting: false,
  };
  server.address = await cloud.ssh.bind(id, key.privateKey, cloud.nextLoopbackAddress(), () =>
    cloud.nextLoopbackAddress(),
  );
  cloud.state.servers[id] = server;
  cloud.save();
  cloud.advance();
  const url = `${cloud.computeUrl(ctx.region)}/servers/${id}`;
  return {
    status: 202,
    headers: { Location: url },
    json: {
      server: {
        id,
        links: serverLinks(cloud, ctx.region, id),
        'OS-DCF:diskConfig': 'MANUAL',
        security_groups: securityGroups.map((name) => ({ name })),
        adminPass: server.adminPass,
      },
    },
  };
}

function serverLinks(cloud: Cloud, region: string, id: string) {
  return [
    { rel: 'self', href: `${cloud.computeUrl(region)}/servers/${id}` },
    { rel: 'bookmark', href: `${cloud.baseUrl}/${region}/compute/servers/${id}` },
  ];
}

const PROGRESS_STATUSES = new Set(['ACTIVE', 'BUILD', 'REBUILD', 'RESIZE', 'VERIFY_RESIZE', 'MIGRATING']);

export function renderServer(cloud: Cloud, ctx: RequestContext, s: ServerRecord): Record<string, unknown> {
  const flavor = flavorById(s.flavorId) ?? FLAVORS[0]!;
  const root = `${cloud.baseUrl}/${s.region}/compute`;
  const visibleAddresses = s.status !== 'BUILD' && s.status !== 'DELETED';
  const out: Record<string, unknown> = {
    id: s.id,
    name: s.name,
    status: s.status,
    tenant_id: s.projectId,
    user_id: s.userId,
    metadata: s.metadata,
    hostId: s.status === 'BUILD' ? '' : `${s.id.replace(/-/g, '').slice(0, 28)}${'0'.repeat(28)}`.slice(0, 56),
    image: { id: s.imageId, links: [{ rel: 'bookmark', href: `${root}/images/${s.imageId}` }] },
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
          private: [{ version: 4, addr: s.address, 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': s.mac }],
        }
      : {},
    accessIPv4: s.status === 'ACTIVE' ? s.address : '',
    accessIPv6: '',
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
    'os-extended-volumes:volumes_attached': [],
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
  return out;
}

function liveServer(cloud: Cloud, ctx: RequestContext, token: TokenRecord, id: string): ServerRecord {
  const s = cloud.state.servers[id];
  if (!s || s.status === 'DELETED' || s.region !== ctx.region || s.projectId !== token.projectId) throw notFound(id);
  return s;
}

function intParam(ctx: RequestContext, name: string): number | undefined {
  const raw = ctx.url.searchParams.get(name);
  if (raw === null) return undefined;
  if (!/^\d+$/.test(raw)) {
    throw new HttpError(
      400,
      `Invalid input for query parameters ${name}. Value: ${raw}. '${raw}' is not a valid integer`,
    );
  }
  return Number(raw);
}

function listServers(cloud: Cloud, ctx: RequestContext, token: TokenRecord, detail: boolean): Reply {
  const p = ctx.url.searchParams;
  const changesSince = p.get('changes-since') ?? p.get('changes_since');
  let since: number | undefined;
  if (changesSince !== null) {
    since = Date.parse(changesSince);
    if (Number.isNaN(since)) {
      throw new HttpError(
        400,
        `Invalid input for query parameters changes-since. Value: ${changesSince}. '${changesSince}' is not a 'date-time'`,
      );
    }
  }
  let servers = Object.values(cloud.state.servers).filter(
    (s) =>
      s.region === ctx.region &&
      s.projectId === token.projectId &&
      (since === undefined ? s.status !== 'DELETED' : Date.parse(s.updated) >= since - 999),
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
  const marker = p.get('marker');
  if (marker !== null) {
    const at = servers.findIndex((s) => s.id === marker);
    if (at < 0) throw new HttpError(400, `marker [${marker}] not found`);
    servers = servers.slice(at + 1);
  }
  const requested = intParam(ctx, 'limit');
  const limit = Math.min(requested ?? MAX_LIMIT, MAX_LIMIT);
  const page = servers.slice(0, limit);
  const json: Record<string, unknown> = {
    servers: page.map((s) =>
      detail ? renderServer(cloud, ctx, s) : { id: s.id, name: s.name, links: serverLinks(cloud, s.region, s.id) },
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

async function deleteServer(cloud: Cloud, s: ServerRecord): Promise<Reply> {
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
  cloud.save();
  await cloud.ssh.release(s.id);
  return { status: 204 };
}

async function serverMetadata(cloud: Cloud, ctx: RequestContext, s: ServerRecord, key?: string): Promise<Reply> {
  if (key === undefined) {
    if (ctx.method === 'GET') return { status: 200, json: { metadata: s.metadata } };
    if (ctx.method === 'POST' || ctx.method === 'PUT') {
      const body = await readJson(ctx.req, 'compute');
      if (!isObject(body)) throw invalid('root', body, "'metadata' is a required property");
      const incoming = checkMetadata(cloud, body.metadata, 'metadata');
      const merged = ctx.method === 'POST' ? { ...s.metadata, ...incoming } : incoming;
      s.metadata = checkMetadata(cloud, merged, 'metadata');
      s.updated = isoSeconds(Date.now());
      cloud.save();
      return { status: 200, json: { metadata: s.metadata } };
    }
    throw new HttpError(405, 'The method is not allowed for the requested URL.');
  }
  if (ctx.method === 'GET') {
    const value = s.metadata[key];
    if (value === undefined) throw new HttpError(404, 'Metadata item was not found');
    return { status: 200, json: { meta: { [key]: value } } };
  }
  if (ctx.method === 'PUT') {
    const body = await readJson(ctx.req, 'compute');
    if (!isObject(body) || !isObject(body.meta) || Object.keys(body.meta).length !== 1) {
      throw invalid('meta', isObject(body) ? body.meta : body, 'meta must hold exactly one item');
    }
    if (!(key in body.meta)) throw new HttpError(400, 'Request body and URI mismatch');
    const merged = checkMetadata(cloud, { ...s.metadata, ...body.meta }, 'meta');
    s.metadata = merged;
    s.updated = isoSeconds(Date.now());
    cloud.save();
    return { status: 200, json: { meta: { [key]: merged[key] } } };
  }
  if (ctx.method === 'DELETE') {
    if (!(key in s.metadata)) throw new HttpError(404, 'Metadata item was not found');
    delete s.metadata[key];
    s.updated = isoSeconds(Date.now());
    cloud.save();
    return { status: 204 };
  }
  throw new HttpError(405, 'The method is not allowed for the requested URL.');
}

async function serverAction(cloud: Cloud, ctx: RequestContext, s: ServerRecord): Promise<Reply> {
  const body = await readJson(ctx.req, 'compute');
  if (!isObject(body) || Object.keys(body).length !== 1) {
    throw new HttpError(400, 'There is no such action: ' + (isObject(body) ? Object.keys(body).join(',') : ''));
  }
  const [action, args] = Object.entries(body)[0]!;
  if (action === 'createImage') return createImage(cloud, ctx, s, args);
  if (action === 'os-getConsoleOutput') {
    if (s.status !== 'ACTIVE') {
      throw new HttpError(409, `Cannot 'get_console_output' instance ${s.id} while it is in vm_state ${s.vmState}`);
    }
    const output =
      `[    0.000000] Linux version 6.1.0 (nodepool simulator)\n` +
      `ci-info: ++++++++++++++++ Net device info ++++++++++++++++\n` +
      `ci-info: | eth0 | True | ${s.address} | 255.0.0.0 | global | ${s.mac} |\n` +
      `-----BEGIN SSH HOST KEY KEYS-----\n${s.hostKeyPublic.split(' ').slice(0, 2).join(' ')} root@${s.name}\n` +
      `-----END SSH HOST KEY KEYS-----\n` +
      `Cloud-init v. 23.4 finished. Datasource DataSourceOpenStackLocal.\n`;
    const length = isObject(args) && typeof args.length === 'number' ? args.length : undefined;
    const lines = output.split('\n');
    return {
      status: 200,
      json: { output: length === undefined ? output : lines.slice(-length - 1).join('\n') },
    };
  }
  throw new HttpError(400, `There is no such action: ${action}`);
}

function createImage(cloud: Cloud, ctx: RequestContext, s: ServerRecord, args: unknown): Reply {
  if (!isObject(args) || typeof args.name !== 'string' || args.name.length < 1 || args.name.length > 255) {
    throw invalid('name', isObject(args) ? args.name : args, "'name' is a required property");
  }
  const metadata = args.metadata === undefined ? {} : checkMetadata(cloud, args.metadata, 'metadata');
  if (!['ACTIVE', 'SHUTOFF', 'SUSPENDED', 'PAUSED'].includes(s.status) || s.taskState !== null) {
    const what = s.taskState !== null ? `task_state ${s.taskState}` : `vm_state ${s.vmState}`;
    throw new HttpError(409, `Cannot 'createImage' instance ${s.id} while it is in ${what}`);
  }
  const now = Date.now();
  const { min, max } = cloud.knobs.bootSeconds;
  const seconds = cloud.bootDraw().seconds || (min + max) / 2;
  const id = cloud.uuid();
  const source = cloud.state.images[s.imageId];
  const image: ImageRecord = {
    id,
    seq: cloud.store.nextSeq(),
    region: s.region,
    name: args.name,
    status: 'queued',
    visibility: 'private',
    protected: false,
    osHidden: false,
    owner: s.projectId,
    checksum: null,
    osHashAlgo: null,
    osHashValue: null,
    size: null,
    virtualSize: null,
    minDisk: FLAVORS.find((f) => f.id === s.flavorId)?.disk ?? 0,
    minRam: 0,
    diskFormat: null,
    containerFormat: null,
    tags: [],
    properties: {
      ...(source ? Object.fromEntries(Object.entries(source.properties).filter(([k]) => !k.startsWith('owner_'))) : {}),
      ...metadata,
      instance_uuid: s.id,
      user_id: s.userId,
      image_type: 'snapshot',
      base_image_ref: s.imageId,
      image_location: 'snapshot',
      image_state: 'available',
      owner_project_name: 'nodepool',
      owner_user_name: 'nodepool',
    },
    createdAt: isoSeconds(now),
    updatedAt: isoSeconds(now),
    savingAt: now + (seconds * 1000) / 3,
    activeAt: now + seconds * 1000,
  };
  cloud.state.images[id] = image;
  s.taskState = 'image_uploading';
  s.updated = isoSeconds(now);
  cloud.save();
  cloud.advance();
  if (atLeast(ctx, 45)) return { status: 202, json: { image_id: id } };
  return { status: 202, headers: { Location: `${cloud.imageUrl(s.region)}/v2/images/${id}` } };
}

function renderFlavor(cloud: Cloud, ctx: RequestContext, f: Flavor, detail: boolean): Record<string, unknown> {
  const links = [
    { rel: 'self', href: `${cloud.computeUrl(ctx.region)}/flavors/${f.id}` },
    { rel: 'bookmark', href: `${cloud.baseUrl}/${ctx.region}/compute/flavors/${f.id}` },
  ];
  const out: Record<string, unknown> = { id: f.id, name: f.name, links };
  if (detail) {
    Object.assign(out, {
      ram: f.ram,
      vcpus: f.vcpus,
      disk: f.disk,
      'OS-FLV-EXT-DATA:ephemeral': 0,
      swap: atLeast(ctx, 75) ? 0 : '',
      rxtx_factor: 1.0,
      'os-flavor-access:is_public': true,
      'OS-FLV-DISABLED:disabled': false,
    });
  }
  if (atLeast(ctx, 55)) out.description = null;
  if (detail && atLeast(ctx, 61)) out.extra_specs = {};
  return out;
}

function listFlavors(cloud: Cloud, ctx: RequestContext, detail: boolean): Reply {
  const minRam = intParam(ctx, 'minRam') ?? 0;
  const minDisk = intParam(ctx, 'minDisk') ?? 0;
  let flavors = FLAVORS.filter((f) => f.ram >= minRam && f.disk >= minDisk);
  const marker = ctx.url.searchParams.get('marker');
  if (marker !== null) {
    const at = flavors.findIndex((f) => f.id === marker);
    if (at < 0) throw new HttpError(400, `marker [${marker}] not found`);
    flavors = flavors.slice(at + 1);
  }
  const limit = Math.min(intParam(ctx, 'limit') ?? MAX_LIMIT, MAX_LIMIT);
  const page = flavors.slice(0, limit);
  const json: Record<string, unknown> = { flavors: page.map((f) => renderFlavor(cloud, ctx, f, detail)) };
  const last = page[page.length - 1];
  if (page.length === limit && last !== undefined) {
    const next = new URLSearchParams(ctx.url.searchParams);
    next.set('marker', last.id);
    json.flavors_links = [
      {
        rel: 'next',
        href: `${cloud.computeUrl(ctx.region)}/flavors${detail ? '/detail' : ''}?${next.toString()}`,
      },
    ];
  }
  return { status: 200, json };
}

function limits(cloud: Cloud, ctx: RequestContext, token: TokenRecord): Reply {
  const q = cloud.knobs.quota;
  const used = usage(cloud, token, ctx.region);
  const absolute: Record<string, number> = {
    maxTotalInstances: q.instances,
    totalInstancesUsed: used.instances,
    maxTotalCores: q.cores,
    totalCoresUsed: used.cores,
    maxTotalRAMSize: q.ramMB,
    totalRAMUsed: used.ram,
    maxServerMeta: q.metadataItems,
    maxTotalKeypairs: 100,
    maxServerGroups: 10,
    maxServerGroupMembers: 10,
    totalServerGroupsUsed: 0,
  };
  if (!atLeast(ctx, 36)) {
    Object.assign(absolute, {
      maxSecurityGroups: 10,
      maxSecurityGroupRules: 20,
      maxTotalFloatingIps: 10,
      totalSecurityGroupsUsed: 0,
      totalFloatingIpsUsed: 0,
    });
  }
  if (!atLeast(ctx, 39)) absolute.maxImageMeta = 128;
  if (!atLeast(ctx, 57)) Object.assign(absolute, { maxPersonality: 5, maxPersonalitySize: 10240 });
  return { status: 200, json: { limits: { absolute, rate: [] } } };
}

/** Which fault-injection operation a compute request counts as (see knobs.ts). */
export function computeOperation(ctx: RequestContext): Operation | undefined {
  const [v, coll, id, sub] = ctx.path;
  if (v !== 'v2.1') return undefined;
  if (coll === 'servers') {
    if (id === undefined) return ctx.method === 'POST' ? 'server.create' : 'server.list';
    if (id === 'detail') return 'server.list';
    if (sub === 'action') return 'server.action';
    if (sub === 'metadata') return ctx.method === 'GET' ? 'server.get' : 'server.action';
    return ctx.method === 'DELETE' ? 'server.delete' : 'server.get';
  }
  if (coll === 'flavors') return 'flavor.list';
  if (coll === 'limits') return 'limits.get';
  return undefined;
}

/** Authenticated routes under /<region>/compute/v2.1. */
export async function compute(cloud: Cloud, ctx: RequestContext, token: TokenRecord): Promise<Reply> {
  if (token.projectId === undefined) {
    throw new HttpError(403, 'Policy does not allow this operation: a project-scoped token is required.');
  }
  const [, coll, id, sub, key, ...extra] = ctx.path;
  const m = ctx.method;
  if (extra.length > 0) throw new HttpError(404, 'The resource could not be found.');
  if (coll === 'servers') {
    if (id === undefined) {
      if (m === 'POST') return createServer(cloud, ctx, token);
      if (m === 'GET') return listServers(cloud, ctx, token, false);
    } else if (id === 'detail' && sub === undefined) {
      if (m === 'GET') return listServers(cloud, ctx, token, true);
    } else {
      const s = liveServer(cloud, ctx, token, id);
      if (sub === undefined) {
        if (m === 'GET') return { status: 200, json: { server: renderServer(cloud, ctx, s) } };
        if (m === 'DELETE') return deleteServer(cloud, s);
      } else if (sub === 'metadata') {
        return serverMetadata(cloud, ctx, s, key === undefined ? undefined : decodeURIComponent(key));
      } else if (sub === 'action' && key === undefined) {
        if (m === 'POST') return serverAction(cloud, ctx, s);
      } else {
        throw new HttpError(404, 'The resource could not be found.');
      }
    }
    throw new HttpError(405, 'The method is not allowed for the requested URL.');
  }
  if (coll === 'flavors' && m === 'GET') {
    if (id === undefined) return listFlavors(cloud, ctx, false);
    if (id === 'detail' && sub === undefined) return listFlavors(cloud, ctx, true);
    const f = FLAVORS.find((x) => x.id === id);
    if (!f) throw new HttpError(404, `Flavor ${id} could not be found.`);
    if (sub === undefined) return { status: 200, json: { flavor: renderFlavor(cloud, ctx, f, true) } };
    if (sub === 'os-extra-specs' && key === undefined) return { status: 200, json: { extra_specs: {} } };
  }
  if (coll === 'limits' && id === undefined && m === 'GET') return limits(cloud, ctx, token);
  if (coll === 'os-availability-zone' && m === 'GET' && id === undefined) {
    return {
      status: 200,
      json: {
        availabilityZoneInfo: [{ zoneName: AVAILABILITY_ZONE, zoneState: { available: true }, hosts: null }],
      },
    };
  }
  throw new HttpError(404, 'The resource could not be found.');
}
