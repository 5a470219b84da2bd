// What the conversion refuses and survives: non-raw input, a full disk, a second attempt converting to the
// same output at once (a zombie beside its retry), and the vhd-util path's private copy (padded to whole
// 2 MiB blocks and as sparse as the raw).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { convertImage, type ConvertImageOptions } from '../images/convert.ts';
import { ImageConvertError } from '../images/errors.ts';
import { detectFormatFromBytes } from '../images/image-format.ts';
import { lockPathFor } from '../images/output-lock.ts';
import { findOnPath } from '../images/tools.ts';
import { encodeFooter, DISK_TYPE_FIXED } from '../images/vhd-format.ts';
import { writeDynamicVhd } from '../images/vhd-writer.ts';
import { MiB, GiB, sparseRaw, workDir } from './support/images.ts';

const CLI = join(import.meta.dirname, '..', 'cli', 'main.ts');
const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

function emptyBin(dir: string): string {
  const bin = join(dir, 'empty-bin');
  mkdirSync(bin, { recursive: true });
  return bin;
}

async function refused(opts: ConvertImageOptions, re: RegExp): Promise<void> {
  await assert.rejects(convertImage(opts), (err: unknown) => {
    assert.ok(err instanceof ImageConvertError, String(err));
    assert.equal(err.kind, 'bad-input');
    assert.equal(err.retryable, false);
    assert.match(err.message, re);
    return true;
  });
}

