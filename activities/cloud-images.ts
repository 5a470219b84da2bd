// Images in a provider's cloud: upload a build's file, delete an upload's image until the cloud confirms it,
// list what is ours for leak detection. Activities take the provider's NAME; the cloud's credentials are
// resolved inside the worker (activities/provider.ts).
import { spawn } from 'node:child_process';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { CloudImage } from '../core/image-catalog.ts';
import { NotFound, QuotaExceeded, TAGS, isOwnedBy, toApplicationFailure, uploadTags } from '../providers/index.ts';
import { providerAdapter, type ProviderDeps } from './provider.ts';

export interface UploadImageFileInput {
  provider: string;
  uploadId: number;
  buildId: number;
  image: string;
  /** The image's name in the cloud. */
  name: string;
  path: string;
  format: string;
  size: number;
  sha256: string;
}

export interface UploadImageFileResult {
  externalId: string;
  bytes: number;
  /** Which of the cloud's checksums matched ours, or null when it reported none. */
  verifiedBy: string | null;
}

export interface UploadHeartbeat {
  phase: 'uploading';
  elapsedSeconds: number;
  size: number;
}

/** Runs nodepool's post-upload-hook: `HOOK PROVIDER IMAGE-ID PATH`, its output kept for the failure message. */
function runHook(hook: string, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(hook, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: HOOK_TIMEOUT_MS });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', (err) => resolve({ code: 127, output: err.message }));
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

const HOOK_TIMEOUT_MS = 10 * 60_000;

// A cloud out of image quota frees some when old images go; waiting beats failing the upload.
const QUOTA_RETRY_MS = 5 * 60_000;
const HEARTBEAT_MS = 5_000;

export function cloudImageActivities(deps: ProviderDeps) {
  return {
    /**
     * Streams one build file into the cloud. Idempotent: the driver finds an image an earlier attempt made (by
     * name and our upload tag) instead of uploading a second copy, deletes half-uploaded ones, and checks the
     * cloud's checksum and size against the file's.
     */
    async uploadImageFile(input: UploadImageFileInput): Promise<UploadImageFileResult> {
      const ctx = Context.current();
      const started = Date.now();
      const beat = (): void =>
        ctx.heartbeat({
          phase: 'uploading',
          elapsedSeconds: Math.round((Date.now() - started) / 1000),
          size: input.size,
        } satisfies UploadHeartbeat);
      beat();
      const timer = setInterval(beat, HEARTBEAT_MS);
      try {
        const adapter = providerAdapter(deps, input.provider);
        const provider = deps.config?.providers.find((p) => p.name === input.provider);
        const meta = provider?.diskimages.find((d) => d.name === input.image)?.meta ?? {};
        const result = await adapter.uploadImage({
          path: input.path,
          name: input.name,
          diskFormat: input.format,
          metadata: {
            // The operator's properties (e.g. os_distro), then our tags, which must win.
            ...meta,
            ...uploadTags({
              provider: input.provider,
              uploadId: String(input.uploadId),
              imageName: input.image,
              buildId: String(input.buildId),
            }),
          },
        });
        if (result.bytes !== input.size)
          throw ApplicationFailure.create({
            message: `uploaded ${result.bytes} bytes of ${input.path} but the build recorded ${input.size}: the file changed; retrying`,
            type: 'UploadSizeMismatch',
          });
        if (result.image.size !== undefined && result.image.size !== input.size) {
          await adapter.deleteImage(result.image.id).catch(() => undefined);
          throw ApplicationFailure.create({
            message: `${input.provider} reports ${result.image.size} bytes for image ${result.image.id}, the file has ${input.size}; deleted it, retrying`,
            type: 'UploadSizeMismatch',
          });
        }
        if (provider?.postUploadHook) {
          beat();
          const hook = await runHook(provider.postUploadHook, [input.provider, result.image.id, input.path]);
          if (hook.code !== 0) {
            // nodepool: a failing hook fails the upload, and the image must not be used.
            await adapter.deleteImage(result.image.id).catch(() => undefined);
            throw ApplicationFailure.nonRetryable(
              `post-upload-hook ${provider.postUploadHook} exited ${hook.code} for image ${result.image.id}: ${hook.output.trim().slice(-500)}`,
              'PostUploadHookFailed',
            );
          }
        }
        return { externalId: result.image.id, bytes: result.bytes, verifiedBy: result.verifiedBy };
      } catch (err) {
        if (err instanceof QuotaExceeded) {
          throw ApplicationFailure.create({
            message: `${input.provider} is out of image quota (${err.message}); waiting for room`,
            type: err.type,
            nextRetryDelay: QUOTA_RETRY_MS,
          });
        }
        throw toApplicationFailure(err);
      } finally {
        clearInterval(timer);
      }
    },

    /**
     * Deletes an upload's image(s) and returns once the cloud no longer lists them. Finds them by id and, since a
     * crashed upload may never have reported its id, by our upload tag.
     */
    async deleteCloudImage(input: {
      provider: string;
      uploadId?: number;
      externalId?: string;
    }): Promise<{ deleted: string[] }> {
      const ctx = Context.current();
      try {
        const adapter = providerAdapter(deps, input.provider);
        const ids = new Set<string>();
        if (input.externalId) ids.add(input.externalId);
        if (input.uploadId !== undefined) {
          for (const image of await adapter.listImages()) {
            if (isOwnedBy(image.metadata, input.provider) && image.metadata[TAGS.uploadId] === String(input.uploadId))
              ids.add(image.id);
          }
        }
        for (const id of ids) {
          ctx.heartbeat({ deleting: id });
          await adapter.deleteImage(id);
        }
        // Glance may keep an image listed while it deletes; done means gone.
        for (const id of ids) {
          try {
            const image = await adapter.getImage(id);
            if (image.state !== 'deleted')
              throw ApplicationFailure.create({
                message: `image ${id} in ${input.provider} is still ${image.rawStatus} after delete; retrying`,
                type: 'ImageNotGoneYet',
              });
          } catch (err) {
            if (!(err instanceof NotFound)) throw err;
          }
        }
        return { deleted: [...ids] };
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },

    /** Every image in the provider's cloud carrying our provider tag; images without it are never touched. */
    async listCloudImages(provider: string): Promise<CloudImage[]> {
      try {
        const adapter = providerAdapter(deps, provider);
        return (await adapter.listImages())
          .filter((i) => isOwnedBy(i.metadata, provider) && i.state !== 'deleted')
          .map((i) => ({
            id: i.id,
            name: i.name,
            ...(i.metadata[TAGS.uploadId] ? { uploadId: i.metadata[TAGS.uploadId] } : {}),
          }));
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },
  };
}
