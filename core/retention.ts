// Which uploads of one image–provider pair may go, and which one new nodes boot. The seed's promise: "it never
// deletes the current or next most recent image in the ready state for any image-provider combination", so an
// operator can always revert by deleting the current upload. Pure: the catalog workflow decides with it.

export type UploadState = 'building' | 'uploading' | 'validating' | 'ready' | 'failed' | 'deleting' | 'deleted';

export interface RetainedUpload {
  id: number;
  version: number;
  state: UploadState;
  /** operator-withdrawn */
  withdrawn?: boolean;
}

export interface RetentionDecision {
  id: number;
  reason: string;
}

/** Newest first; versions tie only across ids, so (version, id) is a total order. */
function newestFirst(a: RetainedUpload, b: RetainedUpload): number {
  return b.version - a.version || b.id - a.id;
}

function describe(u: RetainedUpload): string {
  return `${u.id} (version ${u.version})`;
}

/** READY uploads an operator has not withdrawn, newest first: the ones new nodes may boot. */
function usable(uploads: RetainedUpload[]): RetainedUpload[] {
  return uploads.filter((u) => u.state === 'ready' && !u.withdrawn).sort(newestFirst);
}

/** The current upload (what new nodes boot): the READY upload with the highest version, or undefined. */
export function currentUpload(uploads: RetainedUpload[]): RetainedUpload | undefined {
  return usable(uploads)[0];
}

/** Which uploads of ONE image–provider pair may be deleted now, oldest first. */
export function uploadsToDelete(uploads: RetainedUpload[]): RetentionDecision[] {
  const ready = usable(uploads);
  const kept = new Set(ready.slice(0, 2).map((u) => u.id));
  const keptText = ready.slice(0, 2).map(describe).join(' and ');
  const newest = [...uploads].sort(newestFirst)[0];
  const decisions: RetentionDecision[] = [];
  for (const u of [...uploads].sort(newestFirst).reverse()) {
    switch (u.state) {
      case 'ready':
        if (u.withdrawn) decisions.push({ id: u.id, reason: 'withdrawn by an operator (image-delete)' });
        else if (!kept.has(u.id)) decisions.push({ id: u.id, reason: `superseded by READY uploads ${keptText}` });
        break;
      case 'failed':
        // The newest failure stays listed so operators see why the pair has nothing newer, unless they
        // withdrew it themselves.
        if (u.withdrawn) decisions.push({ id: u.id, reason: 'failed, and withdrawn by an operator (image-delete)' });
        else if (newest && u.id !== newest.id)
          decisions.push({ id: u.id, reason: `failed; superseded by upload ${describe(newest)}` });
        break;
      case 'deleting':
        decisions.push({ id: u.id, reason: 'deletion in progress: retried until the cloud confirms' });
        break;
      case 'building':
      case 'uploading':
      case 'validating':
      case 'deleted':
        break;
    }
  }
  return decisions;
}
