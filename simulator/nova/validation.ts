// Nova's request-validation dialect (jsonschema-style 400s) and the metadata rules that servers, the
// metadata API and createImage all share.
import type { Cloud } from '../cloud.ts';
import { isIPv4, isIPv6 } from 'node:net';
import { HttpError, isObject } from '../http.ts';

const META_KEY_RE = /^[a-zA-Z0-9-_:. ]{1,255}$/;

export function invalid(field: string, value: unknown, reason: string): HttpError {
  return new HttpError(400, `Invalid input for field/attribute ${field}. Value: ${JSON.stringify(value)}. ${reason}`);
}

export function checkMetadata(cloud: Cloud, metadata: unknown, field: string): Record<string, string> {
  if (!isObject(metadata)) throw invalid(field, metadata, `${JSON.stringify(metadata)} is not of type 'object'`);
  for (const [k, v] of Object.entries(metadata)) {
    if (!META_KEY_RE.test(k)) throw invalid(field, metadata, `'${k}' does not match any of the regexes`);
    if (typeof v !== 'string') throw invalid(`${field}/${k}`, v, `${JSON.stringify(v)} is not of type 'string'`);
    if (v.length > 255) throw invalid(`${field}/${k}`, v, `'${v}' is too long`);
  }
  const max = cloud.knobs.quota.metadataItems;
  if (max >= 0 && Object.keys(metadata).length > max) {
    throw new HttpError(403, `Maximum number of metadata items exceeds ${max}`);
  }
  return metadata as Record<string, string>;
}

/** Nova's server name rule: 1-255 characters without leading or trailing whitespace. */
export function checkServerName(name: unknown): string {
  if (typeof name !== 'string' || name.length < 1 || name.length > 255 || name.trim() !== name) {
    throw invalid('name', name, 'name must be a string of 1 to 255 characters without leading or trailing spaces');
  }
  return name;
}

/** A valid accessIPv4/accessIPv6, normalised as Nova stores it (IPv6 in its compressed form); '' when absent. */
export function accessIp(value: unknown, field: 'accessIPv4' | 'accessIPv6'): string {
  if (value === undefined) return '';
  const v4 = field === 'accessIPv4';
  if (typeof value !== 'string' || !(v4 ? isIPv4(value) : isIPv6(value))) {
    throw invalid(field, value, `'${String(value)}' is not a '${v4 ? 'ipv4' : 'ipv6'}'`);
  }
  return v4 ? value : new URL(`http://[${value}]/`).hostname.slice(1, -1);
}
