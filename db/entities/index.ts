export * from './image-build.ts';
export * from './image-upload.ts';
export * from './node.ts';
export * from './node-request.ts';

import { ImageBuild } from './image-build.ts';
import { ImageUpload } from './image-upload.ts';
import { Node } from './node.ts';
import { NodeRequest } from './node-request.ts';

export const ENTITIES = [ImageBuild, ImageUpload, Node, NodeRequest];
