// Glance v2: image records, data streamed from disk (hashing as it goes), listing and deletion.
import { createHash, type Hash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { NotFound, Transient } from '../errors.ts';
import type { Image, ImageState } from '../adapter.ts';
import type { Metadata } from '../tags.ts';
import type { ServiceCall } from './http.ts';

/** Image fields Glance defines itself; everything else at the top level is a custom property. */
const BASE_FIELDS = new Set([
  'id',
  'name',
  'status',
  'visibility',
  'protected',
  'os_hidden',
  'owner',
  'checksum',
  'os_hash_algo',
  'os_hash_value',
  'size',
  'virtual_size',
  'min_disk',
  'min_ram',
  'disk_format',
  'container_format',
  'tags',
  'created_at',
  'updated_at',
  'self',
  'file',
  'schema',
  'direct_url',
  'locations',
  'stores',
]);

const PAGE_SIZE = 1000;

export interface StreamedDigest {
  sha512: string;
  md5: string;
  bytes: number;
}

export class GlanceClient {
  readonly #call: ServiceCall;
  readonly #pageSize: number;
  constructor(call: ServiceCall, opts: { pageSize?: number } = {}) {
    this.#call = call;
    this.#pageSize = opts.pageSize ?? PAGE_SIZE;
  }

  async createImage(spec: {
    name: string;
    diskFormat: string;
    containerFormat: string;
    metadata: Metadata;
  }): Promise<Image> {
    const res = await this.#call({
      operation: 'image.create',
      method: 'POST',
      path: '/v2/images',
      json: {
        ...spec.metadata,
        name: spec.name,
        disk_format: spec.diskFormat,
        container_format: spec.containerFormat,
        visibility: 'private',
      },
    });
    return toImage(res.body as Record<string, unknown>);
  }

  /**
   * Streams the file to Glance: constant memory whatever the size, hashed on the way so the caller can compare
   * with what Glance stored. Each attempt (a re-send after re-authentication) starts a fresh stream and hash.
   */
  async uploadData(id: string, path: string, timeoutMs: number): Promise<StreamedDigest> {
    return this.#sendData('image.upload', `/v2/images/${encodeURIComponent(id)}/file`, path, timeoutMs);
  }

  /** Interoperable import, step one: the data goes to Glance's staging area (queued → uploading). */
  async stageData(id: string, path: string, timeoutMs: number): Promise<StreamedDigest> {
    return this.#sendData('image.stage', `/v2/images/${encodeURIComponent(id)}/stage`, path, timeoutMs);
  }

  /** Interoperable import, step two: Glance moves the staged data into its store (uploading → importing → active). */
  async importStaged(id: string): Promise<void> {
    await this.#call({
      operation: 'image.import',
      method: 'POST',
      path: `/v2/images/${encodeURIComponent(id)}/import`,
      json: { method: { name: 'glance-direct' } },
    });
  }

  /** The import methods the cloud offers; none when it does not offer import at all (404). */
  async importMethods(): Promise<string[]> {
    try {
      const res = await this.#call({ operation: 'image.get', method: 'GET', path: '/v2/info/import' });
      const value = (res.body as { 'import-methods'?: { value?: unknown } } | undefined)?.['import-methods']?.value;
      return Array.isArray(value) ? value.filter((m): m is string => typeof m === 'string') : [];
    } catch (err) {
      if (err instanceof NotFound) return [];
      throw err;
    }
  }

  async #sendData(operation: string, path: string, file: string, timeoutMs: number): Promise<StreamedDigest> {
    const { size } = await stat(file);
    let digest: { sha512: Hash; md5: Hash; bytes: number } | undefined;
    await this.#call({
      operation,
      method: 'PUT',
      path,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      timeoutMs,
      upload: {
        path: file,
        through: () => {
          const d = { sha512: createHash('sha512'), md5: createHash('md5'), bytes: 0 };
          digest = d;
          return new Transform({
            transform(chunk: Buffer, _enc, done) {
              d.sha512.update(chunk);
              d.md5.update(chunk);
              d.bytes += chunk.length;
              done(null, chunk);
            },
          });
        },
      },
    });
    if (!digest) throw new Transient(`${operation}: no data was sent`, { operation });
    if (digest.bytes !== size) {
      throw new Transient(`${operation}: sent ${digest.bytes} bytes but ${file} has ${size}`, { operation });
    }
    return { sha512: digest.sha512.digest('hex'), md5: digest.md5.digest('hex'), bytes: digest.bytes };
  }

  async getImage(id: string): Promise<Image> {
    const res = await this.#call({
      operation: 'image.get',
      method: 'GET',
      path: `/v2/images/${encodeURIComponent(id)}`,
    });
    return toImage(res.body as Record<string, unknown>);
  }

  async deleteImage(id: string): Promise<void> {
    await this.#call({ operation: 'image.delete', method: 'DELETE', path: `/v2/images/${encodeURIComponent(id)}` });
  }

  /** All images visible to the project (optionally one exact name), following `next` across pages. */
  async listImages(filter: { name?: string } = {}): Promise<Image[]> {
    return (await this.listImagesWithClock(filter)).images;
  }

  /**
   * As listImages, plus Glance's own clock (its Date header, when it sends one): ages of images are judged by the
   * cloud's clock, never by comparing ours with its timestamps.
   */
  async listImagesWithClock(filter: { name?: string } = {}): Promise<{ images: Image[]; now: number | undefined }> {
    const out: Image[] = [];
    let now: number | undefined;
    let query = new URLSearchParams({ limit: String(this.#pageSize) });
    if (filter.name !== undefined) query.set('name', filter.name);
    const seenMarkers = new Set<string>();
    for (;;) {
      const res = await this.#call({ operation: 'image.list', method: 'GET', path: '/v2/images', query });
      if (now === undefined) {
        const date = Date.parse(res.headers.get('date') ?? '');
        if (!Number.isNaN(date)) now = date;
      }
      const body = res.body as { images?: Record<string, unknown>[]; next?: string };
      const page = body.images ?? [];
      out.push(...page.map(toImage));
      if (!body.next || page.length === 0) return { images: out, now };
      // `next` is a path relative to the unversioned endpoint; only its query matters to us.
      query = new URL(body.next, 'http://placeholder').searchParams;
      const marker = query.get('marker') ?? '';
      if (seenMarkers.has(marker)) {
        throw new Transient(`image.list: Glance returned the same page marker twice (${marker})`, {
          operation: 'image.list',
        });
      }
      seenMarkers.add(marker);
    }
  }
}

const STATES: Record<string, ImageState> = {
  queued: 'queued',
  saving: 'saving',
  uploading: 'saving',
  importing: 'saving',
  active: 'active',
  killed: 'killed',
  deleted: 'deleted',
  pending_delete: 'deleted',
};

export function toImage(raw: Record<string, unknown>): Image {
  const metadata: Metadata = {};
  for (const [k, v] of Object.entries(raw)) {
    if (!BASE_FIELDS.has(k) && !k.startsWith('os_glance') && typeof v === 'string') metadata[k] = v;
  }
  const str = (k: string): string | undefined => (typeof raw[k] === 'string' ? (raw[k] as string) : undefined);
  const status = str('status') ?? 'unknown';
  const image: Image = {
    id: String(raw.id),
    name: str('name') ?? '',
    state: STATES[status] ?? 'other',
    rawStatus: status,
    metadata,
  };
  const set = <K extends keyof Image>(key: K, value: Image[K] | undefined): void => {
    if (value !== undefined) image[key] = value;
  };
  set('diskFormat', str('disk_format'));
  set('containerFormat', str('container_format'));
  set('size', typeof raw.size === 'number' ? raw.size : undefined);
  set('checksum', str('checksum'));
  set('hashAlgo', str('os_hash_algo'));
  set('hashValue', str('os_hash_value'));
  set('created', str('created_at'));
  set('failedImport', str('os_glance_failed_import') || undefined);
  return image;
}
