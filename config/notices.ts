// The one-line notices for nodepool keys that mean nothing here (zookeeper-servers, webapp, ...): found in the
// data as written, section by section, using keys.ts.
import type { PathSegment } from './locate.ts';
import { OTHER_DRIVERS, SECTIONS, replacedNotice } from './keys.ts';

export interface Notice {
  path: PathSegment[];
  message: string;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Every mapping at a section's place in the data, with its path; `*` stands for every list item. */
export function mappingsAt(data: unknown, at: readonly string[]): [PathSegment[], Record<string, unknown>][] {
  let found: [PathSegment[], unknown][] = [[[], data]];
  for (const segment of at) {
    const next: [PathSegment[], unknown][] = [];
    for (const [path, value] of found) {
      if (segment === '*') {
        if (Array.isArray(value)) value.forEach((item, i) => next.push([[...path, i], item]));
      } else if (isMapping(value) && segment in value) next.push([[...path, segment], value[segment]]);
    }
    found = next;
  }
  return found.filter((entry): entry is [PathSegment[], Record<string, unknown>] => isMapping(entry[1]));
}

/** A provider of another nodepool driver gets one error at its driver line and nothing else. */
function ofOtherDriver(data: unknown, path: PathSegment[]): boolean {
  if (path[0] !== 'providers' || typeof path[1] !== 'number' || !isMapping(data)) return false;
  const providers = data.providers;
  const provider = Array.isArray(providers) ? (providers[path[1]] as unknown) : undefined;
  const driver = isMapping(provider) ? provider.driver : undefined;
  return typeof driver === 'string' && (OTHER_DRIVERS as readonly string[]).includes(driver);
}

export function findNotices(data: unknown): Notice[] {
  const notices: Notice[] = [];
  for (const section of SECTIONS) {
    if (section.at === undefined) continue;
    const replaced = section.keys.filter((k) => k.status === 'replaced');
    if (replaced.length === 0) continue;
    for (const [path, mapping] of mappingsAt(data, section.at)) {
      if (ofOtherDriver(data, path)) continue;
      for (const key of replaced)
        if (key.key in mapping) notices.push({ path: [...path, key.key], message: replacedNotice(key) });
    }
  }
  return notices;
}
