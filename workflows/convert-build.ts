// Converts one build's raw image into every format its providers need: one activity per planned file,
// in parallel. A conversion that fails (for example VHD forced to vhd-util on a host without it) fails
// only the providers that needed that file; the others get theirs.
import { ActivityFailure, ApplicationFailure, proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import type { ConvertImageResult } from '../activities/convert.ts';
import type { ImageBuildFile } from '../db/entities/index.ts';
import { planConversions, type ConversionTarget, type TargetFormat } from '../core/conversion-plan.ts';
import { NODEPOOL_IMAGE, NODEPOOL_PROVIDER, NODEPOOL_STATE } from './search-attributes.ts';

const { recordBuildFiles } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 10 },
});

const { convertImage } = proxyActivities<Activities>({
  // Multi-GiB images take minutes; the heartbeat, not this, catches a stuck converter.
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 5 },
});

export interface ConvertBuildInput {
  /** The ImageBuild row to record the files on; omitted by callers that only want the files. */
  buildId?: number;
  image: string;
  version: number;
  rawPath: string;
  /** Directory the converted files are written to. */
  imagesDir: string;
  targets: ConversionTarget[];
  vhdUtilPath?: string;
  logPath?: string;
  /**
   * Files this build already has (the builder's raw, a retried build's earlier conversions): a planned file
   * found here at its path is used as it is instead of converted again.
   */
  reuse?: ImageBuildFile[];
}

/** A file of the build: converted now, or reused (the builder's own raw says `builder`). */
export type BuildFile = Omit<ConvertImageResult, 'converter'> & { converter: string };

export interface ProviderConversion {
  provider: string;
  format: TargetFormat;
  file?: BuildFile;
  /** Why this provider has no file; the build goes on for the others. */
  error?: string;
}

function describeFailure(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) return cause.message;
  return cause instanceof Error ? cause.message : String(cause);
}

export async function convertBuild(input: ConvertBuildInput): Promise<ProviderConversion[]> {
  const plan = planConversions(input.image, input.version, input.targets);
  // The Web UI finds conversions by image, provider and state (e.g. NodepoolImage = "ubuntu").
  upsertSearchAttributes([
    { key: NODEPOOL_IMAGE, value: input.image },
    { key: NODEPOOL_PROVIDER, value: [...new Set(input.targets.map((t) => t.provider))] },
    { key: NODEPOOL_STATE, value: 'converting' },
  ]);
  const outcomes = await Promise.all(
    plan.map(async (p) => {
      const output = `${input.imagesDir}/${p.fileName}`;
      const have = input.reuse?.find((f) => f.path === output && f.format === p.format);
      if (have) {
        const file: BuildFile = {
          path: have.path,
          format: p.format,
          converter: have.converter ?? 'builder',
          size: have.size,
          sha256: have.sha256,
        };
        return { plan: p, file };
      }
      try {
        const file: BuildFile = await convertImage({
          input: input.rawPath,
          output,
          format: p.format,
          vhdConverter: p.converter,
          provider: p.providers.join(', '),
          ...(input.vhdUtilPath === undefined ? {} : { vhdUtilPath: input.vhdUtilPath }),
          ...(input.logPath === undefined ? {} : { logPath: input.logPath }),
        });
        return { plan: p, file };
      } catch (err) {
        return { plan: p, error: describeFailure(err) };
      }
    }),
  );
  if (input.buildId !== undefined) {
    const made = outcomes.flatMap((o) =>
      o.file
        ? [
            {
              format: o.file.format,
              path: o.file.path,
              size: o.file.size,
              sha256: o.file.sha256,
              converter: o.file.converter,
            },
          ]
        : [],
    );
    if (made.length > 0) await recordBuildFiles(input.buildId, made);
  }
  const failed = outcomes.some((o) => !o.file);
  upsertSearchAttributes([{ key: NODEPOOL_STATE, value: failed ? 'partly-failed' : 'converted' }]);
  return input.targets.map((t) => {
    const outcome = outcomes.find((o) => o.plan.format === t.format && o.plan.providers.includes(t.provider));
    if (!outcome) throw ApplicationFailure.nonRetryable(`no conversion planned for ${t.provider} ${t.format}`);
    return outcome.file
      ? { provider: t.provider, format: t.format, file: outcome.file }
      : { provider: t.provider, format: t.format, error: outcome.error ?? 'conversion failed' };
  });
}
