// Recognising disk image containers by their magic bytes, so a qcow2, VHD or compressed file handed over as
// "raw" is refused instead of being wrapped, byte for byte, as a disk whose contents are a qcow2 header.
// Raw has no magic of its own: it is whatever is left when nothing else matches.
import { open } from 'node:fs/promises';

export interface DetectedFormat {
  /** `raw` when no container or compression format was recognised. */
  format:
    'raw' | 'qcow' | 'qcow2' | 'qed' | 'vhd' | 'vhdx' | 'vmdk' | 'vdi' | 'parallels' | 'gzip' | 'xz' | 'zstd' | 'bzip2';
  /** What was seen, for the error message. */
  evidence?: string;
}

const HEAD = 512;
const FOOTER = 512;

/** The VHD footer checksum, so a raw disk that merely ends in the bytes "conectix" is not taken for a VHD. */
function validVhdFooter(b: Buffer): boolean {
  if (b.length < FOOTER || b.toString('latin1', 0, 8) !== 'conectix') return false;
  let sum = 0;
  for (let i = 0; i < FOOTER; i++) if (i < 64 || i >= 68) sum = (sum + (b[i] as number)) >>> 0;
  return b.readUInt32BE(64) === ~sum >>> 0;
}

/** Pure: decides from the first and last bytes of a file. */
export function detectFormatFromBytes(head: Buffer, tail: Buffer): DetectedFormat {
  const at0 = (s: string): boolean => head.length >= s.length && head.toString('latin1', 0, s.length) === s;
  if (at0('QFI\xfb')) {
    const version = head.length >= 8 ? head.readUInt32BE(4) : 0;
    return version === 1
      ? { format: 'qcow', evidence: 'magic "QFI\\xfb", version 1, at byte 0' }
      : { format: 'qcow2', evidence: `magic "QFI\\xfb", version ${version}, at byte 0` };
  }
  if (at0('QED\0')) return { format: 'qed', evidence: 'magic "QED\\0" at byte 0' };
  if (at0('vhdxfile')) return { format: 'vhdx', evidence: 'signature "vhdxfile" at byte 0' };
  if (at0('conectix'))
    return { format: 'vhd', evidence: 'footer copy with cookie "conectix" at byte 0 (a dynamic VHD)' };
  if (validVhdFooter(tail))
    return { format: 'vhd', evidence: 'footer with cookie "conectix" and a valid checksum in the last 512 bytes' };
  if (at0('KDMV')) return { format: 'vmdk', evidence: 'sparse extent magic "KDMV" at byte 0' };
  if (at0('COWD')) return { format: 'vmdk', evidence: 'ESX COW magic "COWD" at byte 0' };
  if (at0('# Disk DescriptorFile')) return { format: 'vmdk', evidence: 'text "# Disk DescriptorFile" at byte 0' };
  if (head.length >= 0x44 && head.readUInt32LE(0x40) === 0xbeda107f)
    return { format: 'vdi', evidence: 'signature 0xbeda107f at byte 64' };
  if (at0('WithoutFreeSpace') || at0('WithouFreSpacExt'))
    return { format: 'parallels', evidence: 'Parallels signature at byte 0' };
  if (head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 0x08)
    return { format: 'gzip', evidence: 'gzip magic 1f 8b 08 at byte 0' };
  if (at0('\xfd7zXZ\0')) return { format: 'xz', evidence: 'xz magic fd "7zXZ" 00 at byte 0' };
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528)
    return { format: 'zstd', evidence: 'zstd magic 28 b5 2f fd at byte 0' };
  if (/^BZh[1-9]1AY&SY/.test(head.toString('latin1', 0, 10)))
    return { format: 'bzip2', evidence: 'bzip2 magic "BZh" and block header at byte 0' };
  return { format: 'raw' };
}

/** Reads the first and last sector of `path` and names its format. */
export async function detectImageFormat(path: string): Promise<DetectedFormat> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.alloc(Math.min(HEAD, size));
    await fh.read(head, 0, head.length, 0);
    const tail = Buffer.alloc(size >= FOOTER ? FOOTER : 0);
    if (tail.length > 0) await fh.read(tail, 0, FOOTER, size - FOOTER);
    return detectFormatFromBytes(head, tail);
  } finally {
    await fh.close();
  }
}

const QEMU_NAME: Partial<Record<DetectedFormat['format'], string>> = {
  qcow: 'qcow',
  qcow2: 'qcow2',
  qed: 'qed',
  vhd: 'vpc',
  vhdx: 'vhdx',
  vmdk: 'vmdk',
  vdi: 'vdi',
  parallels: 'parallels',
};

const DECOMPRESS: Partial<Record<DetectedFormat['format'], string>> = {
  gzip: 'gunzip -c',
  xz: 'xz -dc',
  zstd: 'zstd -dc',
  bzip2: 'bzip2 -dc',
};

/** Why a non-raw file is refused, and the command that would make a raw image of it. */
export function notRawMessage(path: string, detected: DetectedFormat): string {
  const qemu = QEMU_NAME[detected.format];
  const unpack = DECOMPRESS[detected.format];
  const how = qemu
    ? `convert it to raw yourself (qemu-img convert -f ${qemu} -O raw ${path} ${path}.raw) after checking it has no backing file`
    : unpack
      ? `decompress it first (${unpack} ${path} > ${path}.raw)`
      : 'give a raw image';
  return (
    `input image ${path} is ${detected.format}, not raw (${detected.evidence ?? 'recognised by its magic bytes'}). ` +
    `Builds must produce raw images (diskimage-builder: -t raw); nodepool does not convert from other formats. ` +
    `Fix the build, or ${how}.`
  );
}
