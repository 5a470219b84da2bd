// nodepool.yaml as the CLI reads it: optional at the default path, required when named.
import { existsSync } from 'node:fs';
import { loadConfig, type Config } from '../config/index.ts';
import { CliError } from './errors.ts';

export const DEFAULT_CONFIG = '/etc/nodepool/nodepool.yaml';

/** The config file when it exists; at the default path a missing file just means "use the defaults". */
export function loadCliConfig(path: string): Config | undefined {
  if (existsSync(path)) return loadConfig(path);
  if (path === DEFAULT_CONFIG) return undefined;
  throw new CliError(`config file ${path} does not exist; pass -c FILE`, 2);
}
