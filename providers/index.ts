// The one entry point activities use: a provider adapter for a cloud named in nodepool.yaml. Credentials are
// resolved here, inside the worker, from clouds.yaml or the environment; they never travel through Temporal.
import { createHash } from 'node:crypto';
import type { ProviderAdapter } from './adapter.ts';
import { Secret } from './secret.ts';
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

// One adapter per resolved cloud keeps one Keystone token per worker instead of one per activity. The key is a
// digest of everything the adapter was built from (secrets included, never stored), so an operator who rotates
// a credential in clouds.yaml or secure.yaml gets a new adapter on the next call, without restarting workers.
const cache = new Map<string, ProviderAdapter>();

function cacheKey(cloudName: string, config: unknown, opts: AdapterOptions): string {
  const { env: _env, fresh: _fresh, ...rest } = opts;
  // JSON.stringify calls toJSON (which redacts) before the replacer sees a value: look at the holder's own.
  const text = JSON.stringify([cloudName, config, rest], function (this: Record<string, unknown>, k, v: unknown) {
    const own = this[k];
    return own instanceof Secret ? own.reveal() : v;
  });
  return createHash('sha256').update(text).digest('hex');
}

export function adapterForCloud(cloudName: string, opts: AdapterOptions = {}): ProviderAdapter {
  // Reading clouds.yaml is cheap next to a cloud call, and it is how a changed file is noticed.
  const config = loadCloudConfig(cloudName, opts);
  const key = cacheKey(cloudName, config, opts);
  const cached = cache.get(key);
  if (cached && !opts.fresh) return cached;
  const adapter = new OpenStackAdapter(config, opts);
  cache.set(key, adapter);
  return adapter;
}

/** Drops cached adapters, e.g. after clouds.yaml changed. */
export function clearAdapterCache(): void {
  cache.clear();
}
