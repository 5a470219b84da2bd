// Building one diskimage version into a raw image: with diskimage-builder (`dib`) or an operator's script
// (`script`). Each attempt holds the image's lock, builds in a staging directory of its own beside the final
// name, checks what the builder left is a non-empty raw disk image, and renames it into place; so the final
// name only ever holds a complete, verified image, and a retry after a crash finds either that (and reuses it)
// or a dead attempt's staging directory (and removes it, mounts and all).
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { rawDataExtents } from '../extents.ts';
import { sha256OfFile } from '../checksum.ts';
import { detectImageFormat, notRawMessage } from '../image-format.ts';
import { withOutputLock } from '../output-lock.ts';
import { findOnPath, isExecutableFile } from '../tools.ts';
import { removeBuildDir, removeStaleStaging } from './cleanup.ts';
import {
  buildEnvironment,
  buildPaths,
  dibArguments,
  partitionNote,
  stagingPrefix,
  venvBin,
  type BuildPaths,
  type BuildSpec,
} from './environment.ts';
import { ImageBuildError } from './errors.ts';
import { runBuilder, type RunOutcome } from './run.ts';

export const DIB_VERSION = '3.43.0';

export interface BuildProgress {
  /** waiting: for another attempt's lock; building: the builder runs; checksum: hashing the result. */
  phase: 'waiting' | 'building' | 'checksum';
  logLines: number;
  /** Bytes of the image on disk so far (the builder's output once it appears; hashed bytes while hashing). */
  imageBytes: number;
}

export interface BuildRawImageOptions {
  spec: BuildSpec;
  version: number;
  buildId: number;
  imagesDir: string;
  logPath: string;
  signal?: AbortSignal | undefined;
  /** Named in the lock, so a waiting attempt says whom it waits for. */
  owner?: string | undefined;
  /** PATH searched for disk-image-create, sudo and qemu-img; the worker's by default. */
  pathList?: string | undefined;
  /** The worker's environment, of which only INHERITED_VARIABLES reach the builder. */
  baseEnv?: NodeJS.ProcessEnv | undefined;
  /** SIGTERM → SIGKILL grace for the builder's process group. */
  graceMs?: number | undefined;
  onProgress?: ((p: BuildProgress) => void) | undefined;
  /** Our own notes (not the tool's output), also written to the build log. */
  log?: ((line: string) => void) | undefined;
}

export interface BuiltImage {
  rawPath: string;
  size: number;
  sha256: string;
  /** True when a complete image from an earlier attempt at this build was found and kept. */
  reused: boolean;
}

interface Command {
  cmd: string;
  args: string[];
  pathFirst: string[];
}

const installDib =
  `Install diskimage-builder into a virtualenv: python3 -m venv /opt/dib && ` +
  `/opt/dib/bin/pip install diskimage-builder==${DIB_VERSION}, then set dib-cmd: /opt/dib/bin/disk-image-create ` +
  `(or put disk-image-create on the worker's PATH).`;

/** Which program runs, found where configuration says; a clear non-retryable error when it is not there. */
export function resolveCommand(spec: BuildSpec, paths: BuildPaths, pathList: string): Command {
  if (spec.builder === 'script') {
    if (!spec.script)
      throw new ImageBuildError('bad-config', `diskimage ${spec.image} has builder: script but no script to run`);
    const script = resolve(spec.script);
    if (!existsSync(script))
      throw new ImageBuildError('bad-config', `build script ${script} for diskimage ${spec.image} does not exist`);
    if (!isExecutableFile(script))
      throw new ImageBuildError(
        'bad-config',
        `build script ${script} for diskimage ${spec.image} is not an executable file; chmod +x it ` +
          `(it is run directly, so it needs a #! line)`,
      );
    // The path is also its first argument, so a plain script needs no knowledge of our variables.
    return { cmd: script, args: [paths.stagedRaw], pathFirst: [] };
  }
  const venv = spec.pythonPath ? [venvBin(spec.pythonPath)] : [];
  const wanted = spec.dibCmd ?? 'disk-image-create';
  let dib: string | undefined;
  if (wanted.includes('/')) {
    dib = resolve(wanted);
    if (!isExecutableFile(dib))
      throw new ImageBuildError(
        'tool-missing',
        `disk-image-create is configured at ${dib} (dib-cmd) for diskimage ${spec.image}, but no executable ` +
          `file is there. ${installDib}`,
      );
  } else {
    dib = findOnPath(wanted, [...venv, pathList].join(':'));
    if (!dib)
      throw new ImageBuildError(
        'tool-missing',
        `${wanted} (diskimage-builder) not found on PATH${venv.length ? ` or in ${venv[0]}` : ''}; diskimage ` +
          `${spec.image} uses builder: dib. ${installDib}`,
      );
  }
  // Its sibling console scripts (dib-run-parts, element-info, dib-block-device) are found on PATH.
  const pathFirst = [...venv, dirname(dib)];
  if (!findOnPath('sudo', [...pathFirst, pathList].join(':')))
    throw new ImageBuildError(
      'tool-missing',
      `sudo not found on PATH: diskimage-builder runs its privileged steps through sudo, even as root. ` +
        `Install it (apt-get install sudo).`,
    );
  return { cmd: dib, args: dibArguments(spec, paths), pathFirst };
}

