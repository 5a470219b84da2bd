// The built-in raw → dynamic VHD converter, judged by tools we did not write (qemu-img compare/info and
// libvhdi's vhdiinfo) and by parsing every field of its output here, independently of our encoder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from './support/fast-check.ts';
import { writeDynamicVhd } from '../images/vhd-writer.ts';
import { convertImage } from '../images/convert.ts';
import { findOnPath } from '../images/tools.ts';
import { GiB, MiB, sparseRaw, workDir } from './support/images.ts';

const BLOCK = 2 * MiB;

function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

function qemuSays(t: { skip(msg: string): void }, raw: string, vhd: string): boolean {
  const qemuImg = findOnPath('qemu-img');
  if (!qemuImg) {
    t.skip('qemu-img is not installed (Debian qemu-utils); run the tests through scripts/test-env.ts');
    return false;
  }
  const cmp = run(qemuImg, ['compare', '-f', 'raw', '-F', 'vpc', raw, vhd]);
  assert.equal(cmp.status, 0, cmp.out);
  assert.match(cmp.out, /Images are identical/);
  const info = JSON.parse(run(qemuImg, ['info', '--output=json', vhd]).out) as {
    format: string;
    'virtual-size': number;
  };
  assert.equal(info.format, 'vpc');
  assert.equal(info['virtual-size'], statSync(raw).size);
  return true;
}

function vhdiinfoSays(t: { skip(msg: string): void }, raw: string, vhd: string): void {
  const vhdiinfo = findOnPath('vhdiinfo');
  if (!vhdiinfo)
    return t.skip('vhdiinfo is not installed (Debian libvhdi-utils); run the tests through scripts/test-env.ts');
  const r = run(vhdiinfo, [vhd]);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /Disk type\s*:\s*Dynamic/);
  assert.match(r.out, new RegExp(`Media size\\s*:.*\\(${statSync(raw).size} bytes\\)`));
}

const cstr = (b: Buffer, from: number, len: number): string => b.subarray(from, from + len).toString('latin1');
function sumExcept(b: Buffer, at: number): number {
  let s = 0;
  for (let i = 0; i < b.length; i++) if (i < at || i >= at + 4) s += b[i] as number;
  return ~s >>> 0;
}

