// Every CLI command, named as nodepool names them. Each module here is only the command's description and
// options; its work (and the heavy libraries it needs: Temporal, the simulator, image tools) loads when it runs.
import type { CommandModule } from 'yargs';
import { configValidateCommand } from './config-validate.ts';
import { buildLogCommand, dibImageListCommand } from './dib-image-list.ts';
import { imageBuildCommand, imagePauseCommand, imageUnpauseCommand } from './image-build.ts';
import { imageConvertCommand } from './image-convert.ts';
import { imageDeleteCommand } from './image-delete.ts';
import { imageListCommand } from './image-list.ts';
import { infoCommand } from './info.ts';
import {
  deleteCommand,
  holdCommand,
  listCommand,
  releaseCommand,
  requestCommand,
  requestListCommand,
} from './nodes.ts';
import { replayCommand } from './replay.ts';
import { simCloudCommand } from './sim-cloud.ts';
import { statusCommand } from './status.ts';
import { upCommand } from './up.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const commands: CommandModule<any, any>[] = [
  upCommand,
  statusCommand,
  imageListCommand,
  imageDeleteCommand,
  imageBuildCommand,
  imagePauseCommand,
  imageUnpauseCommand,
  dibImageListCommand,
  buildLogCommand,
  listCommand,
  requestCommand,
  releaseCommand,
  holdCommand,
  deleteCommand,
  requestListCommand,
  imageConvertCommand,
  infoCommand,
  configValidateCommand,
  simCloudCommand,
  replayCommand,
];
