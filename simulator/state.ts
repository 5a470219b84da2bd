// Everything the simulated cloud remembers, persisted as one JSON file written atomically (write + fsync +
// rename), so a restarted simulator on the same state dir sees the same servers, images, tokens and host keys.
// Changes only mark the state dirty; it is written at most once per FLUSH_INTERVAL_MS, one write at a time, and
// always on close: rewriting a 1 MB file on every request was most of a create's cost at pool sizes.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/** Longest a change waits before its write starts; a crash (kill -9) can lose about this much plus one write. */
export const FLUSH_INTERVAL_MS = 50;

export interface TokenRecord {
  id: string;
  userId: string;
  /** Absent for unscoped, domain- or system-scoped tokens. */
  projectId?: string;
  domainScope?: string;
  systemScope?: boolean;
  methods: string[];
  /** Role names on the project (implied ones included); absent in state files written before roles existed. */
  roles?: string[];
  appCredId?: string;
  issuedAt: string;
  expiresAt: string;
  auditId: string;
}

export interface ServerRecord {
  id: string;
  seq: number;
  region: string;
  name: string;
  projectId: string;
  userId: string;
  flavorId: string;
  /** '' when booted from a volume. */
  imageId: string;
  /** Neutron network ids the server is attached to ([] for `none`); absent in older state files (= private). */
  networks?: string[];
  accessIPv4?: string;
  accessIPv6?: string;
  schedulerHints?: Record<string, unknown>;
  /** Volumes from block_device_mapping_v2 (there is no Cinder: only their ids exist). */
  volumes?: Array<{ id: string; deleteOnTermination: boolean }>;
  metadata: Record<string, string>;
  /** BUILD, ACTIVE, ERROR, or DELETED (only in SimState.deletedServers). */
  status: string;
  vmState: string;
  taskState: string | null;
  powerState: number;
  /** What BUILD turns into, decided (seeded) at create time. */
  fate: 'ACTIVE' | 'ERROR';
  readyAt: number;
  created: string;
  updated: string;
  launchedAt: string | null;
  terminatedAt: string | null;
  address: string;
  mac: string;
  hostKeyPrivate: string;
  hostKeyPublic: string;
  availabilityZone: string;
  keyName: string | null;
  adminPass: string;
  securityGroups: string[];
  configDrive: string;
  description: string | null;
  tags: string[];
  deleting: boolean;
  /** Epoch ms of the delete, for tombstones: retention is measured from it. */
  deletedAt?: number;
}

export interface ImageRecord {
  id: string;
  seq: number;
  region: string;
  name: string | null;
  status: string;
  visibility: string;
  protected: boolean;
  osHidden: boolean;
  owner: string;
  checksum: string | null;
  osHashAlgo: string | null;
  osHashValue: string | null;
  size: number | null;
  virtualSize: number | null;
  minDisk: number;
  minRam: number;
  diskFormat: string | null;
  containerFormat: string | null;
  tags: string[];
  properties: Record<string, unknown>;
  createdAt: string;
  updatedAt: string;
  /** Import tasks (glance-direct), newest last. */
  tasks?: ImageTaskRecord[];
  /** For snapshots in progress: when queued → saving and saving → active happen. */
  savingAt?: number;
  activeAt?: number;
}

/** An application credential a user created (or the built-in one); the secret is kept only as a digest. */
export interface AppCredRecord {
  id: string;
  name: string;
  description: string | null;
  userId: string;
  projectId: string;
  secretSha256: string;
  roles: string[];
  /** As the client sent it (Keystone echoes it back), or null. */
  expiresAt: string | null;
  unrestricted: boolean;
}

export interface ImageTaskRecord {
  id: string;
  type: 'api_image_import';
  status: 'processing' | 'success' | 'failure';
  owner: string;
  userId: string;
  requestId: string;
  method: string;
  message: string;
  createdAt: string;
  updatedAt: string;
}

export interface KeypairRecord {
  name: string;
  userId: string;
  publicKey: string;
  fingerprint: string;
  type: 'ssh' | 'x509';
  seq: number;
  createdAt: string;
}

export interface SimState {
  version: 1;
  seq: number;
  rng: Record<string, [number, number, number, number]>;
  tokens: Record<string, TokenRecord>;
  /** Servers that exist: BUILD, ACTIVE, ERROR, and deletes hung by hangDeletes. */
  servers: Record<string, ServerRecord>;
  /** DELETED tombstones, kept apart so lists and quota never walk them, only for changes-since, and only for
   *  deletedRetentionSeconds. */
  deletedServers: Record<string, ServerRecord>;
  images: Record<string, ImageRecord>;
  /** Absent until the simulator first starts on this state: then seeded with the built-in credential. */
  appCreds?: Record<string, AppCredRecord>;
  /** Key pairs by user id, then name; absent until first start (then seeded with the built-in one). */
  keypairs?: Record<string, Record<string, KeypairRecord>>;
  /** Next 127.x.y.z candidate, as an index. */
  nextAddress: number;
}

