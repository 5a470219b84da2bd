import { WorkflowUpdateFailedError } from '@temporalio/client';
import { deleteUploadUpdate } from '../../workflows/image-catalog.ts';
import { catalogWorkflowId } from '../../workflows/ids.ts';
import { QUERY_DEADLINE_MS, catalogProviders, readCatalogs } from '../catalogs.ts';
import type { ImageDeleteArgs } from '../commands/image-delete.ts';
import { CliError } from '../errors.ts';
import { connectTemporal, loadCliConfig } from '../temporal.ts';

export async function imageDelete(args: ImageDeleteArgs): Promise<void> {
  if (!Number.isInteger(args.id) || args.id <= 0)
    throw new CliError(`image-delete needs an upload ID (the ID column of image-list), got ${String(args.id)}`, 2);
  const config = loadCliConfig(args.config);
  const t = await connectTemporal(config);
  try {
    const providers = await catalogProviders(t, config);
    const views = await readCatalogs(t, providers);
    const view = views.find((v) => v.uploads.some((u) => u.id === args.id && u.state !== 'deleted'));
    if (!view)
      throw new CliError(
        `image upload ${args.id} does not exist in any provider's catalog (${providers.join(', ') || 'no providers'}); ` +
          'see nodepool image-list',
        2,
      );
    const handle = t.client.workflow.getHandle(catalogWorkflowId(view.provider));
    let result;
    try {
      result = await t.client.withDeadline(Date.now() + QUERY_DEADLINE_MS, () =>
        handle.executeUpdate(deleteUploadUpdate, { args: [{ id: args.id, force: args.force }] }),
      );
    } catch (err) {
      // The catalog's validator refused: nothing changed.
      if (err instanceof WorkflowUpdateFailedError) throw new CliError(err.cause?.message ?? err.message, 2);
      throw err;
    }
    const now = result.current
      ? `the current ${result.image} image in ${result.provider} is now ${result.current.id} (version ${result.current.version})`
      : `${result.provider} has no READY ${result.image} image now: no new ${result.image} nodes boot there until the next build`;
    process.stdout.write(`Deleting image upload ${result.id} (${result.image} in ${result.provider}); ${now}\n`);
  } finally {
    await t.close();
  }
}
