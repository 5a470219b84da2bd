// The on-disk structures of a dynamic VHD, as the published Virtual Hard Disk Image Format Specification
// defines them, with the fields Xen's blktap (and so a patched vhd-util) fills in: XenServer clouds check
// the creator field, and tapdisk reads the batmap extension that only blktap writes.
// Every multi-byte field is big-endian.
import { randomUUID } from 'node:crypto';

export const SECTOR_SIZE = 512;
export const VHD_BLOCK_SIZE = 2 * 1024 * 1024;
export const SECTORS_PER_BLOCK = VHD_BLOCK_SIZE / SECTOR_SIZE;
/** One bit per sector of a block, padded to a whole sector. */
export const BLOCK_BITMAP_SIZE = Math.ceil(SECTORS_PER_BLOCK / 8 / SECTOR_SIZE) * SECTOR_SIZE;
export const FOOTER_SIZE = 512;
export const DYNAMIC_HEADER_SIZE = 1024;
/** The batmap header is 32 bytes of fields, but blktap gives it a sector of its own. */
export const BATMAP_HEADER_SIZE = 512;
/** Footer copy (one sector) then the two-sector dynamic header, as blktap lays it out. */
export const BAT_OFFSET = FOOTER_SIZE + DYNAMIC_HEADER_SIZE;
export const UNUSED_BAT_ENTRY = 0xffffffff;

/**
 * The largest disk the specification allows (2040 GiB). QEMU refuses larger VHDs and blktap's
 * 32-bit sector offsets in the BAT could not address their blocks.
 */
export const MAX_VIRTUAL_SIZE = 0xff000000 * SECTOR_SIZE;

export const FOOTER_COOKIE = 'conectix';
export const DYNAMIC_HEADER_COOKIE = 'cxsparse';
export const BATMAP_COOKIE = 'tdbatmap';
/** Bit 1 is "reserved, must always be set"; no other feature is used. */
export const FEATURES_RESERVED = 0x00000002;
export const FILE_FORMAT_VERSION = 0x00010000;
export const DYNAMIC_HEADER_VERSION = 0x00010000;
/** blktap's own name, NUL-padded; QEMU and XenServer both key size handling on it. */
export const CREATOR_APPLICATION = 'tap\0';
/** blktap "1.3": big-endian sector bitmaps and batmap version 1.2. */
export const CREATOR_VERSION = 0x00010003;
/** vhd-util leaves the host OS zero rather than claiming Windows or Mac. */
export const CREATOR_HOST_OS = 0;
export const BATMAP_VERSION = 0x00010002;

export const DISK_TYPE_FIXED = 2;
export const DISK_TYPE_DYNAMIC = 3;

/** The VHD epoch: 2000-01-01T00:00:00Z. */
const VHD_EPOCH_MS = Date.UTC(2000, 0, 1);

export interface ChsGeometry {
  cylinders: number;
  heads: number;
  sectorsPerTrack: number;
}

/**
 * CHS geometry by the specification's algorithm (appendix "CHS calculation"). It caps at
 * 65535×16×255 sectors (about 127 GiB); larger disks carry that maximum and readers use current size.
 */
export function chsGeometry(sizeBytes: number): ChsGeometry {
  let totalSectors = Math.max(1, Math.ceil(sizeBytes / SECTOR_SIZE));
  if (totalSectors > 65535 * 16 * 255) totalSectors = 65535 * 16 * 255;
  let sectorsPerTrack: number;
  let heads: number;
  let cylinderTimesHeads: number;
  if (totalSectors >= 65535 * 16 * 63) {
    sectorsPerTrack = 255;
    heads = 16;
    cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
  } else {
    sectorsPerTrack = 17;
    cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    heads = Math.max(4, Math.floor((cylinderTimesHeads + 1023) / 1024));
    if (cylinderTimesHeads >= heads * 1024 || heads > 16) {
      sectorsPerTrack = 31;
      heads = 16;
      cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    }
    if (cylinderTimesHeads >= heads * 1024) {
      sectorsPerTrack = 63;
      heads = 16;
      cylinderTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    }
  }
  return { cylinders: Math.floor(cylinderTimesHeads / heads), heads, sectorsPerTrack };
}

/** One's complement of the byte sum, skipping the 4-byte checksum field itself. */
export function vhdChecksum(buf: Uint8Array, checksumOffset: number): number {
  let sum = 0;
  for (let i = 0; i < buf.length; i++) {
    if (i >= checksumOffset && i < checksumOffset + 4) continue;
    sum = (sum + (buf[i] as number)) >>> 0;
  }
  return ~sum >>> 0;
}

/** Seconds since the VHD epoch, as an unsigned 32-bit value. */
export function vhdTimestamp(date: Date): number {
  return Math.max(0, Math.floor((date.getTime() - VHD_EPOCH_MS) / 1000)) >>> 0;
}

export function uuidBytes(uuid: string = randomUUID()): Buffer {
  return Buffer.from(uuid.replaceAll('-', ''), 'hex');
}

export interface FooterFields {
  /** Disk size in bytes; a whole number of sectors. */
  currentSize: number;
  originalSize?: number;
  diskType: number;
  timestamp?: Date;
  uuid?: Buffer;
}

export const FOOTER_CHECKSUM_OFFSET = 64;

