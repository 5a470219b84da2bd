import { randomUUID } from 'node:crypto';
import { basename } from 'node:path';
import type { DibImage } from '../../core/views.ts';
import { buildLog as buildLogWorkflow, dibImageList as dibImageListWorkflow } from '../../workflows/image-records.ts';
import { askWorker } from '../ask-worker.ts';
import type { BuildLogArgs, DibImageListArgs } from '../commands/dib-image-list.ts';
import { CliError } from '../errors.ts';
import { renderTable } from '../table.ts';
import { connectTemporal, loadCliConfig } from '../temporal.ts';

// Temporal payloads are capped at 2 MB; the log's end is what an operator needs.
const MAX_LOG_BYTES = 1_500_000;

export const DIB_IMAGE_LIST_HEAD = ['ID', 'Image', 'Filename', 'Version', 'State', 'Age (hours)'];

/** One build's cells under DIB_IMAGE_LIST_HEAD (shared with the status pages' /dib-image-list). */
export function dibImageListCells(b: DibImage, now: number): (string | number)[] {
  return [
    b.id,
    b.image,
    b.files.map((f) => basename(f)).join(', '),
    b.version,
    b.state,
    Math.max(0, (now - b.stateSince) / 3_600_000).toFixed(2),
  ];
}

export function renderDibImageList(builds: DibImage[], now: number): string {
  const table = renderTable(
    DIB_IMAGE_LIST_HEAD,
    builds.map((b) => dibImageListCells(b, now)),
  );
  const notes = builds.filter((b) => b.reason).map((b) => `  ${b.id}: ${b.reason}`);
  return notes.length > 0 ? `${table}\n${['Notes:', ...notes].join('\n')}` : table;
}

export async function dibImageList(args: DibImageListArgs): Promise<void> {
  const config = loadCliConfig(args.config);
  const t = await connectTemporal(config);
  try {
    const builds = await askWorker(t, dibImageListWorkflow, [], {
      timeoutSeconds: args.timeout,
      workflowId: `dib-image-list/${randomUUID()}`,
      what: 'dib-image-list',
    });
    process.stdout.write(
      args.json ? `${JSON.stringify(builds, null, 2)}\n` : `${renderDibImageList(builds, Date.now())}\n`,
    );
  } finally {
    await t.close();
  }
}

export async function buildLog(args: BuildLogArgs): Promise<void> {
  if (!Number.isInteger(args.build) || args.build <= 0)
    throw new CliError(`build-log needs a build ID (see nodepool dib-image-list), got ${String(args.build)}`, 2);
  const max = args['max-bytes'];
  if (!Number.isInteger(max) || max <= 0 || max > MAX_LOG_BYTES)
    throw new CliError(`--max-bytes must be a whole number from 1 to ${MAX_LOG_BYTES}, got ${String(max)}`, 2);
  const config = loadCliConfig(args.config);
  const t = await connectTemporal(config);
  try {
    const log = await askWorker(t, buildLogWorkflow, [args.build, max], {
      timeoutSeconds: args.timeout,
      workflowId: `build-log/${args.build}/${randomUUID()}`,
      what: `build-log ${args.build}`,
    });
    if (log.truncated)
      process.stderr.write(`(the last ${max} of ${log.size} bytes of ${log.path}; --max-bytes shows more)\n`);
    process.stdout.write(log.text.endsWith('\n') || log.text === '' ? log.text : `${log.text}\n`);
  } finally {
    await t.close();
  }
}
