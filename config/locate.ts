// Maps a key path inside the parsed data back to the YAML text, so every message can name line and column. A
// path that runs through an alias (`*defaults`) or a merge (`<<: *defaults`) is located where the alias is used,
// since that is the entry being checked, and the message names the anchor the value comes from.
import { isAlias, isMap, isScalar, isSeq, type Alias, type Document, type Node, type Pair } from 'yaml';
import type { YamlFile } from './yaml.ts';

export type PathSegment = string | number;

/** `providers[0].pools[0].labels[1].diskimage`; keys that are not plain words are quoted. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z0-9_-]+$/.test(segment)) out += out ? `.${segment}` : segment;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}

function isEmptyScalar(node: unknown): boolean {
  return isScalar(node) && node.value === null && node.source === '';
}

function isMergeKey(key: unknown): boolean {
  return isScalar(key) && (typeof key.value === 'symbol' || key.source === '<<');
}

function keyText(doc: Document, key: unknown): string {
  const k = isAlias(key) ? key.resolve(doc) : key;
  return String(isScalar(k) ? k.value : k);
}

interface Step {
  /** The node reached, aliases resolved. */
  node: unknown;
  /** The key of the pair it is the value of, when it is a mapping's value. */
  keyNode?: Node;
  /** The first alias (`*x` value or `<<: *x` source) passed on the way, where the message is placed. */
  alias?: Alias;
}

/** The pair for `segment` in a mapping: its own first, then those its `<<` merges bring (PyYAML's order). */
function findPair(doc: Document, map: unknown, segment: string): { pair: Pair; via?: Alias } | undefined {
  if (!isMap(map)) return undefined;
  const own = map.items.find((p) => !isMergeKey(p.key) && keyText(doc, p.key) === segment);
  if (own) return { pair: own };
  for (const merge of map.items.filter((p) => isMergeKey(p.key))) {
    const sources = isSeq(merge.value) ? merge.value.items : [merge.value];
    for (const source of sources) {
      const target = isAlias(source) ? source.resolve(doc) : source;
      const found = findPair(doc, target, segment);
      if (found) return { pair: found.pair, via: found.via ?? (isAlias(source) ? source : undefined) };
    }
  }
  return undefined;
}

/**
 * Follows a path as far as the document goes. `reached` is false when the path goes beyond what the file holds
 * (a missing key); then `node` is the nearest enclosing node.
 */
function follow(doc: Document, path: readonly PropertyKey[]): Step & { reached: boolean; best: unknown } {
  let alias: Alias | undefined;
  const deref = (node: unknown): unknown => {
    if (!isAlias(node)) return node;
    alias ??= node;
    return node.resolve(doc);
  };
  let current: unknown = deref(doc.contents);
  let best: unknown = current;
  let keyNode: Node | undefined;
  for (const segment of path) {
    keyNode = undefined;
    if (isMap(current)) {
      const found = findPair(doc, current, String(segment));
      if (!found) return { node: current, alias, reached: false, best };
      if (found.via) alias ??= found.via;
      keyNode = isScalar(found.pair.key) ? found.pair.key : undefined;
      best = keyNode ?? best;
      current = deref(found.pair.value);
      if (current && !isEmptyScalar(current)) best = current;
    } else if (isSeq(current) && typeof segment === 'number') {
      const item = current.items[segment];
      if (item === undefined) return { node: current, alias, reached: false, best };
      current = deref(item);
      if (current) best = current;
    } else {
      return { node: current, alias, reached: false, best };
    }
  }
  return { node: current, ...(keyNode ? { keyNode } : {}), alias, reached: true, best };
}

/** The node at a path (aliases and merges followed), or undefined when the file does not hold it. */
export function nodeAt(doc: Document, path: readonly PropertyKey[]): unknown {
  const step = follow(doc, path);
  return step.reached ? step.node : undefined;
}

export interface Location {
  line: number;
  column: number;
  /** How the value was reached when through an alias: ` (through *x; anchor &x at line 4)`. */
  via?: string;
}

/**
 * The 1-based line and column for a path. `at: 'key'` points at the key itself (an unknown key); otherwise at
 * the value, or at the key when the value is empty, or at the nearest enclosing node when the path goes beyond
 * what the file contains (a missing key is reported at the mapping that lacks it).
 */
export function locate(file: YamlFile, path: readonly PropertyKey[], at: 'key' | 'value' = 'value'): Location {
  const step = follow(file.doc, path);
  const pos = (offset: number): { line: number; column: number } => {
    const p = file.lineCounter.linePos(offset);
    return { line: p.line, column: p.col };
  };
  if (step.alias) {
    const name = step.alias.source;
    const anchored = step.alias.resolve(file.doc);
    const start = anchored?.range?.[0] ?? 0;
    // The `&name` token comes before the node it names, possibly on the line above.
    const anchorAt = file.text.lastIndexOf(`&${name}`, start);
    const anchorLine = pos(anchorAt >= 0 ? anchorAt : start).line;
    return { ...pos(step.alias.range?.[0] ?? 0), via: ` (through *${name}; anchor &${name} at line ${anchorLine})` };
  }
  const node = (at === 'key' && step.reached && step.keyNode ? step.keyNode : step.best) as Node | undefined;
  return pos(node?.range?.[0] ?? 0);
}