test('a qcow2, VHD, VMDK or compressed file given as raw is refused, naming what it is and how to fix it', async (t) => {
  const qemuImg = findOnPath('qemu-img');
  if (!qemuImg)
    return t.skip('qemu-img is not installed (Debian qemu-utils); run the tests through scripts/test-env.ts');
  const dir = workDir(t);
  const raw = join(dir, 'disk.raw');
  sparseRaw(raw, 6 * MiB, [[0, randomBytes(64 * 1024)]]);
  const made = (name: string, args: string[]): string => {
    const path = join(dir, name);
    const r = spawnSync(qemuImg, [...args, path], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return path;
  };
  const qcow2 = made('disk.qcow2', ['convert', '-f', 'raw', '-O', 'qcow2', raw]);
  const vmdk = made('disk.vmdk', ['convert', '-f', 'raw', '-O', 'vmdk', raw]);
  const fixedVhd = made('fixed.vhd', ['convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=fixed', raw]);
  const dynamicVhd = join(dir, 'dynamic.vhd');
  await writeDynamicVhd({ input: raw, output: dynamicVhd });
  const gz = join(dir, 'disk.raw.gz');
  writeFileSync(gz, spawnSync('gzip', ['-c', raw]).stdout);
  // Pad the compressed file to whole sectors, so it is the magic, not the size, that gives it away.
  writeFileSync(gz, Buffer.concat([readFileSync(gz), Buffer.alloc(512 - (statSync(gz).size % 512))]));
  const out = join(dir, 'out.vhd');
  const pathList = emptyBin(dir);
  await refused(
    { input: qcow2, output: out, format: 'vhd', pathList },
    /disk\.qcow2 is qcow2, not raw \(magic "QFI\\xfb", version 3, at byte 0\).*qemu-img convert -f qcow2 -O raw/,
  );
  await refused({ input: vmdk, output: out, format: 'qcow2' }, /disk\.vmdk is vmdk, not raw \(sparse extent magic/);
  await refused(
    { input: fixedVhd, output: out, format: 'vhd', pathList },
    /fixed\.vhd is vhd, not raw \(footer with cookie "conectix" and a valid checksum in the last 512 bytes\)/,
  );
  await refused({ input: dynamicVhd, output: out, format: 'raw' }, /dynamic\.vhd is vhd, not raw \(footer copy/);
  await refused({ input: gz, output: out, format: 'vhd', pathList }, /disk\.raw\.gz is gzip, not raw.*gunzip -c/);
  assert.equal(existsSync(out), false);

  // A raw disk whose last sector happens to start with "conectix" but is no valid footer is still raw.
  const lookalike = join(dir, 'lookalike.raw');
  const fake = encodeFooter({ currentSize: 4 * MiB, diskType: DISK_TYPE_FIXED });
  fake[100] = (fake[100] as number) ^ 0xff;
  sparseRaw(lookalike, 4 * MiB, [[4 * MiB - 512, fake]]);
  const ok = await convertImage({ input: lookalike, output: join(dir, 'lookalike.vhd'), format: 'vhd', pathList });
  assert.equal(ok.converter, 'builtin');
});

test('format detection by magic bytes (pure): each container, and raw for anything else', () => {
  const head = (text: string, extra: [number, Buffer][] = []): Buffer => {
    const b = Buffer.alloc(512);
    b.write(text, 0, 'latin1');
    for (const [at, bytes] of extra) bytes.copy(b, at);
    return b;
  };
  const none = Buffer.alloc(512);
  const v = (n: number): Buffer => Buffer.from([0, 0, 0, n]);
  assert.equal(detectFormatFromBytes(head('QFI\xfb', [[4, v(1)]]), none).format, 'qcow');
  assert.equal(detectFormatFromBytes(head('QFI\xfb', [[4, v(3)]]), none).format, 'qcow2');
  assert.equal(detectFormatFromBytes(head('QED\0'), none).format, 'qed');
  assert.equal(detectFormatFromBytes(head('vhdxfile'), none).format, 'vhdx');
  assert.equal(detectFormatFromBytes(head('# Disk DescriptorFile\n'), none).format, 'vmdk');
  assert.equal(detectFormatFromBytes(head('', [[0x40, Buffer.from([0x7f, 0x10, 0xda, 0xbe])]]), none).format, 'vdi');
  assert.equal(detectFormatFromBytes(head('\xfd7zXZ\0'), none).format, 'xz');
  assert.equal(detectFormatFromBytes(head('', [[0, Buffer.from([0x28, 0xb5, 0x2f, 0xfd])]]), none).format, 'zstd');
  assert.equal(detectFormatFromBytes(head('BZh91AY&SY'), none).format, 'bzip2');
  // An MBR, an ext4 superblock area, zeros: raw.
  const mbr = Buffer.alloc(512);
  mbr[510] = 0x55;
  mbr[511] = 0xaa;
  assert.equal(detectFormatFromBytes(mbr, none).format, 'raw');
  assert.equal(detectFormatFromBytes(none, none).format, 'raw');
  assert.equal(detectFormatFromBytes(head('BZh9 not bzip2'), none).format, 'raw');
});

// A stand-in for vhd-util that keeps what it was handed at step 1: its size, how much of it is allocated
// on disk, and a sparse copy of its contents, so the test can judge the private copy nodepool made.
function inspectingVhdUtil(dir: string, keepCopy = true): { path: string; seen: string; stats: string } {
  const bin = join(dir, 'stand-in-bin');
  mkdirSync(bin, { recursive: true });
  const seen = join(dir, 'seen.raw');
  const stats = join(dir, 'seen-stat.txt');
  const path = join(bin, 'vhd-util');
  writeFileSync(
    path,
    [
      '#!/bin/sh',
      'IN="$7"; OUT="$9"',
      `if [ "$3" = 0 ]; then stat -c '%s %b %B' "$IN" > '${stats}'; fi`,
      keepCopy ? `if [ "$3" = 0 ]; then cp --sparse=always "$IN" '${seen}'; fi` : '',
      // Its output is not judged here (the real tool's is, where one exists): a token file will do.
      'if [ "$IN" != "$OUT" ]; then echo "not a VHD" > "$OUT"; fi',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  return { path, seen, stats };
}

test("vhd-util's private copy is zero-padded to whole 2 MiB blocks, so its footer never becomes disk content", async (t) => {
  const dir = workDir(t);
  // The size measured against the real patched vhd-util: 5,281,792 bytes is not a whole number of blocks.
  const size = 5_281_792;
  const raw = join(dir, 'build.raw');
  const tail = randomBytes(4096);
  sparseRaw(raw, size, [
    [0, randomBytes(8192)],
    [size - 4096, tail],
  ]);
  const tool = inspectingVhdUtil(dir);
  mkdirSync(join(dir, 'out'));
  await convertImage({
    input: raw,
    output: join(dir, 'out', 'build.vhd'),
    format: 'vhd',
    converter: 'vhd-util',
    vhdUtilPath: tool.path,
  });
  const [copySize] = readFileSync(tool.stats, 'utf8').trim().split(' ').map(Number);
  assert.equal(copySize, 6 * MiB, 'padded up to the next 2 MiB boundary');
  const seen = readFileSync(tool.seen);
  assert.ok(seen.subarray(0, size).equals(readFileSync(raw)), 'the raw, byte for byte');
  assert.ok(seen.subarray(size).equals(Buffer.alloc(6 * MiB - size)), 'then zeros');
});

test("vhd-util's private copy of a 2 GiB raw holding 520 KiB stays about 520 KiB on disk", async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'build.raw');
  sparseRaw(raw, 2 * GiB, [
    [0, randomBytes(256 * 1024)],
    [GiB, randomBytes(256 * 1024)],
    [2 * GiB - 8192, randomBytes(8192)],
  ]);
  // Without qemu-img (an empty PATH) the copy reads every byte and must still write only the data.
  for (const pathList of [process.env.PATH ?? '', emptyBin(dir)]) {
    const tool = inspectingVhdUtil(dir, false);
    const out = join(dir, `out-${readdirSync(dir).length}.vhd`);
    await convertImage({
      input: raw,
      output: out,
      format: 'vhd',
      converter: 'vhd-util',
      vhdUtilPath: tool.path,
      pathList,
    });
    const [copySize, blocks, blockSize] = readFileSync(tool.stats, 'utf8').trim().split(' ').map(Number);
    assert.equal(copySize, 2 * GiB);
    const allocated = (blocks as number) * (blockSize as number);
    assert.ok(allocated <= 2 * MiB, `copy allocates ${allocated} bytes on disk for 520 KiB of data`);
  }
});

test('the built-in converter skips what the data map calls holes, and only those', async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'disk.raw');
  sparseRaw(raw, 16 * MiB, [
    [0, randomBytes(4096)],
    [8 * MiB, randomBytes(4096)],
  ]);
  const vhd = join(dir, 'disk.vhd');
  // A map that leaves out the data at 8 MiB: a converter that trusts it never reads that block.
  const result = await writeDynamicVhd({ input: raw, output: vhd, extents: [{ start: 0, length: 4096 }] });
  assert.equal(result.allocatedBlocks, 1);
  const full = await writeDynamicVhd({
    input: raw,
    output: join(dir, 'full.vhd'),
    extents: [
      { start: 0, length: 4096 },
      { start: 8 * MiB, length: 4096 },
    ],
  });
  assert.equal(full.allocatedBlocks, 2);
});

function lockFile(output: string, holder: Record<string, unknown>, ageSeconds = 0): string {
  const path = lockPathFor(output);
  writeFileSync(path, JSON.stringify({ token: 'feedface', since: '2026-01-01T00:00:00Z', ...holder }));
  const when = new Date(Date.now() - ageSeconds * 1000);
  utimesSync(path, when, when);
  return path;
}

const bootId = (): string => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();

test('two attempts converting to one output at once: the second waits for the first, and both succeed', async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'build.raw');
  sparseRaw(raw, 96 * MiB, [[0, randomBytes(64 * MiB)]]);
  const output = join(dir, 'build.vhd');
  const secondLog: string[] = [];
  const secondPhases: string[] = [];
  let firstDoneAt = 0;
  let secondConvertingAt = 0;
  let second: Promise<unknown> | undefined;
  const first = convertImage({
    input: raw,
    output,
    format: 'vhd',
    converter: 'builtin',
    owner: 'convert-wf activity 1 attempt 1',
    onProgress: (p) => {
      // The retry arrives while the zombie is writing its temporary file.
      if (p.phase === 'convert' && p.bytesDone > 0 && !second)
        second = convertImage({
          input: raw,
          output,
          format: 'vhd',
          converter: 'builtin',
          owner: 'convert-wf activity 1 attempt 2',
          log: (l) => secondLog.push(l),
          onProgress: (q) => {
            secondPhases.push(q.phase);
            if (q.phase === 'convert' && !secondConvertingAt) secondConvertingAt = Date.now();
          },
        });
    },
  }).then((r) => {
    firstDoneAt = Date.now();
    return r;
  });
  const a = await first;
  assert.ok(second, 'the second attempt started while the first was converting');
  const b = (await second) as Awaited<typeof first>;
  assert.equal(a.path, output);
  assert.match(secondLog.join('\n'), /waiting for convert-wf activity 1 attempt 1 \(pid \d+ on /);
  assert.ok(secondConvertingAt >= firstDoneAt, 'the second converted only after the first had finished');
  assert.equal(
    secondPhases[0],
    'waiting',
    'the wait is reported as progress, so the activity does not call it a stall',
  );
  assert.equal(sha256(output), b.sha256, 'the file on disk is the one the last attempt reported');
  assert.deepEqual(readdirSync(dir).sort(), ['build.raw', 'build.vhd'], 'no temporary file or lock left');
});

