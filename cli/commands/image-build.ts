// `nodepool image-build IMAGE [--wait]`: build an image now; `--retry BUILD` continues a failed build from its
// failed step. `image-pause` / `image-unpause` stop and resume an image's daily builds.
import type { CommandModule } from 'yargs';

export interface ImageBuildArgs {
  config: string;
  image?: string;
  wait: boolean;
  retry?: number;
  timeout: number;
}

export interface ImagePauseArgs {
  config: string;
  image: string;
}

export const imageBuildCommand: CommandModule<{ config: string }, ImageBuildArgs> = {
  command: 'image-build [image]',
  describe: 'Build an image now (or continue a failed build with --retry BUILD)',
  builder: (y) =>
    y
      .positional('image', { type: 'string', describe: 'diskimage name from nodepool.yaml' })
      .option('wait', { type: 'boolean', default: false, describe: 'follow the build until it ends, step by step' })
      .option('retry', {
        type: 'number',
        describe: 'continue this failed build (an ID from dib-image-list) from its failed step',
      })
      .option('timeout', {
        type: 'number',
        default: 0,
        describe: 'with --wait: give up after this many seconds (0: never)',
      }),
  handler: async (args) => (await import('../actions/image-build.ts')).imageBuild(args),
};

export const imagePauseCommand: CommandModule<{ config: string }, ImagePauseArgs> = {
  command: 'image-pause <image>',
  describe: "Pause an image's scheduled builds (uploads already made stay in use)",
  builder: (y) => y.positional('image', { type: 'string', demandOption: true, describe: 'diskimage name' }),
  handler: async (args) => (await import('../actions/image-build.ts')).imagePause(args, true),
};

export const imageUnpauseCommand: CommandModule<{ config: string }, ImagePauseArgs> = {
  command: 'image-unpause <image>',
  describe: "Resume an image's scheduled builds",
  builder: (y) => y.positional('image', { type: 'string', demandOption: true, describe: 'diskimage name' }),
  handler: async (args) => (await import('../actions/image-build.ts')).imagePause(args, false),
};
