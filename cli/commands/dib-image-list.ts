// `nodepool dib-image-list` (local builds) and `nodepool build-log BUILD` (a build's log), read by a worker.
import type { CommandModule } from 'yargs';

export interface DibImageListArgs {
  config: string;
  json: boolean;
  timeout: number;
}

export interface BuildLogArgs {
  config: string;
  build: number;
  'max-bytes': number;
  timeout: number;
}

export const dibImageListCommand: CommandModule<{ config: string }, DibImageListArgs> = {
  command: 'dib-image-list',
  describe: 'List local image builds: their files, versions and states',
  builder: (y) =>
    y
      .option('json', { type: 'boolean', default: false, describe: 'print JSON for scripts' })
      .option('timeout', { type: 'number', default: 60, describe: 'seconds to wait for a worker to answer' }),
  handler: async (args) => (await import('../actions/dib-image-list.ts')).dibImageList(args),
};

export const buildLogCommand: CommandModule<{ config: string }, BuildLogArgs> = {
  command: 'build-log <build>',
  describe: "Print a build's log (its last --max-bytes when large)",
  builder: (y) =>
    y
      .positional('build', { type: 'number', demandOption: true, describe: 'build ID from dib-image-list' })
      .option('max-bytes', { type: 'number', default: 1_000_000, describe: 'print at most the last N bytes' })
      .option('timeout', { type: 'number', default: 60, describe: 'seconds to wait for a worker to answer' }),
  handler: async (args) => (await import('../actions/dib-image-list.ts')).buildLog(args),
};