test("a dead holder's lock is taken over; a live lock from another host is waited for until it goes stale", async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'build.raw');
  sparseRaw(raw, 4 * MiB, [[0, randomBytes(4096)]]);
  const output = join(dir, 'build.vhd');
  const pathList = emptyBin(dir);

  // A holder on this machine whose process has exited.
  const gone = spawnSync('true').pid;
  lockFile(output, { owner: 'crashed attempt', host: hostname(), bootId: bootId(), pid: gone, procStart: '1' });
  const log: string[] = [];
  await convertImage({ input: raw, output, format: 'vhd', pathList, log: (l) => log.push(l) });
  assert.match(log.join('\n'), /taking over the lock on .*build\.vhd from crashed attempt \(pid \d+/);
  assert.equal(existsSync(lockPathFor(output)), false);

  // A holder on another host that refreshed its lock a moment ago: alive, so this attempt waits.
  const foreign = { owner: 'other worker', host: 'elsewhere', bootId: 'x', pid: 1, procStart: '1' };
  lockFile(output, foreign);
  const waiting: string[] = [];
  const abort = new AbortController();
  const reason = new Error('stop waiting');
  await assert.rejects(
    convertImage({
      input: raw,
      output,
      format: 'vhd',
      pathList,
      signal: abort.signal,
      log: (l) => {
        waiting.push(l);
        if (/^waiting for other worker/.test(l)) abort.abort(reason);
      },
    }),
    (err) => err === reason,
  );
  assert.equal(existsSync(lockPathFor(output)), true, "another host's live lock is left alone");
  // The same lock, not refreshed for ten minutes: its holder is gone.
  lockFile(output, foreign, 600);
  const taken: string[] = [];
  const r = await convertImage({ input: raw, output, format: 'vhd', pathList, log: (l) => taken.push(l) });
  assert.equal(r.sha256, sha256(output));
  assert.match(taken.join('\n'), /taking over the lock .* from other worker \(pid 1 on elsewhere/);
  assert.deepEqual(readdirSync(dir).sort(), ['build.raw', 'build.vhd', 'empty-bin']);
});

