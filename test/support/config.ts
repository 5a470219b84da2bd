// Writing nodepool.yaml in tests: `y(...)` joins lines into a file's text; `loadQuiet` parses it as the worker
// does (notices dropped); `configIssues` / `issuesOf` return what a configuration is refused for.
import assert from 'node:assert/strict';
import {
  ConfigError,
  formatIssue,
  parseConfig,
  type Config,
  type ConfigIssue,
  type LoadOptions,
} from '../../config/index.ts';

export const y = (...lines: string[]): string => `${lines.join('\n')}\n`;

const quiet: LoadOptions = { onNotice: () => undefined };

export function loadQuiet(text: string): Config {
  return parseConfig(text, 'nodepool.yaml', quiet);
}

/** Why the configuration is refused; fails the test when it is accepted. */
export function configIssues(text: string, options: LoadOptions = quiet): ConfigIssue[] {
  try {
    parseConfig(text, 'nodepool.yaml', options);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.issues];
    throw err;
  }
  assert.fail('the configuration was accepted');
}

/** The same, each issue as the CLI prints it (FILE:LINE:COL: path: message). */
export function issuesOf(text: string, options: LoadOptions = quiet): string[] {
  return configIssues(text, options).map(formatIssue);
}
