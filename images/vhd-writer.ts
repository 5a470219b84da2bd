// The built-in raw → dynamic VHD converter: one sequential pass over the blocks of the raw image that hold
// data, with two block-sized buffers, so memory stays flat whatever the image size. Blocks in holes are not
// read at all (given the file's data extents); blocks that are all zeros stay unallocated (vhd-util
// allocates them), which reads back identically and uploads faster.
import { open, type FileHandle } from 'node:fs/promises';
import {
  BLOCK_BITMAP_SIZE,
  DISK_TYPE_DYNAMIC,
  FOOTER_SIZE,
  SECTOR_SIZE,
  VHD_BLOCK_SIZE,
  dynamicLayout,
  encodeBatmapHeader,
  encodeDynamicHeader,
  encodeFooter,
  setBitMsbFirst,
} from './vhd-format.ts';
import { ImageConvertError } from './errors.ts';
import { blocksTouched, wholeFile, type Extent } from './extents.ts';

export interface VhdWriteProgress {
  bytesDone: number;
  bytesTotal: number;
}

export interface WriteDynamicVhdOptions {
  /** A raw disk image whose size is a whole number of sectors. */
  input: string;
  /** Created exclusively; the caller owns renaming it into place and removing it on failure. */
  output: string;
  onProgress?: (p: VhdWriteProgress) => void;
  signal?: AbortSignal;
  /**
   * Where the raw holds data (images/extents.ts); blocks outside every extent are holes and are not read.
   * Without it every block is read and compared with zeros.
   */
  extents?: readonly Extent[] | undefined;
  /** Fixed for reproducible tests; a fresh random UUID and the current time otherwise. */
  uuid?: Buffer;
  timestamp?: Date;
}

export interface VhdWriteResult {
  virtualSize: number;
  totalBlocks: number;
  allocatedBlocks: number;
}

const ZERO_BLOCK = Buffer.alloc(VHD_BLOCK_SIZE);
/** BAT entries are 32-bit sector numbers. */
const MAX_BAT_SECTOR = 0xfffffffe;

async function readFully(fh: FileHandle, buf: Buffer, length: number, position: number): Promise<number> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}

async function writeFully(fh: FileHandle, buf: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

export async function writeDynamicVhd(opts: WriteDynamicVhdOptions): Promise<VhdWriteResult> {
  const { input, output, signal } = opts;
  const src = await open(input, 'r');
  try {
    const rawSize = (await src.stat()).size;
    if (rawSize === 0 || rawSize % SECTOR_SIZE !== 0)
      throw new ImageConvertError('bad-input', `${input}: size ${rawSize} is not a positive multiple of 512 bytes`);
    const layout = dynamicLayout(rawSize);
    const bat = Buffer.alloc(layout.batBytes);
    bat.fill(0xff, 0, layout.maxTableEntries * 4);
    const batmap = Buffer.alloc(layout.batmapBytes);
    // Two slots, each a sector bitmap followed by room for one block's data, so each allocated block is
    // one write, and the next block is read while the current one is written. Every bitmap bit is set
    // (all sectors present), which lets tapdisk's batmap mark the block fully allocated.
    const slots = [0, 1].map(() => {
      const buf = Buffer.alloc(BLOCK_BITMAP_SIZE + VHD_BLOCK_SIZE, 0xff);
      return { whole: buf, data: buf.subarray(BLOCK_BITMAP_SIZE) };
    });
    const readBlock = async (i: number, slot: number): Promise<Buffer> => {
      const data = (slots[slot] as (typeof slots)[number]).data;
      const position = i * VHD_BLOCK_SIZE;
      const want = Math.min(VHD_BLOCK_SIZE, rawSize - position);
      const got = await readFully(src, data, want, position);
      if (got < want)
        throw new ImageConvertError(
          'bad-input',
          `${input}: ended at byte ${position + got} while converting, but it was ${rawSize} bytes when the ` +
            `conversion started; something truncated it. Rebuild the image and convert it again.`,
        );
      // The last block of a disk that is not a whole number of blocks is zero-padded on disk.
      if (want < VHD_BLOCK_SIZE) data.fill(0, want);
      return data;
    };

    const dst = await open(output, 'wx');
    let current: Promise<Buffer> | undefined;
    try {
      let next = layout.firstBlockOffset;
      let end = layout.firstBlockOffset;
      let allocated = 0;
      const startRead = (i: number, slot: number): Promise<Buffer> => {
        const p = readBlock(i, slot);
        // Marked handled now: it may fail while we are still writing; the loop awaits it next round.
        p.catch(() => undefined);
        return p;
      };
      const candidates = blocksTouched(opts.extents ?? wholeFile(rawSize), VHD_BLOCK_SIZE);
      // Alternating slots: the next block is read into one while the current one is written from the other.
      let reads = 0;
      const upcoming = (): { i: number; slot: number; read: Promise<Buffer> } | undefined => {
        const n = candidates.next();
        if (n.done || n.value >= layout.maxTableEntries) return undefined;
        const slot = reads++ % 2;
        return { i: n.value, slot, read: startRead(n.value, slot) };
      };
      let block = upcoming();
      current = block?.read;
      while (block) {
        const data = await block.read;
        const { i } = block;
        const whole = (slots[block.slot] as (typeof slots)[number]).whole;
        block = upcoming();
        current = block?.read;
        signal?.throwIfAborted();
        if (!data.equals(ZERO_BLOCK)) {
          const sector = next / SECTOR_SIZE;
          if (sector > MAX_BAT_SECTOR) throw new RangeError(`${output}: block offset beyond 32-bit sectors`);
          await writeFully(dst, whole, next);
          bat.writeUInt32BE(sector, i * 4);
          setBitMsbFirst(batmap, i);
          allocated++;
          end = next + BLOCK_BITMAP_SIZE + VHD_BLOCK_SIZE;
          next += layout.blockStride;
        }
        opts.onProgress?.({ bytesDone: Math.min(rawSize, (i + 1) * VHD_BLOCK_SIZE), bytesTotal: rawSize });
      }
      opts.onProgress?.({ bytesDone: rawSize, bytesTotal: rawSize });
      signal?.throwIfAborted();
      // With no block allocated the footer follows the batmap directly.
      if (allocated === 0) end = layout.batmapOffset + layout.batmapBytes;

      const footer = encodeFooter({
        currentSize: rawSize,
        diskType: DISK_TYPE_DYNAMIC,
        ...(opts.uuid ? { uuid: opts.uuid } : {}),
        ...(opts.timestamp ? { timestamp: opts.timestamp } : {}),
      });
      await writeFully(dst, footer, 0);
      await writeFully(dst, encodeDynamicHeader(layout.maxTableEntries), FOOTER_SIZE);
      await writeFully(dst, bat, layout.batOffset);
      await writeFully(dst, encodeBatmapHeader(layout, batmap), layout.batmapHeaderOffset);
      await writeFully(dst, batmap, layout.batmapOffset);
      await writeFully(dst, footer, end);
      return { virtualSize: rawSize, totalBlocks: layout.maxTableEntries, allocatedBlocks: allocated };
    } finally {
      // A read still in flight after a failure must settle before its file closes.
      await current?.catch(() => undefined);
      await dst.close();
    }
  } finally {
    await src.close();
  }
}
