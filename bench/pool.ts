// Benchmark: the node pools against the issue's targets, on this machine, with every part real but the clouds:
// its own Temporal dev server, a fresh PostgreSQL database, five simulators (`nodepool sim-cloud` processes,
// 0.1 s boots, no other latency), and the real worker process (`bin/nodepool-worker.js`, as shipped). Phases:
//   1. cold start: worker start → 500 READY nodes over 5 providers (min-ready 500, split 100 per provider);
//   2. request → fulfilled, with READY nodes available (sequential requests through the typed client);
//   3. sustained single-use churn: concurrent request → release loops (release deletes; min-ready replaces);
//   4. scale: min-ready 2,000 (400 per provider) — worker peak RSS and history events per pool-workflow run.
// Prints a Markdown report; `--write-doc` also replaces the results in docs/BENCHMARKS.md.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NodepoolClient } from '../client/nodepool-client.ts';
import { ensurePostgres, freePort } from '../scripts/tools.ts';
import { WORKFLOWS, bundleInChild } from '../worker/bundle.ts';
import { WORKER_NODE_FLAGS, workerEnv } from '../worker/node-flags.ts';
import { poolWorkflowId } from '../workflows/ids.ts';
import { offerQuery, type PoolView } from '../workflows/pool-api.ts';
import { createTestDatabase } from '../test/support/db.ts';
import { fmt, machineLine, percentile, writeResults } from './report.ts';
import { plainImage } from '../test/support/glance.ts';
import { Children, simCloudsYaml, startServer, waitFor, type Server } from './server.ts';

const ROOT = join(import.meta.dirname, '..');
// The worker runs with the Node flags every shipped start passes; BENCH_WORKER_FLAGS='…' replaces them.
const workerFlags = process.env.BENCH_WORKER_FLAGS?.split(' ').filter(Boolean) ?? [...WORKER_NODE_FLAGS];
// BENCH_WORKER_ENV='K=V …' adds to the worker's environment (e.g. another malloc through LD_PRELOAD).
const workerExtraEnv = Object.fromEntries(
  (process.env.BENCH_WORKER_ENV?.split(' ').filter(Boolean) ?? []).map((kv) => [
    kv.slice(0, kv.indexOf('=')),
    kv.slice(kv.indexOf('=') + 1),
  ]),
);
const PROVIDERS = 5;
const COLD_READY = 500;
const phase = (name: string) => process.stderr.write(`bench:pool: ${name} (${new Date().toISOString()})\n`);
const LATENCY_REQUESTS = 300;
const CHURN_SECONDS = 30;
const CHURN_LOOPS = 16;
const SCALE_READY = 2000;
/** Worker warnings and errors, shown when a phase fails. */
const problems: string[] = [];
/** Workflow tasks the server had given up on when the worker completed them: each is replayed from the start. */
let droppedTasks = 0;
const children = new Children(ROOT, (line) => {
  if (!/WARN|ERROR|Failing workflow task/.test(line)) return;
  if (/Task not found when completing/.test(line)) droppedTasks++;
  problems.push(line.slice(0, 600));
  if (problems.length > 200) problems.shift();
});
const run = (args: string[], env: NodeJS.ProcessEnv = {}) => children.run(args, env);

