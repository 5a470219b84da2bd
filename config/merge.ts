// Several files loaded as one configuration, as deployments keep them (a launcher file and a builder file):
// lists of named entries (labels, diskimages, providers, and a provider's diskimages, cloud-images, pools and
// their labels) are joined by name, an entry in both files gets the keys of both, and a key both files set
// must have the same value in each. Every merged value remembers the file and path it came from, so messages
// point into the file that holds it.
import { isDeepStrictEqual } from 'node:util';
import type { PathSegment } from './locate.ts';

/** Where a merged value came from: a file (by index) and the path in it; `children` where files were joined. */
export interface Origin {
  file: number;
  path: PathSegment[];
  children?: Map<PathSegment, Origin>;
}

export interface Conflict {
  /** The path in the merged data. */
  path: PathSegment[];
  first: Origin;
  second: Origin;
  firstValue: unknown;
  secondValue: unknown;
}

function isMapping(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function isNamedList(v: unknown): v is Record<string, unknown>[] {
  return Array.isArray(v) && v.every((item) => isMapping(item) && typeof item.name === 'string');
}

function childOrigin(origin: Origin, segment: PathSegment): Origin {
  return origin.children?.get(segment) ?? { file: origin.file, path: [...origin.path, segment] };
}

/** The file and the path in it for a path in the merged data. */
export function originOf(root: Origin, path: readonly PathSegment[]): { file: number; path: PathSegment[] } {
  let origin = root;
  for (const segment of path) origin = childOrigin(origin, segment);
  return { file: origin.file, path: origin.path };
}

function mergeValues(
  a: unknown,
  aOrigin: Origin,
  b: unknown,
  bOrigin: Origin,
  at: PathSegment[],
  conflicts: Conflict[],
): { value: unknown; origin: Origin } {
  if (isMapping(a) && isMapping(b)) {
    const value: Record<string, unknown> = {};
    const children = new Map<PathSegment, Origin>();
    for (const key of Object.keys(a)) {
      value[key] = a[key];
      children.set(key, childOrigin(aOrigin, key));
    }
    for (const key of Object.keys(b)) {
      if (!(key in value)) {
        value[key] = b[key];
        children.set(key, childOrigin(bOrigin, key));
        continue;
      }
      const merged = mergeValues(
        a[key],
        childOrigin(aOrigin, key),
        b[key],
        childOrigin(bOrigin, key),
        [...at, key],
        conflicts,
      );
      value[key] = merged.value;
      children.set(key, merged.origin);
    }
    return { value, origin: { ...aOrigin, children } };
  }
  if (isNamedList(a) && isNamedList(b)) {
    const value: unknown[] = [];
    const children = new Map<PathSegment, Origin>();
    const index = new Map<string, number>();
    a.forEach((item, i) => {
      index.set(item.name as string, value.length);
      children.set(value.length, childOrigin(aOrigin, i));
      value.push(item);
    });
    b.forEach((item, i) => {
      const j = index.get(item.name as string);
      if (j === undefined) {
        children.set(value.length, childOrigin(bOrigin, i));
        value.push(item);
        return;
      }
      const merged = mergeValues(
        value[j],
        children.get(j) as Origin,
        item,
        childOrigin(bOrigin, i),
        [...at, j],
        conflicts,
      );
      value[j] = merged.value;
      children.set(j, merged.origin);
    });
    return { value, origin: { ...aOrigin, children } };
  }
  if (!isDeepStrictEqual(a, b))
    conflicts.push({ path: at, first: aOrigin, second: bOrigin, firstValue: a, secondValue: b });
  return { value: a, origin: aOrigin };
}

/** Joins the files' data in order; a single file comes back as it is. */
export function mergeFiles(data: readonly Record<string, unknown>[]): {
  data: Record<string, unknown>;
  origin: Origin;
  conflicts: Conflict[];
} {
  const conflicts: Conflict[] = [];
  let value: unknown = data[0] ?? {};
  let origin: Origin = { file: 0, path: [] };
  for (let i = 1; i < data.length; i++) {
    const merged = mergeValues(value, origin, data[i], { file: i, path: [] }, [], conflicts);
    value = merged.value;
    origin = merged.origin;
  }
  return { data: value as Record<string, unknown>, origin, conflicts };
}
