// The nodepool command line: thin faces over Temporal queries, signals and updates (and a few local tools).
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { commands } from './commands/index.ts';
import { CliError } from './errors.ts';
import { TEMPORAL_CLI_OPTIONS, rememberTemporalFlags } from './temporal-flags.ts';
import { ConfigError } from '../config/errors.ts';

/** yargs names an unknown --dashed-flag twice, as typed and camel-cased (`bogus-flag, bogusFlag`): keep one. */
function withoutCamelTwins(msg: string): string {
  const m = /^Unknown arguments?: (.*)$/.exec(msg);
  if (!m?.[1]) return msg;
  const names = m[1].split(', ');
  const camel = (s: string): string => s.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  const kept = names.filter((n) => !names.some((o) => o !== n && o.includes('-') && camel(o) === n));
  return `Unknown argument${kept.length === 1 ? '' : 's'}: ${kept.join(', ')}`;
}

export async function main(argv: string[]): Promise<number> {
  const parser = yargs(argv)
    .scriptName('nodepool')
    .option('config', {
      alias: 'c',
      type: 'string',
      describe: 'path to nodepool.yaml',
      default: process.env.NODEPOOL_CONFIG ?? '/etc/nodepool/nodepool.yaml',
    })
    .options(TEMPORAL_CLI_OPTIONS)
    .middleware(rememberTemporalFlags)
    .command(commands)
    .demandCommand(1, 'Name a command; `nodepool --help` lists them.')
    .strict()
    .recommendCommands()
    .help()
    .fail((msg, err, y) => {
      // Errors thrown by commands are reported once, below; this handles usage mistakes only.
      if (err) throw err;
      y.showHelp((help) => process.stderr.write(`${help}\n\n`));
      // Throwing stops yargs from running the command's handler after a usage error.
      throw new CliError(withoutCamelTwins(msg), 2);
    })
    .exitProcess(false);
  try {
    await parser.parseAsync();
  } catch (err) {
    if (err instanceof CliError) {
      process.stderr.write(`nodepool: ${err.message}\n`);
      return err.exitCode;
    }
    // Any command that loads nodepool.yaml reports a bad file the way config-validate does.
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.format()}\n`);
      return 2;
    }
    process.stderr.write(`nodepool: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
  return (process.exitCode as number | undefined) ?? 0;
}

export { hideBin };
