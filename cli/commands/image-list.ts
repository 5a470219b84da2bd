// `nodepool image-list`: every image upload in every provider, with the seed's columns.
import type { CommandModule } from 'yargs';

export interface ImageListArgs {
  config: string;
  json: boolean;
}

export const imageListCommand: CommandModule<{ config: string }, ImageListArgs> = {
  command: 'image-list',
  describe: 'List image uploads per provider: the current one is the READY upload with the shortest age',
  builder: (y) => y.option('json', { type: 'boolean', default: false, describe: 'print JSON for scripts' }),
  handler: async (args) => (await import('../actions/image-list.ts')).imageList(args),
};
