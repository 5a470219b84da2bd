// `nodepool status`: one look at a running nodepool — workers, providers, images, nodes per label, requests.
import type { CommandModule } from 'yargs';

export interface StatusArgs {
  config: string;
  json: boolean;
}

export const statusCommand: CommandModule<{ config: string }, StatusArgs> = {
  command: 'status',
  describe: 'Summarise the running nodepool: workers, providers, images, nodes per label, requests',
  builder: (y) => y.option('json', { type: 'boolean', default: false, describe: 'print JSON for scripts' }),
  handler: async (args) => (await import('../actions/status.ts')).status(args),
};
