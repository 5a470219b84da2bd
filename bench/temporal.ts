// Benchmark: the Temporal dev server on this machine, to size the per-provider pool workflow on numbers:
// workflow starts and start-to-completion, query and update round trips (and what the server does past its
// 10 in-flight updates per workflow, and at its 2000 updates per run), signals into one workflow, activity
// and local-activity fan-out, and what a long history costs (queries, a worker restart's replay,
// continue-as-new). It starts its own dev server (in memory, free loopback ports, the flags scripts/test-env.ts
// uses) and its own worker in this process, checks every count and exits non-zero when one is wrong. Prints a
// Markdown table; `--write-doc` also replaces the results in docs/BENCHMARKS.md.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  type LogEntry,
} from '@temporalio/worker';
import { fmt, machineLine, percentile, sh, timed, writeResults } from './report.ts';
import { startServer, type Server } from './server.ts';
import {
  bumpSignal,
  bumpUpdate,
  rolloverSignal,
  stateQuery,
  stopSignal,
  type BenchActivities,
  type counter,
} from './workflows/temporal-bench.ts';

/** The whole run must stay well inside this; a hung phase fails the run instead of blocking it. */
const RUN_LIMIT_MS = 5 * 60_000;
const STARTS = 200;
const START_CONCURRENCIES = [8, 32];
const QUERIES = 500;
const UPDATES = 500;
const UPDATE_OVERLOAD = 16;
const UPDATE_OVERLOAD_CALLS = 320;
/** The server's default `limit.maxTotalUpdates` per workflow run. */
const UPDATE_RUN_LIMIT = 2000;
const SIGNALS = 3000;
const SIGNAL_CONCURRENCY = 16;
const ACTIVITIES = 1000;
const ACTIVITY_PARALLEL = 32;
const HISTORY_SIGNALS = 2000;
const ROLLOVERS = 20;

class BenchFailure extends Error {}

function check(ok: boolean, what: string): asserts ok {
  if (!ok) throw new BenchFailure(what);
}

// ---------------------------------------------------------------------------------------------------------
// The server and the worker.

const activities: BenchActivities = { noop: async (i) => i };

/** Worker warnings and errors by message, so a phase can report what it made the SDK complain about. */
const workerLogs = new Map<string, number>();

function logSince(before: Map<string, number>): string {
  const lines = [...workerLogs]
    .map(([m, n]): [string, number] => [m, n - (before.get(m) ?? 0)])
    .filter(([, n]) => n > 0)
    .map(([m, n]) => `${n}× "${m}"`);
  return lines.length > 0 ? `worker logged ${lines.join(', ')}` : 'worker logged no warning';
}

function countingLogger(): DefaultLogger {
  return new DefaultLogger('WARN', (entry: LogEntry) => {
    // Core may log a whole history in one message; the first line names the problem.
    const key = `${entry.level} ${entry.message.split('\n')[0]?.slice(0, 80)}`;
    workerLogs.set(key, (workerLogs.get(key) ?? 0) + 1);
  });
}

