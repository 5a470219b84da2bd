// The `dib` builder's side of the contract with diskimage-builder, checked against a recording stand-in
// `disk-image-create` (given as dib-cmd) that keeps its argv and environment and writes a raw image where -o
// says; the real diskimage-builder is exercised by `npm run test:dib`. Also: the missing-tool errors, and
// removing a build directory that still has something mounted inside.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildRawImage, DIB_VERSION, type BuildRawImageOptions } from '../images/builders/build.ts';
import { mountsUnder, parseMountPoints } from '../images/builders/cleanup.ts';
import { partitionNote, type BuildSpec } from '../images/builders/environment.ts';
import { ImageBuildError } from '../images/builders/errors.ts';
import { findOnPath } from '../images/tools.ts';
import { workDir } from './support/images.ts';

/** A stand-in disk-image-create and sudo in `bin`: records argv (one per line) and env, writes `-o`.raw and `-o`.d. */
function standInDib(dir: string, withSudo = true): { bin: string; dib: string; argv: string; env: string } {
  const bin = join(dir, 'dib-bin');
  mkdirSync(bin, { recursive: true });
  const argv = join(dir, 'argv.txt');
  const env = join(dir, 'env.txt');
  const dib = join(bin, 'disk-image-create');
  writeFileSync(
    dib,
    [
      '#!/bin/sh',
      `for a in "$@"; do echo "$a"; done > '${argv}'`,
      `env > '${env}'`,
      'while [ "$1" != "-o" ]; do shift; done; OUT="$2"',
      'echo "dib stand-in: building $OUT.raw"',
      'truncate -s 32M "$OUT.raw"',
      `printf 'stand-in image' | dd of="$OUT.raw" conv=notrunc status=none`,
      'mkdir -p "$OUT.d/dib-manifests" && echo "debian-minimal" > "$OUT.d/dib-manifests/dib_arguments"',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  if (withSudo) writeFileSync(join(bin, 'sudo'), '#!/bin/sh\nexec "$@"\n', { mode: 0o755 });
  return { bin, dib, argv, env };
}

function options(dir: string, spec: Partial<BuildSpec>): BuildRawImageOptions {
  const empty = join(dir, 'empty-bin');
  mkdirSync(empty, { recursive: true });
  return {
    spec: {
      image: 'debian-bookworm',
      builder: 'dib',
      elements: ['debian-minimal', 'growroot'],
      release: 'bookworm',
      envVars: { DIB_DISTRIBUTION_MIRROR: 'http://deb.debian.org/debian', MIRROR_PASSWORD: 'hunter22secret' },
      formats: ['qcow2'],
      buildTimeoutSeconds: 60,
      ...spec,
    },
    version: 1700000000,
    buildId: 3,
    imagesDir: join(dir, 'images'),
    logPath: join(dir, 'build-3.log'),
    // Only what the test provides: the machine's own disk-image-create or sudo must not decide.
    pathList: empty,
  };
}

test('disk-image-create is run with -x -t raw --no-tmpfs -o, the elements, DIB_RELEASE, ELEMENTS_PATH, env-vars and TMP_DIR', async (t) => {
  const dir = workDir(t, 'builder-dib-');
  const tool = standInDib(dir);
  const venv = join(dir, 'venv');
  mkdirSync(join(venv, 'bin'), { recursive: true });
  const elements = join(dir, 'elements');
  const opts = options(dir, { dibCmd: tool.dib, pythonPath: venv, elementsDir: elements });
  // The stand-in needs the basic commands; which disk-image-create runs is fixed by dib-cmd.
  opts.pathList = `${opts.pathList}:/usr/bin:/bin`;
  const built = await buildRawImage(opts);
  const imagesDir = join(dir, 'images');
  assert.equal(built.rawPath, join(imagesDir, 'debian-bookworm-1700000000.raw'));
  assert.equal(built.size, 32 * 1024 * 1024);
  // As with `-o images-dir/NAME`: the image and dib's manifests beside it, and nothing else.
  assert.deepEqual(readdirSync(imagesDir).sort(), ['debian-bookworm-1700000000.d', 'debian-bookworm-1700000000.raw']);
  assert.ok(existsSync(join(imagesDir, 'debian-bookworm-1700000000.d', 'dib-manifests', 'dib_arguments')));

  const argv = readFileSync(tool.argv, 'utf8').trim().split('\n');
  const out = argv[argv.indexOf('-o') + 1] ?? '';
  assert.match(
    out,
    new RegExp(`^${imagesDir}/\\.debian-bookworm-1700000000\\.build-[0-9a-f]{8}/debian-bookworm-1700000000$`),
  );
  assert.deepEqual(argv, ['-x', '-t', 'raw', '--no-tmpfs', '-o', out, 'debian-minimal', 'growroot']);
  const env = Object.fromEntries(
    readFileSync(tool.env, 'utf8')
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  assert.equal(env.DIB_RELEASE, 'bookworm');
  assert.equal(env.ELEMENTS_PATH, elements);
  assert.equal(env.TMP_DIR, join(out, '..', 'tmp'));
  assert.equal(env.DIB_DISTRIBUTION_MIRROR, 'http://deb.debian.org/debian');
  assert.equal(env.MIRROR_PASSWORD, 'hunter22secret');
  assert.equal(env.NODEPOOL_IMAGE_NAME, 'debian-bookworm');
  assert.equal(env.IMAGE_PATH, undefined, 'dib names its own output; IMAGE_PATH is for scripts');
  assert.deepEqual(env.PATH?.split(':').slice(0, 3), [join(venv, 'bin'), tool.bin, join(dir, 'empty-bin')]);
  const log = readFileSync(opts.logPath, 'utf8');
  assert.match(log, /^dib stand-in: building .*debian-bookworm-1700000000\.raw$/m);
  assert.match(
    log,
    /^nodepool: building debian-bookworm version 1700000000 \(build 3\) with dib: .*disk-image-create -x -t raw --no-tmpfs -o /m,
  );
  assert.doesNotMatch(log, /hunter22secret/);
});

async function toolMissing(p: Promise<unknown>, re: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ImageBuildError, String(err));
    assert.equal(err.kind, 'tool-missing');
    assert.equal(err.retryable, false);
    assert.match(err.message, re);
    return true;
  });
}

