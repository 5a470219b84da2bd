import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { tracking } from './tracking.ts';
import { ImageBuild } from './image-build.ts';

/** `validating`: READY in the cloud, booting a test node before it may become current (diskimage validate). */
export const IMAGE_UPLOAD_STATES = [
  'building',
  'uploading',
  'validating',
  'ready',
  'failed',
  'deleting',
  'deleted',
] as const;
export type ImageUploadState = (typeof IMAGE_UPLOAD_STATES)[number];

/** A build's image in one provider; the `id` is the short integer operators type (`image-delete 168696`). */
export const ImageUpload = defineEntity({
  name: 'ImageUpload',
  tableName: 'image_upload',
  properties: {
    id: p.integer().primary().autoincrement(),
    provider: p.string().length(255),
    image: p.string().length(255),
    build: () => p.manyToOne(ImageBuild).deleteRule('cascade'),
    /** The seed's Hostname: the template server's name for snapshot builds, else the image's name in the cloud. */
    hostname: p.string().length(255),
    /** The image's name in the cloud, e.g. devstack-precise-1394514268. */
    externalName: p.string().length(255).nullable(),
    version: p.bigint('number'),
    format: p.string().length(16),
    externalId: p.string().length(255).nullable(),
    /** For snapshot builds: the server the image was taken from. */
    serverId: p.string().length(255).nullable(),
    state: p.enum(IMAGE_UPLOAD_STATES).default('building'),
    /** Why it failed or was withdrawn, in the operator's words. */
    reason: p.text().nullable(),
    /** Bytes and sha256 of the file uploaded (absent for snapshots). */
    size: p.bigint('number').nullable(),
    sha256: p.string().length(64).nullable(),
    readyAt: p.datetime().nullable(),
    ...tracking(),
  },
  uniques: [{ properties: ['build', 'provider'], name: 'image_upload_build_provider_unique' }],
  indexes: [{ properties: ['image', 'provider', 'state'], name: 'image_upload_image_provider_state_index' }],
});
export type ImageUpload = InferEntity<typeof ImageUpload>;
