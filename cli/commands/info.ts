// `nodepool info PROVIDER`: what a provider's cloud holds for us, asked through a worker (which has the
// credentials), never by the CLI itself.
import type { CommandModule } from 'yargs';

export interface InfoArgs {
  provider: string;
  json: boolean;
  config: string;
  timeout: number;
}

export const infoCommand: CommandModule<{ config: string }, InfoArgs> = {
  command: 'info <provider>',
  describe: "Show a provider's quota, flavors, and the servers and images nodepool owns there",
  builder: (y) =>
    y
      .positional('provider', { type: 'string', demandOption: true, describe: 'provider name from nodepool.yaml' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON for scripts' })
      .option('timeout', { type: 'number', default: 120, describe: 'seconds to wait for a worker to answer' }),
  handler: async (args) => (await import('../actions/info.ts')).info(args),
};