export function encodeFooter(f: FooterFields): Buffer {
  const b = Buffer.alloc(FOOTER_SIZE);
  b.write(FOOTER_COOKIE, 0, 'latin1');
  b.writeUInt32BE(FEATURES_RESERVED, 8);
  b.writeUInt32BE(FILE_FORMAT_VERSION, 12);
  // A fixed disk has no header; "none" is all ones.
  b.writeBigUInt64BE(f.diskType === DISK_TYPE_FIXED ? 0xffffffffffffffffn : BigInt(FOOTER_SIZE), 16);
  b.writeUInt32BE(vhdTimestamp(f.timestamp ?? new Date()), 24);
  b.write(CREATOR_APPLICATION, 28, 'latin1');
  b.writeUInt32BE(CREATOR_VERSION, 32);
  b.writeUInt32BE(CREATOR_HOST_OS, 36);
  b.writeBigUInt64BE(BigInt(f.originalSize ?? f.currentSize), 40);
  b.writeBigUInt64BE(BigInt(f.currentSize), 48);
  const g = chsGeometry(f.currentSize);
  b.writeUInt16BE(g.cylinders, 56);
  b.writeUInt8(g.heads, 58);
  b.writeUInt8(g.sectorsPerTrack, 59);
  b.writeUInt32BE(f.diskType, 60);
  (f.uuid ?? uuidBytes()).copy(b, 68, 0, 16);
  // Saved state (84) and blktap's "hidden" flag (85) stay zero.
  b.writeUInt32BE(vhdChecksum(b, FOOTER_CHECKSUM_OFFSET), FOOTER_CHECKSUM_OFFSET);
  return b;
}

export const HEADER_CHECKSUM_OFFSET = 36;

export function encodeDynamicHeader(maxTableEntries: number): Buffer {
  const b = Buffer.alloc(DYNAMIC_HEADER_SIZE);
  b.write(DYNAMIC_HEADER_COOKIE, 0, 'latin1');
  b.writeBigUInt64BE(0xffffffffffffffffn, 8);
  b.writeBigUInt64BE(BigInt(BAT_OFFSET), 16);
  b.writeUInt32BE(DYNAMIC_HEADER_VERSION, 24);
  b.writeUInt32BE(maxTableEntries, 28);
  b.writeUInt32BE(VHD_BLOCK_SIZE, 32);
  // No parent: parent UUID, time stamp, name and locators stay zero.
  b.writeUInt32BE(vhdChecksum(b, HEADER_CHECKSUM_OFFSET), HEADER_CHECKSUM_OFFSET);
  return b;
}

/** blktap sums the batmap as unsigned bytes since batmap 1.2. */
export function batmapChecksum(batmap: Uint8Array): number {
  let sum = 0;
  for (const byte of batmap) sum = (sum + byte) >>> 0;
  return ~sum >>> 0;
}

export function encodeBatmapHeader(layout: DynamicLayout, batmap: Uint8Array): Buffer {
  const b = Buffer.alloc(BATMAP_HEADER_SIZE);
  b.write(BATMAP_COOKIE, 0, 'latin1');
  b.writeBigUInt64BE(BigInt(layout.batmapOffset), 8);
  b.writeUInt32BE(layout.batmapBytes / SECTOR_SIZE, 16);
  b.writeUInt32BE(BATMAP_VERSION, 20);
  b.writeUInt32BE(batmapChecksum(batmap), 24);
  return b;
}

/** Sets bit `index`, most significant bit first, as blktap numbers batmap and sector bitmap bits. */
export function setBitMsbFirst(map: Uint8Array, index: number): void {
  map[index >> 3] = (map[index >> 3] as number) | (0x80 >> (index & 7));
}

export interface DynamicLayout {
  virtualSize: number;
  maxTableEntries: number;
  batOffset: number;
  /** The BAT padded to whole sectors. */
  batBytes: number;
  batmapHeaderOffset: number;
  batmapOffset: number;
  /** One bit per block, padded to whole sectors (at least one). */
  batmapBytes: number;
  /** Where the first block's bitmap goes. */
  firstBlockOffset: number;
  /** Distance between consecutive blocks' bitmaps. */
  blockStride: number;
}

const PAGE_SIZE = 4096;

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

/** Where the next block's bitmap goes so its data begins on a page boundary, as blktap places it. */
export function alignBlockOffset(offset: number): number {
  return roundUp(offset + BLOCK_BITMAP_SIZE, PAGE_SIZE) - BLOCK_BITMAP_SIZE;
}

/** blktap's layout: footer copy, header, BAT, batmap header, batmap, then page-aligned blocks. */
export function dynamicLayout(virtualSize: number): DynamicLayout {
  if (virtualSize <= 0 || virtualSize % SECTOR_SIZE !== 0)
    throw new RangeError(`VHD size ${virtualSize} is not a positive whole number of ${SECTOR_SIZE}-byte sectors`);
  if (virtualSize > MAX_VIRTUAL_SIZE)
    throw new RangeError(
      `VHD size ${virtualSize} exceeds the format's maximum of ${MAX_VIRTUAL_SIZE} bytes (2040 GiB)`,
    );
  const maxTableEntries = Math.ceil(virtualSize / VHD_BLOCK_SIZE);
  const batBytes = roundUp(maxTableEntries * 4, SECTOR_SIZE);
  const batmapHeaderOffset = BAT_OFFSET + batBytes;
  const batmapOffset = batmapHeaderOffset + BATMAP_HEADER_SIZE;
  const batmapBytes = Math.max(SECTOR_SIZE, roundUp(Math.ceil(maxTableEntries / 8), SECTOR_SIZE));
  return {
    virtualSize,
    maxTableEntries,
    batOffset: BAT_OFFSET,
    batBytes,
    batmapHeaderOffset,
    batmapOffset,
    batmapBytes,
    firstBlockOffset: alignBlockOffset(batmapOffset + batmapBytes),
    blockStride: roundUp(BLOCK_BITMAP_SIZE + VHD_BLOCK_SIZE, PAGE_SIZE),
  };
}
