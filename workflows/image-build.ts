// One image build, start to finish: record it, build the disk image (or snapshot a template server per
// provider), convert it per provider, upload it everywhere in parallel, and report every upload to the
// provider's catalog, which decides what is current and what is deleted. A retry (`image-build --retry`)
// continues a failed build from its failed step: the disk image and the conversions already made are reused and
// only the providers without a good upload are tried again.
import {
  ActivityFailure,
  ApplicationFailure,
  defineQuery,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { BuildPlan, BuildTarget } from '../activities/images.ts';
import { convertBuild, type ProviderConversion } from './convert-build.ts';
import {
  NODEPOOL_BUILD,
  NODEPOOL_IMAGE,
  NODEPOOL_PROVIDER,
  NODEPOOL_STATE,
  NODEPOOL_VERSION,
} from './search-attributes.ts';

export interface ImageBuildInput {
  /** The diskimage; with retryBuildId it must be that build's. */
  image: string;
  /** Continue this failed build from its failed step instead of starting a new one. */
  retryBuildId?: number;
}

export type ProviderOutcomeState = 'ready' | 'validating' | 'failed' | 'skipped';

export interface ProviderOutcome {
  provider: string;
  state: ProviderOutcomeState;
  uploadId?: number;
  externalId?: string;
  reason?: string;
}

export interface ImageBuildResult {
  image: string;
  buildId: number;
  version: number;
  state: 'ready' | 'partly-failed';
  providers: ProviderOutcome[];
}

/** Where a build is, for `image-build --wait` and the Web UI. */
export interface BuildProgress {
  step: string;
  buildId?: number;
  version?: number;
  /** provider → what is happening there */
  providers: Record<string, string>;
}

export const buildProgressQuery = defineQuery<BuildProgress>('progress');

// The build's records and reports are short database writes (and a signal to the catalog): local activities,
// run by this worker without a round trip through the server for each step.
const records = proxyLocalActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute', maximumAttempts: 20 },
});

function describeFailure(err: unknown): string {
  let cause: unknown = err;
  while (cause instanceof ActivityFailure && cause.cause) cause = cause.cause;
  return cause instanceof Error ? cause.message : String(cause);
}

