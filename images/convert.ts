// One entry point for turning a build's raw image into an upload format. It picks the converter
// (qemu-img for qcow2/raw; vhd-util or the built-in writer for vhd), holds the output's lock, works under a
// temporary name beside the output and renames only a finished file into place, so no caller ever sees half
// an image, and the build's raw file is never modified.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { access, constants, open, readdir, rename, rm, stat, statfs } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { IMAGE_FORMATS, VHD_CONVERTERS, type ImageFormat, type VhdConverter } from '../config/schema.ts';
import { ImageConvertError } from './errors.ts';
import { blocksTouched, extentBytes, rawDataExtents, wholeFile, type Extent } from './extents.ts';
import { detectImageFormat, notRawMessage } from './image-format.ts';
import { withOutputLock } from './output-lock.ts';
import { sparseCopy } from './sparse-copy.ts';
import { findOnPath, isExecutableFile, locateVhdUtil, requireQemuImg, requireVhdUtil } from './tools.ts';
import { MAX_VIRTUAL_SIZE, SECTOR_SIZE, VHD_BLOCK_SIZE, dynamicLayout } from './vhd-format.ts';
import { writeDynamicVhd } from './vhd-writer.ts';

// One list of formats and converter choices for nodepool.yaml, the activity and the CLI.
export { IMAGE_FORMATS, type ImageFormat };
export const VHD_CONVERTER_CHOICES = VHD_CONVERTERS;
export type VhdConverterChoice = VhdConverter;
export type ConverterName = 'qemu-img' | 'vhd-util' | 'builtin';

export interface ConvertProgress {
  /**
   * waiting: for another attempt's lock on the same output; copy: vhd-util's private copy of the raw;
   * convert: the conversion itself; checksum: hashing the result.
   */
  phase: 'waiting' | 'copy' | 'convert' | 'checksum';
  bytesDone: number;
  bytesTotal: number;
}

export interface ConvertImageOptions {
  input: string;
  output: string;
  format: ImageFormat;
  /** Only matters for vhd. */
  converter?: VhdConverterChoice;
  vhdUtilPath?: string | undefined;
  qemuImgPath?: string | undefined;
  /** Named in errors about missing tools. */
  provider?: string | undefined;
  onProgress?: (p: ConvertProgress) => void;
  signal?: AbortSignal;
  /** Receives what external tools print, line by line (the build log). */
  log?: (line: string) => void;
  /** PATH to search for tools; the process's PATH by default. */
  pathList?: string | undefined;
  /** Who is converting, named in the output's lock so a waiting attempt can say whom it waits for. */
  owner?: string | undefined;
}

export interface ConvertedImage {
  path: string;
  format: ImageFormat;
  converter: ConverterName;
  size: number;
  sha256: string;
}