test('a missing disk-image-create, or sudo, fails at once naming the tool and how to install it', async (t) => {
  const dir = workDir(t, 'builder-dib-');
  await toolMissing(
    buildRawImage(options(dir, {})),
    new RegExp(
      `^disk-image-create \\(diskimage-builder\\) not found on PATH; diskimage debian-bookworm uses builder: dib\\. ` +
        `Install diskimage-builder into a virtualenv: .*pip install diskimage-builder==${DIB_VERSION.replaceAll('.', '\\.')}, ` +
        `then set dib-cmd: `,
    ),
  );
  const configured = join(dir, 'opt', 'dib', 'bin', 'disk-image-create');
  await toolMissing(
    buildRawImage(options(dir, { dibCmd: configured })),
    new RegExp(
      `disk-image-create is configured at ${configured} \\(dib-cmd\\) for diskimage debian-bookworm, but no executable file is there`,
    ),
  );
  const noSudo = standInDib(join(dir, 'no-sudo'), false);
  await toolMissing(
    buildRawImage(options(dir, { dibCmd: noSudo.dib })),
    /sudo not found on PATH: diskimage-builder runs its privileged steps through sudo/,
  );
  assert.equal(existsSync(noSudo.argv), false, 'nothing ran');
  assert.deepEqual(readdirSync(join(dir, 'images')), []);
});

test('partitioned elements get a note where there is no device-mapper; partitionless ones do not', () => {
  assert.match(
    partitionNote(['debian-minimal', 'vm'], false) ?? '',
    /elements vm make a partitioned image, which needs device-mapper \(kpartx\)/,
  );
  assert.equal(partitionNote(['debian-minimal', 'vm'], true), undefined);
  assert.equal(partitionNote(['debian-minimal'], false), undefined);
});

test('mount points under a build directory are found deepest first, escapes undone', () => {
  const info = [
    '22 1 8:1 / / rw - ext4 /dev/vda rw',
    '40 22 0:5 / /srv/images/.d-1.build-ab/tmp/mnt rw - tmpfs none rw',
    '41 40 0:5 / /srv/images/.d-1.build-ab/tmp/mnt/dev rw - devtmpfs udev rw',
    '42 22 0:6 / /srv/images/.d-1.build-abc/x rw - tmpfs none rw',
    '43 22 0:7 / /srv/images/.d-1.build-ab/with\\040space rw - tmpfs none rw',
  ].join('\n');
  assert.deepEqual(mountsUnder(parseMountPoints(info), '/srv/images/.d-1.build-ab'), [
    '/srv/images/.d-1.build-ab/tmp/mnt/dev',
    '/srv/images/.d-1.build-ab/tmp/mnt',
    '/srv/images/.d-1.build-ab/with space',
  ]);
});

test('a build directory with mounts left inside is unmounted before it is removed, never deleted through them', (t) => {
  const unshare = findOnPath('unshare');
  if (!unshare) return t.skip('no unshare (util-linux) to make a private mount namespace');
  const dir = workDir(t, 'builder-dib-');
  // Stands in for the host's /dev that dib bind-mounts into its chroot: it must survive the cleanup.
  const host = join(dir, 'host-dev');
  mkdirSync(host);
  writeFileSync(join(host, 'canary'), 'still here');
  const staging = join(dir, 'images', '.debian-1.build-0badf00d');
  const chrootDev = join(staging, 'tmp', 'mnt', 'dev');
  mkdirSync(chrootDev, { recursive: true });
  const cleanup = join(import.meta.dirname, '..', 'images', 'builders', 'cleanup.ts');
  const node = `${process.execPath} --input-type=module -e "import { removeBuildDir } from '${cleanup}'; await removeBuildDir('${staging}', (l) => console.log(l));"`;
  const script = [
    `mount -t tmpfs scratch '${join(staging, 'tmp', 'mnt')}' || exit 99`,
    `mkdir '${chrootDev}' && mount --bind '${host}' '${chrootDev}' || exit 99`,
    node,
  ].join(' && ');
  const asRoot = process.getuid?.() === 0;
  const r = spawnSync(unshare, [...(asRoot ? [] : ['--user', '--map-root-user']), '--mount', 'sh', '-c', script], {
    encoding: 'utf8',
  });
  if (r.status === 99) return t.skip(`cannot mount in a private namespace here: ${r.stderr}`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    new RegExp(`unmounting ${chrootDev}, left mounted by the build\\n.*unmounting ${join(staging, 'tmp', 'mnt')},`),
  );
  assert.equal(
    readFileSync(join(host, 'canary'), 'utf8'),
    'still here',
    'the bind-mounted directory was not deleted through',
  );
  assert.equal(existsSync(staging), false);
});