export async function imageBuild(input: ImageBuildInput): Promise<ImageBuildResult> {
  const progress: Record<string, string> = {};
  const status: BuildProgress = { step: 'planning', providers: progress };
  setHandler(buildProgressQuery, () => status);
  const plan: BuildPlan = await records.planBuild({
    image: input.image,
    ...(input.retryBuildId === undefined ? {} : { retryBuildId: input.retryBuildId }),
  });
  // The version is the build's start in unix seconds, as in the seed (1394514268); a retry keeps its build's.
  const started = await records.startBuild({
    image: plan.image,
    version: plan.retry?.version ?? Math.floor(Date.now() / 1000),
    builder: plan.builder,
    workflowId: plan.retry ? (plan.retry.workflowId ?? workflowInfo().workflowId) : workflowInfo().workflowId,
  });
  const { buildId, logPath, version } = started;
  const targets = plan.targets.filter((t) => !t.paused && !plan.retry?.done.includes(t.provider));
  const skipped: ProviderOutcome[] = plan.targets
    .filter((t) => t.paused)
    .map((t) => ({ provider: t.provider, state: 'skipped', reason: `${t.provider} has ${plan.image} paused` }));

  status.buildId = buildId;
  status.version = version;
  const show = (step: string): void => {
    status.step = step;
    upsertSearchAttributes([{ key: NODEPOOL_STATE, value: step }]);
    const lines = Object.entries(progress).map(([p, s]) => `- ${p}: ${s}`);
    setCurrentDetails([`**${plan.image}** ${version} (build ${buildId}): ${step}`, ...lines].join('\n'));
  };
  upsertSearchAttributes([
    { key: NODEPOOL_IMAGE, value: plan.image },
    { key: NODEPOOL_PROVIDER, value: plan.targets.map((t) => t.provider) },
    { key: NODEPOOL_VERSION, value: version },
    { key: NODEPOOL_BUILD, value: buildId },
  ]);
  for (const t of targets) progress[t.provider] = 'waiting';
  show('building');

  let outcomes: ProviderOutcome[];
  try {
    outcomes =
      plan.builder === 'snapshot'
        ? await Promise.all(targets.map((t) => snapshotTo(plan, t, buildId, version, logPath, progress, show)))
        : await buildConvertUpload(plan, targets, buildId, version, logPath, progress, show);
  } catch (err) {
    const reason = describeFailure(err);
    await records.finishBuild({ buildId, state: 'failed', reason });
    show('failed');
    throw ApplicationFailure.nonRetryable(`build ${buildId} of ${plan.image} failed: ${reason}`, 'ImageBuildFailed');
  }
  const all = [...outcomes, ...skipped];
  const good = outcomes.filter((o) => o.state === 'ready' || o.state === 'validating');
  const failed = outcomes.filter((o) => o.state === 'failed');
  const reason = failed.map((o) => `${o.provider}: ${o.reason ?? 'failed'}`).join('; ');
  if (good.length === 0 && failed.length > 0) {
    await records.finishBuild({ buildId, state: 'failed', reason });
    show('failed');
    throw ApplicationFailure.nonRetryable(
      `build ${buildId} of ${plan.image} reached no provider: ${reason}`,
      'ImageBuildFailed',
      all,
    );
  }
  await records.finishBuild({ buildId, state: 'ready', ...(reason ? { reason } : {}) });
  const state = failed.length > 0 ? 'partly-failed' : 'ready';
  // Files stay while a provider still lacks the build: `image-build --retry` uploads them.
  if (failed.length === 0) await records.removeUploadedFiles({ buildId });
  show(state);
  await records.pruneBuilds({ image: plan.image });
  return { image: plan.image, buildId, version, state, providers: all };
}

type Show = (step: string) => void;

async function buildConvertUpload(
  plan: BuildPlan,
  targets: BuildTarget[],
  buildId: number,
  version: number,
  logPath: string,
  progress: Record<string, string>,
  show: Show,
): Promise<ProviderOutcome[]> {
  let rawPath = plan.retry?.rawPath;
  const reuse = [...(plan.retry?.files ?? [])];
  if (rawPath === undefined) {
    const { buildDiskImage } = proxyActivities<Activities>({
      // The diskimage's build-timeout bounds the whole build; the heartbeat catches a dead builder sooner.
      startToCloseTimeout: `${plan.buildTimeoutSeconds + 60} seconds`,
      heartbeatTimeout: '2 minutes',
      retry: { initialInterval: '30 seconds', maximumAttempts: 2 },
    });
    const raw = await buildDiskImage.executeWithOptions(
      { summary: `build ${plan.image} ${version} with ${plan.builder}` },
      [{ image: plan.image, version, buildId, imagesDir: plan.imagesDir, logPath }],
    );
    rawPath = raw.rawPath;
    // Recorded at once: a retry of this build starts from here, and a provider wanting raw uploads this file.
    const file = { format: 'raw', path: raw.rawPath, size: raw.size, sha256: raw.sha256, converter: 'builder' };
    await records.recordBuildFiles(buildId, [file]);
    reuse.push(file);
  }
  if (targets.length === 0) return [];
  show('converting');
  for (const t of targets) progress[t.provider] = `converting to ${t.format}`;
  const conversions: ProviderConversion[] = await convertBuild({
    buildId,
    image: plan.image,
    version,
    rawPath,
    imagesDir: plan.imagesDir,
    targets: targets.map((t) => ({
      provider: t.provider,
      format: t.format,
      ...(t.vhdConverter ? { vhdConverter: t.vhdConverter } : {}),
    })),
    ...(plan.vhdUtilPath ? { vhdUtilPath: plan.vhdUtilPath } : {}),
    logPath,
    reuse,
  });
  show('uploading');
  return Promise.all(
    conversions.map(async (c) => {
      const target = targets.find((t) => t.provider === c.provider) as BuildTarget;
      const { uploadId, externalName } = await records.registerUpload({
        buildId,
        provider: c.provider,
        format: c.format,
        validate: plan.validate,
      });
      if (!c.file) return fail(uploadId, c.provider, `conversion to ${c.format} failed: ${c.error}`, progress, show);
      progress[c.provider] = `uploading ${c.format} (upload ${uploadId})`;
      show('uploading');
      const { uploadImageFile } = proxyActivities<Activities>(uploadOptions(target));
      try {
        const uploaded = await uploadImageFile.executeWithOptions(
          { summary: `upload ${externalName} (${c.format}, upload ${uploadId}) to ${c.provider}` },
          [
            {
              provider: c.provider,
              uploadId,
              buildId,
              image: plan.image,
              name: externalName,
              path: c.file.path,
              format: c.format,
              size: c.file.size,
              sha256: c.file.sha256,
            },
          ],
        );
        const state = plan.validate ? 'validating' : 'ready';
        await records.reportUpload({
          uploadId,
          state,
          externalId: uploaded.externalId,
          size: c.file.size,
          sha256: c.file.sha256,
        });
        progress[c.provider] = `${state} (upload ${uploadId}, image ${uploaded.externalId})`;
        show('uploading');
        return { provider: c.provider, state, uploadId, externalId: uploaded.externalId } satisfies ProviderOutcome;
      } catch (err) {
        return fail(uploadId, c.provider, describeFailure(err), progress, show);
      }
    }),
  );
}

