import { ScheduleNotFoundError, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import {
  buildProgressQuery,
  type BuildProgress,
  type imageBuild as imageBuildWorkflow,
} from '../../workflows/image-build.ts';
import { buildScheduleId, manualBuildWorkflowId, retryBuildWorkflowId } from '../../workflows/ids.ts';
import { NODEPOOL_BUILD, NODEPOOL_IMAGE } from '../../workflows/search-attributes.ts';
import type { ImageBuildArgs, ImagePauseArgs } from '../commands/image-build.ts';
import { CliError } from '../errors.ts';
import { renderTable } from '../table.ts';
import { connectTemporal, loadCliConfig, type CliTemporal } from '../temporal.ts';

async function runningBuild(t: CliTemporal, image: string): Promise<string | undefined> {
  for await (const w of t.client.workflow.list({
    // This nodepool's builds only: the task queue tells two deployments sharing a namespace apart.
    query: `WorkflowType = 'imageBuild' AND ExecutionStatus = 'Running' AND NodepoolImage = '${image}' AND TaskQueue = '${t.taskQueue}'`,
  }))
    return w.workflowId;
  return undefined;
}

async function imageOfBuild(t: CliTemporal, buildId: number): Promise<string> {
  for await (const w of t.client.workflow.list({
    query: `WorkflowType = 'imageBuild' AND NodepoolBuild = ${buildId} AND TaskQueue = '${t.taskQueue}'`,
  })) {
    const image = w.typedSearchAttributes.get(NODEPOOL_IMAGE);
    if (image) return image;
  }
  throw new CliError(`no build ${buildId} is known to Temporal; see nodepool dib-image-list for build IDs`, 2);
}

function sameProgress(a: BuildProgress | undefined, b: BuildProgress): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function stamp(): string {
  return new Date().toISOString().slice(11, 19);
}

/** Prints every change of the build's progress until it ends. */
async function follow(handle: WorkflowHandle<typeof imageBuildWorkflow>, timeoutSeconds: number): Promise<void> {
  const deadline = timeoutSeconds > 0 ? Date.now() + timeoutSeconds * 1000 : Number.POSITIVE_INFINITY;
  const result = handle.result();
  let ended = false;
  void result.then(
    () => (ended = true),
    () => (ended = true),
  );
  let last: BuildProgress | undefined;
  while (!ended) {
    if (Date.now() > deadline)
      throw new CliError(`the build ${handle.workflowId} is still running after ${timeoutSeconds}s; it goes on`, 1);
    try {
      const p = await handle.query(buildProgressQuery);
      if (!sameProgress(last, p)) {
        const changed = Object.entries(p.providers).filter(([k, v]) => last?.providers[k] !== v);
        if (last?.step !== p.step) process.stdout.write(`[${stamp()}] ${p.step}\n`);
        for (const [provider, what] of changed) process.stdout.write(`[${stamp()}]   ${provider}: ${what}\n`);
        last = structuredClone(p);
      }
    } catch {
      // The workflow may have ended between checks; the result says how.
    }
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 500))]);
  }
  try {
    const r = await result;
    process.stdout.write(
      `build ${r.buildId} of ${r.image} (version ${r.version}): ${r.state}\n` +
        `${renderTable(
          ['Provider', 'State', 'Upload', 'Image ID', 'Reason'],
          r.providers.map((o) => [o.provider, o.state, o.uploadId ?? '', o.externalId ?? '', o.reason ?? '']),
        )}\n`,
    );
    if (r.state !== 'ready') process.exitCode = 1;
  } catch (err) {
    if (err instanceof WorkflowFailedError) throw new CliError(err.cause?.message ?? err.message, 1);
    throw err;
  }
}

export async function imageBuild(args: ImageBuildArgs): Promise<void> {
  if (args.retry !== undefined && (!Number.isInteger(args.retry) || args.retry <= 0))
    throw new CliError(`--retry needs a build ID (see nodepool dib-image-list), got ${String(args.retry)}`, 2);
  if (args.image === undefined && args.retry === undefined)
    throw new CliError(
      'name the image to build (nodepool image-build IMAGE), or a build to continue with --retry BUILD',
      2,
    );
  if (!Number.isFinite(args.timeout) || args.timeout < 0)
    throw new CliError(`--timeout must be a number of seconds ≥ 0, got ${String(args.timeout)}`, 2);
  const config = loadCliConfig(args.config);
  if (config && args.image !== undefined && !config.diskimages.some((d) => d.name === args.image)) {
    const known = config.diskimages.map((d) => d.name).join(', ') || 'none';
    throw new CliError(`diskimage ${args.image} is not in ${args.config} (diskimages: ${known})`, 2);
  }
  const t = await connectTemporal(config);
  try {
    const image = args.retry !== undefined ? await imageOfBuild(t, args.retry) : (args.image as string);
    if (args.image !== undefined && args.image !== image)
      throw new CliError(`build ${args.retry} is a build of ${image}, not ${args.image}`, 2);
    const running = await runningBuild(t, image);
    if (running) {
      if (!args.wait)
        throw new CliError(
          `a build of ${image} is already running (${running}); follow it with nodepool image-build ${image} --wait`,
          1,
        );
      process.stdout.write(`a build of ${image} is already running: ${running}; following it\n`);
      return await follow(t.client.workflow.getHandle(running), args.timeout);
    }
    const now = Date.now();
    const workflowId =
      args.retry !== undefined ? retryBuildWorkflowId(image, args.retry, now) : manualBuildWorkflowId(image, now);
    const handle = await t.client.workflow.start('imageBuild', {
      taskQueue: t.taskQueue,
      workflowId,
      args: [{ image, ...(args.retry !== undefined ? { retryBuildId: args.retry } : {}) }],
      typedSearchAttributes: new TypedSearchAttributes([
        { key: NODEPOOL_IMAGE, value: image },
        ...(args.retry !== undefined ? [{ key: NODEPOOL_BUILD, value: args.retry }] : []),
      ]),
      staticSummary:
        args.retry !== undefined ? `retry of build ${args.retry} of ${image}` : `build of ${image} by an operator`,
    });
    process.stdout.write(
      `started ${args.retry !== undefined ? `retry of build ${args.retry}` : 'build'} of ${image}: ${workflowId}\n`,
    );
    if (args.wait) await follow(handle as WorkflowHandle<typeof imageBuildWorkflow>, args.timeout);
  } finally {
    await t.close();
  }
}

export async function imagePause(args: ImagePauseArgs, pause: boolean): Promise<void> {
  const config = loadCliConfig(args.config);
  const t = await connectTemporal(config);
  try {
    const handle = t.client.schedule.getHandle(buildScheduleId(args.image));
    try {
      if (pause) await handle.pause(`paused by an operator (nodepool image-pause ${args.image})`);
      else await handle.unpause(`unpaused by an operator (nodepool image-unpause ${args.image})`);
    } catch (err) {
      if (err instanceof ScheduleNotFoundError)
        throw new CliError(
          `image ${args.image} has no build schedule: is it in nodepool.yaml, and has a worker started since?`,
          2,
        );
      throw err;
    }
    process.stdout.write(`${args.image}: scheduled builds ${pause ? 'paused' : 'resumed'}\n`);
  } finally {
    await t.close();
  }
}
