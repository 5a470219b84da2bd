// The one entry point activities use: a provider adapter for a cloud named in nodepool.yaml. Credentials are
// resolved here, inside the worker, from clouds.yaml or the environment; they never travel through Temporal.
import type { ProviderAdapter } from './adapter.ts';
import { loadCloudConfig, type CloudsYamlOptions } from './openstack/clouds-yaml.ts';
import { OpenStackAdapter, type OpenStackAdapterOptions } from './openstack/adapter.ts';

export type { ProviderAdapter } from './adapter.ts';
export * from './errors.ts';
export * from './tags.ts';

export type AdapterOptions = CloudsYamlOptions &
  OpenStackAdapterOptions & {
    /** Build a new adapter (re-reading clouds.yaml) instead of reusing the cached one. */
    fresh?: boolean;
  };

// One adapter per cloud and region keeps one Keystone token per worker instead of one per activity.
const cache = new Map<string, ProviderAdapter>();

export function adapterForCloud(cloudName: string, opts: AdapterOptions = {}): ProviderAdapter {
  const key = `${cloudName}\u0000${opts.region ?? ''}`;
  const cached = cache.get(key);
  if (cached && !opts.fresh) return cached;
  const adapter = new OpenStackAdapter(loadCloudConfig(cloudName, opts), opts);
  cache.set(key, adapter);
  return adapter;
}

/** Drops cached adapters, e.g. after clouds.yaml changed. */
export function clearAdapterCache(): void {
  cache.clear();
}
