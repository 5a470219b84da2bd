// One-call helpers that activities use to record what they did; each takes the names a dashboard groups by and
// never anything secret. Recording never fails the work it measures.
import type { ProviderAdapter } from '../providers/adapter.ts';
import {
  apiCalls,
  apiDuration,
  apiErrors,
  buildDuration,
  launchDuration,
  launches,
  quotaLimit,
  quotaUsed,
  uploadDuration,
} from './registry.ts';

const seconds = (since: number): number => Math.max(0, (Date.now() - since) / 1000);

/** Times one node's launch; the outcome is the launch result's (`ready`, `failed`, `aborted`), `error` if it threw. */
export async function timeLaunch<T extends { outcome: string }>(
  provider: string,
  label: string,
  launch: () => Promise<T>,
): Promise<T> {
  const started = Date.now();
  let outcome = 'error';
  try {
    const result = await launch();
    outcome = result.outcome;
    return result;
  } finally {
    launches.inc({ provider, label, outcome });
    launchDuration.observe({ provider, label, outcome }, seconds(started));
  }
}

/** A build reached its end state; `since` is when it started building. */
export function recordBuild(image: string, outcome: string, since: Date): void {
  buildDuration.observe({ image, outcome }, seconds(since.getTime()));
}

/** An upload to one provider reached ready, validating or failed; `since` is when it started uploading. */
export function recordUpload(provider: string, image: string, outcome: string, since: Date): void {
  uploadDuration.observe({ provider, image, outcome }, seconds(since.getTime()));
}

// The adapter interface's cloud operations (every one async); anything else passes through untouched.
const OPERATIONS = new Set<string>([
  'createServer',
  'getServer',
  'deleteServer',
  'listServers',
  'createServerImage',
  'uploadImage',
  'getImage',
  'deleteImage',
  'listImages',
  'listFlavors',
  'getQuota',
] satisfies (keyof ProviderAdapter)[]);

function errorName(err: unknown): string {
  const name = (err as { name?: unknown } | null)?.name;
  return typeof name === 'string' && ['QuotaExceeded', 'RateLimited', 'Transient', 'NotFound', 'Invalid'].includes(name)
    ? name
    : 'Other';
}

function recordQuota(provider: string, quota: Awaited<ReturnType<ProviderAdapter['getQuota']>>): void {
  const resources = [
    ['instances', quota.limits.instances, quota.usage.instances],
    ['cores', quota.limits.cores, quota.usage.cores],
    ['ram_mb', quota.limits.ramMB, quota.usage.ramMB],
  ] as const;
  for (const [resource, limit, used] of resources) {
    if (limit === null) quotaLimit.remove({ provider, resource });
    else quotaLimit.set({ provider, resource }, limit);
    quotaUsed.set({ provider, resource }, used);
  }
}

/**
 * The adapter, counting and timing each operation under the provider's name (the statsd `nodepool.task.*`
 * timers). Calls the adapter makes to itself inside an operation are not counted again: an operation is what an
 * activity asked for. Quota answers also update the quota gauges.
 */
export function instrumentAdapter(provider: string, adapter: ProviderAdapter): ProviderAdapter {
  return new Proxy(adapter, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function' || typeof prop !== 'string' || !OPERATIONS.has(prop)) return value;
      const operation = prop;
      return async (...args: unknown[]): Promise<unknown> => {
        const started = Date.now();
        apiCalls.inc({ provider, operation });
        try {
          const result: unknown = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          if (operation === 'getQuota')
            recordQuota(provider, result as Awaited<ReturnType<ProviderAdapter['getQuota']>>);
          return result;
        } catch (err) {
          apiErrors.inc({ provider, operation, error: errorName(err) });
          throw err;
        } finally {
          apiDuration.observe({ provider, operation }, seconds(started));
        }
      };
    },
  });
}
