// `nodepool config-validate`: checks nodepool.yaml without touching Temporal, the database or any cloud,
// so it can run in CI before a configuration change is deployed.
import { CliError } from '../errors.ts';
import { ConfigError, loadConfig } from '../../config/index.ts';

import type { ConfigValidateArgs } from '../commands/config-validate.ts';

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function configValidate(args: ConfigValidateArgs): void {
  const file = args.config;
  try {
    const config = loadConfig(file);
    const pools = config.providers.reduce((n, p) => n + p.pools.length, 0);
    process.stdout.write(
      `${file}: OK\n` +
        `${plural(config.labels.length, 'label')}, ${plural(config.providers.length, 'provider')}, ` +
        `${plural(pools, 'pool')}, ${plural(config.diskimages.length, 'diskimage')}\n`,
    );
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.format()}\n`);
    throw new CliError(`${file}: ${plural(err.issues.length, 'error')}`, 2);
  }
}
