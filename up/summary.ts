// What a running nodepool amounts to, from the answers of its image catalogs and pools: per image and provider
// whether a READY upload is current, per label how many nodes are READY against min-ready, per provider its
// nodes and requests. Pure: `nodepool up` follows these while it starts, `nodepool status` prints them.
import type { Config } from '../config/index.ts';
import type { CatalogUpload, CatalogView } from '../workflows/image-catalog.ts';
import type { PoolView } from '../workflows/pool-api.ts';

export interface ImageStatus {
  image: string;
  provider: string;
  /** ready: a READY upload is current; failed: the latest upload failed and none is current. */
  state: 'ready' | 'pending' | 'failed';
  current?: { id: number; version: number; externalId?: string; ageHours: number };
  /** The newest upload when it is not the current one (building, uploading, failed...). */
  latest?: { id: number; version: number; state: string; reason?: string };
}

function newest(uploads: CatalogUpload[]): CatalogUpload | undefined {
  return [...uploads].sort((a, b) => b.version - a.version || b.id - a.id)[0];
}

/**
 * Every (image, provider) pair nodepool.yaml asks for (or, without it, that the catalogs hold), in the order
 * of the file.
 */
export function imageStatuses(config: Config | undefined, catalogs: CatalogView[], now: number): ImageStatus[] {
  const pairs: { image: string; provider: string }[] = config
    ? config.providers.flatMap((p) => p.diskimages.map((d) => ({ image: d.name, provider: p.name })))
    : catalogs.flatMap((c) =>
        [...new Set(c.uploads.map((u) => u.image))].sort().map((image) => ({ image, provider: c.provider })),
      );
  return pairs.map(({ image, provider }) => {
    const view = catalogs.find((c) => c.provider === provider);
    const uploads = (view?.uploads ?? []).filter((u) => u.image === image && u.state !== 'deleted');
    const currentId = view?.current[image];
    const current = uploads.find((u) => u.id === currentId);
    const latest = newest(uploads);
    const status: ImageStatus = {
      image,
      provider,
      state: current ? 'ready' : latest?.state === 'failed' ? 'failed' : 'pending',
    };
    if (current)
      status.current = {
        id: current.id,
        version: current.version,
        ...(current.externalId ? { externalId: current.externalId } : {}),
        ageHours: Math.max(0, (now - current.stateSince) / 3_600_000),
      };
    if (latest && latest.id !== current?.id)
      status.latest = {
        id: latest.id,
        version: latest.version,
        state: latest.state,
        ...(latest.reason ? { reason: latest.reason } : {}),
      };
    return status;
  });
}

export interface LabelStatus {
  label: string;
  /** From nodepool.yaml; undefined without it. */
  minReady?: number;
  /** READY and free (what min-ready counts). */
  ready: number;
  building: number;
  inUse: number;
  held: number;
  /** Deleting, used, failed. */
  other: number;
  providers: string[];
  /** Why refills wait, per provider (the pools' own words). */
  waits: string[];
}

export function labelStatuses(config: Config | undefined, pools: PoolView[]): LabelStatus[] {
  const names = config
    ? config.labels.map((l) => l.name)
    : [...new Set(pools.flatMap((p) => p.occupancy.map((o) => o.label)))].sort();
  return names.map((label) => {
    const nodes = pools.flatMap((p) => p.nodes).filter((n) => n.label === label && !n.validation);
    const providers = config
      ? config.providers.filter((p) => p.pools.some((pl) => pl.labels.some((l) => l.name === label))).map((p) => p.name)
      : pools.filter((p) => p.occupancy.some((o) => o.label === label)).map((p) => p.provider);
    const minReady = config?.labels.find((l) => l.name === label)?.minReady;
    return {
      label,
      ...(minReady === undefined ? {} : { minReady }),
      ready: nodes.filter((n) => n.state === 'ready' && !n.requestKey).length,
      building: nodes.filter((n) => n.state === 'building').length,
      inUse: nodes.filter((n) => n.state === 'in-use' || (n.state === 'ready' && n.requestKey)).length,
      held: nodes.filter((n) => n.state === 'hold').length,
      other: nodes.filter((n) => ['deleting', 'used', 'failed'].includes(n.state)).length,
      providers,
      waits: pools.flatMap((p) =>
        p.minReadyWaits.filter((w) => w.label === label).map((w) => `${p.provider}: ${w.reason}`),
      ),
    };
  });
}

export interface ProviderStatus {
  provider: string;
  /** Images with a current READY upload, of those nodepool.yaml lists for the provider. */
  imagesReady: number;
  images: number;
  nodes: Record<string, number>;
  requests: { pending: number; fulfilled: number; failed: number };
  quota?: PoolView['quota'];
  /** The pool's own one-line answer to "why is nothing launching?". */
  summary?: string;
  /** No pool answers for it (no pools configured, or not started yet). */
  pool: boolean;
}

export function providerStatuses(
  config: Config | undefined,
  images: ImageStatus[],
  pools: PoolView[],
): ProviderStatus[] {
  const names = config
    ? config.providers.map((p) => p.name)
    : [...new Set([...images.map((i) => i.provider), ...pools.map((p) => p.provider)])].sort();
  return names.map((provider) => {
    const pool = pools.find((p) => p.provider === provider);
    const mine = images.filter((i) => i.provider === provider);
    const nodes: Record<string, number> = {};
    for (const n of pool?.nodes ?? []) nodes[n.state] = (nodes[n.state] ?? 0) + 1;
    const count = (state: string) => (pool?.requests ?? []).filter((r) => r.state === state).length;
    return {
      provider,
      imagesReady: mine.filter((i) => i.state === 'ready').length,
      images: mine.length,
      nodes,
      requests: { pending: count('pending'), fulfilled: count('fulfilled'), failed: count('failed') },
      ...(pool ? { quota: pool.quota } : {}),
      ...(pool?.summary ? { summary: pool.summary } : {}),
      pool: pool !== undefined,
    };
  });
}

/** Whether the local nodepool shows the whole system working: every image current everywhere, min-ready met. */
export function allReady(images: ImageStatus[], labels: LabelStatus[]): boolean {
  return images.every((i) => i.state === 'ready') && labels.every((l) => l.ready >= (l.minReady ?? 0));
}
