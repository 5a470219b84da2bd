// `nodepool image-delete ID` (and the older seed's `delete-image ID`): the "Bad Images" runbook's step.
import type { CommandModule } from 'yargs';

export interface ImageDeleteArgs {
  config: string;
  id: number;
  force: boolean;
}

export const imageDeleteCommand: CommandModule<{ config: string }, ImageDeleteArgs> = {
  command: 'image-delete <id>',
  aliases: ['delete-image'],
  describe: 'Delete an image upload by ID; the previous READY upload of that image becomes current at once',
  builder: (y) =>
    y
      .positional('id', { type: 'number', demandOption: true, describe: 'the ID column of image-list' })
      .option('force', {
        type: 'boolean',
        default: false,
        describe: 'delete even the only READY upload of its image in that provider',
      }),
  handler: async (args) => (await import('../actions/image-delete.ts')).imageDelete(args),
};
