// The project's compute quota: usage counted from its live servers, enforced when a server is created and
// reported by GET /limits.
import type { Cloud, Flavor } from '../cloud.ts';
import type { Reply, RequestContext } from '../http.ts';
import { HttpError } from '../http.ts';
import type { TokenRecord } from '../state.ts';
import { flavorById } from './flavors.ts';
import { atLeast } from './microversion.ts';

function usage(cloud: Cloud, token: TokenRecord, region: string) {
  const servers = Object.values(cloud.state.servers).filter(
    (s) => s.region === region && s.projectId === token.projectId,
  );
  let cores = 0;
  let ram = 0;
  let ports = 0;
  for (const s of servers) {
    const f = flavorById(s.flavorId);
    cores += f?.vcpus ?? 0;
    ram += f?.ram ?? 0;
    ports += s.networks?.length ?? 1;
  }
  return { instances: servers.length, cores, ram, ports };
}

/** Refuses one more server of `flavor` if it would exceed any quota, naming every quota it would exceed. */
export function checkQuota(cloud: Cloud, token: TokenRecord, region: string, flavor: Flavor, ports: number): void {
  const q = cloud.knobs.quota;
  const used = usage(cloud, token, region);
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
  // Nova asks Neutron whether the ports fit before it builds anything, and says so in its own words.
  if (q.ports >= 0 && used.ports + ports > q.ports) throw new HttpError(403, 'Maximum number of ports exceeded');
}

export function limits(cloud: Cloud, ctx: RequestContext, token: TokenRecord): Reply {
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