/**
 * Runs `nodepool image-convert` with its output directory on a small tmpfs of its own, in a private mount
 * namespace that disappears with the command; prints what the directory holds afterwards.
 */
function convertOnSmallDisk(
  dir: string,
  args: string[],
): { status: number | null; stderr: string; stdout: string; left: string } | undefined {
  const unshare = findOnPath('unshare');
  if (!unshare) return undefined;
  const small = join(dir, 'small');
  mkdirSync(small, { recursive: true });
  const quoted = [process.execPath, CLI, 'image-convert', ...args].map((a) => `'${a}'`).join(' ');
  const script = `mount -t tmpfs -o size=8m nodepool-test '${small}' || exit 99; ${quoted}; rc=$?; echo "LEFT:$(ls -A '${small}' | tr '\\n' ' ')"; exit $rc`;
  const asRoot = process.getuid?.() === 0;
  const r = spawnSync(unshare, [...(asRoot ? [] : ['--user', '--map-root-user']), '--mount', 'sh', '-c', script], {
    encoding: 'utf8',
  });
  if (r.status === 99 || r.error) return undefined;
  const left = /LEFT:(.*)/.exec(r.stdout)?.[1]?.trim() ?? '?';
  return { status: r.status, stderr: r.stderr, stdout: r.stdout, left };
}

test('a full disk, on the built-in and the vhd-util copy paths: a clear message naming the directory and the space needed, nothing left', async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'build.raw');
  sparseRaw(raw, 64 * MiB, [[0, randomBytes(16 * MiB)]]);
  const tool = inspectingVhdUtil(dir);
  const small = join(dir, 'small');
  // The built-in converter needs the 8 blocks that hold data; vhd-util the sparse copy plus every block.
  for (const [converter, needs] of [
    [['--converter', 'builtin'], '16\\.\\d'],
    [['--converter', 'vhd-util', '--vhd-util', tool.path], '80\\.\\d'],
  ] as const) {
    const r = convertOnSmallDisk(dir, [raw, '--to', 'vhd', '-o', join(small, 'build.vhd'), ...converter]);
    if (!r)
      return t.skip(
        'cannot mount a small tmpfs in a private mount namespace here (unshare -m needs root or user namespaces)',
      );
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^nodepool: no space left on device in ${small} while converting ${raw} to vhd \\(${small}/build\\.vhd\\): ` +
          `this conversion needs about ${needs} MiB there and \\d+\\.\\d MiB is free there now\\. ` +
          `Free space in ${small} .*nothing was left behind\\.\\n$`,
      ),
    );
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(r.left, '', `the small disk is left empty (${converter[1]})`);
  }
});
