// nodepool's provider `rate`: seconds to wait between operations on a provider, so a pool's burst of launches or
// deletions does not hit a cloud's API rate limit. One pace per provider for this worker process, shared by every
// activity; reads (lists, gets) are not paced, as the statemachine driver paces only creates and deletes.
import pThrottle from 'p-throttle';
import type { ProviderAdapter } from '../providers/adapter.ts';

type Pace = <T>(fn: () => Promise<T>) => Promise<T>;

const paces = new Map<string, { rate: number; pace: Pace }>();

function paceFor(provider: string, rate: number): Pace {
  const known = paces.get(provider);
  if (known && known.rate === rate) return known.pace;
  const throttle = pThrottle({ limit: 1, interval: Math.max(1, Math.round(rate * 1000)) });
  const run = throttle(<T>(fn: () => Promise<T>) => fn());
  const pace: Pace = (fn) => run(fn) as never;
  paces.set(provider, { rate, pace });
  return pace;
}

const PACED = ['createServer', 'deleteServer', 'createServerImage', 'uploadImage', 'deleteImage'] as const;

/** The adapter with its mutating calls paced by `rate` seconds; `rate` 0 leaves it as it is. */
export function paced(adapter: ProviderAdapter, provider: string, rate: number): ProviderAdapter {
  if (!(rate > 0)) return adapter;
  const pace = paceFor(provider, rate);
  return new Proxy(adapter, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      if (!(PACED as readonly (string | symbol)[]).includes(prop))
        return (value as (...a: unknown[]) => unknown).bind(target);
      return (...args: unknown[]) => pace(() => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
    },
  });
}
