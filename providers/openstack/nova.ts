// Nova compute v2.1: the few calls nodepool makes, and the mapping from Nova's shapes to the adapter's.
import { Invalid, Transient } from '../errors.ts';
import type { Flavor, Quota, Server, ServerAddresses, ServerState } from '../adapter.ts';
import type { Metadata } from '../tags.ts';
import type { ServiceCall } from './http.ts';

/**
 * 2.47 embeds the flavor in the server (so quota accounting needs no flavor lookups) and includes 2.45's
 * createImage response body. It requires `networks` (2.37), which we send as "auto" when none are configured,
 * and which is what allows "none".
 */
export const NOVA_MICROVERSION = '2.47';

export const VERSION_HEADERS = {
  'OpenStack-API-Version': `compute ${NOVA_MICROVERSION}`,
  'X-OpenStack-Nova-API-Version': NOVA_MICROVERSION,
};

/** What Nova sends for one server (the parts we read). */
export interface NovaServer {
  id: string;
  name: string;
  status: string;
  metadata?: Record<string, string>;
  flavor?: { id?: string; original_name?: string; vcpus?: number; ram?: number };
  image?: { id?: string } | '';
  'os-extended-volumes:volumes_attached'?: Array<{ id?: string }>;
  addresses?: Record<string, { addr: string; version: number; 'OS-EXT-IPS:type'?: string }[]>;
  created?: string;
  fault?: { message?: string };
  'OS-EXT-AZ:availability_zone'?: string;
  'OS-EXT-STS:task_state'?: string | null;
}

export interface BlockDeviceMapping {
  boot_index: number;
  uuid: string;
  source_type: 'image';
  destination_type: 'volume';
  volume_size: number;
  delete_on_termination: boolean;
}

export interface CreateServerBody {
  name: string;
  flavorRef: string;
  /** Absent when booting from a volume made from the image (block_device_mapping_v2). */
  imageRef?: string;
  metadata: Metadata;
  networks: 'auto' | 'none' | { uuid: string }[];
  availability_zone?: string;
  user_data?: string;
  key_name?: string;
  config_drive?: boolean;
  security_groups?: { name: string }[];
  block_device_mapping_v2?: BlockDeviceMapping[];
}

/** Nova lists page by page; this follows `servers_links` until the last (possibly empty) page. */
const PAGE_SIZE = 1000;

export class NovaClient {
  readonly #call: ServiceCall;
  readonly #pageSize: number;
  constructor(call: ServiceCall, opts: { pageSize?: number } = {}) {
    this.#call = call;
    this.#pageSize = opts.pageSize ?? PAGE_SIZE;
  }