/** How long p0's workflow tasks waited for the worker and ran, in its current run: where a slow answer comes from. */
async function wftTimes(client: Client, provider: string): Promise<void> {
  const h = await client.workflow.getHandle(poolWorkflowId(provider)).fetchHistory();
  // BENCH_LOG also keeps the history, for replaying the pool's workflow code on its own (CPU profiles).
  if (process.env.BENCH_LOG) writeFileSync(`${process.env.BENCH_LOG}.${provider}-history.json`, JSON.stringify(h));
  const ms = (t: unknown) => {
    const { seconds, nanos } = t as { seconds: { toNumber(): number } | number; nanos: number };
    return (typeof seconds === 'number' ? seconds : seconds.toNumber()) * 1000 + nanos / 1e6;
  };
  const waits: number[] = [];
  const runs: number[] = [];
  let scheduled = 0;
  let startedAt = 0;
  for (const e of h.events ?? []) {
    if (e.workflowTaskScheduledEventAttributes) scheduled = ms(e.eventTime);
    if (e.workflowTaskStartedEventAttributes) {
      startedAt = ms(e.eventTime);
      waits.push(startedAt - scheduled);
    }
    if (e.workflowTaskCompletedEventAttributes) runs.push(ms(e.eventTime) - startedAt);
  }
  waits.sort((a, b) => a - b);
  runs.sort((a, b) => a - b);
  phase(
    `${provider} workflow tasks: ${runs.length} in ${h.events?.length ?? 0} events; scheduled→started p50/p99 ${fmt(percentile(waits, 50))}/${fmt(percentile(waits, 99))} ms; started→completed p50/p99 ${fmt(percentile(runs, 50))}/${fmt(percentile(runs, 99))} ms`,
  );
}

async function startSims(dir: string): Promise<{ name: string; authUrl: string; sshPort: number }[]> {
  const knobs = join(dir, 'knobs.json');
  writeFileSync(
    knobs,
    JSON.stringify({
      bootSeconds: { min: 0.1, max: 0.1 },
      quota: { instances: -1, cores: -1, ramMB: -1 },
      deletedRetentionSeconds: 30,
    }),
  );
  return Promise.all(
    Array.from({ length: PROVIDERS }, async (_, i) => {
      const sshPort = await freePort();
      const child = run([
        'cli/main.ts',
        'sim-cloud',
        '--state-dir',
        join(dir, `sim-${i}`),
        '--ssh-port',
        String(sshPort),
        '--seed',
        String(i + 1),
        '--knobs',
        knobs,
      ]);
      const m = await waitFor(child, /auth URL (\S+)/);
      return { name: `cloud${i}`, authUrl: m[1] as string, sshPort };
    }),
  );
}

function config(
  sims: { name: string; sshPort: number }[],
  server: Server,
  taskQueue: string,
  perProvider: number,
  dir: string,
): string {
  const providers = sims
    .map(
      (s, i) => `
  - name: p${i}
    cloud: ${s.name}
    rate: 0
    max-concurrency: 100
    cloud-images: [{name: cirros, image-name: cirros, connection-port: ${s.sshPort}}]
    pools: [{name: main, max-servers: ${perProvider}, labels: [{name: bench, cloud-image: cirros, flavor-name: m1.tiny}]}]`,
    )
    .join('');
  return `labels: [{name: bench, min-ready: ${perProvider * PROVIDERS}}]
providers:${providers}
images-dir: ${dir}/images
build-log-dir: ${dir}/logs
temporal: {address: ${server.address}, task-queue: ${taskQueue}}
`;
}

