// All activities the worker registers, built from the worker's dependencies (database, config).
// Workflows import only the type of this module, through proxyActivities.
import type { Orm } from '../db/orm.ts';
import { buildImageActivities, type BuildSpec } from './build-image.ts';
import { buildRecordActivities } from './build-record.ts';
import { cloudImageActivities } from './cloud-images.ts';
import { convertImage } from './convert.ts';
import { healthActivities } from './health.ts';
import { imageActivities } from './images.ts';
import { nodeRecordActivities } from './node-records.ts';
import { nodeActivities } from './nodes.ts';
import { providerActivities, type ProviderDeps } from './provider.ts';
import { snapshotActivities } from './snapshot.ts';

export interface ActivityDeps extends ProviderDeps {
  orm: Orm;
  /** How a diskimage is built, resolved from nodepool.yaml inside the worker (env-vars may hold secrets). */
  buildSpecFor?: (image: string) => BuildSpec;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...healthActivities(deps.orm),
    ...buildRecordActivities(deps.orm),
    ...providerActivities(deps),
    ...imageActivities(deps),
    ...cloudImageActivities(deps),
    ...snapshotActivities(deps),
    ...nodeActivities(deps),
    ...nodeRecordActivities(deps),
    ...buildImageActivities({
      specFor: (image) => {
        if (!deps.buildSpecFor) throw new Error(`this worker has no nodepool.yaml to build ${image} from`);
        return deps.buildSpecFor(image);
      },
    }),
    convertImage,
  };
}

export type Activities = ReturnType<typeof createActivities>;
