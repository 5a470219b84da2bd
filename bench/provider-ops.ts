// Benchmark: the OpenStack driver (providers/) against sim-cloud, to size the pool workflow and image uploads on
// numbers: Keystone cold vs warm, createServer/getServer/deleteServer at concurrency 1, 4, 16, listServers and
// getQuota as the project fills, uploadImage throughput and memory, and seeded 503 faults on server.create.
// The simulator runs in a child process (started with startSimCloud) so the driver's latency, CPU and RSS are
// not mixed with the cloud's, as in production. Every phase checks its results and exits non-zero when the
// driver returns something wrong. Prints a Markdown table; `--write-doc` also replaces the section in
// docs/BENCHMARKS.md.
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, ftruncateSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { stringify } from 'yaml';
import { adapterForCloud, nodeTags, Transient, uploadTags } from '../providers/index.ts';
import type { Server, ServerSpec } from '../providers/adapter.ts';
import type { OpenStackAdapter } from '../providers/openstack/adapter.ts';
import { freePort } from '../scripts/tools.ts';
import { startSimCloud, type KnobsPatch, type SimCloud } from '../simulator/index.ts';
import { fmt, machineLine, percentile, sh, timed, writeResults } from './report.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** The whole run must stay well inside this; a hung phase fails the run instead of blocking it. */
const RUN_LIMIT_MS = 9 * 60_000;
const KEYSTONE_CALLS = 200;
const CREATES = 200;
const CONCURRENCIES = [1, 4, 16];
const LIST_LEVELS = [0, 100, 500, 1000];
const LIST_CALLS = 20;
const QUOTA_CALLS = 50;
const FULL_CREATES = 100;
const UPLOAD_SIZES = [256 * MiB, 1 * GiB];
const FAULT_CREATES = 100;
const FAULT_RATE = 0.2;
/** Quota off: the benchmark measures the API, not the quota check. */
const UNLIMITED: KnobsPatch = { quota: { instances: -1, cores: -1, ramMB: -1, ports: -1 } };
const FAST_BOOT: KnobsPatch = { bootSeconds: { min: 0, max: 0 }, latencyMs: { min: 0, max: 0 } };

// ---------------------------------------------------------------------------------------------------------
// The simulator child (at the end of the file) and the parent talk over IPC: start, CPU query, close.

interface ChildStart {
  stateDir: string;
  seed: number;
  sshPort: number;
  knobs: KnobsPatch;
}
type ChildReply = { ready: string } | { failed: string } | { cpu: { ms: number } } | { closed: { maxRssMiB: number } };

// ---------------------------------------------------------------------------------------------------------
// Parent: the driver side.

class BenchFailure extends Error {}

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new BenchFailure(what);
}

interface Sim {
  authUrl: string;
  /** A new adapter (clouds.yaml re-read, no cached token). */
  adapter(opts?: { pageSize?: number }): OpenStackAdapter;
  /** CPU time (user + system) the simulator process has used so far. */
  cpuMs(): Promise<number>;
  /** Stops the simulator; returns its peak RSS. */
  close(): Promise<{ maxRssMiB: number }>;
}

const children = new Set<ChildProcess>();

async function startSim(root: string, name: string, knobs: KnobsPatch, seed = 1): Promise<Sim> {
  const dir = mkdtempSync(join(root, `${name}-`));
  const child = fork(import.meta.filename, ['--sim-child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  const next = () =>
    new Promise<ChildReply>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new BenchFailure(`simulator ${name} exited (${code})`));
      child.once('exit', onExit);
      child.once('message', (m: ChildReply) => {
        child.off('exit', onExit);
        resolve(m);
      });
    });
  const started = next();
  child.send({ start: { stateDir: join(dir, 'state'), seed, sshPort: await freePort(), knobs } });
  const reply = await started;
  if (!('ready' in reply)) throw new BenchFailure(`simulator ${name} did not start: ${JSON.stringify(reply)}`);
  const authUrl = reply.ready;
  const file = join(dir, 'clouds.yaml');
  writeFileSync(
    file,
    stringify({
      clouds: {
        sim: {
          region_name: 'RegionOne',
          image_format: 'qcow2',
          auth: {
            auth_url: authUrl,
            username: 'nodepool',
            password: 'secret',
            user_domain_name: 'Default',
            project_name: 'nodepool',
            project_domain_name: 'Default',
          },
        },
      },
    }),
  );
  return {
    authUrl,
    adapter: (opts = {}) =>
      adapterForCloud('sim', {
        env: { OS_CLIENT_CONFIG_FILE: file },
        cwd: dir,
        home: dir,
        siteDirs: [],
        fresh: true,
        ...opts,
      }) as OpenStackAdapter,
    cpuMs: async () => {
      const answered = next();
      child.send({ cpu: true });
      const r = await answered;
      if (!('cpu' in r)) throw new BenchFailure(`simulator ${name} answered ${JSON.stringify(r)} to a CPU query`);
      return r.cpu.ms;
    },
    close: async () => {
      const closed = next();
      child.send({ close: true });
      const r = await closed;
      await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(null)));
      children.delete(child);
      rmSync(dir, { recursive: true, force: true });
      if (!('closed' in r)) throw new BenchFailure(`simulator ${name} did not close cleanly: ${JSON.stringify(r)}`);
      return r.closed;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Measuring.