export function emptyState(): SimState {
  return { version: 1, seq: 0, rng: {}, tokens: {}, servers: {}, deletedServers: {}, images: {}, nextAddress: 0 };
}

/** How many times state.json was written per state dir (resolved path), so tests can see saves coalesce. */
const writeCounts = new Map<string, number>();

export function stateFileWrites(dir: string): number {
  return writeCounts.get(resolve(dir)) ?? 0;
}

export interface StateStoreOptions {
  /** Runs just before the state is serialized, to fold in-memory extras (stream positions) into it. */
  beforeWrite?: () => void;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class StateStore {
  readonly dir: string;
  readonly imagesDir: string;
  private readonly file: string;
  private readonly lockFile: string;
  private readonly beforeWrite: () => void;
  state: SimState;
  private dirty = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> | undefined;
  private lastWriteAt = 0;
  private lastError = '';

  constructor(dir: string, opts: StateStoreOptions = {}) {
    this.dir = dir;
    this.beforeWrite = opts.beforeWrite ?? (() => {});
    this.imagesDir = join(dir, 'images');
    this.file = join(dir, 'state.json');
    this.lockFile = join(dir, 'lock');
    mkdirSync(this.imagesDir, { recursive: true });
    this.lock();
    try {
      this.state = existsSync(this.file) ? this.load() : emptyState();
    } catch (err) {
      this.unlock();
      throw err;
    }
  }

  /** Two simulators on one state dir would overwrite each other's state; the second one refuses to start. */
  private lock(): void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.lockFile, 'wx');
        writeFileSync(fd, String(process.pid));
        closeSync(fd);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const holder = Number(readFileSync(this.lockFile, 'utf8'));
        if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) {
          throw new Error(
            `state dir ${this.dir} is in use by another simulator (pid ${holder}); stop it or choose another state dir`,
          );
        }
        rmSync(this.lockFile, { force: true });
      }
    }
    throw new Error(`could not lock state dir ${this.dir}`);
  }

  unlock(): void {
    rmSync(this.lockFile, { force: true });
  }

  private load(): SimState {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (err) {
      throw new Error(
        `simulator state ${this.file} is not valid JSON (${(err as Error).message}); ` +
          `remove it or choose another --state-dir`,
      );
    }
    const s = parsed as Partial<SimState>;
    if (s.version !== 1) throw new Error(`simulator state ${this.file} has unknown version ${String(s.version)}`);
    const state = { ...emptyState(), ...s } as SimState;
    // Files written before tombstones were kept apart hold DELETED servers among the live ones.
    for (const [id, server] of Object.entries(state.servers)) {
      if (server.status !== 'DELETED') continue;
      server.deletedAt ??= Date.parse(server.updated);
      state.deletedServers[id] = server;
      delete state.servers[id];
    }
    return state;
  }

  /** Records that the state changed; it reaches the disk within about FLUSH_INTERVAL_MS. No-op once closed,
   *  when another simulator may already own the state dir. */
  markDirty(): void {
    if (this.closed) return;
    this.dirty = true;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== undefined || this.writing !== undefined || !this.dirty || this.closed) return;
    const wait = Math.max(0, this.lastWriteAt + FLUSH_INTERVAL_MS - Date.now());
    this.timer = setTimeout(() => void this.write().catch((err: unknown) => this.report(err)), wait);
    this.timer.unref();
  }

  /** One write in flight at a time; the state is serialized when the write starts, so later changes stay dirty
   *  for the next one. */
  private write(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.beforeWrite();
    this.dirty = false;
    this.lastWriteAt = Date.now();
    const text = JSON.stringify(this.state);
    writeCounts.set(resolve(this.dir), stateFileWrites(this.dir) + 1);
    const written = (async () => {
      const tmp = `${this.file}.${process.pid}.tmp`;
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(text);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.file);
    })();
    this.writing = written
      .catch((err: unknown) => {
        // Keep the changes: the next write (or close) carries them.
        this.dirty = true;
        throw err;
      })
      .finally(() => {
        this.writing = undefined;
        this.schedule();
      });
    return this.writing;
  }

  private report(err: unknown): void {
    const message = (err as Error).message;
    if (message === this.lastError) return;
    this.lastError = message;
    process.stderr.write(`sim-cloud: could not write ${this.file} (${message}); will retry\n`);
  }

  /** Writes every change made so far, waiting for a write already in flight. */
  async flush(): Promise<void> {
    while (this.writing !== undefined) await this.writing.catch(() => {});
    if (this.dirty) await this.write();
  }

  /** Flushes everything (the state is written even if unchanged), then releases the state dir. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.dirty = true;
    try {
      await this.flush();
    } finally {
      this.discard();
    }
  }

  /** Stops writing and releases the state dir without saving (a start that failed half-way). */
  discard(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.unlock();
  }

  nextSeq(): number {
    this.state.seq += 1;
    return this.state.seq;
  }

  imageFile(id: string): string {
    return join(this.imagesDir, id);
  }
}
