import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { ProviderSnapshot } from '../activities/provider.ts';

const { describeProvider } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  // Quota and rate errors come back typed; a few retries ride out a cloud's blip, not an outage.
  retry: { initialInterval: '2 seconds', maximumAttempts: 4 },
});

/** `nodepool info PROVIDER`: a provider's quota, flavors, and what nodepool owns there. */
export async function providerInfo(provider: string): Promise<ProviderSnapshot> {
  return await describeProvider(provider);
}