/** A raw disk image: a regular, non-empty file of whole sectors that is no known container format. */
async function verifyRaw(path: string, what: string): Promise<void> {
  const st = await stat(path).catch(() => undefined);
  if (!st)
    throw new ImageBuildError(
      'no-image',
      `${what} finished without error but left no image at ${path}; it must write a raw disk image there`,
    );
  if (!st.isFile() || st.size === 0)
    throw new ImageBuildError(
      'no-image',
      `${what} left ${st.isFile() ? 'an empty file' : 'something that is not a regular file'} at ${path}, not a disk image`,
    );
  const detected = await detectImageFormat(path);
  if (detected.format !== 'raw')
    throw new ImageBuildError('bad-image', `${what} left a non-raw image: ${notRawMessage(path, detected)}`);
  if (st.size % 512 !== 0)
    throw new ImageBuildError(
      'bad-image',
      `${what} left ${st.size} bytes at ${path}, not a whole number of 512-byte sectors, so not a disk image`,
    );
}

async function fsyncDir(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function describe(spec: BuildSpec): string {
  return spec.builder === 'dib' ? 'disk-image-create' : `build script ${spec.script ?? ''}`;
}

function failure(spec: BuildSpec, outcome: RunOutcome, opts: BuildRawImageOptions): ImageBuildError {
  const last = outcome.tail.slice(-5).join(' | ') || 'no output';
  if (outcome.kind === 'timeout')
    return new ImageBuildError(
      'timeout',
      `building ${spec.image} with ${describe(spec)} took longer than its build-timeout of ` +
        `${spec.buildTimeoutSeconds} s and was killed. Raise build-timeout for diskimage ${spec.image} if builds ` +
        `need longer. Last output: ${last}`,
    );
  const how =
    outcome.kind === 'exited' && outcome.signal
      ? `signal ${outcome.signal}`
      : `exit ${outcome.kind === 'exited' ? outcome.code : '?'}`;
  if (outcome.tail.some((l) => /No space left on device/i.test(l)))
    return new ImageBuildError(
      'no-space',
      `building ${spec.image} failed (${how}): no space left on device (images-dir ${opts.imagesDir}, where ` +
        `the build's scratch space is too). Free space there; see the build log ${opts.logPath}`,
    );
  return new ImageBuildError(
    'failed',
    `building ${spec.image} with ${describe(spec)} failed (${how}); see the build log ${opts.logPath}. Last output: ${last}`,
  );
}

export async function buildRawImage(opts: BuildRawImageOptions): Promise<BuiltImage> {
  const { spec } = opts;
  const pathList = opts.pathList ?? process.env.PATH ?? '';
  const note = async (line: string): Promise<void> => {
    opts.log?.(line);
    // The build log is for people; failing to append to it must not fail the build.
    await appendFile(opts.logPath, `nodepool: ${line}\n`).catch(() => undefined);
  };
  await mkdir(dirname(resolve(opts.logPath)), { recursive: true });
  await mkdir(opts.imagesDir, { recursive: true });
  const imagesDir = resolve(opts.imagesDir);
  const paths = buildPaths(imagesDir, spec.image, opts.version, randomBytes(4).toString('hex'));
  // Resolved before the lock: a missing tool fails at once, without waiting for anyone.
  const command = resolveCommand(spec, paths, pathList);
  let logLines = 0;
  const progress = (phase: BuildProgress['phase'], imageBytes = 0): void =>
    opts.onProgress?.({ phase, logLines, imageBytes });
  progress('waiting');

  return withOutputLock(
    paths.finalRaw,
    { owner: opts.owner, signal: opts.signal, log: (l) => void note(l) },
    async (held): Promise<BuiltImage> => {
      const signal = opts.signal ? AbortSignal.any([opts.signal, held.signal]) : held.signal;
      const qemuImg = findOnPath('qemu-img', pathList);
      const checksum = async (path: string): Promise<{ size: number; sha256: string }> => {
        const extents = await rawDataExtents(path, { qemuImg, signal });
        return sha256OfFile(path, { extents, signal, onProgress: (done) => progress('checksum', done) });
      };

      if (existsSync(paths.finalRaw)) {
        try {
          await verifyRaw(paths.finalRaw, 'an earlier attempt');
          const sum = await checksum(paths.finalRaw);
          await note(`${paths.finalRaw} is already complete (an earlier attempt at build ${opts.buildId}); reusing it`);
          return { rawPath: paths.finalRaw, ...sum, reused: true };
        } catch (err) {
          if (signal.aborted) throw signal.reason;
          await note(`${paths.finalRaw} exists but is not a usable image (${(err as Error).message}); rebuilding`);
          await rm(paths.finalRaw, { force: true });
        }
      }
      await removeStaleStaging(imagesDir, stagingPrefix(spec.image, opts.version), (l) => void note(l));

      await mkdir(paths.tmpDir, { recursive: true });
      try {
        const env = buildEnvironment({
          spec,
          paths,
          version: opts.version,
          buildId: opts.buildId,
          // The PATH tools were looked up on is the PATH the builder runs with.
          base: { ...(opts.baseEnv ?? process.env), PATH: pathList },
          pathFirst: command.pathFirst,
        });
        const partition =
          spec.builder === 'dib' ? partitionNote(spec.elements, existsSync('/dev/mapper/control')) : undefined;
        if (partition) await note(partition);
        await note(
          `building ${spec.image} version ${opts.version} (build ${opts.buildId}) with ${spec.builder}: ` +
            `${[command.cmd, ...command.args].join(' ')}`,
        );
        // Names only: the values of env-vars may be secrets.
        await note(`environment: ${Object.keys(env).sort().join(' ')} (values not logged)`);
        progress('building');
        const watch = setInterval(() => {
          void stat(paths.stagedRaw).then(
            (st) => progress('building', st.blocks * 512),
            () => progress('building'),
          );
        }, 1000);
        let outcome: RunOutcome;
        const started = Date.now();
        try {
          outcome = await runBuilder({
            cmd: command.cmd,
            args: command.args,
            env,
            cwd: paths.staging,
            logPath: opts.logPath,
            signal,
            timeoutMs: spec.buildTimeoutSeconds * 1000,
            graceMs: opts.graceMs,
            onLine: () => void logLines++,
          });
        } finally {
          clearInterval(watch);
        }
        if (outcome.kind === 'aborted') throw signal.reason;
        if (outcome.kind === 'timeout' || outcome.code !== 0) throw failure(spec, outcome, opts);
        await note(`${describe(spec)} finished in ${((Date.now() - started) / 1000).toFixed(1)} s`);
        await verifyRaw(paths.stagedRaw, describe(spec));
        const sum = await checksum(paths.stagedRaw);
        await held.stillHeld();
        await rename(paths.stagedRaw, paths.finalRaw);
        // diskimage-builder's manifests (<name>.d/dib-manifests) go beside the image, as with -o images-dir.
        const manifests = `${paths.outputBase}.d`;
        if (existsSync(manifests)) {
          const dest = `${paths.finalRaw.slice(0, -'.raw'.length)}.d`;
          await rm(dest, { recursive: true, force: true });
          await rename(manifests, dest);
        }
        await fsyncDir(imagesDir);
        await note(`image ${paths.finalRaw}: ${sum.size} bytes, sha256 ${sum.sha256}`);
        return { rawPath: paths.finalRaw, ...sum, reused: false };
      } finally {
        await removeBuildDir(paths.staging, (l) => void note(l));
      }
    },
  );
}
