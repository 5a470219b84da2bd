// Diskimage inheritance as nodepool does it: a diskimage with `parent` starts from its parent (recursively);
// `elements` are appended to the parent's, `env-vars` are merged over the parent's (the child wins), `formats`
// and `keep-formats` add to the parent's, and every other key the child sets replaces the parent's. `name`,
// `abstract` and `parent` are never inherited. Abstract diskimages are only parents: never built nor uploaded.
import type { PathSegment } from './locate.ts';
import type { Diskimage, DiskimageAsWritten, ImageFormat } from './schema.ts';
import { didYouMean } from './suggest.ts';
import type { Finding } from './cross-checks.ts';

const DEFAULTS = {
  builder: 'dib',
  rebuildAge: 86400,
  buildTimeout: 28800,
  pause: false,
  pythonPath: 'auto',
  dibCmd: 'disk-image-create',
  deleteAfterUpload: false,
  templateDomain: 'nodepool.local',
  validate: false,
} as const;

/** For a resolved diskimage, the index (in the file's diskimages) of the entry each key was taken from. */
export type KeySources = Map<string, Map<string, number>>;

export interface Resolved {
  diskimages: Diskimage[];
  /** Names of abstract diskimages (not in `diskimages`). */
  abstract: Set<string>;
  sources: KeySources;
  findings: Finding[];
}

function union<T>(a: readonly T[] | undefined, b: readonly T[] | undefined): T[] | undefined {
  if (a === undefined) return b === undefined ? undefined : [...b];
  return b === undefined ? [...a] : [...new Set([...a, ...b])];
}

/** The chain from the root ancestor down to the diskimage at `index`; findings for a missing parent or a cycle. */
function chainOf(
  written: readonly DiskimageAsWritten[],
  index: number,
  byName: Map<string, number>,
): { chain: number[]; finding?: Finding; key?: string } {
  const chain = [index];
  const seen = new Set([written[index]?.name]);
  let at = index;
  for (;;) {
    const parent = written[at]?.parent;
    if (parent === undefined) return { chain };
    const p = byName.get(parent);
    const path: PathSegment[] = ['diskimages', at, 'parent'];
    if (p === undefined)
      return {
        chain,
        finding: {
          path,
          message: `unknown parent '${parent}' (not under the top-level diskimages)${didYouMean(parent, byName.keys())}`,
        },
      };
    if (seen.has(parent)) {
      const names = [...chain].reverse().map((i) => written[i]?.name);
      const from = names.indexOf(parent);
      const cycle = [...names.slice(from), parent].join(' → ');
      return {
        chain,
        key: `cycle:${[...new Set(names.slice(from))].sort().join(',')}`,
        finding: { path, message: `diskimage parents form a cycle: ${cycle}; one of them must not have a parent` },
      };
    }
    seen.add(parent);
    chain.unshift(p);
    at = p;
  }
}

/** Resolves every diskimage's parents; returns the buildable (non-abstract) ones with defaults applied. */
export function resolveDiskimages(written: readonly DiskimageAsWritten[]): Resolved {
  const byName = new Map<string, number>();
  written.forEach((d, i) => {
    if (!byName.has(d.name)) byName.set(d.name, i);
  });
  const findings = new Map<string, Finding>();
  const diskimages: Diskimage[] = [];
  const sources: KeySources = new Map();
  const abstract = new Set<string>();
  written.forEach((image, index) => {
    const { chain, finding, key } = chainOf(written, index, byName);
    // A broken chain is reported once, at the entry whose parent is wrong, however many inherit from it.
    if (finding) {
      const id = key ?? JSON.stringify(finding.path);
      if (!findings.has(id)) findings.set(id, finding);
    }
    if (image.abstract === true) {
      abstract.add(image.name);
      return;
    }
    if (finding || byName.get(image.name) !== index) return;
    const from = new Map<string, number>();
    let elements: string[] | undefined;
    let envVars: Record<string, string> = {};
    let formats: ImageFormat[] | undefined;
    let keepFormats: ImageFormat[] | undefined;
    const merged: Record<string, unknown> = {};
    for (const i of chain) {
      const d = written[i] as DiskimageAsWritten;
      for (const [key, value] of Object.entries(d)) {
        if (value === undefined || key === 'name' || key === 'abstract' || key === 'parent') continue;
        from.set(key, i);
        if (key === 'elements') elements = [...(elements ?? []), ...(value as string[])];
        else if (key === 'envVars') envVars = { ...envVars, ...(value as Record<string, string>) };
        else if (key === 'formats') formats = union(formats, value as ImageFormat[]);
        else if (key === 'keepFormats') keepFormats = union(keepFormats, value as ImageFormat[]);
        else merged[key] = value;
      }
    }
    const resolved: Diskimage = {
      ...DEFAULTS,
      ...(merged as Partial<Diskimage>),
      name: image.name,
      ...(image.parent === undefined ? {} : { parent: image.parent }),
      ...(elements === undefined ? {} : { elements }),
      envVars,
      ...(formats === undefined ? {} : { formats }),
      keepFormats: keepFormats ?? [],
    };
    diskimages.push(resolved);
    sources.set(image.name, from);
  });
  return { diskimages, abstract, sources, findings: [...findings.values()] };
}
