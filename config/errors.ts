// Configuration problems are collected, never thrown one at a time: an operator fixing nodepool.yaml
// wants every mistake in one run, each with the place to look.

/** One problem in a configuration file. `line`/`column` are 1-based; absent when the file itself is the problem. */
export interface ConfigIssue {
  file: string;
  line?: number;
  column?: number;
  /** Key path inside the document, e.g. `providers[0].pools[0].labels[1].diskimage`; empty for the whole file. */
  path: string;
  message: string;
  /** A notice is not an error: the file loads (a nodepool key that means nothing here, and what replaces it). */
  severity?: 'notice';
}

/** `FILE:LINE:COL: path: message`, leaving out whatever is unknown; notices say so. */
export function formatIssue(issue: ConfigIssue): string {
  let where = issue.file;
  if (issue.line !== undefined) where += `:${issue.line}:${issue.column ?? 1}`;
  const message = issue.severity === 'notice' ? `notice: ${issue.message}` : issue.message;
  return issue.path ? `${where}: ${issue.path}: ${message}` : `${where}: ${message}`;
}

export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    const first = issues[0];
    const head = first ? formatIssue(first) : 'invalid configuration';
    const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
    super(`${head}${more}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }

  /** Every issue, one per line, in file order. */
  format(): string {
    return this.issues.map(formatIssue).join('\n');
  }
}
