// The metadata nodepool puts on every server and image it creates. Leak detection finds our resources by these
// tags, and anything without our provider tag is foreign and never touched.

export const TAGS = {
  provider: 'nodepool_provider_name',
  nodeId: 'nodepool_node_id',
  uploadId: 'nodepool_upload_id',
  buildId: 'nodepool_build_id',
  imageName: 'nodepool_image_name',
} as const;

export type Metadata = Record<string, string>;

// Nova's server metadata key pattern and value limit; Glance accepts a superset.
const KEY_PATTERN = /^[a-zA-Z0-9-_:. ]{1,255}$/;
const MAX_VALUE = 255;

export function nodeTags(opts: { provider: string; nodeId: string; imageName: string }): Metadata {
  return validateMetadata({
    [TAGS.provider]: opts.provider,
    [TAGS.nodeId]: opts.nodeId,
    [TAGS.imageName]: opts.imageName,
  });
}

export function uploadTags(opts: {
  provider: string;
  uploadId: string;
  imageName: string;
  buildId?: string;
}): Metadata {
  const tags: Metadata = {
    [TAGS.provider]: opts.provider,
    [TAGS.uploadId]: opts.uploadId,
    [TAGS.imageName]: opts.imageName,
  };
  if (opts.buildId !== undefined) tags[TAGS.buildId] = opts.buildId;
  return validateMetadata(tags);
}

/** True when the resource was created by nodepool for this provider. */
export function isOwnedBy(metadata: Readonly<Record<string, unknown>>, provider: string): boolean {
  return metadata[TAGS.provider] === provider;
}

/** True when every tag in `wanted` is present with the same value. */
export function hasTags(metadata: Readonly<Record<string, unknown>>, wanted: Metadata): boolean {
  return Object.entries(wanted).every(([k, v]) => metadata[k] === v);
}

/** Throws a clear error for metadata Nova would reject with a 400, before any request is made. */
export function validateMetadata(metadata: Metadata): Metadata {
  for (const [key, value] of Object.entries(metadata)) {
    if (!KEY_PATTERN.test(key))
      throw new Error(`metadata key ${JSON.stringify(key)} must be 1-255 characters of letters, digits and -_:. `);
    if (typeof value !== 'string' || value.length > MAX_VALUE)
      throw new Error(`metadata value for ${key} must be a string of at most ${MAX_VALUE} characters`);
  }
  return metadata;
}
