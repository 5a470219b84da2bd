// Activities that talk to a provider's cloud. They take a provider NAME: the cloud's credentials are
// resolved here from clouds.yaml, so no secret ever enters a workflow's inputs, outputs or history.
import type { ProviderSnapshot } from '../core/views.ts';
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../config/index.ts';
import { inventory } from '../core/provider-inventory.ts';
import { paced } from './rate.ts';
import { adapterForCloud, toApplicationFailure, type ProviderAdapter } from '../providers/index.ts';
import { instrumentAdapter } from '../metrics/instrument.ts';

export interface ProviderDeps {
  config?: Config;
  /** Environment for clouds.yaml lookup (OS_CLIENT_CONFIG_FILE, OS_CLOUD, ...); the worker's by default. */
  cloudEnv?: NodeJS.ProcessEnv;
}

export function providerAdapter(deps: ProviderDeps, providerName: string): ProviderAdapter {
  const provider = deps.config?.providers.find((p) => p.name === providerName);
  if (!provider) {
    const known = deps.config?.providers.map((p) => p.name).join(', ') || 'none configured';
    throw ApplicationFailure.nonRetryable(
      `provider ${providerName} is not in this worker's nodepool.yaml (providers: ${known})`,
      'UnknownProvider',
    );
  }
  if (!provider.cloud) {
    throw ApplicationFailure.nonRetryable(
      `provider ${providerName} has no cloud: set providers[].cloud to a clouds.yaml cloud name` +
        (provider.driver === 'simulator' ? ' (`nodepool sim-cloud` prints a clouds.yaml entry for the simulator)' : ''),
      'UnknownProvider',
    );
  }
  const adapter = adapterForCloud(provider.cloud, {
    ...(provider.regionName === undefined ? {} : { region: provider.regionName }),
    ...(deps.cloudEnv === undefined ? {} : { env: deps.cloudEnv }),
  });
  // Counted and timed inside the pace: the API metrics measure the cloud, not the wait for our own rate.
  return paced(instrumentAdapter(providerName, adapter), provider.name, provider.rate);
}

export function providerActivities(deps: ProviderDeps) {
  return {
    /** Everything an operator asks about a provider: quota, flavors, and the servers and images we own there. */
    async describeProvider(providerName: string): Promise<ProviderSnapshot> {
      try {
        const adapter = providerAdapter(deps, providerName);
        const [quota, flavors, servers, images] = await Promise.all([
          adapter.getQuota(),
          adapter.listFlavors(),
          adapter.listServers(),
          adapter.listImages(),
        ]);
        const s = inventory(
          servers.map((x) => ({ ...x, state: x.state })),
          providerName,
        );
        const i = inventory(images, providerName);
        const provider = deps.config?.providers.find((p) => p.name === providerName);
        return {
          provider: providerName,
          cloud: adapter.cloudName,
          ...(provider?.regionName === undefined ? {} : { region: provider.regionName }),
          // nodepool.yaml's image-format overrides the cloud's clouds.yaml image_format.
          imageFormat: provider?.imageFormat ?? adapter.imageFormat,
          quota: { limits: { ...quota.limits }, usage: { ...quota.usage } },
          flavors: flavors.map((f) => ({ name: f.name, vcpus: f.vcpus, ramMB: f.ramMB, diskGB: f.diskGB })),
          servers: s.ours.map((x) => ({
            id: x.id,
            name: x.name,
            state: x.state,
            ...((x.addresses.publicIpv4 ?? x.addresses.privateIpv4)
              ? { ip: x.addresses.publicIpv4 ?? x.addresses.privateIpv4 }
              : {}),
            ...(x.metadata.nodepool_node_id ? { nodeId: x.metadata.nodepool_node_id } : {}),
            ...(x.metadata.nodepool_image_name ? { image: x.metadata.nodepool_image_name } : {}),
          })),
          serversByState: s.byState,
          foreignServers: s.foreignCount,
          images: i.ours.map((x) => ({
            id: x.id,
            name: x.name,
            state: x.state,
            ...(x.metadata.nodepool_upload_id ? { uploadId: x.metadata.nodepool_upload_id } : {}),
            ...(x.size === undefined ? {} : { size: x.size }),
          })),
          foreignImages: i.foreignCount,
        };
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },
  };
}
