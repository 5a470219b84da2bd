// The VHD structures on their own: geometry checked against QEMU's vpc driver, checksums and layout
// against the specification's rules, computed here from the bytes rather than through our encoder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from './support/fast-check.ts';
import {
  DISK_TYPE_DYNAMIC,
  MAX_VIRTUAL_SIZE,
  VHD_BLOCK_SIZE,
  chsGeometry,
  dynamicLayout,
  encodeDynamicHeader,
  encodeFooter,
  vhdTimestamp,
} from '../images/vhd-format.ts';
import { findOnPath } from '../images/tools.ts';

/** The spec's checksum, written out independently: one's complement of all bytes except the field. */
function specChecksum(buf: Buffer, at: number): number {
  let sum = 0;
  buf.forEach((byte, i) => {
    if (i < at || i >= at + 4) sum += byte;
  });
  return ~sum >>> 0;
}

test('CHS geometry matches what qemu-img writes into its own VHDs', (t) => {
  const qemuImg = findOnPath('qemu-img');
  if (!qemuImg) return t.skip('qemu-img is not installed (Debian qemu-utils)');
  const dir = mkdtempSync(join(tmpdir(), 'vhd-chs-'));
  try {
    // Small, four/eight/sixteen-head, 63 and 255 sectors-per-track regimes, and beyond the CHS cap.
    for (const size of ['3M', '10M', '64M', '100M', '1G', '4G', '40G', '126G', '130G', '2000G']) {
      const file = join(dir, `${size}.vhd`);
      const r: SpawnSyncReturns<string> = spawnSync(
        qemuImg,
        ['create', '-q', '-f', 'vpc', '-o', 'subformat=dynamic', file, size],
        {
          encoding: 'utf8',
        },
      );
      assert.equal(r.status, 0, r.stderr);
      const footer = readFileSync(file).subarray(0, 512);
      const qemuGeometry = {
        cylinders: footer.readUInt16BE(56),
        heads: footer.readUInt8(58),
        sectorsPerTrack: footer.readUInt8(59),
      };
      // qemu-img rounds its size up to a whole geometry, so its current size is the one to feed back.
      const qemuSize = Number(footer.readBigUInt64BE(48));
      assert.deepEqual(chsGeometry(qemuSize), qemuGeometry, `geometry for ${size} (${qemuSize} bytes)`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CHS geometry stays within the fields and caps at 65535/16/255', () => {
  assert.deepEqual(chsGeometry(MAX_VIRTUAL_SIZE), { cylinders: 65535, heads: 16, sectorsPerTrack: 255 });
  assert.deepEqual(chsGeometry(65535 * 16 * 255 * 512), { cylinders: 65535, heads: 16, sectorsPerTrack: 255 });
  fc.assert(
    fc.property(fc.integer({ min: 1, max: MAX_VIRTUAL_SIZE / 512 }), (sectors) => {
      const g = chsGeometry(sectors * 512);
      assert.ok(g.cylinders >= 0 && g.cylinders <= 65535);
      assert.ok(g.heads >= 4 && g.heads <= 16);
      assert.ok([17, 31, 63, 255].includes(g.sectorsPerTrack));
      // The geometry never claims more sectors than the disk has.
      assert.ok(g.cylinders * g.heads * g.sectorsPerTrack <= sectors);
    }),
    { numRuns: 2000 },
  );
});

test('footer and header checksums are the one-complement byte sums the specification defines', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: MAX_VIRTUAL_SIZE / 512 }),
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      (sectors, uuid) => {
        const footer = encodeFooter({
          currentSize: sectors * 512,
          diskType: DISK_TYPE_DYNAMIC,
          uuid: Buffer.from(uuid),
        });
        assert.equal(footer.length, 512);
        assert.equal(footer.readUInt32BE(64), specChecksum(footer, 64));
        const header = encodeDynamicHeader(Math.ceil((sectors * 512) / VHD_BLOCK_SIZE));
        assert.equal(header.length, 1024);
        assert.equal(header.readUInt32BE(36), specChecksum(header, 36));
      },
    ),
    { numRuns: 200 },
  );
});

test('timestamps count seconds from 2000-01-01 UTC', () => {
  assert.equal(vhdTimestamp(new Date('2000-01-01T00:00:00Z')), 0);
  assert.equal(vhdTimestamp(new Date('2000-01-02T00:00:01Z')), 86401);
});

test('layout refuses sizes VHD cannot hold and keeps every block addressable by 32-bit sector offsets', () => {
  assert.throws(() => dynamicLayout(0), /not a positive whole number/);
  assert.throws(() => dynamicLayout(1000), /not a positive whole number/);
  assert.throws(() => dynamicLayout(MAX_VIRTUAL_SIZE + 512), /2040 GiB/);
  const l = dynamicLayout(MAX_VIRTUAL_SIZE);
  assert.equal(l.maxTableEntries, MAX_VIRTUAL_SIZE / VHD_BLOCK_SIZE);
  const lastBlock = l.firstBlockOffset + (l.maxTableEntries - 1) * l.blockStride;
  assert.ok(lastBlock / 512 <= 0xfffffffe, 'the last block of a full 2040 GiB disk has a 32-bit sector offset');
  // The data of each block (after its one-sector bitmap) starts on a 4 KiB page, as blktap places it.
  assert.equal((l.firstBlockOffset + 512) % 4096, 0);
  assert.equal(l.blockStride % 4096, 0);
});
