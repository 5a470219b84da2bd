// Reads nodepool.yaml (one file, or several loaded as one: a launcher file and a builder file): YAML with
// positions, then the files joined, then the schema, diskimage inheritance and the cross-section checks. Every
// problem found at a stage is reported at once, as a ConfigError, each with file:line:column and key path.
// Nodepool keys that mean nothing here are reported as notices and the file loads.
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isScalar } from 'yaml';
import type { core } from 'zod';
import { crossCheck, type FileProblem } from './cross-checks.ts';
import { describe } from './describe.ts';
import { ConfigError, formatIssue, type ConfigIssue } from './errors.ts';
import { resolveDiskimages } from './inherit.ts';
import { formatPath, locate, nodeAt, type PathSegment } from './locate.ts';
import { mergeFiles, originOf, type Origin } from './merge.ts';
import { sectionInfo } from './keys.ts';
import { findNotices, mappingsAt } from './notices.ts';
import { UNKNOWN_KEY, configSchema, type Config, type ParsedConfig } from './schema.ts';
import { didYouMean } from './suggest.ts';
import { parseYaml, type YamlFile } from './yaml.ts';
// The same lookup the conversion uses, so config-validate and a build agree on which vhd-util runs.
import { findOnPath, isExecutableFile } from '../images/tools.ts';

export interface LoadOptions {
  /** Where relative paths in the files are anchored; defaults to the directory holding each file. */
  baseDir?: string;
  /** Environment whose PATH is searched for vhd-util; defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Receives each notice (a nodepool key replaced here); by default notices are written to stderr. */
  onNotice?: (notice: ConfigIssue) => void;
}

