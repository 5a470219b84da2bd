// Reads nodepool.yaml as nodepool does (PyYAML: YAML 1.1, merge keys), keeping positions for messages. A syntax
// error is reported where the unclosed construct opened, since the parser only notices it later.
import {
  CST,
  LineCounter,
  Parser,
  Scalar,
  isMap,
  isSeq,
  parseDocument,
  visit,
  type Alias,
  type Document,
  type Tags,
} from 'yaml';
import type { ConfigIssue } from './errors.ts';
import { describe } from './describe.ts';

export interface YamlFile {
  file: string;
  text: string;
  doc: Document;
  lineCounter: LineCounter;
}

// PyYAML's booleans: yaml's YAML 1.1 schema also reads y/Y/n/N as booleans, which PyYAML (and so nodepool) does not.
const pyBool = (value: boolean, test: RegExp) => ({
  identify: (v: unknown) => v === value,
  default: true,
  tag: 'tag:yaml.org,2002:bool',
  test,
  resolve: () => new Scalar(value),
});
const PY_TRUE = pyBool(true, /^(?:yes|Yes|YES|true|True|TRUE|on|On|ON)$/);
const PY_FALSE = pyBool(false, /^(?:no|No|NO|false|False|FALSE|off|Off|OFF)$/);

function pyyamlTags(tags: Tags): Tags {
  return [...tags.filter((t) => typeof t !== 'object' || t.tag !== 'tag:yaml.org,2002:bool'), PY_TRUE, PY_FALSE];
}

/** Where a construct opened and what closes it, for constructs the text never closes. */
interface Unclosed {
  offset: number;
  what: string;
}

/** Flow collections without their closing bracket and quoted scalars without their closing quote. */
function unclosedConstructs(text: string): Unclosed[] {
  const found: Unclosed[] = [];
  const consider = (token: CST.Token | undefined): void => {
    if (!token) return;
    if (token.type === 'flow-collection') {
      const open = token.start.source;
      const close = open === '[' ? 'flow-seq-end' : 'flow-map-end';
      if (!token.end.some((t) => t.type === close)) found.push({ offset: token.offset, what: open });
    } else if (token.type === 'double-quoted-scalar' || token.type === 'single-quoted-scalar') {
      const quote = token.type === 'double-quoted-scalar' ? '"' : "'";
      const src = token.source.trimEnd();
      const closed =
        src.length >= 2 && src.endsWith(quote) && (quote === "'" || !/(^|[^\\])(\\\\)*\\"$/.test(src.slice(1)));
      if (!closed) found.push({ offset: token.offset, what: quote });
    }
  };
  for (const top of new Parser().parse(text)) {
    if (top.type !== 'document') continue;
    consider(top.value);
    CST.visit(top, (item) => {
      consider(item.key ?? undefined);
      consider(item.value ?? undefined);
    });
  }
  return found.sort((a, b) => a.offset - b.offset);
}

/** The first line of a yaml error, without the position (it is given separately). */
function yamlMessage(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '');
}

/** Aliases whose anchor is missing (or comes later): yaml reports these only when converting, by throwing. */
function unresolvedAliases(doc: Document): Alias[] {
  const found: Alias[] = [];
  visit(doc, {
    Alias(_key, node) {
      if (node.resolve(doc) === undefined) found.push(node);
    },
  });
  return found;
}

function topLevelProblem(doc: Document): string | undefined {
  if (doc.contents === null) return 'the file is empty; expected a mapping with labels, providers and diskimages';
  if (isMap(doc.contents)) return undefined;
  const found = isSeq(doc.contents) ? 'a list' : describe(doc.toJS());
  return `expected a mapping (labels:, providers:, diskimages:, ...) at the top level, found ${found}`;
}

/** Parses one file; the issues are its syntax errors, unresolvable aliases, or a top level that is not a mapping. */
export function parseYaml(text: string, file: string): { yaml: YamlFile; issues: ConfigIssue[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: true,
    uniqueKeys: true,
    version: '1.1',
    // `<<: *defaults` is common in nodepool configurations (PyYAML reads it by default).
    merge: true,
    customTags: pyyamlTags,
  });
  const yaml: YamlFile = { file, text, doc, lineCounter };
  const at = (offset: number): { line: number; column: number } => {
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  if (doc.errors.length > 0) {
    const unclosed = unclosedConstructs(text);
    const issues = doc.errors.map((err): ConfigIssue => {
      const noticed = err.pos[0];
      const message = yamlMessage(err.message);
      // The innermost construct still open where the parser gave up is the one to close.
      const opened = unclosed.filter((u) => u.offset <= noticed).pop();
      if (opened === undefined) return { file, ...at(noticed), path: '', message: `YAML syntax error: ${message}` };
      const seen = at(noticed);
      return {
        file,
        ...at(opened.offset),
        path: '',
        message: `YAML syntax error: this ${opened.what} is never closed (noticed at ${seen.line}:${seen.column}: ${message})`,
      };
    });
    return { yaml, issues };
  }
  const aliases = unresolvedAliases(doc);
  if (aliases.length > 0)
    return {
      yaml,
      issues: aliases.map((alias) => ({
        file,
        ...at(alias.range?.[0] ?? 0),
        path: '',
        message: `YAML alias *${alias.source} names no anchor defined before it; define &${alias.source} first or remove the alias`,
      })),
    };
  const problem = topLevelProblem(doc);
  if (problem !== undefined)
    return { yaml, issues: [{ file, ...at(doc.contents?.range[0] ?? 0), path: '', message: problem }] };
  return { yaml, issues: [] };
}
