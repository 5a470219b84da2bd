// The image schema's rules: which attributes exist, which are read-only or reserved, what values they take,
// and the errors Glance's jsonschema layer words them with.
import { HttpError } from '../http.ts';
import type { ImageRecord } from '../state.ts';

const DISK_FORMATS = ['ami', 'ari', 'aki', 'vhd', 'vhdx', 'vmdk', 'raw', 'qcow2', 'vdi', 'iso', 'ploop'];
const CONTAINER_FORMATS = ['ami', 'ari', 'aki', 'bare', 'ovf', 'ova', 'docker', 'compressed'];
export const VISIBILITIES = ['public', 'private', 'shared', 'community'];
const READ_ONLY = [
  'status',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'size',
  'virtual_size',
  'created_at',
  'updated_at',
  'self',
  'file',
  'schema',
  'direct_url',
  'locations',
  'owner',
];
const BASE = ['id', 'name', 'visibility', 'protected', 'os_hidden', 'min_disk', 'min_ram', 'disk_format'];
export const BASE_KEYS = new Set([...BASE, 'container_format', 'tags', ...READ_ONLY]);
const PROPERTY_QUOTA = 128;

/** jsonschema messages print values the way Python's repr does. */
function pyRepr(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : JSON.stringify(value);
}

export function schemaError(value: unknown, allowed: string[] | string, field: string): HttpError {
  const what = Array.isArray(allowed)
    ? `${pyRepr(value)} is not one of [${allowed.map((a) => `'${a}'`).join(', ')}]`
    : `${pyRepr(value)} is not of type '${allowed}'`;
  return new HttpError(
    400,
    `Provided object does not match schema 'image': ${what}\n\nFailed validating in schema['properties']['${field}']`,
  );
}

/** Applies one base or custom attribute to a record, validating it the way the image schema does. */
export function setAttribute(img: ImageRecord, key: string, value: unknown): void {
  switch (key) {
    case 'name':
      if (value !== null && (typeof value !== 'string' || value.length > 255)) throw schemaError(value, 'string', key);
      img.name = value as string | null;
      return;
    case 'disk_format':
      if (value !== null && !DISK_FORMATS.includes(value as string)) throw schemaError(value, DISK_FORMATS, key);
      img.diskFormat = value as string | null;
      return;
    case 'container_format':
      if (value !== null && !CONTAINER_FORMATS.includes(value as string)) {
        throw schemaError(value, CONTAINER_FORMATS, key);
      }
      img.containerFormat = value as string | null;
      return;
    case 'visibility':
      if (!VISIBILITIES.includes(value as string)) throw schemaError(value, VISIBILITIES, key);
      img.visibility = value as string;
      return;
    case 'protected':
    case 'os_hidden':
      if (typeof value !== 'boolean') throw schemaError(value, 'boolean', key);
      if (key === 'protected') img.protected = value;
      else img.osHidden = value;
      return;
    case 'min_disk':
    case 'min_ram':
      if (!Number.isInteger(value) || (value as number) < 0) throw schemaError(value, 'integer', key);
      if (key === 'min_disk') img.minDisk = value as number;
      else img.minRam = value as number;
      return;
    case 'tags':
      if (!Array.isArray(value) || !value.every((t) => typeof t === 'string' && t.length <= 255)) {
        throw schemaError(value, 'array', key);
      }
      img.tags = [...new Set(value as string[])];
      return;
    default:
      if (READ_ONLY.includes(key)) throw new HttpError(403, `Attribute '${key}' is read-only.`);
      if (key.startsWith('os_glance')) {
        throw new HttpError(403, `Attribute '${key}' is reserved.`);
      }
      if (key.length > 255) throw new HttpError(400, `Property key '${key.slice(0, 40)}…' is longer than 255`);
      if (typeof value !== 'string') throw schemaError(value, 'string', key);
      img.properties[key] = value;
  }
}

export function checkPropertyQuota(img: ImageRecord): void {
  if (Object.keys(img.properties).length > PROPERTY_QUOTA) {
    throw new HttpError(413, `Attempted: ${Object.keys(img.properties).length}, Maximum: ${PROPERTY_QUOTA}`);
  }
}
