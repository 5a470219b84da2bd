// The image conversion activity: a build's raw image to one upload format, heartbeating progress so a
// stuck conversion times out and a cancelled one stops, and never leaving half a file behind.
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
}

export type ConvertImageResult = ConvertedImage;

/** Heartbeat details: the last progress seen, so an operator describing the workflow sees how far it got. */
export type ConvertHeartbeat = ConvertProgress;

const HEARTBEAT_EVERY_MS = 500;

export async function convertImage(input: ConvertImageInput): Promise<ConvertImageResult> {
  const ctx = Context.current();
  let last: ConvertHeartbeat = { phase: 'convert', bytesDone: 0, bytesTotal: 0 };
  const onProgress = (p: ConvertProgress): void => {
    const phaseChanged = p.phase !== last.phase;
    last = p;
    if (phaseChanged) ctx.heartbeat(last);
  };
  ctx.heartbeat(last);
  // On a timer rather than per block: vhd-util reports no progress, yet must not look dead to Temporal.
  const beat = setInterval(() => ctx.heartbeat(last), HEARTBEAT_EVERY_MS);
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
      signal: ctx.cancellationSignal,
      log,
    });
    log(
      `converted ${input.input} to ${result.format} with ${result.converter}: ${result.path} ` +
        `(${result.size} bytes, sha256 ${result.sha256})`,
    );
    return result;
  } catch (err) {
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