function uploadOptions(target: BuildTarget): ActivityOptions {
  const budget = `${target.uploadTimeoutSeconds} seconds`;
  return {
    // image-upload-timeout is the upload's whole budget, retries included; the heartbeat (sent every few
    // seconds) notices a dead worker within half a minute, so its attempt is retried at once elsewhere.
    scheduleToCloseTimeout: budget,
    startToCloseTimeout: budget,
    heartbeatTimeout: '30 seconds',
    // Quota and rate-limit answers come back retryable with their own delay; a provider that keeps failing
    // ends FAILED with its reason without failing the others.
    retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
  };
}

async function fail(
  uploadId: number,
  provider: string,
  reason: string,
  progress: Record<string, string>,
  show: Show,
): Promise<ProviderOutcome> {
  await records.reportUpload({ uploadId, state: 'failed', reason });
  progress[provider] = `failed: ${reason}`;
  show('uploading');
  return { provider, state: 'failed', uploadId, reason };
}

async function snapshotTo(
  plan: BuildPlan,
  target: BuildTarget,
  buildId: number,
  version: number,
  logPath: string,
  progress: Record<string, string>,
  show: Show,
): Promise<ProviderOutcome> {
  const { uploadId, externalName, hostname } = await records.registerUpload({
    buildId,
    provider: target.provider,
    validate: plan.validate,
  });
  progress[target.provider] = `snapshot build on ${hostname} (upload ${uploadId})`;
  show('building');
  const { snapshotBuild } = proxyActivities<Activities>({
    startToCloseTimeout: `${plan.buildTimeoutSeconds + 60} seconds`,
    heartbeatTimeout: '2 minutes',
    retry: { initialInterval: '30 seconds', backoffCoefficient: 2, maximumAttempts: 3 },
  });
  try {
    const made = await snapshotBuild.executeWithOptions(
      { summary: `snapshot build of ${plan.image} ${version} on ${hostname} in ${target.provider}` },
      [
        {
          provider: target.provider,
          image: plan.image,
          uploadId,
          buildId,
          templateName: hostname,
          externalName,
          logPath,
        },
      ],
    );
    const state = plan.validate ? 'validating' : 'ready';
    await records.reportUpload({ uploadId, state, externalId: made.externalId, serverId: made.serverId });
    progress[target.provider] = `${state} (upload ${uploadId}, image ${made.externalId})`;
    show('building');
    return { provider: target.provider, state, uploadId, externalId: made.externalId };
  } catch (err) {
    return fail(uploadId, target.provider, describeFailure(err), progress, show);
  }
}
