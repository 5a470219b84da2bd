// The fixed flavor catalogue as Nova shows it: lookup by id or href, and the list/detail documents.
import type { Cloud, Flavor } from '../cloud.ts';
import { FLAVORS } from '../cloud.ts';
import type { Reply, RequestContext } from '../http.ts';
import { atLeast } from './microversion.ts';
import { afterMarker, intParam, pageLimit } from './paging.ts';

/** Accepts a bare id or a flavor href, as flavorRef may be either. */
export function flavorById(ref: string): Flavor | undefined {
  const id = ref.split('/').pop() ?? ref;
  return FLAVORS.find((f) => f.id === id);
}

export function renderFlavor(cloud: Cloud, ctx: RequestContext, f: Flavor, detail: boolean): Record<string, unknown> {
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

export function listFlavors(cloud: Cloud, ctx: RequestContext, detail: boolean): Reply {
  const minRam = intParam(ctx, 'minRam') ?? 0;
  const minDisk = intParam(ctx, 'minDisk') ?? 0;
  const flavors = afterMarker(
    ctx,
    FLAVORS.filter((f) => f.ram >= minRam && f.disk >= minDisk),
  );
  const limit = pageLimit(ctx);
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
