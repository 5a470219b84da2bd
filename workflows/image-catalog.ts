// The image catalog of one provider: every upload of every image there, which one is current, and the
// deletions that keep it tidy. Perpetual (continue-as-new carries the compact state). Builds report upload
// progress by signal; operators read it by query (image-list) and delete by update (image-delete), whose
// validator refuses a bad ID before anything changes. The provider's pool reads the current images from here.
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  getExternalWorkflowHandle,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.ts';
import {
  applyUploadReport,
  checkOperatorDelete,
  currentByImage,
  findLeakedImages,
  type CatalogUpload,
  type UploadReport,
} from '../core/image-catalog.ts';
import { uploadsToDelete } from '../core/retention.ts';
import { poolWorkflowId } from './ids.ts';
import { NODEPOOL_PROVIDER, NODEPOOL_STATE } from './search-attributes.ts';

export type { CatalogUpload, UploadReport } from '../core/image-catalog.ts';

/** The upload new nodes of an image boot from in this provider. */
export interface CurrentImage {
  uploadId: number;
  externalId: string;
  version: number;
}

export interface CatalogView {
  provider: string;
  uploads: CatalogUpload[];
  /** image → id of its current upload */
  current: Record<string, number>;
}

export interface DeleteUploadRequest {
  id: number;
  /** Delete even the only READY upload of its image here. */
  force?: boolean;
}

export interface DeleteUploadResult {
  id: number;
  provider: string;
  image: string;
  /** The upload that is current for the image now, if any. */
  current?: { id: number; version: number };
}

export interface ValidationResult {
  uploadId: number;
  ok: boolean;
  reason?: string;
}

export const uploadReportSignal = defineSignal<[UploadReport]>('uploadReport');
export const validationResultSignal = defineSignal<[ValidationResult]>('validationResult');
/** Every upload the catalog holds (image-list). */
export const catalogQuery = defineQuery<CatalogView>('catalog');
/** The current upload of each image (the pool reads this at start). */
export const currentImagesQuery = defineQuery<Record<string, CurrentImage>>('currentImages');
/** image-delete ID: withdraw an upload; the previous READY one is current at once. */
export const deleteUploadUpdate = defineUpdate<DeleteUploadResult, [DeleteUploadRequest]>('deleteUpload');
/** The pool is told whenever the current images change, with the uploads operators withdrew. */
export const imagesChangedSignal = defineSignal<[Record<string, CurrentImage>, number[]?]>('imagesChanged');
/** The pool is asked to boot a node from a new upload before it becomes current. */
export const validateUploadSignal =
  defineSignal<[{ image: string; uploadId: number; externalId: string }]>('validateUpload');

export interface ImageCatalogInput {
  provider: string;
  uploads?: CatalogUpload[];
  suspects?: Record<string, number>;
  /** Seconds between leak scans of the cloud's images. */
  leakScanSeconds?: number;
  /** How long deleted uploads stay listed (seconds). */
  tombstoneSeconds?: number;
  /** Workflow time of the last leak scan, carried across continue-as-new. */
  lastLeakScan?: number;
}

const { recordUploadStates } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});

// A cloud deletion is retried until the cloud confirms it: an image we meant to delete must not linger.
const { deleteCloudImage } = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes' },
});

const { listCloudImages } = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '10 seconds', maximumAttempts: 3 },
});

const DEFAULT_LEAK_SCAN_SECONDS = 600;
const DEFAULT_TOMBSTONE_SECONDS = 86_400;
// Far below Temporal's limits; a catalog sees a few events per upload, so this is rarely reached.
const MAX_HISTORY_EVENTS = 4_000;

