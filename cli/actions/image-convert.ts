// `nodepool image-convert`: the conversion activity's code run by hand, so an operator can check what a
// build would upload (and which converter this machine would use) without a worker.
import { CliError } from '../errors.ts';
import { convertImage, type ConvertProgress, type VhdConverterChoice } from '../../images/convert.ts';
import type { ImageConvertArgs } from '../commands/image-convert.ts';
import { ImageConvertError } from '../../images/errors.ts';
import { loadCliConfig } from '../config.ts';

/** nodepool.yaml's converter settings apply unless a flag overrides them; the file is optional by default. */
function converterSettings(args: ImageConvertArgs): {
  converter: VhdConverterChoice;
  vhdUtil?: string;
  provider?: string;
} {
  const config = loadCliConfig(args.config);
  if (!config && args.provider !== undefined)
    throw new CliError(`--provider needs a nodepool.yaml, and ${args.config} does not exist; pass -c FILE`, 2);
  let providerConverter: VhdConverterChoice | undefined;
  if (args.provider !== undefined) {
    const provider = config?.providers.find((p) => p.name === args.provider);
    if (!provider) {
      const known = config?.providers.map((p) => p.name).join(', ') || 'none';
      throw new CliError(`provider ${args.provider} is not in ${args.config} (providers: ${known})`, 2);
    }
    providerConverter = provider.vhdConverter;
  }
  const vhdUtil = args['vhd-util'] ?? config?.vhdUtil;
  return {
    converter: args.converter ?? providerConverter ?? config?.vhdConverter ?? 'auto',
    ...(vhdUtil === undefined ? {} : { vhdUtil }),
    ...(args.provider === undefined ? {} : { provider: args.provider }),
  };
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

export async function imageConvert(args: ImageConvertArgs): Promise<void> {
  const settings = converterSettings(args);
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
      converter: settings.converter,
      vhdUtilPath: settings.vhdUtil,
      provider: settings.provider,
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
}