  async createServer(body: CreateServerBody): Promise<{ id: string }> {
    const res = await this.#call({
      operation: 'server.create',
      method: 'POST',
      path: '/servers',
      headers: VERSION_HEADERS,
      json: { server: body },
    });
    const id = (res.body as { server?: { id?: string } } | undefined)?.server?.id;
    if (!id)
      throw new Transient('server.create: Nova accepted the request but returned no server id', {
        operation: 'server.create',
        status: res.status,
      });
    return { id };
  }

  async getServer(id: string): Promise<NovaServer> {
    const res = await this.#call({
      operation: 'server.get',
      method: 'GET',
      path: `/servers/${encodeURIComponent(id)}`,
      headers: VERSION_HEADERS,
    });
    return (res.body as { server: NovaServer }).server;
  }

  async deleteServer(id: string): Promise<void> {
    await this.#call({ operation: 'server.delete', method: 'DELETE', path: `/servers/${encodeURIComponent(id)}` });
  }

  /** Every server matching `filters` (Nova's `name` filter is a regular expression), all pages. */
  async listServers(filters: Record<string, string> = {}): Promise<NovaServer[]> {
    const out: NovaServer[] = [];
    let query = new URLSearchParams({ ...filters, limit: String(this.#pageSize) });
    const seenMarkers = new Set<string>();
    for (;;) {
      const res = await this.#call({
        operation: 'server.list',
        method: 'GET',
        path: '/servers/detail',
        query,
        headers: VERSION_HEADERS,
      });
      const body = res.body as { servers?: NovaServer[]; servers_links?: { rel: string; href: string }[] };
      const page = body.servers ?? [];
      out.push(...page);
      const next = body.servers_links?.find((l) => l.rel === 'next');
      if (!next || page.length === 0) return out;
      // Only the query of the next link is used: its host may be an internal name behind a proxy.
      query = new URL(next.href, 'http://placeholder').searchParams;
      const marker = query.get('marker') ?? '';
      if (seenMarkers.has(marker)) {
        throw new Transient(`server.list: Nova returned the same page marker twice (${marker})`, {
          operation: 'server.list',
        });
      }
      seenMarkers.add(marker);
    }
  }

  async listFlavors(): Promise<Flavor[]> {
    const res = await this.#call({
      operation: 'flavor.list',
      method: 'GET',
      path: '/flavors/detail',
      headers: VERSION_HEADERS,
    });
    const flavors = (res.body as { flavors?: Record<string, unknown>[] }).flavors ?? [];
    return flavors.map((f) => ({
      id: String(f.id),
      name: String(f.name),
      vcpus: Number(f.vcpus),
      ramMB: Number(f.ram),
      diskGB: Number(f.disk),
    }));
  }

  async getQuota(): Promise<Quota> {
    const res = await this.#call({ operation: 'limits.get', method: 'GET', path: '/limits', headers: VERSION_HEADERS });
    const abs = (res.body as { limits?: { absolute?: Record<string, number> } }).limits?.absolute;
    if (!abs) throw new Transient('limits.get: Nova answered without limits.absolute', { operation: 'limits.get' });
    const limit = (v: number | undefined): number | null => (v === undefined || v < 0 ? null : v);
    return {
      limits: {
        instances: limit(abs.maxTotalInstances),
        cores: limit(abs.maxTotalCores),
        ramMB: limit(abs.maxTotalRAMSize),
        metadataItems: limit(abs.maxServerMeta),
      },
      usage: {
        instances: abs.totalInstancesUsed ?? 0,
        cores: abs.totalCoresUsed ?? 0,
        ramMB: abs.totalRAMUsed ?? 0,
      },
    };
  }

  /** The os-getConsoleOutput action: the server's console log, its last `length` lines when given. */
  async consoleOutput(serverId: string, length?: number): Promise<string> {
    const res = await this.#call({
      operation: 'server.action',
      method: 'POST',
      path: `/servers/${encodeURIComponent(serverId)}/action`,
      headers: VERSION_HEADERS,
      json: { 'os-getConsoleOutput': length === undefined ? {} : { length } },
    });
    return (res.body as { output?: string } | undefined)?.output ?? '';
  }

  /** The createImage action; returns the new Glance image ID. */
  async createImage(serverId: string, name: string, metadata: Metadata): Promise<string> {
    const res = await this.#call({
      operation: 'server.action',
      method: 'POST',
      path: `/servers/${encodeURIComponent(serverId)}/action`,
      headers: VERSION_HEADERS,
      json: { createImage: { name, metadata } },
    });
    const fromBody = (res.body as { image_id?: string } | undefined)?.image_id;
    // Before 2.45 (a cloud that caps our microversion) the ID is only in the Location header.
    const fromLocation = res.headers.get('location')?.split('/').pop();
    const id = fromBody ?? fromLocation;
    if (!id)
      throw new Invalid('server.action: createImage returned neither image_id nor Location', {
        operation: 'server.action',
        status: res.status,
      });
    return id;
  }
}

const STATES: Record<string, ServerState> = {
  BUILD: 'building',
  ACTIVE: 'active',
  ERROR: 'error',
  DELETED: 'deleted',
  SOFT_DELETED: 'deleted',
};

export function toServer(s: NovaServer): Server {
  const state: ServerState = s['OS-EXT-STS:task_state'] === 'deleting' ? 'deleting' : (STATES[s.status] ?? 'other');
  const server: Server = {
    id: s.id,
    name: s.name,
    state,
    rawStatus: s.status,
    metadata: { ...(s.metadata ?? {}) },
    flavor: {
      id: s.flavor?.id,
      name: s.flavor?.original_name,
      vcpus: s.flavor?.vcpus,
      ramMB: s.flavor?.ram,
    },
    addresses: toAddresses(s.addresses ?? {}),
  };
  if (s.image && typeof s.image === 'object' && s.image.id) server.imageId = s.image.id;
  const volumes = (s['os-extended-volumes:volumes_attached'] ?? []).map((v) => v.id).filter((id) => id !== undefined);
  if (volumes.length > 0) server.volumes = volumes;
  if (s['OS-EXT-AZ:availability_zone']) server.availabilityZone = s['OS-EXT-AZ:availability_zone'];
  if (s.created) server.created = s.created;
  if (s.fault?.message) server.fault = s.fault.message;
  return server;
}

/**
 * Nova does not say which network is "public" (that needs Neutron's router:external), so: a floating IP is
 * public; a fixed IPv4 outside the private ranges is public; a fixed private IPv4 is private; global IPv6 is public.
 */
export function toAddresses(addresses: NonNullable<NovaServer['addresses']>): ServerAddresses {
  const out: ServerAddresses = {};
  for (const entries of Object.values(addresses)) {
    for (const a of entries) {
      if (a.version === 6) {
        if (!/^fe80:/i.test(a.addr)) out.publicIpv6 ??= a.addr;
      } else if (a['OS-EXT-IPS:type'] === 'floating' || !isPrivateIpv4(a.addr)) {
        out.publicIpv4 ??= a.addr;
      } else {
        out.privateIpv4 ??= a.addr;
      }
    }
  }
  return out;
}

function isPrivateIpv4(addr: string): boolean {
  const [a, b] = addr.split('.').map(Number);
  if (a === undefined || b === undefined) return false;
  return (
    a === 10 ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127)
  );
}