async function checkInput(input: string, format: ImageFormat): Promise<number> {
  let st;
  try {
    st = await stat(input);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ImageConvertError(
      'bad-input',
      code === 'ENOENT'
        ? `input image ${input} does not exist; check the build produced it`
        : `cannot stat input image ${input}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (!st.isFile())
    throw new ImageConvertError(
      'bad-input',
      `input image ${input} is not a regular file; give the path of a raw image`,
    );
  try {
    await access(input, constants.R_OK);
  } catch (err) {
    throw new ImageConvertError('bad-input', `input image ${input} is not readable: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (st.size === 0)
    throw new ImageConvertError('bad-input', `input image ${input} is empty (0 bytes); the build produced no image`);
  const detected = await detectImageFormat(input);
  if (detected.format !== 'raw') throw new ImageConvertError('bad-input', notRawMessage(input, detected));
  // Disks are whole sectors; a raw image that is not is almost surely a cut-short copy, and padding it
  // silently would hide that. An operator who means it can pad with `truncate -s %512`.
  if (st.size % SECTOR_SIZE !== 0)
    throw new ImageConvertError(
      'bad-input',
      `input image ${input} is ${st.size} bytes, not a whole number of 512-byte sectors, so it is probably ` +
        `truncated. Rebuild it, or pad it deliberately with: truncate -s %512 ${input}`,
    );
  if (format === 'vhd' && st.size > MAX_VIRTUAL_SIZE)
    throw new ImageConvertError(
      'bad-input',
      `input image ${input} is ${st.size} bytes; VHD cannot hold more than 2040 GiB (${MAX_VIRTUAL_SIZE} bytes)`,
    );
  return st.size;
}

async function checkOutput(input: string, output: string): Promise<void> {
  if (resolve(input) === resolve(output))
    throw new ImageConvertError('bad-output', `output ${output} is the input image; name a different output file`);
  const dir = dirname(resolve(output));
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw new ImageConvertError(
      'bad-output',
      `cannot write ${output}: its directory ${dir} is missing or not writable (${(err as Error).message})`,
      { cause: err },
    );
  }
  const existing = await stat(output).catch(() => undefined);
  if (existing?.isDirectory())
    throw new ImageConvertError('bad-output', `output ${output} is a directory; name a file inside it`);
}

const TEMPORARY_TAGS = ['partial', 'intermediate'] as const;

function temporaryBeside(output: string, tag: (typeof TEMPORARY_TAGS)[number]): string {
  return join(dirname(resolve(output)), `.${basename(output)}.${tag}-${randomBytes(4).toString('hex')}`);
}

/**
 * Removes what an earlier attempt at the same output left when its process died without cleaning up
 * (killed worker, lost machine), so repeated crashes cannot fill the disk. Only ever called holding the
 * output's lock, so no live attempt's files are among them.
 */
async function removeLeftovers(output: string, log?: (line: string) => void): Promise<void> {
  const dir = dirname(resolve(output));
  const prefixes = TEMPORARY_TAGS.map((tag) => `.${basename(output)}.${tag}-`);
  for (const name of await readdir(dir)) {
    if (!prefixes.some((p) => name.startsWith(p))) continue;
    log?.(`removing ${join(dir, name)}, left by an earlier conversion to ${output}`);
    await rm(join(dir, name), { force: true });
  }
}

/** Runs a tool, sending its output lines to `log`; `onOutput` sees raw chunks (qemu-img -p progress). */
function runTool(
  cmd: string,
  args: string[],
  opts: { signal?: AbortSignal; log?: (line: string) => void; onStdout?: (chunk: string) => void },
): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    opts.signal?.throwIfAborted();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const emit = (text: string): void => {
      for (const line of text.split(/[\r\n]+/)) {
        const l = line.trim();
        if (!l) continue;
        tail.push(l);
        if (tail.length > 20) tail.shift();
        opts.log?.(`${basename(cmd)}: ${l}`);
      }
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => (opts.onStdout ? opts.onStdout(d) : emit(d)));
    child.stderr.setEncoding('utf8').on('data', emit);
    const onAbort = (): void => void child.kill('SIGTERM');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err) => {
      opts.signal?.removeEventListener('abort', onAbort);
      reject(new ImageConvertError('tool-missing', `cannot run ${cmd}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, sig) => {
      opts.signal?.removeEventListener('abort', onAbort);
      if (opts.signal?.aborted) return reject(opts.signal.reason as Error);
      if (code === 0) return resolvePromise();
      reject(
        new ImageConvertError(
          'tool-failed',
          `${cmd} ${args.join(' ')} failed (${sig ? `signal ${sig}` : `exit ${code}`}): ${tail.join(' | ') || 'no output'}`,
        ),
      );
    });
  });
}

async function withQemuImg(opts: ConvertImageOptions, size: number, tmp: string): Promise<void> {
  const qemuImg = requireQemuImg({
    configuredPath: opts.qemuImgPath,
    provider: opts.provider,
    pathList: opts.pathList,
  });
  // As diskimage-builder does: qemu-img convert -f raw -O <format>; -p for progress we can heartbeat.
  await runTool(qemuImg, ['convert', '-p', '-f', 'raw', '-O', opts.format, opts.input, tmp], {
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.log ? { log: opts.log } : {}),
    onStdout: (chunk) => {
      const matches = [...chunk.matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)];
      const last = matches.at(-1);
      if (last)
        opts.onProgress?.({
          phase: 'convert',
          bytesDone: Math.round((Number(last[1]) / 100) * size),
          bytesTotal: size,
        });
    },
  });
}

/** vhd-util sizes its VHD in whole 2 MiB blocks and fills the rest from whatever follows the data it read. */
export function paddedForVhdUtil(size: number): number {
  return Math.ceil(size / VHD_BLOCK_SIZE) * VHD_BLOCK_SIZE;
}

async function withVhdUtil(
  opts: ConvertImageOptions,
  vhdUtil: string,
  size: number,
  extents: readonly Extent[] | undefined,
  tmp: string,
  signal: AbortSignal,
): Promise<void> {
  // vhd-util converts in place and leaves a .bak; it must never touch the build's raw file.
  const intermediate = temporaryBeside(opts.output, 'intermediate');
  const toolOpts = { signal, ...(opts.log ? { log: opts.log } : {}) };
  let watch: NodeJS.Timeout | undefined;
  try {
    opts.onProgress?.({ phase: 'copy', bytesDone: 0, bytesTotal: size });
    // Sparse, and zero-padded to whole 2 MiB blocks: on a raw that is not, the real vhd-util's VHD carries
    // its own footer ("conectix…") as disk content past the raw's end, where a guest would read it.
    await sparseCopy({
      input: opts.input,
      output: intermediate,
      size: paddedForVhdUtil(size),
      extents,
      signal,
      onProgress: (bytesDone) => opts.onProgress?.({ phase: 'copy', bytesDone, bytesTotal: size }),
    });
    signal.throwIfAborted();
    opts.onProgress?.({ phase: 'convert', bytesDone: 0, bytesTotal: size });
    // vhd-util prints no progress: the growth of the files it writes stands in for it, so a caller can tell a
    // slow conversion from a stuck one.
    watch = setInterval(() => {
      void Promise.all([stat(intermediate).catch(() => undefined), stat(tmp).catch(() => undefined)]).then(([a, b]) => {
        const written = (b?.size ?? 0) + Math.max(0, (a?.size ?? 0) - paddedForVhdUtil(size));
        opts.onProgress?.({ phase: 'convert', bytesDone: Math.min(written, size), bytesTotal: size });
      });
    }, 1000);
    // diskimage-builder's two steps: raw (0) to fixed (1) in place, then fixed (1) to dynamic (2).
    await runTool(vhdUtil, ['convert', '-s', '0', '-t', '1', '-i', intermediate, '-o', intermediate], toolOpts);
    await runTool(vhdUtil, ['convert', '-s', '1', '-t', '2', '-i', intermediate, '-o', tmp], toolOpts);
    opts.onProgress?.({ phase: 'convert', bytesDone: size, bytesTotal: size });
  } finally {
    clearInterval(watch);
    await rm(intermediate, { force: true });
    await rm(`${intermediate}.bak`, { force: true });
  }
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function sha256Of(
  path: string,
  opts: ConvertImageOptions,
  signal: AbortSignal,
): Promise<{ size: number; sha256: string }> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const hash = createHash('sha256');
    // One buffer, reused: a read stream allocates a fresh one per chunk and the process grows until GC.
    const buf = Buffer.alloc(1024 * 1024);
    for (let done = 0; done < size;) {
      signal.throwIfAborted();
      const { bytesRead } = await fh.read(buf, 0, buf.length, done);
      if (bytesRead === 0) throw new Error(`${path} shrank to ${done} bytes while being checksummed`);
      hash.update(buf.subarray(0, bytesRead));
      done += bytesRead;
      opts.onProgress?.({ phase: 'checksum', bytesDone: done, bytesTotal: size });
    }
    return { size, sha256: hash.digest('hex') };
  } finally {
    await fh.close();
  }
}

const human = (n: number): string =>
  n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;

/** Roughly how much free space a conversion needs in the output's directory, for the out-of-space message. */
export function spaceNeeded(
  converter: ConverterName,
  format: ImageFormat,
  size: number,
  extents: readonly Extent[],
): number {
  const data = extentBytes(extents);
  if (converter === 'builtin') {
    const layout = dynamicLayout(size);
    return layout.firstBlockOffset + [...blocksTouched(extents, VHD_BLOCK_SIZE)].length * layout.blockStride + 512;
  }
  if (converter === 'vhd-util') {
    // The sparse copy, then a dynamic VHD in which vhd-util allocates every block.
    const padded = paddedForVhdUtil(size);
    const layout = dynamicLayout(padded);
    return data + layout.firstBlockOffset + layout.maxTableEntries * layout.blockStride + 512;
  }
  return format === 'raw' ? data : Math.ceil(data * 1.01) + 1024 * 1024;
}

const NO_SPACE = new Set(['ENOSPC', 'EDQUOT']);

/** A clear message for a full disk or exhausted quota, naming the directory and the space the job needs. */
async function noSpaceError(
  code: string,
  opts: ConvertImageOptions,
  needed: number,
  cause: unknown,
): Promise<ImageConvertError> {
  const dir = dirname(resolve(opts.output));
  const fs = await statfs(dir).catch(() => undefined);
  const free = fs ? ` and ${human(fs.bavail * fs.bsize)} is free there now` : '';
  const what = code === 'EDQUOT' ? 'disk quota exceeded' : 'no space left on device';
  return new ImageConvertError(
    'no-space',
    `${what} in ${dir} while converting ${opts.input} to ${opts.format} (${opts.output}): ` +
      `this conversion needs about ${human(needed)} there${free}. ` +
      `Free space in ${dir} (old builds' images), or point images-dir at a larger file system; ` +
      `nothing was left behind.`,
    { cause },
  );
}

/** The qemu-img that can map the raw's holes, if there is one; never an error, it only speeds things up. */
function qemuImgForMap(opts: ConvertImageOptions): string | undefined {
  if (opts.qemuImgPath) return isExecutableFile(opts.qemuImgPath) ? opts.qemuImgPath : undefined;
  return findOnPath('qemu-img', opts.pathList);
}

/** Which converter would run for these options, without running it; throws when a forced tool is missing. */
export function chooseConverter(
  opts: Pick<ConvertImageOptions, 'format' | 'converter' | 'vhdUtilPath' | 'provider' | 'pathList'>,
): {
  converter: ConverterName;
  vhdUtil?: string;
} {
  if (opts.format !== 'vhd') return { converter: 'qemu-img' };
  const choice = opts.converter ?? 'auto';
  const lookup = { configuredPath: opts.vhdUtilPath, provider: opts.provider, pathList: opts.pathList };
  if (choice === 'builtin') return { converter: 'builtin' };
  if (choice === 'vhd-util') return { converter: 'vhd-util', vhdUtil: requireVhdUtil(lookup) };
  const found = locateVhdUtil(lookup);
  return found ? { converter: 'vhd-util', vhdUtil: found } : { converter: 'builtin' };
}

export async function convertImage(opts: ConvertImageOptions): Promise<ConvertedImage> {
  if (!IMAGE_FORMATS.includes(opts.format))
    throw new ImageConvertError('bad-input', `unknown image format ${String(opts.format)}; use vhd, qcow2 or raw`);
  const size = await checkInput(opts.input, opts.format);
  await checkOutput(opts.input, opts.output);
  const chosen = chooseConverter(opts);
  opts.signal?.throwIfAborted();

  return withOutputLock(
    opts.output,
    {
      owner: opts.owner,
      signal: opts.signal,
      log: opts.log,
      onWait: () => opts.onProgress?.({ phase: 'waiting', bytesDone: 0, bytesTotal: size }),
    },
    async (held): Promise<ConvertedImage> => {
      const signal = opts.signal ? AbortSignal.any([opts.signal, held.signal]) : held.signal;
      await removeLeftovers(opts.output, opts.log);
      const tmp = temporaryBeside(opts.output, 'partial');
      let extents: Extent[] | undefined;
      try {
        if (chosen.converter !== 'qemu-img')
          extents = await rawDataExtents(opts.input, { qemuImg: qemuImgForMap(opts), signal, log: opts.log });
        if (chosen.converter === 'builtin') {
          await writeDynamicVhd({
            input: opts.input,
            output: tmp,
            extents,
            signal,
            onProgress: (p) => opts.onProgress?.({ phase: 'convert', ...p }),
          });
        } else if (chosen.converter === 'vhd-util') {
          await withVhdUtil(opts, chosen.vhdUtil as string, size, extents, tmp, signal);
        } else {
          await withQemuImg({ ...opts, signal }, size, tmp);
        }
        signal.throwIfAborted();
        const { size: outSize, sha256 } = await sha256Of(tmp, opts, signal);
        // qemu-img writes with cache=unsafe and never flushes: the data must be on disk before the name says done.
        await fsyncPath(tmp);
        await held.stillHeld();
        await rename(tmp, opts.output);
        await fsyncPath(dirname(opts.output));
        return { path: opts.output, format: opts.format, converter: chosen.converter, size: outSize, sha256 };
      } catch (err) {
        await rm(tmp, { force: true });
        if (opts.signal?.aborted) throw opts.signal.reason;
        if (held.signal.aborted) throw held.signal.reason;
        const e = err as NodeJS.ErrnoException;
        const code =
          e.code && NO_SPACE.has(e.code)
            ? e.code
            : err instanceof ImageConvertError &&
                err.kind === 'tool-failed' &&
                /No space left on device/i.test(err.message)
              ? 'ENOSPC'
              : err instanceof ImageConvertError &&
                  err.kind === 'tool-failed' &&
                  /Disk quota exceeded/i.test(err.message)
                ? 'EDQUOT'
                : undefined;
        if (code)
          throw await noSpaceError(
            code,
            opts,
            spaceNeeded(chosen.converter, opts.format, size, extents ?? wholeFile(size)),
            err,
          );
        if (err instanceof ImageConvertError) throw err;
        if (e.code === 'EACCES' || e.code === 'EROFS')
          throw new ImageConvertError('bad-output', `cannot write ${opts.output}: ${e.message}`, { cause: err });
        throw err;
      }
    },
  );
}