interface Bench {
  client: Client;
  /** The same server without the SDK's gRPC retries, to see what the server itself answers. */
  rawClient: Client;
  taskQueue: string;
  /** Stops the worker and starts a fresh one (empty workflow cache), as a worker restart or deploy would. */
  restartWorker(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Measuring.

interface Row {
  what: string;
  n: number;
  /** Per-call latencies in ms; empty for rows that only have a total. */
  latencies: number[];
  /** What the rate column counts, per second of `wallMs`. */
  rate?: { count: number; wallMs: number; unit: string };
  note: string;
}

const rows: Row[] = [];

/** Runs `fn` `n` times with at most `concurrency` in flight; per-call latency and result, in call order. */
async function pool<T>(
  n: number,
  concurrency: number,
  fn: (index: number) => Promise<T>,
): Promise<{ latencies: number[]; results: T[]; wallMs: number }> {
  const latencies = new Array<number>(n);
  const results = new Array<T>(n);
  let next = 0;
  const t0 = performance.now();
  const lane = async () => {
    for (let i = next++; i < n; i = next++) [latencies[i], results[i]] = await timed(() => fn(i));
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, lane));
  return { latencies, results, wallMs: performance.now() - t0 };
}

/** Polls `fn` until `done` holds, with a deadline; returns the last value and how long it took. */
async function until<T>(fn: () => Promise<T>, done: (v: T) => boolean, what: string): Promise<[number, T]> {
  const t0 = performance.now();
  for (;;) {
    const v = await fn();
    if (done(v)) return [performance.now() - t0, v];
    check(performance.now() - t0 < 30_000, `${what}: not within 30 s (last: ${JSON.stringify(v)})`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** An error's message and its causes' (the SDK wraps the server's answer), kept short for the table. */
function errorText(err: unknown): string {
  const parts: string[] = [];
  for (let e = err; e instanceof Error; e = e.cause) parts.push(e.message);
  return parts.join(': ').replace(/\s+/g, ' ').slice(0, 200);
}

function startCounter(b: Bench, name: string, start = 0): Promise<WorkflowHandle<typeof counter>> {
  return b.client.workflow.start<typeof counter>('counter', {
    taskQueue: b.taskQueue,
    workflowId: `bench-${name}-${randomUUID()}`,
    args: [start],
  });
}

/** Signals a rollover and waits until the new run answers; reports the delay the server put on its first task. */
async function rollover(
  h: WorkflowHandle<typeof counter>,
  oldRunId: string,
  expected: number,
): Promise<{ ms: number; runId: string; backoffMs: number; historyLength: number }> {
  const [ms, [, state]] = await timed(async () => {
    await h.signal(rolloverSignal);
    return until(
      () => h.query(stateQuery),
      (s) => s.runId !== oldRunId,
      'continue-as-new',
    );
  });
  check(state.count === expected, `the new run carried count ${state.count}, expected ${expected}`);
  const history = await h.fetchHistory();
  const backoff = history.events?.[0]?.workflowExecutionStartedEventAttributes?.firstWorkflowTaskBackoff;
  const backoffMs = Number(backoff?.seconds ?? 0) * 1000 + (backoff?.nanos ?? 0) / 1e6;
  return { ms, runId: state.runId, backoffMs, historyLength: history.events?.length ?? 0 };
}

async function stopCounter(h: WorkflowHandle<typeof counter>, expected: number): Promise<void> {
  await h.signal(stopSignal);
  const final = await h.result();
  check(final === expected, `${h.workflowId} ended with count ${final}, expected ${expected}`);
}

async function queries(h: WorkflowHandle<typeof counter>, expected: number, what: string, note: string): Promise<void> {
  const r = await pool(QUERIES, 1, () => h.query(stateQuery));
  check(
    r.results.every((s) => s.count === expected),
    `${what}: a query saw a count other than ${expected}`,
  );
  rows.push({ what, n: QUERIES, latencies: r.latencies, rate: { count: QUERIES, wallMs: r.wallMs, unit: '/s' }, note });
}

// ---------------------------------------------------------------------------------------------------------
// Phases.

async function starts(b: Bench): Promise<void> {
  for (const c of START_CONCURRENCIES) {
    const startMs: number[] = [];
    const r = await pool(STARTS, c, async (i) => {
      const [ms, h] = await timed(() =>
        b.client.workflow.start('short', {
          taskQueue: b.taskQueue,
          workflowId: `bench-short-${c}-${i}-${randomUUID()}`,
          args: [i],
        }),
      );
      startMs.push(ms);
      return (await h.result()) as number;
    });
    check(
      r.results.every((v, i) => v === i),
      `a short workflow at concurrency ${c} returned the wrong value`,
    );
    rows.push(
      {
        what: `workflow.start, ${c} workflows in flight`,
        n: STARTS,
        latencies: startMs,
        note: 'the start call alone',
      },
      {
        what: `  start → result (execute), ${c} in flight`,
        n: STARTS,
        latencies: r.latencies,
        rate: { count: STARTS, wallMs: r.wallMs, unit: 'wf/s' },
        note: `${STARTS} of ${STARTS} returned their input`,
      },
    );
  }
}

async function queriesAndUpdates(b: Bench): Promise<void> {
  const h = await startCounter(b, 'update');
  await queries(h, 0, 'query, small history, sequential', 'workflow cached in the worker');

  let count = 0;
  const seq = await pool(UPDATES, 1, () => h.executeUpdate(bumpUpdate));
  count += UPDATES;
  check(
    seq.results.every((v, i) => v === i + 1),
    'sequential updates did not return 1, 2, 3, … in order',
  );
  rows.push({
    what: 'executeUpdate, sequential',
    n: UPDATES,
    latencies: seq.latencies,
    rate: { count: UPDATES, wallMs: seq.wallMs, unit: '/s' },
    note: 'each returns the new count',
  });

  const par = await pool(UPDATES, 8, () => h.executeUpdate(bumpUpdate));
  count += UPDATES;
  check(
    new Set(par.results).size === UPDATES && Math.max(...par.results) === count,
    `8 concurrent updates returned ${new Set(par.results).size} distinct counts up to ${Math.max(...par.results)}`,
  );
  rows.push({
    what: 'executeUpdate, 8 concurrent callers',
    n: UPDATES,
    latencies: par.latencies,
    rate: { count: UPDATES, wallMs: par.wallMs, unit: '/s' },
    note: 'all distinct counts, none lost',
  });

  // Past the server's 10 in-flight updates per workflow: what callers see with and without the client's retries.
  for (const [label, client] of [
    ['default client', b.client],
    ['client without gRPC retries', b.rawClient],
  ] as const) {
    const logsBefore = new Map(workerLogs);
    const handle = client.workflow.getHandle<typeof counter>(h.workflowId);
    const errors = new Map<string, number>();
    const over = await pool(UPDATE_OVERLOAD_CALLS, UPDATE_OVERLOAD, async () => {
      try {
        return await handle.executeUpdate(bumpUpdate);
      } catch (err) {
        const key = errorText(err);
        errors.set(key, (errors.get(key) ?? 0) + 1);
        return undefined;
      }
    });
    const ok = over.results.filter((v) => v !== undefined).length;
    count += ok;
    const state = await h.query(stateQuery);
    check(state.count === count, `after ${count} successful updates the workflow counts ${state.count}`);
    const failed = [...errors].map(([m, n]) => `${n}× "${m}"`).join('; ');
    rows.push({
      what: `executeUpdate, ${UPDATE_OVERLOAD} concurrent callers, ${label}`,
      n: UPDATE_OVERLOAD_CALLS,
      latencies: over.latencies,
      rate: { count: ok, wallMs: over.wallMs, unit: '/s' },
      note: `${ok} succeeded, ${failed ? `failed: ${failed}` : 'none failed'}; ${logSince(logsBefore)}`,
    });
  }

  // The run's update budget: find where the server stops accepting, then continue-as-new clears it.
  let refused = '';
  while (count < UPDATE_RUN_LIMIT + 50) {
    try {
      await h.executeUpdate(bumpUpdate);
      count++;
    } catch (err) {
      refused = errorText(err);
      break;
    }
  }
  const desc = await h.describe();
  const afterCount = (await h.query(stateQuery)).count;
  check(afterCount === count, `after ${count} accepted updates the workflow counts ${afterCount}`);
  rows.push({
    what: 'updates accepted by one run before refusal',
    n: count,
    latencies: [],
    note: refused
      ? `update ${count + 1} refused: "${refused.slice(0, 160)}"; history ${desc.historyLength} events`
      : `no refusal up to ${count}; history ${desc.historyLength} events`,
  });
  await rollover(h, desc.runId, count);
  const fresh = await h.executeUpdate(bumpUpdate);
  check(fresh === count + 1, `the first update after continue-as-new returned ${fresh}, expected ${count + 1}`);
  await stopCounter(h, count + 1);
}

async function signals(b: Bench): Promise<void> {
  const h = await startCounter(b, 'signal');
  const r = await pool(SIGNALS, SIGNAL_CONCURRENCY, () => h.signal(bumpSignal));
  const [settleMs, s] = await until(
    () => h.query(stateQuery),
    (v) => v.count === SIGNALS,
    `${SIGNALS} signals to be counted`,
  );
  rows.push({
    what: `signal into one workflow, ${SIGNAL_CONCURRENCY} concurrent senders`,
    n: SIGNALS,
    latencies: r.latencies,
    rate: { count: SIGNALS, wallMs: r.wallMs, unit: '/s' },
    note:
      `workflow counted ${s.count} of ${SIGNALS}, ${settleMs.toFixed(0)} ms after the last was acknowledged; ` +
      `history ${s.historyLength} events`,
  });
  await stopCounter(h, SIGNALS);
}

async function fanouts(b: Bench): Promise<void> {
  for (const useLocal of [false, true]) {
    const [ms, done] = await timed(() =>
      b.client.workflow.execute('fanout', {
        taskQueue: b.taskQueue,
        workflowId: `bench-fanout-${useLocal}-${randomUUID()}`,
        args: [ACTIVITIES, ACTIVITY_PARALLEL, useLocal],
      }),
    );
    check(done === ACTIVITIES, `fanout (local ${useLocal}) completed ${String(done)} of ${ACTIVITIES} activities`);
    rows.push({
      what: `${useLocal ? 'local activities' : 'activities'}, ${ACTIVITY_PARALLEL} in parallel, one workflow`,
      n: ACTIVITIES,
      latencies: [],
      rate: { count: ACTIVITIES, wallMs: ms, unit: '/s' },
      note: `whole workflow ${(ms / 1000).toFixed(2)} s, ${done} of ${ACTIVITIES} returned their input`,
    });
  }
}

async function history(b: Bench): Promise<void> {
  const h = await startCounter(b, 'history');
  await pool(HISTORY_SIGNALS, SIGNAL_CONCURRENCY, () => h.signal(bumpSignal));
  await until(
    () => h.query(stateQuery),
    (v) => v.count === HISTORY_SIGNALS,
    `${HISTORY_SIGNALS} signals to be counted`,
  );
  const desc = await h.describe();
  await queries(
    h,
    HISTORY_SIGNALS,
    `query after ${HISTORY_SIGNALS} signals`,
    `history ${desc.historyLength} events; workflow cached`,
  );

  // A restarted worker has no cache: its first task for this workflow replays the whole history.
  await b.restartWorker();
  const [replayMs, replayed] = await timed(() => h.query(stateQuery));
  check(replayed.count === HISTORY_SIGNALS, `after replay the count is ${replayed.count}`);
  const small = await startCounter(b, 'small');
  await small.query(stateQuery);
  await b.restartWorker();
  const [smallReplayMs] = await timed(() => small.query(stateQuery));
  await stopCounter(small, 0);
  rows.push({
    what: `first query after a worker restart, ${desc.historyLength}-event history`,
    n: 1,
    latencies: [replayMs],
    note: `replays the history; the same on a fresh (≈5-event) workflow: ${smallReplayMs.toFixed(0)} ms`,
  });

  const big = await rollover(h, desc.runId, HISTORY_SIGNALS);
  rows.push({
    what: `continue-as-new after ${HISTORY_SIGNALS} signals`,
    n: 1,
    latencies: [big.ms],
    note:
      `signal → new run answers a query; server held the new run's first task back ${big.backoffMs.toFixed(0)} ms; ` +
      `new run's history ${big.historyLength} events`,
  });
  await queries(h, HISTORY_SIGNALS, 'query right after continue-as-new', `history ${big.historyLength} events`);

  let runId = big.runId;
  const cans: number[] = [];
  const backoffs: number[] = [];
  for (let i = 0; i < ROLLOVERS; i++) {
    const r = await rollover(h, runId, HISTORY_SIGNALS);
    runId = r.runId;
    cans.push(r.ms);
    backoffs.push(r.backoffMs);
  }
  const sortedBackoffs = [...backoffs].sort((x, y) => x - y);
  rows.push({
    what: 'continue-as-new, short history, back to back',
    n: ROLLOVERS,
    latencies: cans,
    rate: { count: ROLLOVERS, wallMs: cans.reduce((x, y) => x + y, 0), unit: '/s' },
    note:
      `signal → new run answers a query; server held each new run's first task back ` +
      `p50 ${percentile(sortedBackoffs, 50).toFixed(0)} ms (runs shorter than 1 s are delayed)`,
  });
  await stopCounter(h, HISTORY_SIGNALS);
}

// ---------------------------------------------------------------------------------------------------------
// Report.

function table(): string[] {
  const out = [
    '| operation | count | p50 (ms) | p95 (ms) | max (ms) | rate | notes |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of rows) {
    const s = [...r.latencies].sort((a, b) => a - b);
    const one = s.length === 1;
    const rate = r.rate ? `${((r.rate.count * 1000) / r.rate.wallMs).toFixed(0)} ${r.rate.unit}` : '–';
    out.push(
      `| ${r.what.replace(/^ +/, '↳ ')} | ${r.n} | ${one ? fmt(s[0] ?? NaN) : fmt(percentile(s, 50))} | ` +
        `${one ? '–' : fmt(percentile(s, 95))} | ${one ? '–' : fmt(s[s.length - 1] ?? NaN)} | ${rate} | ${r.note} |`,
    );
  }
  return out;
}

async function main(): Promise<void> {
  const logDir = mkdtempSync(join(tmpdir(), 'bench-temporal-'));
  let server: Server | undefined;
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench:temporal: still running after ${RUN_LIMIT_MS / 60_000} min; giving up\n`);
    server?.proc.kill('SIGKILL');
    process.exit(1);
  }, RUN_LIMIT_MS);
  watchdog.unref();
  const loadBefore = loadavg()
    .map((l) => l.toFixed(2))
    .join(', ');
  const date = sh('date', ['-u']);
  const started = performance.now();
  Runtime.install({
    logger: countingLogger(),
    telemetryOptions: { logging: { filter: { core: 'WARN' }, forward: {} } },
  });
  let failed = false;
  try {
    server = await startServer(logDir);
    const connection = await Connection.connect({ address: server.address });
    const rawConnection = await Connection.connect({ address: server.address, interceptors: [] });
    const nativeConnection = await NativeConnection.connect({ address: server.address });
    const taskQueue = `bench-temporal-${randomUUID().slice(0, 8)}`;
    const workflowBundle = await bundleWorkflowCode({
      workflowsPath: join(import.meta.dirname, 'workflows', 'temporal-bench.ts'),
      logger: new DefaultLogger('WARN'),
    });
    const startWorker = async () => {
      const worker = await Worker.create({ connection: nativeConnection, taskQueue, workflowBundle, activities });
      const running = worker.run();
      return { worker, running };
    };
    let current = await startWorker();
    const bench: Bench = {
      client: new Client({ connection }),
      rawClient: new Client({ connection: rawConnection }),
      taskQueue,
      restartWorker: async () => {
        current.worker.shutdown();
        await current.running;
        current = await startWorker();
      },
    };
    const phases: [string, () => Promise<void>][] = [
      ['starts', () => starts(bench)],
      ['queries and updates', () => queriesAndUpdates(bench)],
      ['signals', () => signals(bench)],
      ['activities', () => fanouts(bench)],
      ['history', () => history(bench)],
    ];
    try {
      for (const [name, run] of phases) {
        const [ms] = await timed(run);
        process.stderr.write(`bench:temporal: ${name} done in ${(ms / 1000).toFixed(1)} s\n`);
      }
    } finally {
      current.worker.shutdown();
      await current.running;
      await nativeConnection.close();
      await connection.close();
      await rawConnection.close();
    }
  } catch (err) {
    process.stderr.write(
      err instanceof BenchFailure
        ? `bench:temporal: WRONG RESULT: ${err.message}\n`
        : `bench:temporal: ${(err as Error).stack ?? String(err)}\n`,
    );
    failed = true;
  } finally {
    if (server) {
      const exited = new Promise((r) => server?.proc.once('exit', r));
      server.proc.kill('SIGTERM');
      await exited;
    }
    rmSync(logDir, { recursive: true, force: true });
  }
  if (failed) process.exit(1);
  const runS = (performance.now() - started) / 1000;
  const lines = [machineLine(date, loadBefore, runS, String(server?.version)), '', ...table()];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (process.argv.includes('--write-doc')) await writeResults('temporal', '## Temporal dev server', lines);
}

await main();
