// Every CLI command, one module each, named as nodepool names them.
import type { CommandModule } from 'yargs';
import { configValidateCommand } from './config-validate.ts';
import { imageConvertCommand } from './image-convert.ts';
import { infoCommand } from './info.ts';
import { simCloudCommand } from './sim-cloud.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [
  configValidateCommand,
  imageConvertCommand,
  infoCommand,
  simCloudCommand,
];
