// The build activity: one diskimage version built into a raw image by its builder (dib or script). The
// diskimage's settings, env-vars included, are resolved inside the worker from nodepool.yaml (`specFor`), never
// sent through Temporal; env-var values are scrubbed from everything this activity reports (errors,
// heartbeats, the worker log). The build log file holds the tool's own output.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { buildRawImage, type BuildProgress } from '../images/builders/build.ts';
import { scrubber, type BuildSpec } from '../images/builders/environment.ts';
import { ImageBuildError } from '../images/builders/errors.ts';

export type { BuildSpec };

export interface BuildDiskImageInput {
  image: string;
  version: number;
  buildId: number;
  imagesDir: string;
  logPath: string;
}

export interface BuildDiskImageResult {
  rawPath: string;
  size: number;
  sha256: string;
}

/** Heartbeat details: how far the build got; no env-var values. */
export interface BuildHeartbeat extends BuildProgress {
  elapsedSeconds: number;
}

export interface BuildImageDeps {
  specFor(image: string): BuildSpec;
  /** PATH searched for disk-image-create, sudo and qemu-img; the worker's by default. Tests set it. */
  pathList?: string;
  /** The environment builders inherit (only PATH, HOME, locale and proxy variables); the worker's by default. */
  baseEnv?: NodeJS.ProcessEnv;
  /** SIGTERM → SIGKILL grace for a cancelled or timed-out builder's process group (default 30 s). */
  graceMs?: number;
}

const HEARTBEAT_EVERY_MS = 1000;

export function buildImageActivities(deps: BuildImageDeps): {
  buildDiskImage(input: BuildDiskImageInput): Promise<BuildDiskImageResult>;
} {
  return {
    async buildDiskImage(input) {
      const ctx = Context.current();
      let spec: BuildSpec;
      try {
        spec = deps.specFor(input.image);
      } catch (err) {
        throw ApplicationFailure.create({
          message: `diskimage ${input.image}: ${(err as Error).message}`,
          type: 'ImageBuild.bad-config',
          nonRetryable: true,
        });
      }
      const scrub = scrubber(spec.envVars);
      const started = Date.now();
      let last: BuildProgress = { phase: 'waiting', logLines: 0, imageBytes: 0 };
      const beat = (): void =>
        ctx.heartbeat({ ...last, elapsedSeconds: Math.round((Date.now() - started) / 1000) } satisfies BuildHeartbeat);
      beat();
      const timer = setInterval(beat, HEARTBEAT_EVERY_MS);
      const info = ctx.info;
      try {
        const built = await buildRawImage({
          spec,
          version: input.version,
          buildId: input.buildId,
          imagesDir: input.imagesDir,
          logPath: input.logPath,
          signal: ctx.cancellationSignal,
          owner: `${info.workflowExecution?.workflowId ?? 'standalone'} activity ${info.activityId} attempt ${info.attempt}`,
          pathList: deps.pathList,
          baseEnv: deps.baseEnv,
          graceMs: deps.graceMs,
          onProgress: (p) => {
            const phaseChanged = p.phase !== last.phase;
            last = p;
            if (phaseChanged) beat();
          },
          log: (line) => ctx.log.info(scrub(line)),
        });
        ctx.log.info(
          `built ${input.image} version ${input.version}: ${built.rawPath} (${built.size} bytes, sha256 ${built.sha256}` +
            `${built.reused ? ', from an earlier attempt' : ''})`,
        );
        return { rawPath: built.rawPath, size: built.size, sha256: built.sha256 };
      } catch (err) {
        if (ctx.cancellationSignal.aborted) throw err;
        if (err instanceof ImageBuildError)
          throw ApplicationFailure.create({
            message: scrub(err.message),
            type: `ImageBuild.${err.kind}`,
            nonRetryable: !err.retryable,
          });
        // Anything else (an I/O error) is retried; its message is scrubbed, its stack is not sent.
        throw ApplicationFailure.create({
          message: scrub(`building ${input.image} version ${input.version}: ${(err as Error).message}`),
          type: 'ImageBuild.error',
        });
      } finally {
        clearInterval(timer);
      }
    },
  };
}