/** Reads a dynamic VHD from its bytes, checking every field a Xen cloud or vhd-util checks. */
function assertXenVhd(vhd: string, rawSize: number): { bat: number[]; batmapBits: boolean[]; bytes: Buffer } {
  const bytes = readFileSync(vhd);
  const footer = bytes.subarray(bytes.length - 512);
  assert.ok(footer.equals(bytes.subarray(0, 512)), 'the footer copy at offset 0 equals the footer at the end');
  assert.equal(cstr(footer, 0, 8), 'conectix');
  assert.equal(footer.readUInt32BE(8), 0x2, 'features: reserved bit only');
  assert.equal(footer.readUInt32BE(12), 0x00010000, 'format version 1.0');
  assert.equal(footer.readBigUInt64BE(16), 512n, 'data offset');
  const now = Math.floor((Date.now() - Date.UTC(2000, 0, 1)) / 1000);
  assert.ok(Math.abs(footer.readUInt32BE(24) - now) < 600, 'timestamp is now, in seconds since 2000');
  assert.equal(cstr(footer, 28, 4), 'tap\0', 'creator application');
  assert.equal(footer.readUInt32BE(32), 0x00010003, 'creator version 1.3');
  assert.equal(footer.readUInt32BE(36), 0, 'creator host OS as vhd-util leaves it');
  assert.equal(footer.readBigUInt64BE(40), BigInt(rawSize), 'original size');
  assert.equal(footer.readBigUInt64BE(48), BigInt(rawSize), 'current size');
  // Specification's CHS algorithm, restated.
  const secs = Math.min(rawSize / 512, 65535 * 16 * 255);
  let spt: number, heads: number, cth: number;
  if (secs >= 65535 * 16 * 63) [spt, heads, cth] = [255, 16, Math.floor(secs / 255)];
  else {
    spt = 17;
    cth = Math.floor(secs / 17);
    heads = Math.max(4, Math.ceil(cth / 1024));
    if (cth >= heads * 1024 || heads > 16) [spt, heads, cth] = [31, 16, Math.floor(secs / 31)];
    if (cth >= heads * 1024) [spt, heads, cth] = [63, 16, Math.floor(secs / 63)];
  }
  assert.deepEqual(
    [footer.readUInt16BE(56), footer.readUInt8(58), footer.readUInt8(59)],
    [Math.floor(cth / heads), heads, spt],
    'CHS geometry',
  );
  assert.equal(footer.readUInt32BE(60), 3, 'disk type dynamic');
  assert.equal(footer.readUInt32BE(64), sumExcept(footer, 64), 'footer checksum');
  assert.notDeepEqual(footer.subarray(68, 84), Buffer.alloc(16), 'a UUID is set');
  assert.equal(footer[84], 0, 'not in saved state');
  assert.ok(footer.subarray(85).equals(Buffer.alloc(427)), 'hidden flag and reserved bytes are zero');

  const header = bytes.subarray(512, 1536);
  assert.equal(cstr(header, 0, 8), 'cxsparse');
  assert.equal(header.readBigUInt64BE(8), 0xffffffffffffffffn, 'header data offset unused');
  assert.equal(header.readBigUInt64BE(16), 1536n, 'table offset');
  assert.equal(header.readUInt32BE(24), 0x00010000, 'header version');
  const entries = header.readUInt32BE(28);
  assert.equal(entries, Math.ceil(rawSize / BLOCK), 'max table entries');
  assert.equal(header.readUInt32BE(32), BLOCK, 'block size 2 MiB');
  assert.equal(header.readUInt32BE(36), sumExcept(header, 36), 'header checksum');
  assert.ok(header.subarray(40).equals(Buffer.alloc(1024 - 40)), 'no parent fields');

  const bat: number[] = [];
  for (let i = 0; i < entries; i++) bat.push(bytes.readUInt32BE(1536 + 4 * i));
  const batmapHeaderAt = 1536 + Math.ceil((entries * 4) / 512) * 512;
  const bh = bytes.subarray(batmapHeaderAt, batmapHeaderAt + 512);
  assert.equal(cstr(bh, 0, 8), 'tdbatmap', 'Xen batmap cookie after the BAT');
  const batmapOffset = Number(bh.readBigUInt64BE(8));
  assert.equal(batmapOffset, batmapHeaderAt + 512);
  const batmapSectors = bh.readUInt32BE(16);
  assert.equal(batmapSectors, Math.max(1, Math.ceil(Math.ceil(entries / 8) / 512)));
  assert.equal(bh.readUInt32BE(20), 0x00010002, 'batmap version 1.2');
  const batmap = bytes.subarray(batmapOffset, batmapOffset + batmapSectors * 512);
  let sum = 0;
  for (const b of batmap) sum += b;
  assert.equal(bh.readUInt32BE(24), ~sum >>> 0, 'batmap checksum');
  const metadataEnd = batmapOffset + batmapSectors * 512;

  const batmapBits: boolean[] = [];
  for (let i = 0; i < entries; i++) {
    const set = ((batmap[i >> 3] as number) & (0x80 >> (i & 7))) !== 0;
    batmapBits.push(set);
    if (bat[i] === 0xffffffff) {
      assert.equal(set, false, `batmap bit ${i} clear for an unallocated block`);
      continue;
    }
    const at = (bat[i] as number) * 512;
    assert.ok(
      at >= metadataEnd && at + 512 + BLOCK <= bytes.length - 512,
      `block ${i} lies between metadata and footer`,
    );
    assert.equal((at + 512) % 4096, 0, `block ${i} data is page-aligned`);
    assert.ok(bytes.subarray(at, at + 512).equals(Buffer.alloc(512, 0xff)), `block ${i} bitmap marks every sector`);
    assert.equal(set, true, `batmap bit ${i} set for a fully allocated block`);
  }
  return { bat, batmapBits, bytes };
}

test('a 64 MiB image with data in a few blocks: every field as vhd-util writes it, zero blocks unallocated', async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'disk.raw');
  const vhd = join(dir, 'disk.vhd');
  const size = 64 * MiB;
  const mbr = randomBytes(512);
  sparseRaw(raw, size, [
    [0, mbr],
    [5 * BLOCK + 4096, randomBytes(3 * MiB)], // spans blocks 5 and 6
    [size - 512, Buffer.from('last sector')],
  ]);
  const result = await writeDynamicVhd({ input: raw, output: vhd });
  assert.deepEqual(result, { virtualSize: size, totalBlocks: 32, allocatedBlocks: 4 });
  const { bat, bytes } = assertXenVhd(vhd, size);
  assert.deepEqual(
    bat.map((e, i) => (e === 0xffffffff ? -1 : i)).filter((i) => i >= 0),
    [0, 5, 6, 31],
  );
  // Blocks are stored in order; the first block's data is the raw's first sector.
  const first = (bat[0] as number) * 512 + 512;
  assert.ok(bytes.subarray(first, first + 512).equals(mbr));
  assert.ok(bytes.length < 4 * (BLOCK + 4096) + 64 * 1024, 'only allocated blocks take space');
  if (!qemuSays(t, raw, vhd)) return;
  vhdiinfoSays(t, raw, vhd);
});

test('a size that is not a multiple of 2 MiB keeps its exact size and its last partial block', async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'odd.raw');
  const vhd = join(dir, 'odd.vhd');
  const size = 5 * MiB + 3 * 512;
  sparseRaw(raw, size, [[size - 700, Buffer.from('data in the last, partial block')]]);
  const result = await writeDynamicVhd({ input: raw, output: vhd });
  assert.deepEqual(result, { virtualSize: size, totalBlocks: 3, allocatedBlocks: 1 });
  const { bat } = assertXenVhd(vhd, size);
  assert.deepEqual(
    bat.map((e) => e !== 0xffffffff),
    [false, false, true],
  );
  if (!qemuSays(t, raw, vhd)) return;
  vhdiinfoSays(t, raw, vhd);
});

