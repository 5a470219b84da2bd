// Maps a key path inside the parsed data back to the YAML text, so every message can name line and column.
import { isAlias, isMap, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

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

function resolve(doc: Document, node: unknown): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

function isEmptyScalar(node: unknown): boolean {
  return isScalar(node) && node.value === null && node.source === '';
}

/**
 * The 1-based line and column for a path. `at: 'key'` points at the key itself (an unknown key); otherwise at
 * the value, or at the key when the value is empty, or at the nearest enclosing node when the path goes
 * beyond what the file contains (a missing key is reported at the mapping that lacks it).
 */
export function locate(
  doc: Document,
  lineCounter: LineCounter,
  path: readonly PropertyKey[],
  at: 'key' | 'value' = 'value',
): { line: number; column: number } {
  let current: unknown = resolve(doc, doc.contents);
  let keyNode: Node | undefined;
  let best: Node | undefined = (current as Node | null) ?? undefined;
  for (const segment of path) {
    keyNode = undefined;
    if (isMap(current)) {
      const pair = current.items.find((p) => {
        const key = resolve(doc, p.key);
        return String(isScalar(key) ? key.value : key) === String(segment);
      });
      if (!pair) break;
      keyNode = isScalar(pair.key) ? pair.key : undefined;
      best = keyNode ?? best;
      current = resolve(doc, pair.value);
      if (current && !isEmptyScalar(current)) best = current as Node;
    } else if (isSeq(current) && typeof segment === 'number') {
      const item = current.items[segment];
      if (item === undefined) break;
      current = resolve(doc, item);
      if (current) best = current as Node;
    } else {
      break;
    }
  }
  const node = at === 'key' && keyNode ? keyNode : best;
  const offset = node?.range?.[0] ?? 0;
  const pos = lineCounter.linePos(offset);
  return { line: pos.line, column: pos.col };
}
