// Finding the external image tools: qemu-img (Debian qemu-utils) and a patched vhd-util, which no
// registry we reach packages, so it is only ever used where an operator installed it.
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { ImageConvertError } from './errors.ts';

export function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable `name` on a PATH-style list of directories. */
export function findOnPath(name: string, pathList: string = process.env.PATH ?? ''): string | undefined {
  for (const dir of pathList.split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

export interface ToolLookup {
  /** An explicit path from configuration; when given it must exist, PATH is not consulted. */
  configuredPath?: string | undefined;
  /** Named in errors so an operator knows which provider's configuration to fix. */
  provider?: string | undefined;
  pathList?: string | undefined;
}

const forProvider = (provider?: string): string => (provider ? ` (needed by provider ${provider})` : '');

/** The configured vhd-util, else the one on PATH, else undefined. A configured path that is not there is an error. */
export function locateVhdUtil(lookup: ToolLookup = {}): string | undefined {
  if (lookup.configuredPath) {
    if (isExecutableFile(lookup.configuredPath)) return lookup.configuredPath;
    throw new ImageConvertError(
      'tool-missing',
      `vhd-util is configured at ${lookup.configuredPath}${forProvider(lookup.provider)}, but no executable file ` +
        `is there. Install a patched vhd-util at that path, correct the path, or set vhd-converter: builtin.`,
    );
  }
  return findOnPath('vhd-util', lookup.pathList);
}

/** vhd-util for a caller that insists on it (`vhd-converter: vhd-util`). */
export function requireVhdUtil(lookup: ToolLookup = {}): string {
  const found = locateVhdUtil(lookup);
  if (found) return found;
  throw new ImageConvertError(
    'tool-missing',
    `vhd-util not found on PATH${forProvider(lookup.provider)}, and vhd-converter is set to vhd-util. ` +
      `Install a patched vhd-util (no package registry carries it), give its path in configuration, ` +
      `or set vhd-converter: auto or builtin to use nodepool's built-in VHD converter.`,
  );
}

export function requireQemuImg(lookup: ToolLookup = {}): string {
  if (lookup.configuredPath) {
    if (isExecutableFile(lookup.configuredPath)) return lookup.configuredPath;
    throw new ImageConvertError(
      'tool-missing',
      `qemu-img is configured at ${lookup.configuredPath}, but it is not there.`,
    );
  }
  const found = findOnPath('qemu-img', lookup.pathList);
  if (found) return found;
  throw new ImageConvertError(
    'tool-missing',
    `qemu-img not found on PATH${forProvider(lookup.provider)}; it converts to qcow2 and raw. ` +
      `Install it with: apt-get install qemu-utils`,
  );
}
