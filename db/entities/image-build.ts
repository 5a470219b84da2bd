import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { tracking } from './tracking.ts';

/** `deleted`: the local files were pruned; the row stays as the build's record. */
export const IMAGE_BUILD_STATES = ['building', 'ready', 'failed', 'deleting', 'deleted'] as const;
export type ImageBuildState = (typeof IMAGE_BUILD_STATES)[number];

/** One file a build produced: a disk image in one format. */
export interface ImageBuildFile {
  format: string;
  path: string;
  size: number;
  sha256: string;
  /** Which tool wrote it (qemu-img, vhd-util, builtin): Xen clouds care who made a VHD. */
  converter?: string;
}

/** A local disk-image build (nodepool's "dib image"); version is the build's start time in unix seconds. */
export const ImageBuild = defineEntity({
  name: 'ImageBuild',
  tableName: 'image_build',
  properties: {
    id: p.integer().primary().autoincrement(),
    image: p.string().length(255),
    version: p.bigint('number'),
    formats: p.json<string[]>().default('[]'),
    files: p.json<ImageBuildFile[]>().default('[]'),
    state: p.enum(IMAGE_BUILD_STATES).default('building'),
    /** dib, script or snapshot: a snapshot build has no local files, only uploads. */
    builder: p.string().length(16).default('dib'),
    /** Why the build failed, in the operator's words. */
    reason: p.text().nullable(),
    logPath: p.text().nullable(),
    /** The Temporal workflow that owns this build, so the Web UI and replays can be found from a row. */
    workflowId: p.string().length(255).nullable(),
    ...tracking(),
  },
  uniques: [{ properties: ['image', 'version'], name: 'image_build_image_version_unique' }],
  indexes: [{ properties: ['image', 'state'], name: 'image_build_image_state_index' }],
});
export type ImageBuild = InferEntity<typeof ImageBuild>;
