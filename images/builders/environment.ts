// Pure: what a builder is run with. The command line and environment of disk-image-create and of a build
// script, and the scrubbing that keeps env-var values (which may be secrets) out of everything that reaches
// Temporal. Nothing here does I/O.
import { dirname, join } from 'node:path';

/** A diskimage as the worker resolved it from nodepool.yaml; never sent through Temporal (env-vars may be secret). */
export interface BuildSpec {
  image: string;
  builder: 'dib' | 'script';
  elements?: string[];
  release?: string;
  envVars: Record<string, string>;
  script?: string;
  /** Default `disk-image-create`, looked up on PATH. */
  dibCmd?: string | undefined;
  /** A virtualenv (its directory, or its bin/python) holding diskimage-builder; its bin/ goes first on PATH. */
  pythonPath?: string | undefined;
  elementsDir?: string;
  formats: string[];
  buildTimeoutSeconds: number;
}

/** Where one attempt builds: a staging directory beside the final image, removed afterwards. */
export interface BuildPaths {
  /** `<images-dir>/<image>-<version>.raw`: the only name a finished image ever has. */
  finalRaw: string;
  /** `<images-dir>/.<image>-<version>.build-<token>`. */
  staging: string;
  /** The builder's output name without extension (diskimage-builder's `-o` and IMAGE_NAME). */
  outputBase: string;
  /** `outputBase.raw`: where the builder must leave the raw image. */
  stagedRaw: string;
  /** TMP_DIR: the builder's scratch space, inside the staging directory so a failure removes it. */
  tmpDir: string;
}

export function imageBaseName(image: string, version: number): string {
  return `${image}-${version}`;
}

export function stagingPrefix(image: string, version: number): string {
  return `.${imageBaseName(image, version)}.build-`;
}

export function buildPaths(imagesDir: string, image: string, version: number, token: string): BuildPaths {
  const base = imageBaseName(image, version);
  const staging = join(imagesDir, `${stagingPrefix(image, version)}${token}`);
  const outputBase = join(staging, base);
  return {
    finalRaw: join(imagesDir, `${base}.raw`),
    staging,
    outputBase,
    stagedRaw: `${outputBase}.raw`,
    tmpDir: join(staging, 'tmp'),
  };
}

/**
 * The only variables a builder inherits from the worker. Everything else the worker has (database URLs,
 * Temporal credentials, cloud passwords) stays out of the build and so out of the image.
 */
export const INHERITED_VARIABLES = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'LANG',
  'LC_ALL',
  'TZ',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
] as const;

/** The bin/ directory of a virtualenv given as its directory or as its bin/python. */
export function venvBin(pythonPath: string): string {
  return /\/bin\/python[\d.]*$/.test(pythonPath) ? dirname(pythonPath) : join(pythonPath, 'bin');
}

/** PATH with `dirs` first (each once), so a venv's console scripts (dib-run-parts, element-info…) are found. */
export function pathWith(dirs: string[], path: string): string {
  const rest = path.split(':').filter((d) => d && !dirs.includes(d));
  return [...new Set(dirs), ...rest].join(':');
}

function inherited(base: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED_VARIABLES) {
    const v = base[name];
    if (v !== undefined) env[name] = v;
  }
  return env;
}

/** disk-image-create's arguments, as nodepool's builder passes them (traced, raw, no tmpfs). */
export function dibArguments(spec: BuildSpec, paths: BuildPaths): string[] {
  return ['-x', '-t', 'raw', '--no-tmpfs', '-o', paths.outputBase, ...(spec.elements ?? [])];
}

export interface BuildEnvironmentInput {
  spec: BuildSpec;
  paths: BuildPaths;
  version: number;
  buildId: number;
  /** The worker's environment; only INHERITED_VARIABLES are taken from it. */
  base: NodeJS.ProcessEnv;
  /** Directories to put first on PATH (the builder's own bin directory). */
  pathFirst?: string[];
}

/**
 * The builder's environment. Order matters: the diskimage's env-vars override what we derive (a DIB_RELEASE
 * in env-vars wins over `release`), except TMP_DIR, which must stay inside the staging directory so that a
 * failed build's scratch space is removed with it.
 */
export function buildEnvironment(input: BuildEnvironmentInput): Record<string, string> {
  const { spec, paths } = input;
  const env = inherited(input.base);
  env.PATH = pathWith(
    input.pathFirst ?? [],
    env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  );
  env.NODEPOOL_IMAGE_NAME = spec.image;
  env.NODEPOOL_IMAGE_VERSION = String(input.version);
  env.NODEPOOL_BUILD_ID = String(input.buildId);
  env.NODEPOOL_IMAGE_FORMATS = spec.formats.join(' ');
  if (spec.release !== undefined) env.DIB_RELEASE = spec.release;
  if (spec.elementsDir !== undefined) env.ELEMENTS_PATH = spec.elementsDir;
  if (spec.builder === 'script') {
    // diskimage-builder's names, so a script written as a dib element hook finds what it expects.
    env.IMAGE_NAME = paths.outputBase;
    env.IMAGE_PATH = paths.stagedRaw;
    env.NODEPOOL_IMAGE_PATH = paths.stagedRaw;
    env.IMAGE_TYPE = 'raw';
    if (spec.elements) env.NODEPOOL_ELEMENTS = spec.elements.join(' ');
  }
  Object.assign(env, spec.envVars);
  env.TMP_DIR = paths.tmpDir;
  return env;
}

/** Values shorter than this are not scrubbed: "1" or "yes" would mangle every message and hide nothing. */
export const MIN_SCRUBBED_LENGTH = 4;

/** Replaces every env-var value in text bound for Temporal (errors, heartbeats, worker log) with its name. */
export function scrubber(envVars: Record<string, string>): (text: string) => string {
  const secrets = Object.entries(envVars)
    .filter(([, v]) => v.length >= MIN_SCRUBBED_LENGTH)
    // Longest first, so a value containing another is replaced whole.
    .sort(([, a], [, b]) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const [name, value] of secrets) out = out.split(value).join(`<env-vars ${name}>`);
    return out;
  };
}

/** Partitioned layouts run kpartx, which needs device-mapper; this note goes to the build log where it is missing. */
export const PARTITIONED_ELEMENTS = ['vm', 'block-device-mbr', 'block-device-gpt', 'block-device-efi'];

export function partitionNote(elements: string[] | undefined, hasDeviceMapper: boolean): string | undefined {
  const partitioned = (elements ?? []).filter((e) => PARTITIONED_ELEMENTS.includes(e));
  if (partitioned.length === 0 || hasDeviceMapper) return undefined;
  return (
    `elements ${partitioned.join(', ')} make a partitioned image, which needs device-mapper (kpartx), and this ` +
    `host has no /dev/mapper/control; expect the block-device step to fail. Leave them out for a partitionless image.`
  );
}
