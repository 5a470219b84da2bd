// Reads nodepool.yaml: YAML with positions, then the schema, then the cross-section checks. Every problem found
// is reported at once, as a ConfigError, each with file:line:column and key path.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { LineCounter, isMap, isSeq, parseDocument, visit, type Alias, type Document } from 'yaml';
import type { core } from 'zod';
import { crossCheck } from './cross-checks.ts';
import { ConfigError, type ConfigIssue } from './errors.ts';
import { formatPath, locate } from './locate.ts';
import { UNKNOWN_KEY, configSchema, describe, type Config } from './schema.ts';
import { didYouMean } from './suggest.ts';
// The same lookup the conversion uses, so config-validate and a build agree on which vhd-util runs.
import { findOnPath, isExecutableFile } from '../images/tools.ts';

export interface LoadOptions {
  /** Where relative paths in the file are anchored; defaults to the directory holding the file. */
  baseDir?: string;
  /** Environment whose PATH is searched for vhd-util; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
};

function messageFor(issue: core.$ZodIssue): string {
  const found = describe(issue.input);
  const last = issue.path[issue.path.length - 1];
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return `missing required key '${String(last)}'`;
      // YAML reads 22.04, 1 and yes as numbers or booleans; the fix is quoting, which nobody guesses from "string".
      if (issue.expected === 'string' && (typeof issue.input === 'number' || typeof issue.input === 'boolean'))
        return `expected a string, found ${found}; quote it to keep it text: '${found}'`;
      return `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}, found ${found}`;
    case 'too_small':
      if (issue.origin === 'array') return `expected at least ${issue.minimum} item(s), found an empty list`;
      if (issue.origin === 'string') return `expected a non-empty string, found ""`;
      return `expected a value ≥ ${issue.minimum}, found ${found}`;
    case 'too_big':
      return `expected a value ≤ ${issue.maximum}, found ${found}`;
    case 'invalid_value': {
      const values = issue.values.map(String);
      const hint = typeof issue.input === 'string' ? didYouMean(issue.input, values) : '';
      return `expected one of ${values.join(', ')}, found ${found}${hint}`;
    }
    default:
      return issue.message;
  }
}

function byPosition(a: ConfigIssue, b: ConfigIssue): number {
  return (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0);
}

/** The first line of a yaml error, without the position (it is given separately). */
function yamlMessage(message: string): string {
  return (message.split('\n')[0] ?? message).replace(/ at line \d+, column \d+:?$/, '');
}

function anchorPaths(config: Config, baseDir: string): Config {
  const at = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  return {
    ...config,
    imagesDir: at(config.imagesDir),
    buildLogDir: at(config.buildLogDir),
    ...(config.vhdUtil === undefined ? {} : { vhdUtil: at(config.vhdUtil) }),
    database: { ...config.database, dataDir: at(config.database.dataDir) },
    diskimages: config.diskimages.map((d) => (d.script === undefined ? d : { ...d, script: at(d.script) })),
  };
}

function topLevelProblem(doc: Document): string | undefined {
  if (doc.contents === null) return 'the file is empty; expected a mapping with labels, providers and diskimages';
  if (isMap(doc.contents)) return undefined;
  const found = isSeq(doc.contents) ? 'a list' : describe(doc.toJS());
  return `expected a mapping (labels:, providers:, diskimages:, ...) at the top level, found ${found}`;
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

/** Parses and checks the text of a nodepool.yaml; `fileName` is used in messages and to anchor relative paths. */
export function parseConfig(text: string, fileName: string, options: LoadOptions = {}): Config {
  const lineCounter = new LineCounter();
  // merge: `<<: *defaults` is common in nodepool configurations (PyYAML reads it by default).
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true, merge: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((err) => ({
        file: fileName,
        line: err.linePos?.[0].line ?? 1,
        column: err.linePos?.[0].col ?? 1,
        path: '',
        message: `YAML syntax error: ${yamlMessage(err.message)}`,
      })),
    );
  }
  const aliases = unresolvedAliases(doc);
  if (aliases.length > 0) {
    throw new ConfigError(
      aliases.map((alias) => {
        const at = lineCounter.linePos(alias.range?.[0] ?? 0);
        return {
          file: fileName,
          line: at.line,
          column: at.col,
          path: '',
          message: `YAML alias *${alias.source} names no anchor defined before it; define &${alias.source} first or remove the alias`,
        };
      }),
    );
  }
  const problem = topLevelProblem(doc);
  if (problem !== undefined) {
    const start = lineCounter.linePos(doc.contents?.range[0] ?? 0);
    throw new ConfigError([{ file: fileName, line: start.line, column: start.col, path: '', message: problem }]);
  }

  const located = (path: readonly PropertyKey[], message: string, at?: 'key'): ConfigIssue => ({
    file: fileName,
    ...locate(doc, lineCounter, path, at),
    path: formatPath(path),
    message,
  });

  const result = configSchema.safeParse(doc.toJS(), { reportInput: true });
  if (!result.success) {
    const issues = result.error.issues.map((issue) => {
      const kind = issue.code === 'custom' ? (issue.params as { kind?: string } | undefined)?.kind : undefined;
      return located(issue.path, messageFor(issue), kind === UNKNOWN_KEY ? 'key' : undefined);
    });
    throw new ConfigError(issues.sort(byPosition));
  }

  const baseDir = options.baseDir ?? dirname(resolve(fileName));
  const config = anchorPaths(result.data, baseDir);
  const env = options.env ?? process.env;
  const findings = crossCheck(config, {
    findVhdUtil: () =>
      config.vhdUtil === undefined
        ? findOnPath('vhd-util', env.PATH ?? '')
        : isExecutableFile(config.vhdUtil)
          ? config.vhdUtil
          : undefined,
  });
  if (findings.length > 0)
    throw new ConfigError(findings.map((f) => located(f.path, f.message, f.at)).sort(byPosition));
  return config;
}

function unreadable(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return 'no such file; name the configuration with -c/--config or NODEPOOL_CONFIG';
    case 'EACCES':
    case 'EPERM':
      return 'cannot read the file: permission denied';
    case 'EISDIR':
      return 'is a directory; expected a nodepool.yaml file';
    default:
      return `cannot read the file: ${err.message}`;
  }
}

/** Reads and checks nodepool.yaml; throws ConfigError listing every problem. */
export function loadConfig(path: string, options: LoadOptions = {}): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([{ file: path, path: '', message: unreadable(err as NodeJS.ErrnoException) }]);
  }
  return parseConfig(text, path, options);
}
