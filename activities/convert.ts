// The image conversion activity: a build's raw image to one upload format, heartbeating progress so a
// cancelled conversion stops, failing (for a retry) when the converter stops making progress, and never
// leaving half a file behind.
import { appendFile } from 'node:fs/promises';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { convertImage as runConversion } from '../images/convert.ts';
import type { ConvertProgress, ConvertedImage, ImageFormat, VhdConverterChoice } from '../images/convert.ts';
import { ImageConvertError } from '../images/errors.ts';

export interface ConvertImageInput {
  /** The build's raw image; read only. */
  input: string;
  output: string;
  format: ImageFormat;
  /** From configuration `vhd-converter`; auto by default. */
  vhdConverter?: VhdConverterChoice;
  vhdUtilPath?: string;
  /** The provider that needs this format, for error messages. */
  provider?: string;
  /** The build log; external tools' output is appended to it. */
  logPath?: string;
  /** A converter that reports no progress for this long is killed and the attempt fails (retryable). */
  stallTimeoutSeconds?: number;
}

const DEFAULT_STALL_SECONDS = 300;

/** Why a conversion was stopped when its converter went quiet; distinct from a cancellation. */
class Stalled extends Error {}

export type ConvertImageResult = ConvertedImage;

/** Heartbeat details: the last progress seen, so an operator describing the workflow sees how far it got. */
export type ConvertHeartbeat = ConvertProgress;

const HEARTBEAT_EVERY_MS = 500;

export interface ConvertActivityDeps {
  /** PATH searched for qemu-img and vhd-util; the worker's PATH by default. Tests set it so the machine's tools do not decide. */
  pathList?: string;
}

/** The activity with its tool lookup fixed; `convertImage` below is the worker's, searching the worker's PATH. */
export function convertActivity(
  deps: ConvertActivityDeps = {},
): (input: ConvertImageInput) => Promise<ConvertImageResult> {
  return (input) => runConvertActivity(input, deps);
}

export async function convertImage(input: ConvertImageInput): Promise<ConvertImageResult> {
  return runConvertActivity(input, {});
}

async function runConvertActivity(input: ConvertImageInput, deps: ConvertActivityDeps): Promise<ConvertImageResult> {
  const ctx = Context.current();
  const info = ctx.info;
  let last: ConvertHeartbeat = { phase: 'convert', bytesDone: 0, bytesTotal: 0 };
  let advancedAt = Date.now();
  const onProgress = (p: ConvertProgress): void => {
    const phaseChanged = p.phase !== last.phase;
    if (phaseChanged || p.bytesDone !== last.bytesDone) advancedAt = Date.now();
    last = p;
    if (phaseChanged) ctx.heartbeat(last);
  };
  ctx.heartbeat(last);
  // A heartbeat on a timer keeps a slow but moving conversion alive; a tool stuck in I/O (a hung NFS read)
  // would heartbeat forever too, so a conversion whose progress stands still is stopped here instead.
  const stallMs = (input.stallTimeoutSeconds ?? DEFAULT_STALL_SECONDS) * 1000;
  const stall = new AbortController();
  const beat = setInterval(() => {
    // Waiting for another attempt's lock is not a stall: that attempt has its own stall detection.
    if (last.phase === 'waiting') advancedAt = Date.now();
    if (Date.now() - advancedAt > stallMs) {
      stall.abort(new Stalled(`no progress for ${stallMs / 1000} s in phase ${last.phase}`));
      return;
    }
    ctx.heartbeat(last);
  }, HEARTBEAT_EVERY_MS);
  // Tool output is kept in order even though appends are asynchronous.
  let logWrites: Promise<void> = Promise.resolve();
  const log = (line: string): void => {
    ctx.log.info(line);
    if (input.logPath) {
      const path = input.logPath;
      logWrites = logWrites.then(() => appendFile(path, `${line}\n`)).catch(() => undefined);
    }
  };
  try {
    const result = await runConversion({
      input: input.input,
      output: input.output,
      format: input.format,
      converter: input.vhdConverter ?? 'auto',
      vhdUtilPath: input.vhdUtilPath,
      provider: input.provider,
      onProgress,
      signal: AbortSignal.any([ctx.cancellationSignal, stall.signal]),
      log,
      owner: `${info.workflowExecution?.workflowId ?? info.workflowType ?? 'standalone'} activity ${info.activityId} attempt ${info.attempt}`,
      ...(deps.pathList === undefined ? {} : { pathList: deps.pathList }),
    });
    log(
      `converted ${input.input} to ${result.format} with ${result.converter}: ${result.path} ` +
        `(${result.size} bytes, sha256 ${result.sha256})`,
    );
    return result;
  } catch (err) {
    if (err instanceof Stalled) {
      throw ApplicationFailure.create({
        message: `converting ${input.input} to ${input.format} stopped: ${err.message}; the converter was killed and the attempt will be retried`,
        type: 'ImageConvert.stalled',
      });
    }
    if (err instanceof ImageConvertError) {
      throw ApplicationFailure.create({
        message: err.message,
        type: `ImageConvert.${err.kind}`,
        nonRetryable: !err.retryable,
        cause: err,
      });
    }
    throw err;
  } finally {
    clearInterval(beat);
    await logWrites;
  }
}
