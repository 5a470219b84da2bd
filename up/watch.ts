// What a newcomer watches once `nodepool up` is up: each image being built, converted and uploaded to each
// provider, and each label's min-ready nodes booting, until all of it is READY. Read through the same Temporal
// queries the CLI uses (catalogs, pools, a running build's progress); nothing here changes anything.
import type { Client } from '@temporalio/client';
import { Listr, type ListrTask } from 'listr2';
import { NodepoolClient } from '../client/nodepool-client.ts';
import { readCatalog } from '../cli/catalogs.ts';
import type { CliTemporal } from '../cli/temporal.ts';
import type { Config } from '../config/index.ts';
import { buildProgressQuery, type BuildProgress } from '../workflows/image-build.ts';
import type { CatalogView } from '../workflows/image-catalog.ts';
import type { PoolView } from '../workflows/pool-api.ts';
import { NODEPOOL_IMAGE } from '../workflows/search-attributes.ts';
import { imageStatuses, labelStatuses, type ImageStatus, type LabelStatus } from './summary.ts';

const POLL_MS = 1000;

interface Snapshot {
  catalogs: CatalogView[];
  pools: PoolView[];
  builds: Map<string, BuildProgress>;
  /** Set when the last poll could not read everything (the worker is busy starting, say). */
  error?: string;
}

async function runningBuilds(client: Client, taskQueue: string): Promise<Map<string, BuildProgress>> {
  const out = new Map<string, BuildProgress>();
  for await (const w of client.workflow.list({
    query: `WorkflowType = 'imageBuild' AND ExecutionStatus = 'Running' AND TaskQueue = '${taskQueue}'`,
  })) {
    const image = w.typedSearchAttributes.get(NODEPOOL_IMAGE);
    if (image === undefined || out.has(image)) continue;
    try {
      out.set(image, await client.workflow.getHandle(w.workflowId).query(buildProgressQuery));
    } catch {
      // It ended between the list and the query: the catalogs tell the outcome.
    }
  }
  return out;
}

/** One poll of everything the watch shows. */
async function snapshot(t: CliTemporal, config: Config): Promise<Snapshot> {
  const providers = config.providers.map((p) => p.name);
  const withPools = config.providers.filter((p) => p.pools.length > 0).map((p) => p.name);
  try {
    const [catalogs, pools, builds] = await Promise.all([
      Promise.all(providers.map((p) => readCatalog(t, p))),
      new NodepoolClient(t.client, { providers: withPools, queryTimeoutMs: 5000 }).pools(),
      runningBuilds(t.client, t.taskQueue),
    ]);
    return { catalogs, pools, builds };
  } catch (err) {
    return { catalogs: [], pools: [], builds: new Map(), error: (err as Error).message };
  }
}

function describeImage(statuses: ImageStatus[], build: BuildProgress | undefined): string {
  if (statuses.every((s) => s.state === 'ready'))
    return statuses.map((s) => `${s.provider} upload ${s.current?.id}`).join(', ');
  if (build) {
    const where = Object.entries(build.providers).map(([p, what]) => `${p}: ${what}`);
    return [`build ${build.buildId ?? ''} ${build.step}`.replace('  ', ' '), ...where].join('; ');
  }
  const failed = statuses.filter((s) => s.state === 'failed');
  if (failed.length > 0)
    return failed
      .map((s) => `${s.provider}: upload ${s.latest?.id} failed: ${s.latest?.reason ?? 'no reason given'}`)
      .join('; ');
  return 'waiting for its build to start';
}

function describeLabel(s: LabelStatus): string {
  const parts = [`${s.ready}/${s.minReady ?? 0} READY`];
  if (s.building > 0) parts.push(`${s.building} booting`);
  if (s.inUse > 0) parts.push(`${s.inUse} in use`);
  if (s.ready < (s.minReady ?? 0) && s.building === 0 && s.waits.length > 0) parts.push(s.waits.join('; '));
  return parts.join(', ');
}

export interface WatchOptions {
  temporal: CliTemporal;
  config: Config;
  signal: AbortSignal;
}

/**
 * Shows live progress until every image is READY in every provider and every label has its min-ready nodes
 * (or `signal` aborts). Never fails: a failed build is shown with its reason, and the next build may fix it.
 */
export async function watchUntilReady(o: WatchOptions): Promise<'ready' | 'stopped' | 'nothing to follow'> {
  let latest: Snapshot = { catalogs: [], pools: [], builds: new Map() };
  let polling: Promise<void> | undefined;
  const poll = (): Promise<void> =>
    (polling ??= snapshot(o.temporal, o.config).then((s) => {
      latest = s;
      polling = undefined;
    }));
  const stopped = new Promise<void>((resolve) => o.signal.addEventListener('abort', () => resolve(), { once: true }));
  /** Waits for the next poll, or for the end. */
  const next = async (): Promise<boolean> => {
    await Promise.race([new Promise((r) => setTimeout(r, POLL_MS)), stopped]);
    if (o.signal.aborted) return false;
    await poll();
    return true;
  };

  const images = [...new Set(o.config.providers.flatMap((p) => p.diskimages.map((d) => d.name)))];
  const labels = o.config.labels.filter((l) => l.minReady > 0);
  const providersOf = (image: string): string[] =>
    o.config.providers.filter((p) => p.diskimages.some((d) => d.name === image)).map((p) => p.name);
  const tasks: ListrTask[] = [
    ...images.map((image): ListrTask => ({
      title: `Image ${image}: built, converted and uploaded to ${providersOf(image).join(', ')}`,
      task: async (_ctx, task) => {
        let shown = '';
        while (await next()) {
          const statuses = imageStatuses(o.config, latest.catalogs, Date.now()).filter((s) => s.image === image);
          const detail = latest.error
            ? `no answer yet (${latest.error})`
            : describeImage(statuses, latest.builds.get(image));
          if (!latest.error && statuses.every((s) => s.state === 'ready')) {
            task.title = `Image ${image} READY in ${statuses.length} provider${statuses.length === 1 ? '' : 's'}: ${detail}`;
            return;
          }
          // Output lines, not title changes: every renderer shows them, a log file included.
          if (detail !== shown) task.output = shown = detail;
        }
        task.skip(`Image ${image}: not followed further`);
      },
    })),
    ...labels.map((label): ListrTask => ({
      title: `Label ${label.name}: ${label.minReady} min-ready node${label.minReady === 1 ? '' : 's'}`,
      task: async (_ctx, task) => {
        let shown = '';
        while (await next()) {
          const s = labelStatuses(o.config, latest.pools).find((x) => x.label === label.name);
          if (!s || latest.error) continue;
          if (s.ready >= label.minReady) {
            task.title = `Label ${label.name}: ${s.ready} READY node${s.ready === 1 ? '' : 's'} (min-ready ${label.minReady}) in ${s.providers.join(', ')}`;
            return;
          }
          const detail = describeLabel(s);
          if (detail !== shown) task.output = shown = detail;
        }
        task.skip(`Label ${label.name}: not followed further`);
      },
    })),
  ];
  if (tasks.length === 0) return 'nothing to follow';
  const list = new Listr(tasks, {
    concurrent: true,
    exitOnError: false,
    registerSignalListeners: false,
    rendererOptions: { collapseSkips: false, outputBar: 1 },
  });
  await list.run();
  return o.signal.aborted ? 'stopped' : 'ready';
}
