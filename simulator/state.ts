// Everything the simulated cloud remembers, persisted as one JSON file written atomically (write + rename),
// so a restarted simulator on the same state dir sees the same servers, images, tokens and host keys.
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TokenRecord {
  id: string;
  userId: string;
  /** Absent for unscoped, domain- or system-scoped tokens. */
  projectId?: string;
  domainScope?: string;
  systemScope?: boolean;
  methods: string[];
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
  imageId: string;
  metadata: Record<string, string>;
  /** BUILD, ACTIVE, ERROR, DELETED (tombstone kept for changes-since). */
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
  /** For snapshots in progress: when queued → saving and saving → active happen. */
  savingAt?: number;
  activeAt?: number;
}

export interface SimState {
  version: 1;
  seq: number;
  rng: Record<string, [number, number, number, number]>;
  tokens: Record<string, TokenRecord>;
  servers: Record<string, ServerRecord>;
  images: Record<string, ImageRecord>;
  /** Next 127.x.y.z candidate, as an index. */
  nextAddress: number;
}

export function emptyState(): SimState {
  return { version: 1, seq: 0, rng: {}, tokens: {}, servers: {}, images: {}, nextAddress: 0 };
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
  state: SimState;

  constructor(dir: string) {
    this.dir = dir;
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
    return { ...emptyState(), ...s } as SimState;
  }

  /** Synchronous on purpose: one small file, and no interleaving of two saves can tear it. */
  save(): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state));
    renameSync(tmp, this.file);
  }

  nextSeq(): number {
    this.state.seq += 1;
    return this.state.seq;
  }

  imageFile(id: string): string {
    return join(this.imagesDir, id);
  }
}
