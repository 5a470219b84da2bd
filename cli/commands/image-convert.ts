// `nodepool image-convert`: the conversion activity's code run by hand, so an operator can check what a
// build would upload (and which converter this machine would use) without a worker.
import type { CommandModule } from 'yargs';
import { CliError } from '../errors.ts';
import {
  IMAGE_FORMATS,
  VHD_CONVERTER_CHOICES,
  convertImage,
  type ConvertProgress,
  type ImageFormat,
  type VhdConverterChoice,
} from '../../images/convert.ts';
import { ImageConvertError } from '../../images/errors.ts';

interface ImageConvertArgs {
  input: string;
  to: ImageFormat;
  output: string;
  converter: VhdConverterChoice;
  'vhd-util'?: string;
}

function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** A single self-overwriting status line, redrawn at most every 100 ms. */
function ttyProgress(stream: NodeJS.WriteStream): { update(p: ConvertProgress): void; clear(): void } {
  let last = 0;
  let drawn = false;
  return {
    update(p) {
      const now = Date.now();
      if (now - last < 100 && p.bytesDone < p.bytesTotal) return;
      last = now;
      const pct = p.bytesTotal > 0 ? Math.floor((100 * p.bytesDone) / p.bytesTotal) : 0;
      stream.write(`\r\x1b[K${p.phase} ${pct}% (${humanBytes(p.bytesDone)} of ${humanBytes(p.bytesTotal)})`);
      drawn = true;
    },
    clear() {
      if (drawn) stream.write('\r\x1b[K');
    },
  };
}

export const imageConvertCommand: CommandModule<object, ImageConvertArgs> = {
  command: 'image-convert <input>',
  describe: 'Convert a raw disk image to vhd, qcow2 or raw, as the build workflow does',
  builder: (y) =>
    y
      .positional('input', { type: 'string', demandOption: true, describe: 'raw image to convert (not modified)' })
      .option('to', { choices: IMAGE_FORMATS, demandOption: true, describe: 'output format' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'output file' })
      .option('converter', {
        choices: VHD_CONVERTER_CHOICES,
        default: 'auto' as VhdConverterChoice,
        describe: 'for vhd: vhd-util if found (auto), always vhd-util, or the built-in converter',
      })
      .option('vhd-util', { type: 'string', describe: 'path to a patched vhd-util (default: search PATH)' }),
  handler: async (args) => {
    const progress = process.stderr.isTTY ? ttyProgress(process.stderr) : undefined;
    const abort = new AbortController();
    const onSignal = (): void => abort.abort(new CliError('interrupted; no output was written', 130));
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      const result = await convertImage({
        input: args.input,
        output: args.output,
        format: args.to,
        converter: args.converter,
        vhdUtilPath: args['vhd-util'],
        signal: abort.signal,
        ...(progress ? { onProgress: (p: ConvertProgress) => progress.update(p) } : {}),
        log: (line) => process.stderr.write(`${line}\n`),
      });
      progress?.clear();
      process.stdout.write(
        `${result.path}: ${result.format} by ${result.converter}, ${result.size} bytes, sha256 ${result.sha256}\n`,
      );
    } catch (err) {
      progress?.clear();
      if (err instanceof CliError) throw err;
      if (err instanceof ImageConvertError) throw new CliError(err.message, 1);
      throw err;
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  },
};
