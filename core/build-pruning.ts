// Which local builds' files and logs may go. Files are large (one image per format), so only the builds that
// may still be uploaded or rolled back to keep them; logs are small and kept for the most recent builds
// (`build-log-retention`) whatever happened to them. Pure: the build workflow decides with it.

export interface LocalBuild {
  id: number;
  version: number;
  state: 'building' | 'ready' | 'failed' | 'deleting';
  hasFiles: boolean;
  hasLog: boolean;
  /** an upload of it is building/uploading/ready somewhere */
  inUse: boolean;
}

export interface PruneOptions {
  /** READY builds whose files are kept (nodepool keeps 2: the current and the one to roll back to). */
  keepReady: number;
  /** Builds whose logs are kept (nodepool.yaml `build-log-retention`). */
  keepLogs: number;
}

function checkCount(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0)
    throw new RangeError(`buildsToPrune: ${name} must be a whole number ≥ 0, got ${value}`);
}

/** Ids (ascending) of the builds whose files, and whose logs, may be deleted now. */
export function buildsToPrune(builds: LocalBuild[], opts: PruneOptions): { files: number[]; logs: number[] } {
  checkCount('keepReady', opts.keepReady);
  checkCount('keepLogs', opts.keepLogs);
  const newestFirst = [...builds].sort((a, b) => b.version - a.version || b.id - a.id);
  const keepFiles = new Set(
    newestFirst
      .filter((b) => b.state === 'ready')
      .slice(0, opts.keepReady)
      .map((b) => b.id),
  );
  const keepLogs = new Set(newestFirst.slice(0, opts.keepLogs).map((b) => b.id));
  const prunable = builds.filter((b) => b.state !== 'building');
  const files = prunable.filter((b) => b.hasFiles && !b.inUse && !keepFiles.has(b.id)).map((b) => b.id);
  const logs = prunable.filter((b) => b.hasLog && !keepLogs.has(b.id)).map((b) => b.id);
  return { files: files.sort((a, b) => a - b), logs: logs.sort((a, b) => a - b) };
}
