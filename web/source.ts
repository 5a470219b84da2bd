// Where the status pages read from: the pools' and image catalogs' queries through Temporal, as the CLI reads
// them (the same functions), and the build records from this worker's database.
import type { Client } from '@temporalio/client';
import { imageActivities } from '../activities/images.ts';
import type { DibImage } from '../core/views.ts';
import { readCatalog } from '../cli/catalogs.ts';
import type { CliTemporal } from '../cli/temporal.ts';
import { NodepoolClient } from '../client/nodepool-client.ts';
import type { Config } from '../config/index.ts';
import type { Orm } from '../db/orm.ts';
import type { StatusSnapshot } from '../metrics/status.ts';
import type { CatalogView } from '../workflows/image-catalog.ts';
import { catalogWorkflowId, poolWorkflowId } from '../workflows/ids.ts';
import type { PoolView } from '../workflows/pool-api.ts';

export interface StatusSourceOptions {
  client: Client;
  config: Config;
  orm: Orm;
  taskQueue: string;
  namespace?: string;
}

/** A pool or catalog that did not answer, in the operator's words. */
export class StatusUnavailable extends Error {}

export interface StatusSource {
  pools(): Promise<PoolView[]>;
  catalogs(): Promise<CatalogView[]>;
  builds(): Promise<DibImage[]>;
  /** Everything the page and the gauges show; a workflow that does not answer is left out and named. */
  snapshot(): Promise<StatusSnapshot & { errors: string[] }>;
}

export function createStatusSource(opts: StatusSourceOptions): StatusSource {
  const { client, config } = opts;
  // readCatalog takes the CLI's connection shape; the worker's client stands in (close is the worker's business).
  const t: CliTemporal = {
    client,
    namespace: opts.namespace ?? client.options.namespace,
    taskQueue: opts.taskQueue,
    address: '',
    close: async () => {},
  };
  const poolProviders = config.providers.filter((p) => p.pools.length > 0).map((p) => p.name);
  const catalogProviders = config.providers.map((p) => p.name);
  const records = imageActivities({ orm: opts.orm, config });
  const poolOf = (provider: string) => new NodepoolClient(client, { providers: [provider] }).pools();

  const settle = async <T>(ids: string[], ask: (i: number) => Promise<T[]>) => {
    const answers = await Promise.allSettled(ids.map((_, i) => ask(i)));
    const values: T[] = [];
    const errors: string[] = [];
    const unanswered: string[] = [];
    answers.forEach((a, i) => {
      if (a.status === 'fulfilled') values.push(...a.value);
      else {
        unanswered.push(ids[i] as string);
        errors.push((a.reason as Error).message);
      }
    });
    return { values, errors, unanswered };
  };

  return {
    async pools() {
      try {
        return await new NodepoolClient(client, { providers: poolProviders }).pools();
      } catch (err) {
        throw new StatusUnavailable((err as Error).message);
      }
    },
    async catalogs() {
      try {
        return await Promise.all(catalogProviders.map((p) => readCatalog(t, p)));
      } catch (err) {
        throw new StatusUnavailable((err as Error).message);
      }
    },
    builds: () => records.listImageBuilds(),
    async snapshot() {
      const poolIds = poolProviders.map(poolWorkflowId);
      const catalogIds = catalogProviders.map(catalogWorkflowId);
      const [pools, catalogs] = await Promise.all([
        settle(poolIds, async (i) => {
          const views = await poolOf(poolProviders[i] as string);
          if (views.length === 0) throw new Error(`the pool of ${poolProviders[i]} is not running`);
          return views;
        }),
        settle(catalogIds, async (i) => [await readCatalog(t, catalogProviders[i] as string)]),
      ]);
      return {
        pools: pools.values,
        catalogs: catalogs.values,
        asked: [...poolIds, ...catalogIds],
        unanswered: [...pools.unanswered, ...catalogs.unanswered],
        errors: [...pools.errors, ...catalogs.errors],
      };
    },
  };
}
