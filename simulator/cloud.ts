// The simulated cloud's shared core: state, knobs, seeded streams, and the clock-driven transitions
// (BUILD → ACTIVE/ERROR, snapshot queued → saving → active). Transitions are applied lazily on every request
// and by a timer, so what a client sees never depends on timer jitter.
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Prng, streamSeed } from './faults.ts';
import type { Knobs } from './knobs.ts';
import { SshFleet, loopbackAddress } from './ssh.ts';
import { isoSeconds } from './http.ts';
import { APP_CRED, BUILTIN_KEYPAIR, ROLES } from './identity.ts';
import type { AppCredRecord, ImageRecord, KeypairRecord, ServerRecord } from './state.ts';
import { StateStore } from './state.ts';

export interface Flavor {
  id: string;
  name: string;
  vcpus: number;
  ram: number;
  disk: number;
}

export const FLAVORS: Flavor[] = [
  { id: '1', name: 'm1.tiny', vcpus: 1, ram: 512, disk: 1 },
  { id: '2', name: 'm1.small', vcpus: 1, ram: 2048, disk: 20 },
  { id: '3', name: 'm1.medium', vcpus: 2, ram: 4096, disk: 40 },
  { id: '4', name: 'm1.large', vcpus: 4, ram: 8192, disk: 80 },
  { id: '6b5a1f0e-3c2d-4e8f-9a7b-1c2d3e4f5a6b', name: 'm1.xlarge', vcpus: 8, ram: 16384, disk: 160 },
];

export const AVAILABILITY_ZONE = 'nova';
export const SNAPSHOT_BYTES = 64 * 1024;

export interface CloudOptions {
  stateDir: string;
  baseUrl: string;
  regions: string[];
  seed: number;
  sshPort: number;
  knobs: Knobs;
}

export class Cloud {
  readonly store: StateStore;
  readonly baseUrl: string;
  readonly regions: string[];
  readonly ssh: SshFleet;
  knobs: Knobs;
  private readonly rngs: Record<'ids' | 'boot', Prng>;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(opts: CloudOptions) {
    this.store = new StateStore(opts.stateDir, {
      beforeWrite: () => {
        this.state.rng = { ids: this.rngs.ids.state(), boot: this.rngs.boot.state() };
        this.pruneDeleted();
      },
    });
    this.baseUrl = opts.baseUrl;
    this.regions = opts.regions;
    this.knobs = opts.knobs;
    const saved = this.store.state.rng;
    this.rngs = {
      ids: new Prng(saved.ids ?? streamSeed(opts.seed, 'ids')),
      boot: new Prng(saved.boot ?? streamSeed(opts.seed, 'boot')),
    };
    this.ssh = new SshFleet({
      port: opts.sshPort,
      isReady: (id) => {
        const s = this.store.state.servers[id];
        return s !== undefined && s.status === 'ACTIVE';
      },
      behaviour: () => ({ exec: this.knobs.sshExec, auth: this.knobs.sshAuth }),
      scratchDir: (id) => join(this.store.dir, 'servers', id),
    });
  }

  get state() {
    return this.store.state;
  }

  get authUrl(): string {
    return `${this.baseUrl}/identity`;
  }

  computeUrl(region: string): string {
    return `${this.baseUrl}/${region}/compute/v2.1`;
  }

  imageUrl(region: string): string {
    return `${this.baseUrl}/${region}/image`;
  }

  /** Unversioned, as Neutron is usually listed; clients add /v2.0. */
  networkUrl(region: string): string {
    return `${this.baseUrl}/${region}/network`;
  }

  /** Key pairs by user, the built-in one seeded the first time (a deleted one stays deleted). */
  get keypairs(): Record<string, Record<string, KeypairRecord>> {
    this.state.keypairs ??= {
      [BUILTIN_KEYPAIR.userId]: {
        [BUILTIN_KEYPAIR.name]: {
          ...BUILTIN_KEYPAIR,
          fingerprint: '0b:de:eb:01:2b:f0:ff:53:66:4e:bf:5d:16:3a:fd:d2',
          type: 'ssh',
          seq: 0,
          createdAt: '2024-01-01T00:00:00Z',
        },
      },
    };
    return this.state.keypairs;
  }

  /** Application credentials, the built-in one seeded the first time (a deleted one stays deleted). */
  get appCreds(): Record<string, AppCredRecord> {
    this.state.appCreds ??= {
      [APP_CRED.id]: {
        id: APP_CRED.id,
        name: APP_CRED.name,
        description: 'built into the simulator',
        userId: APP_CRED.userId,
        projectId: APP_CRED.projectId,
        secretSha256: createHash('sha256').update(APP_CRED.secret).digest('hex'),
        roles: [ROLES.member.name, ROLES.reader.name],
        expiresAt: null,
        unrestricted: false,
      },
    };
    return this.state.appCreds;
  }

  uuid(): string {
    return this.rngs.ids.uuid();
  }

