import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { ProviderSnapshot } from '../core/views.ts';
import { NODEPOOL_PROVIDER } from './search-attributes.ts';

const { describeProvider } = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  // Quota and rate errors come back typed; a few retries ride out a cloud's blip, not an outage.
  retry: { initialInterval: '2 seconds', maximumAttempts: 4 },
});

/** `nodepool info PROVIDER`: a provider's quota, flavors, and what nodepool owns there. */
export async function providerInfo(provider: string): Promise<ProviderSnapshot> {
  upsertSearchAttributes([{ key: NODEPOOL_PROVIDER, value: [provider] }]);
  return await describeProvider(provider);
}