export async function imageCatalog(input: ImageCatalogInput): Promise<never> {
  const provider = input.provider;
  const leakScanMs = (input.leakScanSeconds ?? DEFAULT_LEAK_SCAN_SECONDS) * 1000;
  const tombstoneMs = (input.tombstoneSeconds ?? DEFAULT_TOMBSTONE_SECONDS) * 1000;
  let uploads: CatalogUpload[] = input.uploads ?? [];
  let suspects: Record<string, number> = input.suspects ?? {};
  let lastLeakScan = input.lastLeakScan ?? 0;
  let dirty = true;
  const deleting = new Map<number, Promise<void>>();
  const validations = new Set<number>();
  let sentCurrent = '';
  // State changes the catalog makes itself are recorded in PostgreSQL in order, in the background.
  const pendingRecords: { id: number; state: CatalogUpload['state']; reason?: string }[] = [];

  upsertSearchAttributes([
    { key: NODEPOOL_PROVIDER, value: [provider] },
    { key: NODEPOOL_STATE, value: 'running' },
  ]);

  const current = (): Record<string, CurrentImage> => {
    const out: Record<string, CurrentImage> = {};
    for (const [image, u] of Object.entries(currentByImage(uploads)))
      if (u.externalId) out[image] = { uploadId: u.id, externalId: u.externalId, version: u.version };
    return out;
  };

  const update = (id: number, patch: Partial<CatalogUpload>): void => {
    uploads = uploads.map((u) => (u.id === id ? { ...u, ...patch } : u));
    dirty = true;
  };

  setHandler(uploadReportSignal, (report) => {
    const merged = applyUploadReport(uploads, report);
    uploads = merged.uploads;
    if (merged.changed) dirty = true;
  });

  setHandler(validationResultSignal, (result) => {
    validations.delete(result.uploadId);
    const u = uploads.find((x) => x.id === result.uploadId);
    if (!u || u.state !== 'validating') return;
    const state = result.ok ? 'ready' : 'failed';
    const reason = result.ok ? undefined : `validation failed: ${result.reason ?? 'no reason given'}`;
    update(u.id, { state, stateSince: Date.now(), ...(reason ? { reason } : {}) });
    pendingRecords.push({ id: u.id, state, ...(reason ? { reason } : {}) });
  });

  setHandler(catalogQuery, () => ({
    provider,
    uploads,
    current: Object.fromEntries(Object.entries(currentByImage(uploads)).map(([k, u]) => [k, u.id])),
  }));
  setHandler(currentImagesQuery, current);

  setHandler(
    deleteUploadUpdate,
    (req) => {
      const check = checkOperatorDelete(uploads, req.id, provider, req.force ?? false);
      if ('refused' in check) throw ApplicationFailure.nonRetryable(check.refused, 'ImageDeleteRefused');
      const u = check.ok;
      update(u.id, { withdrawn: true });
      startDeletion(u, 'deleted by an operator (image-delete)');
      const now = currentByImage(uploads)[u.image];
      return Promise.resolve({
        id: u.id,
        provider,
        image: u.image,
        ...(now ? { current: { id: now.id, version: now.version } } : {}),
      });
    },
    {
      validator: (req) => {
        const check = checkOperatorDelete(uploads, req.id, provider, req.force ?? false);
        if ('refused' in check) throw new Error(check.refused);
      },
    },
  );

  function startDeletion(u: CatalogUpload, reason: string): void {
    if (deleting.has(u.id)) return;
    update(u.id, { state: 'deleting', stateSince: Date.now(), reason });
    pendingRecords.push({ id: u.id, state: 'deleting', reason });
    const work = (async () => {
      await deleteCloudImage.executeWithOptions(
        { summary: `delete ${u.image} ${u.version} (upload ${u.id}) from ${provider}` },
        [{ provider, uploadId: u.id, ...(u.externalId ? { externalId: u.externalId } : {}) }],
      );
      update(u.id, { state: 'deleted', stateSince: Date.now() });
      pendingRecords.push({ id: u.id, state: 'deleted', reason });
    })().finally(() => deleting.delete(u.id));
    deleting.set(u.id, work);
  }

  async function flushRecords(): Promise<void> {
    while (pendingRecords.length > 0) {
      const batch = pendingRecords.splice(0, pendingRecords.length);
      await recordUploadStates(batch);
    }
  }

  async function tellPool(): Promise<void> {
    const now = current();
    const withdrawn = uploads.filter((u) => u.withdrawn).map((u) => u.id);
    const text = JSON.stringify([now, withdrawn]);
    if (text === sentCurrent) return;
    sentCurrent = text;
    try {
      await getExternalWorkflowHandle(poolWorkflowId(provider)).signal(imagesChangedSignal, now, withdrawn);
    } catch {
      // No pool runs for this provider (yet): it reads the current images when it starts.
    }
  }

  async function askValidation(u: CatalogUpload): Promise<void> {
    if (validations.has(u.id) || !u.externalId) return;
    validations.add(u.id);
    try {
      await getExternalWorkflowHandle(poolWorkflowId(provider)).signal(validateUploadSignal, {
        image: u.image,
        uploadId: u.id,
        externalId: u.externalId,
      });
    } catch {
      // Without a pool nothing can boot it: the upload is used unvalidated, and says so.
      validations.delete(u.id);
      const reason = `not validated: provider ${provider} runs no pool to boot a validation node`;
      update(u.id, { state: 'ready', stateSince: Date.now(), reason });
      pendingRecords.push({ id: u.id, state: 'ready', reason });
    }
  }

  function applyRetention(): void {
    const byImage = new Map<string, CatalogUpload[]>();
    for (const u of uploads) byImage.set(u.image, [...(byImage.get(u.image) ?? []), u]);
    for (const list of byImage.values()) {
      for (const decision of uploadsToDelete(list)) {
        const u = list.find((x) => x.id === decision.id);
        if (u && !deleting.has(u.id)) startDeletion(u, decision.reason);
      }
    }
    // Deleted uploads stay listed a day (operators see what went), then only the cloud's absence remains.
    const cutoff = Date.now() - tombstoneMs;
    uploads = uploads.filter((u) => u.state !== 'deleted' || u.stateSince > cutoff);
  }

  async function scanForLeaks(): Promise<void> {
    lastLeakScan = Date.now();
    const images = await listCloudImages(provider);
    const result = findLeakedImages(images, uploads, suspects);
    suspects = result.suspects;
    for (const image of result.leaked) {
      await deleteCloudImage.executeWithOptions(
        { summary: `delete leaked image ${image.name} (${image.id}) from ${provider}` },
        [{ provider, externalId: image.id }],
      );
    }
  }

  for (;;) {
    const untilScan = Math.max(1, lastLeakScan + leakScanMs - Date.now());
    await condition(() => dirty || pendingRecords.length > 0, untilScan);
    if (dirty) {
      dirty = false;
      applyRetention();
      for (const u of uploads) if (u.state === 'validating') await askValidation(u);
      await tellPool();
      const counts: Record<string, number> = {};
      for (const u of uploads) counts[u.state] = (counts[u.state] ?? 0) + 1;
      setCurrentDetails(
        `**${provider}**: ${Object.entries(counts)
          .map(([s, n]) => `${n} ${s}`)
          .join(', ')}`,
      );
    }
    await flushRecords();
    if (Date.now() - lastLeakScan >= leakScanMs) await scanForLeaks();
    if (workflowInfo().historyLength > MAX_HISTORY_EVENTS || workflowInfo().continueAsNewSuggested) {
      // Deletions in flight finish first: their activities belong to this run.
      await Promise.all(deleting.values());
      await flushRecords();
      await condition(allHandlersFinished);
      await continueAsNew<typeof imageCatalog>({
        ...input,
        uploads,
        suspects,
        lastLeakScan,
      });
    }
  }
}
