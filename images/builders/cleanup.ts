// Removing a build's staging directory safely. disk-image-create bind-mounts /dev, /proc and /sys into its
// chroot under TMP_DIR and attaches loop devices to its image; a build killed mid-way leaves them there, and a
// recursive delete would walk through a bind-mounted /dev into the host's. So: detach loop devices backed by
// files inside, unmount everything mounted inside (deepest first), and only then delete; refuse if a mount
// stays.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readdir, realpath, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageBuildError } from './errors.ts';

/** Mount points from /proc/self/mountinfo (field 5, with its octal escapes undone). */
export function parseMountPoints(mountinfo: string): string[] {
  return mountinfo
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m)
    .map((m) => m.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/** Pure: the mount points at or under `dir`, deepest first. */
export function mountsUnder(mountPoints: string[], dir: string): string[] {
  return mountPoints
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.split('/').length - a.split('/').length || b.length - a.length);
}

function currentMountsUnder(dir: string): string[] {
  try {
    return mountsUnder(parseMountPoints(readFileSync('/proc/self/mountinfo', 'utf8')), dir);
  } catch {
    return [];
  }
}

/** Loop devices whose backing file is under `dir` (losetup --list), as [device, file]. */
function loopDevicesUnder(dir: string): [string, string][] {
  const r = spawnSync('losetup', ['--list', '--noheadings', '--raw', '--output', 'NAME,BACK-FILE'], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return [];
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/, 2) as [string, string])
    .filter(([dev, file]) => dev && file && (file === dir || file.startsWith(`${dir}/`)));
}

/** Unmounts and detaches what a build left inside `dir`, then removes it. */
export async function removeBuildDir(dir: string, log?: (line: string) => void): Promise<void> {
  let real: string;
  try {
    real = await realpath(dir);
  } catch {
    return;
  }
  for (const mount of currentMountsUnder(real)) {
    log?.(`nodepool: unmounting ${mount}, left mounted by the build`);
    const r = spawnSync('umount', [mount], { encoding: 'utf8' });
    if (r.status !== 0) spawnSync('umount', ['--lazy', mount]);
  }
  const stuck = currentMountsUnder(real);
  if (stuck.length > 0)
    throw new ImageBuildError(
      'cleanup-failed',
      `cannot remove the build directory ${dir}: ${stuck.join(', ')} ${stuck.length === 1 ? 'is' : 'are'} still ` +
        `mounted inside it and could not be unmounted. Unmount by hand (umount -R), then remove the directory.`,
    );
  for (const [dev, file] of loopDevicesUnder(real)) {
    log?.(`nodepool: detaching ${dev} (${file}), left attached by the build`);
    spawnSync('losetup', ['--detach', dev]);
  }
  await rm(dir, { recursive: true, force: true });
}

/** Removes every staging directory of this image version that a dead attempt left (called holding the lock). */
export async function removeStaleStaging(
  imagesDir: string,
  prefix: string,
  log?: (line: string) => void,
): Promise<void> {
  for (const name of await readdir(imagesDir)) {
    if (!name.startsWith(prefix)) continue;
    log?.(`nodepool: removing ${join(imagesDir, name)}, left by an earlier attempt at this build`);
    await removeBuildDir(join(imagesDir, name), log);
  }
}