function rssMiB(pid: number): { now: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { now: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

async function pools(client: Client): Promise<PoolView[]> {
  return Promise.all(
    Array.from({ length: PROVIDERS }, (_, i) =>
      client.workflow.getHandle(poolWorkflowId(`p${i}`)).query<PoolView>('pool'),
    ),
  );
}

async function readyCount(client: Client): Promise<number> {
  try {
    return (await pools(client)).reduce(
      (n, p) => n + p.nodes.filter((x) => x.state === 'ready' && !x.requestKey).length,
      0,
    );
  } catch {
    return 0;
  }
}

async function until(what: string, probe: () => Promise<boolean>, ms: number, every = 50): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** History events of the pools' current runs, and how many runs each has had (continue-as-new). */
async function historyStats(client: Client, runs: Map<string, Set<string>>, maxEvents: { n: number }): Promise<void> {
  for (let i = 0; i < PROVIDERS; i++) {
    const d = await client.workflow.getHandle(poolWorkflowId(`p${i}`)).describe();
    const set = runs.get(`p${i}`) ?? new Set<string>();
    set.add(d.runId);
    runs.set(`p${i}`, set);
    maxEvents.n = Math.max(maxEvents.n, d.historyLength);
  }
}

async function main(): Promise<void> {
  const write = process.argv.includes('--write-doc');
  const started = Date.now();
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');
  const dir = mkdtempSync(join(tmpdir(), 'nodepool-bench-pool-'));
  mkdirSync(join(dir, 'images'));
  const db = await createTestDatabase('nodepool_bench', ensurePostgres());
  let server: Server | undefined;
  const lines: string[] = [];
  try {
    server = await startServer(dir);
    const sims = await startSims(dir);
    for (const s of sims) await plainImage(s, 'cirros', Buffer.alloc(4096, 1));
    const cloudsFile = join(dir, 'clouds.yaml');
    writeFileSync(cloudsFile, simCloudsYaml(sims));
    const taskQueue = `bench-pool-${process.pid}`;
    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection });
    const env = { DATABASE_URL: db.url, OS_CLIENT_CONFIG_FILE: cloudsFile, TEMPORAL_ADDRESS: server.address };
    const configFile = join(dir, 'nodepool.yaml');

    phase('cold start');
    // 1. Cold start to 500 READY.
    writeFileSync(configFile, config(sims, server, taskQueue, COLD_READY / PROVIDERS, dir));
    // Cold start is measured as a restart on code whose workflow bundles are cached (worker/bundle.ts); the first
    // start on new code bundles too, which is timed here apart.
    const tBundle = performance.now();
    process.env.NODEPOOL_BUNDLE_CACHE = 'off';
    await bundleInChild(WORKFLOWS);
    const bundleMs = performance.now() - tBundle;
    delete process.env.NODEPOOL_BUNDLE_CACHE;
    await bundleInChild(WORKFLOWS);
    const t0 = performance.now();
    const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
    let worker = run(
      [...profile, ...workerFlags, 'bin/nodepool-worker.js', '-c', configFile],
      workerEnv({ ...env, ...workerExtraEnv }),
    );
    await waitFor(worker, /worker polling/);
    const tPolling = performance.now();
    await until(`${COLD_READY} READY nodes`, async () => (await readyCount(client)) >= COLD_READY, 180_000, 100);
    const cold = performance.now() - t0;
    const coldFromPolling = performance.now() - tPolling;

    phase('latency');
    // 2. Request → fulfilled with READY nodes available.
    const np = new NodepoolClient(client, { providers: sims.map((_, i) => `p${i}`) });
    const latencies: number[] = [];
    const releases: number[] = [];
    for (let i = 0; i < LATENCY_REQUESTS; i++) {
      const t = performance.now();
      const r = await np.requestNodes(
        { key: `lat-${i}`, labels: ['bench'], requestor: 'bench' },
        { wait: true, timeoutMs: 60_000 },
      );
      latencies.push(performance.now() - t);
      if (r.state !== 'fulfilled') throw new Error(`request lat-${i}: ${r.state} ${r.reason ?? ''}`);
      const tr = performance.now();
      await np.release(r.nodes);
      releases.push(performance.now() - tr);
      if (i % 50 === 49)
        phase(`latency ${i + 1}: request ${fmt(latencies[i] ?? 0)} ms, release ${fmt(releases[i] ?? 0)} ms`);
    }
    latencies.sort((a, b) => a - b);
    releases.sort((a, b) => a - b);
    // Its anatomy: the routing round alone (one offer query to each pool, in parallel).
    const routing: number[] = [];
    for (let i = 0; i < 100; i++) {
      const t = performance.now();
      await Promise.all(
        sims.map((_, p) =>
          client.workflow.getHandle(poolWorkflowId(`p${p}`)).query(offerQuery, ['bench'], `probe-${i}`),
        ),
      );
      routing.push(performance.now() - t);
    }
    routing.sort((a, b) => a - b);

    phase('churn');
    // 3. Churn: concurrent request → release loops for CHURN_SECONDS.
    await until(
      'min-ready to recover before the churn',
      async () => (await readyCount(client)) >= COLD_READY * 0.9,
      120_000,
      200,
    );
    let churned = 0;
    let seq = 0;
    const churnLatencies: number[] = [];
    const churnReleases: number[] = [];
    const churnStart = performance.now();
    const churnEnd = churnStart + CHURN_SECONDS * 1000;
    // The READY stock every few seconds: whether requests wait for launches or for the pools themselves.
    const lag = monitorEventLoopDelay({ resolution: 10 });
    lag.enable();
    const stock = setInterval(() => {
      const delay = `event-loop delay max ${(lag.max / 1e6).toFixed(0)} ms`;
      lag.reset();
      void readyCount(client).then((n) => phase(`churn: ${n} READY, ${churned} served; bench ${delay}`));
    }, 3000);
    await Promise.all(
      Array.from({ length: CHURN_LOOPS }, async () => {
        while (performance.now() < churnEnd) {
          const key = `churn-${seq++}`;
          const t = performance.now();
          const r = await np
            .requestNodes({ key, labels: ['bench'], requestor: 'bench' }, { wait: true, timeoutMs: 60_000 })
            .catch(async (err: unknown) => {
              // What the pools were doing when a request got no answer: the way to find the next bottleneck.
              for (let i = 0; i < PROVIDERS; i++) {
                const d = await client.workflow.getHandle(poolWorkflowId(`p${i}`)).describe();
                process.stderr.write(
                  `p${i}: ${d.historyLength} events, run ${d.runId}, pending WFT ${JSON.stringify(d.raw.pendingWorkflowTask ?? null)}, ${d.raw.pendingActivities?.length ?? 0} activities\n`,
                );
              }
              process.stderr.write(`${key} failed after ${(performance.now() - t).toFixed(0)} ms\n`);
              if (process.env.BENCH_LOG) {
                const h = await client.workflow.getHandle(poolWorkflowId('p0')).fetchHistory();
                writeFileSync(`${process.env.BENCH_LOG}.p0-history.json`, JSON.stringify(h));
              }
              throw err;
            });
          if (r.state !== 'fulfilled') throw new Error(`request ${key}: ${r.state} ${r.reason ?? ''}`);
          churnLatencies.push(performance.now() - t);
          const tr = performance.now();
          await np.release(r.nodes);
          churnReleases.push(performance.now() - tr);
          churned++;
        }
      }),
    );
    clearInterval(stock);
    const churnSeconds = (performance.now() - churnStart) / 1000;
    await wftTimes(client, 'p0');

    churnLatencies.sort((a, b) => a - b);
    churnReleases.sort((a, b) => a - b);
    phase(
      `churn: ${(churned / churnSeconds).toFixed(1)} nodes/s; request p50/p99 ${fmt(percentile(churnLatencies, 50))}/${fmt(percentile(churnLatencies, 99))} ms, release p50/p99 ${fmt(percentile(churnReleases, 50))}/${fmt(percentile(churnReleases, 99))} ms`,
    );
    const runs = new Map<string, Set<string>>();
    const maxEvents = { n: 0 };
    let peak = 0;
    let scale = Number.NaN;
    // BENCH_SKIP_SCALE=1 stops after the churn: the quick loop when working on the first three phases.
    if (!process.env.BENCH_SKIP_SCALE) {
      phase('scale');
      // 4. Scale: 2,000 READY; worker RSS and history events per run.
      worker.kill('SIGTERM');
      await new Promise((r) => worker.once('exit', r));
      writeFileSync(configFile, config(sims, server, taskQueue, SCALE_READY / PROVIDERS, dir));
      const tScale = performance.now();
      worker = run(
        [...profile, ...workerFlags, 'bin/nodepool-worker.js', '-c', configFile],
        workerEnv({ ...env, ...workerExtraEnv }),
      );
      await waitFor(worker, /worker polling/);
      await until(
        `${SCALE_READY} READY nodes`,
        async () => {
          peak = Math.max(peak, rssMiB(worker.pid as number).peak);
          await historyStats(client, runs, maxEvents);
          return (await readyCount(client)) >= SCALE_READY;
        },
        600_000,
        500,
      );
      scale = performance.now() - tScale;
      // A few minutes at 2,000 nodes with light churn: the steady state's memory and history.
      for (let i = 0; i < 200; i++) {
        const r = await np.requestNodes(
          { key: `scale-${i}`, labels: ['bench'], requestor: 'bench' },
          { wait: true, timeoutMs: 60_000 },
        );
        await np.release(r.nodes);
        if (i % 20 === 0) {
          peak = Math.max(peak, rssMiB(worker.pid as number).peak);
          await historyStats(client, runs, maxEvents);
        }
      }
    }
    if (process.env.BENCH_HOLD && worker.exitCode === null) {
      // The worker stays up at 2,000 nodes for looking at its memory by hand (/proc/PID/smaps, heap snapshots)
      // until Ctrl-C.
      process.stderr.write(`bench:pool: held; the worker is pid ${worker.pid}; Ctrl-C ends the run\n`);
      await new Promise((r) => process.once('SIGINT', r));
    }
    if (worker.pid !== undefined && worker.exitCode === null) {
      const status = readFileSync(`/proc/${worker.pid}/status`, 'utf8');
      const kb = (k: string) =>
        `${k} ${(Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024).toFixed(0)} MiB`;
      phase(`worker memory at the end: ${['VmRSS', 'VmHWM', 'RssAnon', 'RssFile'].map(kb).join(', ')}`);
    }
    const runCount = [...runs.values()].reduce((n, s) => n + s.size, 0);
    worker.kill('SIGTERM');
    await connection.close();

    lines.push(
      machineLine(new Date().toString(), load, (Date.now() - started) / 1000, `temporal ${server.version}`),
      '',
      '| measure | target | result |',
      '| --- | --- | ---: |',
      `| cold start → ${COLD_READY} READY over ${PROVIDERS} providers (from worker start, bundles cached; from "worker polling") | ≤ 6 s | ${(cold / 1000).toFixed(1)} s; ${(coldFromPolling / 1000).toFixed(1)} s |`,
      `| … a first start on new code also bundles the workflows (once, in a child process) | – | +${(bundleMs / 1000).toFixed(1)} s |`,
      `| request → fulfilled with READY nodes, p50 / p99 (${LATENCY_REQUESTS} sequential) | ≤ 50 ms / ≤ 250 ms | ${fmt(percentile(latencies, 50))} / ${fmt(percentile(latencies, 99))} ms |`,
      `| … of which the routing round (an offer query to each of the ${PROVIDERS} pools), p50 / p99 | – | ${fmt(percentile(routing, 50))} / ${fmt(percentile(routing, 99))} ms |`,
      `| release (a signal to the node's pool), p50 | – | ${fmt(percentile(releases, 50))} ms |`,
      `| single-use churn, ${CHURN_LOOPS} concurrent request → release loops for ${CHURN_SECONDS} s | ≥ 60 nodes/s | ${(churned / churnSeconds).toFixed(1)} nodes/s (${churned} requests) |`,
      `| worker restart (the pools replay their runs so far) → ${SCALE_READY} READY | – | ${(scale / 1000).toFixed(1)} s |`,
      `| workflow tasks already dropped by the server when completed ("task not found"; each is replayed), whole run | 0 | ${droppedTasks} |`,
      `| worker peak RSS up to ${SCALE_READY} nodes and 200 requests | ≤ 300 MB | ${peak.toFixed(0)} MiB |`,
      `| most history events seen in one pool-workflow run (runs: ${runCount} over ${PROVIDERS} pools) | < 10,000 | ${maxEvents.n} |`,
    );
    process.stdout.write(`${lines.join('\n')}\n`);
    if (write) await writeResults('pool', '## Node pools', lines);
  } catch (err) {
    process.stderr.write(`bench:pool failed; the worker's last warnings:\n${problems.slice(-20).join('\n')}\n`);
    throw err;
  } finally {
    // SIGTERM first: the worker drains and exits, writing its CPU profile when asked for one.
    await children.stopAll(3000);
    server?.proc.kill('SIGTERM');
    await db.drop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
