import { CliError } from '../errors.ts';
import type { UpArgs } from '../commands/up.ts';

function port(name: string, v: number | undefined): void {
  if (v !== undefined && (!Number.isInteger(v) || v < 1 || v > 65535))
    throw new CliError(`--${name} must be a port number from 1 to 65535, got ${String(v)}`, 2);
}

export async function up(args: UpArgs): Promise<void> {
  port('temporal-port', args['temporal-port']);
  port('ui-port', args['ui-port']);
  port('webapp-port', args['webapp-port']);
  if (args['temporal-address'] !== undefined && !/^[^\s:]+:\d+$/.test(args['temporal-address']))
    throw new CliError(`--temporal-address must be host:port, got ${args['temporal-address']}`, 2);
  const { up: run } = await import('../../up/up.ts');
  process.exitCode = await run({
    ...(args.config === undefined ? {} : { config: args.config }),
    dataDir: args['data-dir'],
    ...(args['temporal-address'] === undefined ? {} : { temporalAddress: args['temporal-address'] }),
    temporalPort: args['temporal-port'],
    uiPort: args['ui-port'],
    ...(args['webapp-port'] === undefined ? {} : { webappPort: args['webapp-port'] }),
    noWatch: !args.watch,
  });
}
