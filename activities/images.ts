// The image lifecycle's records: what a build plans from nodepool.yaml, its ImageBuild and ImageUpload rows,
// and every upload state change reported to the provider's catalog workflow (signal-with-start, so a catalog
// that does not run yet is started by the first report). Idempotent: rows are upserted by natural key and the
// catalog merges repeated reports.
import type { BuildLog, DibImage } from '../core/views.ts';
import { existsSync, rmSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { UniqueConstraintViolationException } from '@mikro-orm/core';
import type { Config, Diskimage, Provider } from '../config/index.ts';
import { formatImageName, imageFormatsForDiskimage, templateServerName } from '../config/index.ts';
import { buildsToPrune } from '../core/build-pruning.ts';
import type { ConverterChoice, TargetFormat } from '../core/conversion-plan.ts';
import type { UploadReport } from '../core/image-catalog.ts';
import type { UploadState } from '../core/retention.ts';
import type { Orm } from '../db/orm.ts';
import { ImageBuild, ImageUpload, type ImageBuildFile } from '../db/entities/index.ts';
import { upsertImageBuild, upsertImageUpload } from '../db/upsert.ts';
import { catalogWorkflowId } from '../workflows/ids.ts';
import { recordBuild, recordUpload } from '../metrics/instrument.ts';

export interface ImagesDeps {
  orm: Orm;
  config?: Config;
}

export type BuilderKind = 'dib' | 'script' | 'snapshot';

export interface BuildTarget {
  provider: string;
  format: TargetFormat;
  vhdConverter?: ConverterChoice;
  /** The provider-diskimage is paused: nothing is uploaded there. */
  paused: boolean;
  uploadTimeoutSeconds: number;
}

export interface BuildPlan {
  image: string;
  builder: BuilderKind;
  targets: BuildTarget[];
  buildTimeoutSeconds: number;
  validate: boolean;
  imagesDir: string;
  vhdUtilPath?: string;
  /** Set when continuing a failed build: what it already has. */
  retry?: {
    buildId: number;
    version: number;
    /** The workflow that owns the build's row; a retry continues under it. */
    workflowId?: string;
    rawPath?: string;
    files: ImageBuildFile[];
    /** Providers that already hold a good upload of this build. */
    done: string[];
  };
}

function diskimage(config: Config | undefined, name: string): Diskimage {
  const d = config?.diskimages.find((x) => x.name === name);
  if (!d) {
    const known = config?.diskimages.map((x) => x.name).join(', ') || 'none';
    throw ApplicationFailure.nonRetryable(
      `diskimage ${name} is not in this worker's nodepool.yaml (diskimages: ${known})`,
      'UnknownDiskimage',
    );
  }
  return d;
}

function provider(config: Config | undefined, name: string): Provider {
  const p = config?.providers.find((x) => x.name === name);
  if (!p)
    throw ApplicationFailure.nonRetryable(`provider ${name} is not in this worker's nodepool.yaml`, 'UnknownProvider');
  return p;
}

export function buildLogPath(config: Config | undefined, image: string, version: number): string {
  return join(config?.buildLogDir ?? '/var/log/nodepool/builds', `${image}-${version}.log`);
}

async function reportToCatalog(provider: string, report: UploadReport): Promise<void> {
  const ctx = Context.current();
  const { imageCatalog, uploadReportSignal } = await import('../workflows/image-catalog.ts');
  await ctx.client.workflow.signalWithStart(imageCatalog, {
    workflowId: catalogWorkflowId(provider),
    taskQueue: ctx.info.taskQueue,
    args: [{ provider }],
    signal: uploadReportSignal,
    signalArgs: [report],
  });
}

function toReport(u: ImageUpload, validate: boolean): UploadReport {
  const build = u.build as unknown as { id: number };
  return {
    id: u.id,
    image: u.image,
    buildId: build.id,
    version: u.version,
    state: u.state,
    hostname: u.hostname,
    externalName: u.externalName ?? u.hostname,
    ...(u.externalId ? { externalId: u.externalId } : {}),
    ...(u.serverId ? { serverId: u.serverId } : {}),
    format: u.format,
    ...(u.reason ? { reason: u.reason } : {}),
    ...(validate ? { validate } : {}),
    at: (u.stateChangedAt ?? new Date()).getTime(),
  };
}

export function imageActivities(deps: ImagesDeps) {
  const { orm } = deps;
  return {
    /** What a build of `image` does, from this worker's nodepool.yaml (read at every build, so edits apply). */
    async planBuild(input: { image: string; retryBuildId?: number }): Promise<BuildPlan> {
      const config = deps.config;
      const d = diskimage(config, input.image);
      const formats = imageFormatsForDiskimage(config as Config, d.name);
      const targets: BuildTarget[] = [];
      for (const p of config?.providers ?? []) {
        const pd = p.diskimages.find((x) => x.name === d.name);
        if (!pd) continue;
        const format = (p.imageFormat ?? [...formats][0] ?? 'qcow2') as TargetFormat;
        const vhdConverter = (p.vhdConverter ?? config?.vhdConverter) as ConverterChoice | undefined;
        targets.push({
          provider: p.name,
          format,
          ...(vhdConverter ? { vhdConverter } : {}),
          paused: pd.pause,
          uploadTimeoutSeconds: p.imageUploadTimeout,
        });
      }
      const plan: BuildPlan = {
        image: d.name,
        builder: d.builder as BuilderKind,
        targets,
        buildTimeoutSeconds: d.buildTimeout,
        validate: d.validate,
        imagesDir: config?.imagesDir ?? '/var/lib/nodepool/images',
        ...(config?.vhdUtil ? { vhdUtilPath: config.vhdUtil } : {}),
      };
      if (input.retryBuildId === undefined) return plan;

      const em = orm.em.fork();
      const build = await em.findOne(ImageBuild, input.retryBuildId);
      if (!build)
        throw ApplicationFailure.nonRetryable(`image build ${input.retryBuildId} does not exist`, 'UnknownBuild');
      if (build.image !== d.name)
        throw ApplicationFailure.nonRetryable(
          `image build ${build.id} is of ${build.image}, not ${d.name}`,
          'UnknownBuild',
        );
      const uploads = await em.find(ImageUpload, { build: build.id });
      const done = uploads
        .filter(
          (u) => u.state === 'ready' || u.state === 'validating' || u.state === 'deleting' || u.state === 'deleted',
        )
        .map((u) => u.provider);
      const raw = build.files.find((f) => f.format === 'raw' && f.converter === 'builder');
      const rawPath = raw?.path ?? join(plan.imagesDir, `${d.name}-${build.version}.raw`);
      return {
        ...plan,
        retry: {
          buildId: build.id,
          version: build.version,
          ...(build.workflowId ? { workflowId: build.workflowId } : {}),
          ...(plan.builder !== 'snapshot' && existsSync(rawPath) ? { rawPath } : {}),
          files: build.files.filter((f) => existsSync(f.path)),
          done,
        },
      };
    },

    /**
     * Records the build. Versions are unix seconds and unique per image: a second build starting in the same
     * second takes the next free one. A retried call finds the row its own workflow made.
     */
    async startBuild(input: {
      image: string;
      version: number;
      builder: BuilderKind;
      workflowId: string;
    }): Promise<{ buildId: number; logPath: string; version: number }> {
      const em = orm.em.fork();
      for (let version = input.version; ; version++) {
        const logPath = buildLogPath(deps.config, input.image, version);
        const existing = await em.findOne(ImageBuild, { image: input.image, version });
        if (existing && existing.workflowId !== input.workflowId) continue;
        if (existing) return { buildId: existing.id, logPath, version };
        try {
          const now = new Date();
          // A plain insert (no upsert): a conflict must tell two builds apart, not merge them.
          const id = await em.insert(ImageBuild, {
            createdAt: now,
            updatedAt: now,
            stateChangedAt: now,
            rowVersion: 1,
            image: input.image,
            version,
            builder: input.builder,
            state: 'building',
            workflowId: input.workflowId,
            logPath,
          } as never);
          return { buildId: id as unknown as number, logPath, version };
        } catch (err) {
          // Another build took this version between the read and the insert: try the next second.
          if (err instanceof UniqueConstraintViolationException) continue;
          throw err;
        }
      }
    },

    async finishBuild(input: { buildId: number; state: 'ready' | 'failed'; reason?: string }): Promise<void> {
      const em = orm.em.fork();
      const build = await em.findOneOrFail(ImageBuild, input.buildId);
      if (build.state === 'building') recordBuild(build.image, input.state, build.stateChangedAt);
      await upsertImageBuild(em, {
        image: build.image,
        version: build.version,
        state: input.state,
        reason: input.reason ?? null,
      });
    },

    /**
     * Creates (or finds) the build's upload row for a provider and reports it to the catalog before anything
     * reaches the cloud, so the catalog never mistakes an upload in progress for a leak.
     */
    async registerUpload(input: {
      buildId: number;
      provider: string;
      format?: string;
      validate: boolean;
    }): Promise<{ uploadId: number; externalName: string; hostname: string }> {
      const em = orm.em.fork();
      const build = await em.findOneOrFail(ImageBuild, input.buildId);
      const p = provider(deps.config, input.provider);
      const d = deps.config?.diskimages.find((x) => x.name === build.image);
      const existing = await em.findOne(ImageUpload, { build: build.id, provider: input.provider });
      // A retried build uploads a failed upload again under the same ID; good uploads are left as they are.
      const state: UploadState =
        existing && existing.state !== 'failed' && existing.state !== 'building' ? existing.state : 'uploading';
      const placeholder = existing?.externalName ?? `${build.image}-${build.version}`;
      let row = await upsertImageUpload(
        em,
        { buildId: build.id, provider: input.provider },
        {
          image: build.image,
          version: build.version,
          hostname: existing?.hostname ?? placeholder,
          externalName: placeholder,
          format: input.format ?? 'snapshot',
          state,
          ...(state === 'uploading' ? { reason: null } : {}),
        },
      );
      const externalName = formatImageName(p, build.image, build.version);
      const hostname = build.builder === 'snapshot' && d ? templateServerName(d, build.version) : externalName;
      if (row.externalName !== externalName || row.hostname !== hostname) {
        row = await upsertImageUpload(
          em,
          { buildId: build.id, provider: input.provider },
          { image: row.image, version: row.version, format: row.format, hostname, externalName },
        );
      }
      await reportToCatalog(input.provider, toReport(row, input.validate));
      return { uploadId: row.id, externalName, hostname };
    },

    /** An upload's progress: recorded, then reported to its catalog. */
    async reportUpload(input: {
      uploadId: number;
      state: UploadState;
      reason?: string;
      externalId?: string;
      serverId?: string;
      size?: number;
      sha256?: string;
    }): Promise<void> {
      const em = orm.em.fork();
      const u = await em.findOneOrFail(ImageUpload, input.uploadId, { populate: ['build'] });
      const build = u.build as unknown as ImageBuild;
      if (u.state === 'uploading' && input.state !== 'uploading')
        recordUpload(u.provider, u.image, input.state, u.stateChangedAt);
      const row = await upsertImageUpload(
        em,
        { buildId: build.id, provider: u.provider },
        {
          image: u.image,
          version: u.version,
          hostname: u.hostname,
          format: u.format,
          state: input.state,
          reason: input.reason ?? null,
          ...(input.externalId ? { externalId: input.externalId } : {}),
          ...(input.serverId ? { serverId: input.serverId } : {}),
          ...(input.size !== undefined ? { size: input.size } : {}),
          ...(input.sha256 ? { sha256: input.sha256 } : {}),
          ...(input.state === 'ready' || input.state === 'validating' ? { readyAt: new Date() } : {}),
        },
      );
      const d = deps.config?.diskimages.find((x) => x.name === u.image);
      await reportToCatalog(u.provider, toReport(row, d?.validate ?? false));
    },

    /** State changes the catalog made itself (validation results, deletions), in order. */
    async recordUploadStates(changes: { id: number; state: UploadState; reason?: string }[]): Promise<void> {
      const em = orm.em.fork();
      for (const c of changes) {
        const u = await em.findOne(ImageUpload, c.id, { populate: ['build'] });
        if (!u) continue;
        const build = u.build as unknown as ImageBuild;
        await upsertImageUpload(
          em,
          { buildId: build.id, provider: u.provider },
          {
            image: u.image,
            version: u.version,
            hostname: u.hostname,
            format: u.format,
            state: c.state,
            ...(c.reason === undefined ? {} : { reason: c.reason }),
          },
        );
      }
    },

    async listImageBuilds(): Promise<DibImage[]> {
      const builds = await orm.em.fork().find(ImageBuild, {}, { orderBy: { image: 'asc', version: 'asc' } });
      return builds.map((b) => ({
        id: b.id,
        image: b.image,
        builder: b.builder,
        version: b.version,
        state: b.state,
        files: b.files.map((f) => f.path),
        stateSince: b.stateChangedAt.getTime(),
        ...(b.reason ? { reason: b.reason } : {}),
        ...(b.workflowId ? { workflowId: b.workflowId } : {}),
      }));
    },

    /** A build's log from this worker's disk; large logs are cut to their end, which holds the failure. */
    async readBuildLog(input: { buildId: number; maxBytes: number }): Promise<BuildLog> {
      const build = await orm.em.fork().findOne(ImageBuild, input.buildId);
      if (!build) throw ApplicationFailure.nonRetryable(`image build ${input.buildId} does not exist`, 'UnknownBuild');
      const path = build.logPath ?? buildLogPath(deps.config, build.image, build.version);
      let size: number;
      try {
        size = (await stat(path)).size;
      } catch {
        throw ApplicationFailure.nonRetryable(
          `build ${build.id} has no log at ${path} on this worker (pruned after build-log-retention builds, or written by another worker)`,
          'NoBuildLog',
        );
      }
      const length = Math.min(size, input.maxBytes);
      const fh = await open(path, 'r');
      try {
        const buf = Buffer.alloc(length);
        await fh.read(buf, 0, length, size - length);
        return { buildId: build.id, path, size, text: buf.toString('utf8'), truncated: length < size };
      } finally {
        await fh.close();
      }
    },

    /**
     * nodepool's delete-after-upload: once every provider has the build, its local files go, except the formats
     * in keep-formats. Returns the paths removed.
     */
    async removeUploadedFiles(input: { buildId: number }): Promise<string[]> {
      const em = orm.em.fork();
      const build = await em.findOneOrFail(ImageBuild, input.buildId);
      const d = deps.config?.diskimages.find((x) => x.name === build.image);
      if (!d?.deleteAfterUpload) return [];
      const keep = new Set<string>(d.keepFormats);
      const removed = build.files.filter((f) => !keep.has(f.format));
      for (const f of removed) rmSync(f.path, { force: true });
      build.files = build.files.filter((f) => keep.has(f.format));
      build.formats = [...new Set(build.files.map((f) => f.format))].sort();
      await em.flush();
      return removed.map((f) => f.path);
    },

    /** Prunes old builds' local files and logs (keep the 2 newest READY builds' files, build-log-retention logs). */
    async pruneBuilds(input: { image: string }): Promise<{ files: number[]; logs: number[] }> {
      const em = orm.em.fork();
      const builds = await em.find(ImageBuild, { image: input.image }, { orderBy: { version: 'asc' } });
      const uploads = await em.find(ImageUpload, { image: input.image });
      const inUse = new Set(
        uploads
          .filter((u) => ['building', 'uploading', 'validating', 'ready'].includes(u.state))
          .map((u) => (u.build as unknown as { id: number }).id),
      );
      const decision = buildsToPrune(
        builds.map((b) => ({
          id: b.id,
          version: b.version,
          state: b.state === 'deleted' ? 'deleting' : b.state,
          hasFiles: b.files.length > 0,
          hasLog: b.logPath !== null && b.logPath !== undefined && existsSync(b.logPath),
          inUse: inUse.has(b.id),
        })),
        { keepReady: 2, keepLogs: deps.config?.buildLogRetention ?? 7 },
      );
      for (const id of decision.files) {
        const b = builds.find((x) => x.id === id);
        if (!b) continue;
        for (const f of b.files) rmSync(f.path, { force: true });
        b.files = [];
        b.formats = [];
        if (b.state === 'ready' || b.state === 'failed') b.state = 'deleted';
      }
      for (const id of decision.logs) {
        const b = builds.find((x) => x.id === id);
        if (b?.logPath) rmSync(b.logPath, { force: true });
      }
      await em.flush();
      return decision;
    },
  };
}
