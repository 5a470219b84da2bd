// Reading the provider catalogs for the image commands: one query per provider, in parallel. The providers
// are nodepool.yaml's, or, without a config file, every catalog running in the namespace.
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Config } from '../config/index.ts';
import { catalogQuery, type CatalogView } from '../workflows/image-catalog.ts';
import { catalogWorkflowId } from '../workflows/ids.ts';
import { CliError } from './errors.ts';
import type { CliTemporal } from './temporal.ts';

/** How long an answer from a worker may take before the command says none answered. */
export const QUERY_DEADLINE_MS = 10_000;

export async function catalogProviders(t: CliTemporal, config: Config | undefined): Promise<string[]> {
  if (config) return config.providers.map((p) => p.name);
  const found: string[] = [];
  for await (const w of t.client.workflow.list({
    query: `WorkflowType = 'imageCatalog' AND ExecutionStatus = 'Running' AND TaskQueue = '${t.taskQueue}'`,
  })) {
    if (w.workflowId.startsWith('image-catalog/')) found.push(w.workflowId.slice('image-catalog/'.length));
  }
  return found.sort();
}

function unanswered(provider: string, t: CliTemporal, err: Error): CliError {
  return new CliError(
    `the image catalog of ${provider} did not answer (${err.message}); is a nodepool worker running on task queue ${t.taskQueue}?`,
    1,
  );
}

export async function readCatalog(t: CliTemporal, provider: string): Promise<CatalogView> {
  const handle = t.client.workflow.getHandle(catalogWorkflowId(provider));
  try {
    return await t.client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () => handle.query(catalogQuery));
  } catch (err) {
    // No catalog yet: nothing was ever built for this provider.
    if (err instanceof WorkflowNotFoundError) return { provider, uploads: [], current: {} };
    throw unanswered(provider, t, err as Error);
  }
}

export function readCatalogs(t: CliTemporal, providers: string[]): Promise<CatalogView[]> {
  return Promise.all(providers.map((p) => readCatalog(t, p)));
}
