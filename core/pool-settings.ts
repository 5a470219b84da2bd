// What a provider's pool plans with, decided from nodepool.yaml: its pools' limits and labels, each label's share
// of min-ready among the providers offering it, and whether the cloud's quota is ignored. Pure: the worker's
// poolSettings activity only hands it the configuration it loaded.
import type { Config } from '../config/index.ts';
import { minReadyShare } from './min-ready.ts';
import type { PoolSettings } from './pool-state.ts';

export type ProviderPoolSettings = PoolSettings & { hostnameFormat: string };

/** The settings of `providerName`'s pool, or undefined when nodepool.yaml has no such provider. */
export function poolSettingsFor(config: Config, providerName: string): ProviderPoolSettings | undefined {
  const provider = config.providers.find((p) => p.name === providerName);
  if (!provider) return undefined;
  return {
    provider: provider.name,
    pools: provider.pools.map((p) => ({
      name: p.name,
      maxServers: p.maxServers,
      ...(p.maxCores === undefined ? {} : { maxCores: p.maxCores }),
      ...(p.maxRam === undefined ? {} : { maxRam: p.maxRam }),
      labels: p.labels.map((l) => ({
        label: l.name,
        image: l.image,
        flavor: l.flavorName,
        ...(l.minRam === undefined ? {} : { minRam: l.minRam }),
      })),
    })),
    labels: Object.fromEntries(
      config.labels.map((l) => {
        const offering = config.providers
          .filter((p) => p.pools.some((pool) => pool.labels.some((x) => x.name === l.name)))
          .map((p) => p.name);
        const minReady = minReadyShare(l.minReady, offering, provider.name);
        return [l.name, { minReady, ...(l.maxReadyAge === undefined ? {} : { maxReadyAge: l.maxReadyAge }) }];
      }),
    ),
    ...(config.maxHoldAge === undefined ? {} : { maxHoldAge: config.maxHoldAge }),
    ...(provider.maxConcurrency === undefined ? {} : { maxConcurrency: provider.maxConcurrency }),
    // nodepool's ignore-provider-quota is per pool; one pool workflow plans a whole provider, so it applies only
    // when every pool of the provider sets it.
    ignoreQuota: provider.pools.length > 0 && provider.pools.every((p) => p.ignoreProviderQuota),
    hostnameFormat: provider.hostnameFormat,
  };
}
