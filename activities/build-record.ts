// Records what a build produced on its ImageBuild row: each file with its format, size, sha256 and the
// converter that wrote it (Xen clouds care which tool made a VHD). Idempotent: a retry rewrites the same entries.
import { ApplicationFailure } from '@temporalio/common';
import type { Orm } from '../db/orm.ts';
import { ImageBuild, type ImageBuildFile } from '../db/entities/index.ts';

export function buildRecordActivities(orm: Orm) {
  return {
    async recordBuildFiles(buildId: number, files: ImageBuildFile[]): Promise<ImageBuildFile[]> {
      const em = orm.em.fork();
      const build = await em.findOne(ImageBuild, buildId);
      if (!build) throw ApplicationFailure.nonRetryable(`image build ${buildId} does not exist`, 'UnknownBuild');
      const byPath = new Map(build.files.map((f) => [f.path, f]));
      for (const f of files) byPath.set(f.path, f);
      build.files = [...byPath.values()].sort((a, b) => a.path.localeCompare(b.path));
      build.formats = [...new Set(build.files.map((f) => f.format))].sort();
      // A concurrent writer makes this flush fail on the row version; the activity retry re-reads and merges.
      await em.flush();
      return build.files;
    },
  };
}