  randomHex(len: number): string {
    let out = '';
    while (out.length < len) out += Math.floor(this.rngs.ids.next() * 16).toString(16);
    return out;
  }

  bootDraw(): { seconds: number; error: boolean } {
    const { min, max } = this.knobs.bootSeconds;
    const seconds = this.rngs.boot.uniform(min, max);
    const error = this.rngs.boot.next() < this.knobs.serverErrorRate;
    return { seconds, error };
  }

  /** Marks the state changed; StateStore writes it soon (coalesced) and on close. */
  save(): void {
    this.store.markDirty();
  }

  /** Forgets DELETED tombstones older than deletedRetentionSeconds; true if any went. Lazy: run before each
   *  write and each changes-since list, so nothing outside those ever sees an expired one. */
  pruneDeleted(now = Date.now()): boolean {
    const cutoff = now - this.knobs.deletedRetentionSeconds * 1000;
    let pruned = false;
    for (const [id, s] of Object.entries(this.state.deletedServers)) {
      if ((s.deletedAt ?? Date.parse(s.updated)) > cutoff) continue;
      delete this.state.deletedServers[id];
      pruned = true;
    }
    return pruned;
  }

  nextLoopbackAddress(): string {
    const addr = loopbackAddress(this.state.nextAddress);
    this.state.nextAddress += 1;
    return addr;
  }

  /** Re-binds SSH endpoints of servers that exist in the persisted state (after a restart). */
  async restoreSsh(): Promise<void> {
    for (const s of Object.values(this.state.servers)) {
      s.address = await this.ssh.bind(s.id, s.hostKeyPrivate, s.address, () => this.nextLoopbackAddress());
    }
    // An import the last run did not finish is staged again, so the client can ask for it once more.
    for (const img of Object.values(this.state.images)) {
      if (img.status !== 'importing') continue;
      img.status = existsSync(`${this.store.imageFile(img.id)}.staged`) ? 'uploading' : 'queued';
      for (const t of img.tasks ?? []) {
        if (t.status !== 'processing') continue;
        t.status = 'failure';
        t.message = 'the simulator stopped during the import';
      }
    }
    this.save();
  }

  /** Applies every transition that is due, then arms a timer for the next one. */
  advance(now = Date.now()): void {
    if (this.closed) return;
    let changed = false;
    let next = Infinity;
    for (const s of Object.values(this.state.servers)) {
      if (s.status !== 'BUILD') continue;
      if (s.readyAt <= now) {
        this.finishBoot(s, now);
        changed = true;
      } else next = Math.min(next, s.readyAt);
    }
    for (const img of Object.values(this.state.images)) {
      if (img.activeAt === undefined) continue;
      const savingAt = img.savingAt ?? now;
      if (img.status === 'queued' && savingAt <= now) {
        img.status = 'saving';
        img.updatedAt = isoSeconds(now);
        changed = true;
      }
      if (img.status === 'saving' && img.activeAt <= now) {
        this.finishSnapshot(img, now);
        changed = true;
      } else next = Math.min(next, img.status === 'queued' ? savingAt : img.activeAt);
    }
    if (changed) this.save();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (next !== Infinity) {
      this.timer = setTimeout(() => this.advance(), Math.max(0, next - Date.now()) + 1);
      this.timer.unref();
    }
  }

  private finishBoot(s: ServerRecord, now: number): void {
    const at = isoSeconds(now);
    s.updated = at;
    // A delete that hangs (hangDeletes) outlives the boot: the server comes up still "deleting".
    s.taskState = s.deleting ? 'deleting' : null;
    if (s.fate === 'ERROR') {
      s.status = 'ERROR';
      s.vmState = 'error';
      s.powerState = 0;
    } else {
      s.status = 'ACTIVE';
      s.vmState = 'active';
      s.powerState = 1;
      s.launchedAt = new Date(now).toISOString().replace('Z', '000');
    }
  }

  private finishSnapshot(img: ImageRecord, now: number): void {
    // A snapshot's bytes are a deterministic filler so downloads and checksums behave like real data.
    const line = Buffer.from(`nodepool simulator snapshot ${img.id} of ${String(img.properties.instance_uuid)}\n`);
    const data = Buffer.alloc(SNAPSHOT_BYTES);
    for (let off = 0; off < data.length; off += line.length) line.copy(data, off);
    writeFileSync(this.store.imageFile(img.id), data);
    img.status = 'active';
    img.size = data.length;
    img.virtualSize = data.length;
    img.diskFormat = img.diskFormat ?? 'qcow2';
    img.containerFormat = img.containerFormat ?? 'bare';
    img.checksum = createHash('md5').update(data).digest('hex');
    img.osHashAlgo = 'sha512';
    img.osHashValue = createHash('sha512').update(data).digest('hex');
    img.updatedAt = isoSeconds(now);
    delete img.activeAt;
    delete img.savingAt;
    const server = this.state.servers[String(img.properties.instance_uuid)];
    if (server && server.taskState?.startsWith('image_')) server.taskState = null;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ssh.closeAll();
    await this.store.close();
  }
}
