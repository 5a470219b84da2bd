import { p } from '@mikro-orm/core';

/**
 * Timestamps and the optimistic-lock version every entity carries. A function, so each entity gets its own
 * property builders. stateChangedAt is set by whoever moves `state`; ages in the CLI are measured from it.
 */
export function tracking() {
  return {
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
    stateChangedAt: p.datetime().onCreate(() => new Date()),
    rowVersion: p.integer().version(),
  };
}