interface Row {
  what: string;
  n: number;
  /** Per-call latencies in ms; empty for rows that only have a total. */
  latencies: number[];
  totalS?: number;
  /** CPU time over all `n` calls, driver (this process) and simulator (its process). */
  cpu?: Cpu;
  note: string;
}

interface Cpu {
  driverMs: number;
  simMs: number;
}

/** Runs `fn` and reports how much CPU it cost on each side, so a slow call can be blamed on the right one. */
async function withCpu<T>(sim: Sim, fn: () => Promise<T>): Promise<[T, Cpu]> {
  const sim0 = await sim.cpuMs();
  const d0 = process.cpuUsage();
  const value = await fn();
  const d = process.cpuUsage(d0);
  const sim1 = await sim.cpuMs();
  return [value, { driverMs: (d.user + d.system) / 1000, simMs: sim1 - sim0 }];
}

const rows: Row[] = [];

function summary(latencies: number[]): { p50: number; p95: number; max: number } {
  const s = [...latencies].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p95: percentile(s, 95), max: s[s.length - 1] ?? NaN };
}

/** Runs `fn` over `items` with at most `concurrency` in flight; returns per-item latency and result, in order. */
async function pool<I, T>(
  items: I[],
  concurrency: number,
  fn: (item: I, index: number) => Promise<T>,
): Promise<{ latencies: number[]; results: T[]; wallMs: number }> {
  const latencies = new Array<number>(items.length);
  const results = new Array<T>(items.length);
  let nextIndex = 0;
  const t0 = performance.now();
  const worker = async () => {
    for (let i = nextIndex++; i < items.length; i = nextIndex++) {
      [latencies[i], results[i]] = await timed(() => fn(items[i] as I, i));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return { latencies, results, wallMs: performance.now() - t0 };
}

function serverSpec(imageId: string, name: string): ServerSpec {
  return {
    name,
    flavor: 'm1.tiny',
    imageId,
    metadata: nodeTags({ provider: 'sim', nodeId: name, imageName: 'bench' }),
    userData: '#cloud-config\n',
  };
}

async function smallImage(a: OpenStackAdapter, dir: string): Promise<string> {
  const path = join(dir, `small-${randomUUID()}.qcow2`);
  writeFileSync(path, Buffer.alloc(64 * 1024, 7));
  const uploadId = randomUUID();
  const r = await a.uploadImage({
    path,
    name: `bench-${uploadId}`,
    diskFormat: 'qcow2',
    metadata: uploadTags({ provider: 'sim', uploadId, imageName: 'bench' }),
  });
  check(r.image.state === 'active', `small image upload ended ${r.image.rawStatus}, expected active`);
  return r.image.id;
}

function ours(servers: Server[], prefix: string): Server[] {
  return servers.filter((s) => s.name.startsWith(prefix) && s.metadata.nodepool_provider_name === 'sim');
}

// ---------------------------------------------------------------------------------------------------------
// Phases.

async function keystone(root: string): Promise<void> {
  const sim = await startSim(root, 'keystone', { ...FAST_BOOT });
  try {
    const construct: number[] = [];
    const cold: number[] = [];
    const [, coldCpu] = await withCpu(sim, async () => {
      for (let i = 0; i < KEYSTONE_CALLS; i++) {
        const [ms, a] = await timed(async () => sim.adapter());
        construct.push(ms);
        const [coldMs, flavors] = await timed(() => a.listFlavors());
        cold.push(coldMs);
        check(a.authCount === 1, `cold adapter authenticated ${a.authCount} times for one call, expected 1`);
        check(flavors.length === 5, `listFlavors returned ${flavors.length} flavors, expected the simulator's 5`);
      }
    });
    const a = sim.adapter();
    await a.listFlavors();
    const warm: number[] = [];
    const [, warmCpu] = await withCpu(sim, async () => {
      for (let i = 0; i < KEYSTONE_CALLS; i++) {
        const [ms, flavors] = await timed(() => a.listFlavors());
        warm.push(ms);
        check(
          flavors.some((f) => f.name === 'm1.tiny'),
          'warm listFlavors lost m1.tiny',
        );
      }
    });
    check(a.authCount === 1, `warm adapter authenticated ${a.authCount} times in ${KEYSTONE_CALLS + 1} calls`);
    rows.push(
      {
        what: 'adapterForCloud (fresh: reads clouds.yaml)',
        n: KEYSTONE_CALLS,
        latencies: construct,
        note: 'no network',
      },
      {
        what: 'listFlavors, cold (Keystone auth + catalog first)',
        n: KEYSTONE_CALLS,
        latencies: cold,
        cpu: coldCpu,
        note: 'one token per adapter; driver CPU includes reading clouds.yaml',
      },
      {
        what: 'listFlavors, warm (token cached)',
        n: KEYSTONE_CALLS,
        latencies: warm,
        cpu: warmCpu,
        note: `${a.authCount} token for ${KEYSTONE_CALLS + 1} calls`,
      },
    );
  } finally {
    await sim.close();
  }
}

async function uploads(root: string): Promise<void> {
  const sim = await startSim(root, 'upload', { ...FAST_BOOT, uploadBytesPerSecond: null });
  const dir = mkdtempSync(join(root, 'files-'));
  const results: { size: number; ms: number; baseMiB: number; peakMiB: number; cpu: Cpu }[] = [];
  try {
    const a = sim.adapter();
    await a.listFlavors();
    for (const size of UPLOAD_SIZES) {
      const path = join(dir, `sparse-${size}.raw`);
      const fd = openSync(path, 'w');
      ftruncateSync(fd, size);
      closeSync(fd);
      const baseMiB = process.memoryUsage.rss() / MiB;
      let peakMiB = baseMiB;
      const sampler = setInterval(() => (peakMiB = Math.max(peakMiB, process.memoryUsage.rss() / MiB)), 20);
      const uploadId = randomUUID();
      let ms: number;
      let r: Awaited<ReturnType<OpenStackAdapter['uploadImage']>>;
      let cpu: Cpu;
      try {
        [[ms, r], cpu] = await withCpu(sim, () =>
          timed(() =>
            a.uploadImage({
              path,
              name: `bench-upload-${uploadId}`,
              diskFormat: 'raw',
              metadata: uploadTags({ provider: 'sim', uploadId, imageName: 'bench' }),
            }),
          ),
        );
      } finally {
        clearInterval(sampler);
      }
      peakMiB = Math.max(peakMiB, process.memoryUsage.rss() / MiB);
      check(r.bytes === size, `uploadImage sent ${r.bytes} bytes of a ${size}-byte file`);
      check(r.image.state === 'active', `uploaded image is ${r.image.rawStatus}, expected active`);
      check(r.image.size === size, `Glance says the image has ${r.image.size} bytes, expected ${size}`);
      check(r.verifiedBy === 'sha512', `upload verified by ${r.verifiedBy}, expected sha512`);
      check((await a.deleteImage(r.image.id)) === 'deleted', 'deleting the uploaded image failed');
      rmSync(path);
      results.push({ size, ms, baseMiB, peakMiB, cpu });
    }
  } finally {
    const { maxRssMiB } = await sim.close();
    rmSync(dir, { recursive: true, force: true });
    for (const u of results) {
      const label = u.size >= GiB ? `${u.size / GiB} GiB` : `${u.size / MiB} MiB`;
      rows.push({
        what: `uploadImage ${label} sparse raw, unthrottled`,
        n: 1,
        latencies: [u.ms],
        cpu: u.cpu,
        note:
          `${(u.size / MiB / (u.ms / 1000)).toFixed(0)} MiB/s; driver RSS ${u.baseMiB.toFixed(0)} → peak ` +
          `${u.peakMiB.toFixed(0)} MiB; simulator peak RSS ${maxRssMiB.toFixed(0)} MiB (whole phase)`,
      });
    }
  }
}

async function creates(root: string, concurrency: number): Promise<void> {
  const sim = await startSim(root, `create-c${concurrency}`, { ...FAST_BOOT, ...UNLIMITED });
  try {
    const a = sim.adapter();
    const imageId = await smallImage(a, root);
    const prefix = `bench-c${concurrency}-`;
    const specs = Array.from({ length: CREATES }, (_, i) => serverSpec(imageId, `${prefix}${i}`));

    const t0 = performance.now();
    const [created, createCpu] = await withCpu(sim, () => pool(specs, concurrency, (s) => a.createServer(s)));
    const ids = created.results.map((s) => s.id);
    check(new Set(ids).size === CREATES, `${CREATES} creates returned ${new Set(ids).size} distinct ids`);

    // Every server is ACTIVE at once (bootSeconds 0), so this is one getServer pass: the price of a status poll.
    const active = new Set<string>();
    const getLatencies: number[] = [];
    const deadline = Date.now() + 60_000;
    const pollCpu = { driverMs: 0, simMs: 0 };
    while (active.size < CREATES) {
      check(Date.now() < deadline, `only ${active.size} of ${CREATES} servers ACTIVE after 60 s`);
      const pending = ids.filter((id) => !active.has(id));
      const [pass, passCpu] = await withCpu(sim, () => pool(pending, concurrency, (id) => a.getServer(id)));
      pollCpu.driverMs += passCpu.driverMs;
      pollCpu.simMs += passCpu.simMs;
      getLatencies.push(...pass.latencies);
      for (const s of pass.results) {
        check(s.state !== 'error', `server ${s.name} went to ERROR: ${s.fault ?? ''}`);
        if (s.state === 'active') {
          check(s.addresses.privateIpv4 !== undefined, `ACTIVE server ${s.name} has no address`);
          active.add(s.id);
        }
      }
      if (active.size < CREATES) await new Promise((r) => setTimeout(r, 50));
    }
    const toActiveS = (performance.now() - t0) / 1000;

    // A retried create finds the first one: what the by-name lookup inside every create costs.
    const [again, againCpu] = await withCpu(sim, () => pool(specs, concurrency, (s) => a.createServer(s)));
    again.results.forEach((s, i) => check(s.id === ids[i], `re-create of ${specs[i]?.name} made a second server`));

    const listed = ours(await a.listServers(), prefix);
    check(listed.length === CREATES, `listServers shows ${listed.length} of the ${CREATES} servers created`);

    const [deleted, deleteCpu] = await withCpu(sim, () => pool(ids, concurrency, (id) => a.deleteServer(id)));
    check(
      deleted.results.every((r) => r === 'deleted'),
      `deleteServer answered ${deleted.results.find((r) => r !== 'deleted')}`,
    );
    const left = ours(await a.listServers(), prefix);
    check(left.length === 0, `${left.length} servers still listed after deleting all`);

    const lookupP50 = summary(again.latencies).p50;
    const createP50 = summary(created.latencies).p50;
    rows.push(
      {
        what: `createServer ×${CREATES}, concurrency ${concurrency}`,
        n: CREATES,
        latencies: created.latencies,
        totalS: created.wallMs / 1000,
        cpu: createCpu,
        note: `${(CREATES / (created.wallMs / 1000)).toFixed(1)} servers/s`,
      },
      {
        what: `  its by-name lookup alone (re-create, ${CREATES} present), c=${concurrency}`,
        n: CREATES,
        latencies: again.latencies,
        totalS: again.wallMs / 1000,
        cpu: againCpu,
        note: `${((100 * lookupP50) / createP50).toFixed(0)}% of a create's p50`,
      },
      {
        what: `getServer until all ACTIVE, c=${concurrency}`,
        n: getLatencies.length,
        latencies: getLatencies,
        cpu: pollCpu,
        note: `first create → all ACTIVE ${toActiveS.toFixed(2)} s`,
      },
      {
        what: `deleteServer ×${CREATES}, c=${concurrency}`,
        n: CREATES,
        latencies: deleted.latencies,
        totalS: deleted.wallMs / 1000,
        cpu: deleteCpu,
        note: `${(CREATES / (deleted.wallMs / 1000)).toFixed(1)} servers/s`,
      },
    );
  } finally {
    await sim.close();
  }
}

async function listing(root: string): Promise<void> {
  const sim = await startSim(root, 'list', { ...FAST_BOOT, ...UNLIMITED });
  try {
    const a = sim.adapter();
    const paged = sim.adapter({ pageSize: 100 });
    const imageId = await smallImage(a, root);
    const ids = new Set<string>();
    for (const level of LIST_LEVELS) {
      const specs = Array.from({ length: level - ids.size }, (_, i) =>
        serverSpec(imageId, `bench-list-${ids.size + i}`),
      );
      const made = await pool(specs, 16, (s) => a.createServer(s));
      for (const s of made.results) ids.add(s.id);
      check(ids.size === level, `${ids.size} distinct servers created, expected ${level}`);

      const [lists, listCpu] = await withCpu(sim, () =>
        pool(Array.from({ length: LIST_CALLS }), 1, () => a.listServers()),
      );
      for (const list of lists.results) {
        const found = new Set(ours(list, 'bench-list-').map((s) => s.id));
        check(
          found.size === level && [...ids].every((id) => found.has(id)),
          `listServers found ${found.size} of ${level}`,
        );
      }
      const pages = Math.floor(level / 1000) + 1;
      rows.push({
        what: `listServers, ${level} servers present`,
        n: LIST_CALLS,
        latencies: lists.latencies,
        cpu: listCpu,
        note: `${pages} page${pages > 1 ? 's' : ''} of ≤1000`,
      });
      if (level === LIST_LEVELS[LIST_LEVELS.length - 1]) {
        const [small, smallCpu] = await withCpu(sim, () =>
          pool(Array.from({ length: LIST_CALLS }), 1, () => paged.listServers()),
        );
        for (const list of small.results) {
          check(ours(list, 'bench-list-').length === level, `paged listServers found ${list.length} of ${level}`);
        }
        rows.push({
          what: `listServers, ${level} servers present, page size 100`,
          n: LIST_CALLS,
          latencies: small.latencies,
          cpu: smallCpu,
          note: `${Math.floor(level / 100) + 1} pages (a cloud with a lower max_limit)`,
        });
      }

      const [quotas, quotaCpu] = await withCpu(sim, () =>
        pool(Array.from({ length: QUOTA_CALLS }), 1, () => a.getQuota()),
      );
      for (const q of quotas.results) {
        check(q.usage.instances === level, `getQuota says ${q.usage.instances} instances in use, expected ${level}`);
        check(q.usage.cores === level, `getQuota says ${q.usage.cores} cores in use, expected ${level} (m1.tiny)`);
        check(q.limits.instances === null, `getQuota says the instance limit is ${q.limits.instances}, not unlimited`);
      }
      rows.push({
        what: `getQuota, ${level} servers present`,
        n: QUOTA_CALLS,
        latencies: quotas.latencies,
        cpu: quotaCpu,
        note: 'usage matches',
      });
    }

    // The same create as above, now into a full project: both the lookup and the cloud's own work scale with it.
    const present = ids.size;
    const extra = Array.from({ length: FULL_CREATES }, (_, i) => serverSpec(imageId, `bench-list-${present + i}`));
    const [more, moreCpu] = await withCpu(sim, () => pool(extra, 1, (s) => a.createServer(s)));
    for (const s of more.results) ids.add(s.id);
    check(ids.size === present + FULL_CREATES, `${FULL_CREATES} creates into a full project made duplicates`);
    rows.push({
      what: `createServer ×${FULL_CREATES}, concurrency 1, ${present} servers present`,
      n: FULL_CREATES,
      latencies: more.latencies,
      totalS: more.wallMs / 1000,
      cpu: moreCpu,
      note: `${(FULL_CREATES / (more.wallMs / 1000)).toFixed(1)} servers/s`,
    });
  } finally {
    await sim.close();
  }
}

async function faultRun(root: string): Promise<number[]> {
  const sim = await startSim(root, 'faults', {
    ...FAST_BOOT,
    ...UNLIMITED,
    faults: [{ operation: 'server.create', kind: 'error503', rate: FAULT_RATE }],
  });
  try {
    const a = sim.adapter();
    const imageId = await smallImage(a, root);
    const failed: number[] = [];
    for (let i = 0; i < FAULT_CREATES; i++) {
      try {
        await a.createServer(serverSpec(imageId, `bench-fault-${i}`));
      } catch (err) {
        check(
          err instanceof Transient && /server\.create: HTTP 503/.test(err.message),
          `create ${i} failed with something other than a typed 503 Transient: ${String(err)}`,
        );
        failed.push(i);
      }
    }
    const listed = ours(await a.listServers(), 'bench-fault-');
    check(
      listed.length === FAULT_CREATES - failed.length,
      `${listed.length} servers exist after ${FAULT_CREATES - failed.length} successful creates`,
    );
    return failed;
  } finally {
    await sim.close();
  }
}

async function faults(root: string): Promise<void> {
  const first = await faultRun(root);
  const second = await faultRun(root);
  check(
    JSON.stringify(first) === JSON.stringify(second),
    `the same seed failed different creates: [${first.join(',')}] then [${second.join(',')}]`,
  );
  rows.push({
    what: `createServer ×${FAULT_CREATES} with error503 rate ${FAULT_RATE} on server.create`,
    n: FAULT_CREATES * 2,
    latencies: [],
    note:
      `${first.length} and ${second.length} typed Transient per ${FAULT_CREATES} (two runs, seed 1: ` +
      `same creates failed); no other error; no server left by a failed create`,
  });
}

// ---------------------------------------------------------------------------------------------------------
// Report.

function table(): string[] {
  const out = [
    '| operation | calls | p50 (ms) | p95 (ms) | max (ms) | wall (s) | driver CPU/call (ms) | sim CPU/call (ms) | notes |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of rows) {
    const s = summary(r.latencies);
    const single = r.latencies.length === 1;
    const wall = r.totalS ?? (single ? (r.latencies[0] ?? 0) / 1000 : undefined);
    out.push(
      `| ${r.what.replace(/^ +/, '↳ ')} | ${r.n} | ${single ? '–' : fmt(s.p50)} | ${single ? '–' : fmt(s.p95)} | ` +
        `${single ? '–' : fmt(s.max)} | ${wall === undefined ? '–' : wall.toFixed(2)} | ` +
        `${r.cpu ? fmt(r.cpu.driverMs / r.n) : '–'} | ${r.cpu ? fmt(r.cpu.simMs / r.n) : '–'} | ${r.note} |`,
    );
  }
  return out;
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'bench-provider-'));
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench:provider: still running after ${RUN_LIMIT_MS / 60_000} min; giving up\n`);
    for (const c of children) c.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
    process.exit(1);
  }, RUN_LIMIT_MS);
  watchdog.unref();
  const loadBefore = loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');
  const started = performance.now();
  const date = sh('date', ['-u']);
  const phases: [string, () => Promise<void>][] = [
    ['keystone', () => keystone(root)],
    ['upload', () => uploads(root)],
    ...CONCURRENCIES.map((c): [string, () => Promise<void>] => [`create c=${c}`, () => creates(root, c)]),
    ['list and quota', () => listing(root)],
    ['faults', () => faults(root)],
  ];
  let failed = false;
  try {
    for (const [name, run] of phases) {
      const [ms] = await timed(run);
      process.stderr.write(`bench:provider: ${name} done in ${(ms / 1000).toFixed(1)} s\n`);
    }
  } catch (err) {
    for (const c of children) c.kill('SIGKILL');
    process.stderr.write(
      err instanceof BenchFailure
        ? `bench:provider: WRONG RESULT: ${err.message}\n`
        : `bench:provider: ${(err as Error).stack ?? String(err)}\n`,
    );
    failed = true;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  // Exit now: a simulator child killed mid-phase may have left handles (its IPC channel) open.
  if (failed) process.exit(1);
  const runS = (performance.now() - started) / 1000;
  const lines = [machineLine(date, loadBefore, runS), '', ...table()];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (process.argv.includes('--write-doc'))
    await writeResults('provider', '## OpenStack driver against sim-cloud', lines);
}

// Last, so every module-level constant above is initialised before either mode runs.
if (process.argv[2] === '--sim-child') {
  let sim: SimCloud | undefined;
  process.on('message', (msg: { start?: ChildStart; cpu?: true; close?: true }) => {
    const reply = (r: ChildReply) => process.send?.(r);
    if (msg.start) {
      startSimCloud(msg.start).then(
        (s) => {
          sim = s;
          reply({ ready: s.authUrl });
        },
        (err: unknown) => reply({ failed: String((err as Error).stack ?? err) }),
      );
    } else if (msg.cpu) {
      const ru = process.resourceUsage();
      reply({ cpu: { ms: (ru.userCPUTime + ru.systemCPUTime) / 1000 } });
    } else if (msg.close) {
      void (async () => {
        await sim?.close();
        reply({ closed: { maxRssMiB: process.resourceUsage().maxRSS / 1024 } });
        process.disconnect();
      })();
    }
  });
} else {
  await main();
}