test('an all-zero image has no blocks at all and still reads back as zeros', async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'zero.raw');
  const vhd = join(dir, 'zero.vhd');
  sparseRaw(raw, 20 * MiB, []);
  await writeDynamicVhd({ input: raw, output: vhd });
  const { bat } = assertXenVhd(vhd, 20 * MiB);
  assert.ok(bat.every((e) => e === 0xffffffff));
  assert.ok(statSync(vhd).size <= 8192, `${statSync(vhd).size} bytes of metadata only`);
  if (!qemuSays(t, raw, vhd)) return;
  vhdiinfoSays(t, raw, vhd);
});

test('a dense image allocates every block', async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'dense.raw');
  const vhd = join(dir, 'dense.vhd');
  const size = 6 * MiB + 512;
  sparseRaw(raw, size, [[0, randomBytes(size)]]);
  await writeDynamicVhd({ input: raw, output: vhd });
  const { bat } = assertXenVhd(vhd, size);
  assert.ok(bat.every((e) => e !== 0xffffffff));
  if (!qemuSays(t, raw, vhd)) return;
  vhdiinfoSays(t, raw, vhd);
});

test('random sizes and sparse patterns read back identical (property)', async (t) => {
  if (!findOnPath('qemu-img')) return t.skip('qemu-img is not installed (Debian qemu-utils)');
  const dir = workDir(t);
  let n = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: (9 * BLOCK) / 512 }),
      fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 5000 })), {
        maxLength: 6,
      }),
      async (sectors, writes) => {
        const size = sectors * 512;
        const raw = join(dir, `p${n}.raw`);
        const vhd = join(dir, `p${n++}.vhd`);
        sparseRaw(
          raw,
          size,
          writes.map(([where, len]) => {
            const at = Math.floor(where * (size - 1));
            return [at, randomBytes(Math.min(len, size - at))];
          }),
        );
        await writeDynamicVhd({ input: raw, output: vhd });
        assertXenVhd(vhd, size);
        assert.ok(qemuSays(t, raw, vhd));
        rmSync(raw);
        rmSync(vhd);
      },
    ),
    { numRuns: 12 },
  );
});

test('a mostly empty 5 GiB sparse image converts with flat memory and identical contents', async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'big.raw');
  const vhd = join(dir, 'big.vhd');
  const size = 5 * GiB + 7 * 512;
  sparseRaw(raw, size, [
    [0, randomBytes(MiB)],
    [GiB + 12345 * 512, randomBytes(5 * MiB)],
    [4 * GiB, randomBytes(BLOCK)],
    [size - 4096, randomBytes(4096)],
  ]);
  // A separate process so its peak RSS is the converter's alone; it reports its own maximum.
  // As convertImage runs it: the data map from qemu-img where there is one (or every block read where not).
  const script = `import { writeDynamicVhd } from ${JSON.stringify(join(import.meta.dirname, '..', 'images', 'vhd-writer.ts'))};
    import { rawDataExtents } from ${JSON.stringify(join(import.meta.dirname, '..', 'images', 'extents.ts'))};
    const extents = await rawDataExtents(process.argv[1], { qemuImg: ${JSON.stringify(findOnPath('qemu-img'))} });
    await writeDynamicVhd({ input: process.argv[1], output: process.argv[2], extents });
    process.stdout.write('maxrss=' + process.resourceUsage().maxRSS);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script, raw, vhd], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const maxRssKiB = Number(/maxrss=(\d+)/.exec(r.stdout)?.[1]);
  assert.ok(maxRssKiB > 0 && maxRssKiB < 200 * 1024, `peak RSS ${maxRssKiB} KiB stays well under the 5 GiB image`);
  const { bat } = assertXenVhd(vhd, size);
  assert.equal(bat.filter((e) => e !== 0xffffffff).length, 1 + 4 + 1 + 1);
  if (!qemuSays(t, raw, vhd)) return;
  vhdiinfoSays(t, raw, vhd);
});

test('an input truncated while it is being converted fails naming the file and leaves nothing', async (t) => {
  const dir = workDir(t);
  const raw = join(dir, 'shrinking.raw');
  const out = join(dir, 'out.vhd');
  sparseRaw(raw, 16 * MiB, [[0, randomBytes(16 * MiB)]]);
  await assert.rejects(
    convertImage({
      input: raw,
      output: out,
      format: 'vhd',
      converter: 'builtin',
      onProgress: (p) => {
        if (p.phase === 'convert' && p.bytesDone === BLOCK) {
          const fd = openSync(raw, 'r+');
          ftruncateSync(fd, 3 * MiB);
          closeSync(fd);
        }
      },
    }),
    (err: Error) => {
      // The block after the one being written may already have been read before the cut.
      assert.match(err.message, new RegExp(`${raw}: ended at byte (${3 * MiB}|${4 * MiB}) .*truncated`));
      return true;
    },
  );
  assert.deepEqual(readdirSync(dir), ['shrinking.raw']);
});
