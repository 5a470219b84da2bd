// All activities the worker registers, built from the worker's dependencies (database, config).
// Workflows import only the type of this module, through proxyActivities.
import type { Orm } from '../db/orm.ts';
import { buildRecordActivities } from './build-record.ts';
import { convertImage } from './convert.ts';
import { healthActivities } from './health.ts';
import { providerActivities, type ProviderDeps } from './provider.ts';

export interface ActivityDeps extends ProviderDeps {
  orm: Orm;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...healthActivities(deps.orm),
    ...buildRecordActivities(deps.orm),
    ...providerActivities(deps),
    convertImage,
  };
}

export type Activities = ReturnType<typeof createActivities>;
