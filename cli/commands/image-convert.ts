// `nodepool image-convert`: the conversion activity's code run by hand, so an operator can check what a
// build would upload (and which converter this machine would use) without a worker.
import type { CommandModule } from 'yargs';

export interface ImageConvertArgs {
  input: string;
  to: 'qcow2' | 'raw' | 'vhd';
  output: string;
  converter?: 'auto' | 'builtin' | 'vhd-util';
  'vhd-util'?: string;
  provider?: string;
  config: string;
}

export const imageConvertCommand: CommandModule<{ config: string }, ImageConvertArgs> = {
  command: 'image-convert <input>',
  describe: 'Convert a raw disk image to vhd, qcow2 or raw, as the build workflow does',
  builder: (y) =>
    y
      .positional('input', { type: 'string', demandOption: true, describe: 'raw image to convert (not modified)' })
      .option('to', { choices: ['qcow2', 'raw', 'vhd'] as const, demandOption: true, describe: 'output format' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'output file' })
      .option('converter', {
        choices: ['auto', 'builtin', 'vhd-util'] as const,
        describe:
          'for vhd: vhd-util if found (auto), always vhd-util, or the built-in converter (default: nodepool.yaml vhd-converter, else auto)',
      })
      .option('vhd-util', {
        type: 'string',
        describe: 'path to a patched vhd-util (default: nodepool.yaml vhd-util, else search PATH)',
      })
      .option('provider', {
        type: 'string',
        describe: "use this provider's vhd-converter from nodepool.yaml",
      }),
  handler: async (args) => (await import('../actions/image-convert.ts')).imageConvert(args),
};