export interface ConfigSource {
  text: string;
  /** The file name used in messages and to anchor relative paths. */
  file: string;
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

/** Why a required key is missing, where nodepool would have taken the file. */
const MISSING_HINTS: Record<string, string> = {
  'flavor-name': " (nodepool's min-ram alone, picking the smallest flavor, is not supported yet)",
  'max-servers': ' (nodepool would allow what the cloud quota allows; here every pool names its limit)',
};

function messageFor(issue: core.$ZodIssue): string {
  const found = describe(issue.input);
  const last = issue.path[issue.path.length - 1];
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined)
        return `missing required key '${String(last)}'${MISSING_HINTS[String(last)] ?? ''}`;
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

/** Paths in the file that are file system paths: anchored at the directory of the file that names them. */
const PATH_KEYS: readonly [readonly string[], string][] = [
  [[], 'images-dir'],
  [[], 'build-log-dir'],
  [[], 'elements-dir'],
  [[], 'vhd-util'],
  [['database'], 'data-dir'],
  [['temporal'], 'tls-cert-path'],
  [['temporal'], 'tls-key-path'],
  [['temporal'], 'tls-ca-path'],
  [['diskimages', '*'], 'script'],
  [['diskimages', '*'], 'validate-script'],
  [['providers', '*'], 'post-upload-hook'],
  [['providers', '*', 'diskimages', '*'], 'private-key'],
];

function anchorPaths(data: Record<string, unknown>, baseDir: string): void {
  for (const [at, key] of PATH_KEYS)
    for (const [, mapping] of mappingsAt(data, at)) {
      const value = mapping[key];
      if (typeof value === 'string' && value !== '' && !isAbsolute(value)) mapping[key] = resolve(baseDir, value);
    }
}

const fileProblem: FileProblem = (path, need) => {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch {
    return 'does not exist';
  }
  if (!isFile) return 'is not a file';
  try {
    accessSync(path, need === 'exec' ? constants.X_OK : constants.R_OK);
    return undefined;
  } catch {
    return need === 'exec' ? 'is not executable' : 'is not readable';
  }
};

function setAt(data: unknown, path: readonly PropertyKey[], value: unknown): void {
  let current = data as Record<PropertyKey, unknown>;
  for (const segment of path.slice(0, -1)) current = current[segment] as Record<PropertyKey, unknown>;
  current[path[path.length - 1] as PropertyKey] = value;
}

function defaultNotice(notice: ConfigIssue): void {
  process.stderr.write(`${formatIssue(notice)}\n`);
}

/** Parses and checks configuration files loaded together (one is the usual case). */
export function parseConfigs(sources: readonly ConfigSource[], options: LoadOptions = {}): Config {
  if (sources.length === 0) throw new Error('parseConfigs needs at least one file');
  const files: YamlFile[] = [];
  const syntax: ConfigIssue[] = [];
  for (const source of sources) {
    const { yaml, issues } = parseYaml(source.text, source.file);
    files.push(yaml);
    syntax.push(...issues);
  }
  if (syntax.length > 0) throw new ConfigError(syntax);

  const raw = files.map((f) => {
    const data = f.doc.toJS() as Record<string, unknown>;
    anchorPaths(data, options.baseDir ?? dirname(resolve(f.file)));
    return data;
  });
  const merged = mergeFiles(raw);
  const data = merged.data;
  const origin: Origin = merged.origin;

  const fileIndex = (issue: ConfigIssue): number => files.findIndex((f) => f.file === issue.file);
  const sorted = (issues: ConfigIssue[]): ConfigIssue[] =>
    issues.sort(
      (a, b) => fileIndex(a) - fileIndex(b) || (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0),
    );
  const located = (path: readonly PathSegment[], message: string, at?: 'key'): ConfigIssue => {
    const where = originOf(origin, path);
    const file = files[where.file] as YamlFile;
    const { via, ...pos } = locate(file, where.path, at);
    return { file: file.file, ...pos, path: formatPath(where.path), message: via ? `${message}${via}` : message };
  };

  const onNotice = options.onNotice ?? defaultNotice;
  for (const notice of findNotices(data))
    onNotice({ ...located(notice.path, notice.message, 'key'), severity: 'notice' });

  // Replaced keys (zookeeper-servers, webapp, ...) may differ between files: the first file's is kept.
  const replaced = new Set(
    sectionInfo('top')
      .keys.filter((k) => k.status === 'replaced')
      .map((k) => k.key),
  );
  const issues: ConfigIssue[] = merged.conflicts
    .filter((c) => !replaced.has(String(c.path[0])))
    .map((c) => {
      const first = files[c.first.file] as YamlFile;
      const second = files[c.second.file] as YamlFile;
      const there = locate(first, c.first.path);
      const here = locate(second, c.second.path);
      return {
        file: second.file,
        line: here.line,
        column: here.column,
        path: formatPath(c.second.path),
        message: `${describe(c.secondValue)} here, but ${describe(c.firstValue)} in ${first.file}:${there.line}:${there.column}; files loaded together must agree`,
      };
    });

  // Nodepool reads a number or boolean where a string is expected as its text (release: 9 is "9"); the text
  // is taken from the file, so 10.10 stays "10.10".
  let result = configSchema.safeParse(data, { reportInput: true });
  for (let round = 0; !result.success && round < 5; round++) {
    let patched = false;
    for (const issue of result.error.issues) {
      if (issue.code !== 'invalid_type' || issue.expected !== 'string') continue;
      const input: unknown = issue.input;
      if (typeof input !== 'number' && typeof input !== 'boolean' && !(input instanceof Date)) continue;
      const where = originOf(origin, issue.path as PathSegment[]);
      const node = nodeAt((files[where.file] as YamlFile).doc, where.path);
      const text = isScalar(node) && typeof node.source === 'string' ? node.source : String(input);
      setAt(data, issue.path, text);
      patched = true;
    }
    if (!patched) break;
    result = configSchema.safeParse(data, { reportInput: true });
  }
  if (!result.success) {
    for (const issue of result.error.issues) {
      const kind = issue.code === 'custom' ? (issue.params as { kind?: string } | undefined)?.kind : undefined;
      issues.push(located(issue.path as PathSegment[], messageFor(issue), kind === UNKNOWN_KEY ? 'key' : undefined));
    }
  }
  if (issues.length > 0) throw new ConfigError(sorted(issues));

  const parsed: ParsedConfig = result.data as ParsedConfig;
  const { diskimages, abstract, sources: keySources, findings: inheritance } = resolveDiskimages(parsed.diskimages);
  const config: Config = { ...parsed, diskimages };
  const env = options.env ?? process.env;
  const findings = [
    ...inheritance,
    ...crossCheck(config, {
      findVhdUtil: () =>
        config.vhdUtil === undefined
          ? findOnPath('vhd-util', env.PATH ?? '')
          : isExecutableFile(config.vhdUtil)
            ? config.vhdUtil
            : undefined,
      fileProblem,
      written: parsed.diskimages,
      abstract,
      sources: keySources,
    }),
  ];
  if (findings.length > 0) throw new ConfigError(sorted(findings.map((f) => located(f.path, f.message, f.at))));
  return withSnapshotDefaults(config);
}

/** A snapshot template logs in as the provider entry says, else as the diskimage's username, else root. */
function withSnapshotDefaults(config: Config): Config {
  const byName = new Map(config.diskimages.map((d) => [d.name, d]));
  return {
    ...config,
    providers: config.providers.map((p) => ({
      ...p,
      diskimages: p.diskimages.map((entry) => {
        const image = byName.get(entry.name);
        if (image?.builder !== 'snapshot') return entry;
        return {
          ...entry,
          username: entry.username ?? image.username ?? 'root',
          networkChoice: entry.networkChoice ?? 'auto',
        };
      }),
    })),
  };
}

/** Parses and checks the text of a nodepool.yaml; `fileName` is used in messages and to anchor relative paths. */
export function parseConfig(text: string, fileName: string, options: LoadOptions = {}): Config {
  return parseConfigs([{ text, file: fileName }], options);
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

/**
 * Reads and checks nodepool.yaml; throws ConfigError listing every problem. Several files (a launcher file and
 * a builder file) are loaded as one configuration.
 */
export function loadConfig(path: string | readonly string[], options: LoadOptions = {}): Config {
  const paths = typeof path === 'string' ? [path] : [...path];
  const sources: ConfigSource[] = [];
  const problems: ConfigIssue[] = [];
  for (const file of paths) {
    try {
      sources.push({ text: readFileSync(file, 'utf8'), file });
    } catch (err) {
      problems.push({ file, path: '', message: unreadable(err as NodeJS.ErrnoException) });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return parseConfigs(sources, options);
}
