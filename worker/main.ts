// The nodepool worker process: loads nodepool.yaml (one file or several), connects to Temporal, opens and migrates
// the database, checks that every worker of its task queue runs the same configuration, and polls the task queue
// until SIGINT/SIGTERM; on those, running activities get the shutdown grace time (worker/worker.ts) to finish
// before they are cancelled and left for a retry. Start-up problems are one line with what to do, and an exit code:
// 2 for a bad command line or configuration, 3 when another configuration holds the task queue, 1 otherwise.
import { mkdirSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { parseArgs } from 'node:util';
import { Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type LogLevel } from '@temporalio/worker';
import { pino } from 'pino';
import { ConfigError, formatIssue, loadConfig, type Config } from '../config/index.ts';
import { migrate, openDatabase, redactUrl, type Orm } from '../db/orm.ts';
import { WORKFLOWS, bundleInChild, type WorkflowBundle } from './bundle.ts';
import { buildSpecResolver } from './build-spec.ts';
import { withMigrationLock } from './migration-lock.ts';
import {
  ConfigRefused,
  configSummary,
  describeReplacement,
  joinConfigRegistry,
  workerIdentity,
} from './config-registry.ts';
import {
  ConnectionSettingsError,
  TEMPORAL_FLAGS,
  connectionOptions,
  describeConnectError,
  resolveTemporalSettings,
  type TemporalFlags,
  type TemporalSettings,
} from './connection.ts';
import { startNodepool } from './startup.ts';
import { createNodepoolWorker } from './worker.ts';
import { describeProblems, searchAttributeProblems } from './search-attributes.ts';
import { startStatusServer } from '../web/server.ts';

const log = pino({ name: 'nodepool-worker' });
Runtime.install({
  // The SDK's own chatter (bundling, worker states) buries start-up errors; TEMPORAL_SDK_LOG_LEVEL=INFO brings it back.
  logger: new DefaultLogger((process.env.TEMPORAL_SDK_LOG_LEVEL ?? 'WARN') as LogLevel),
  // The SDK would stop polling at the first signal while registry heartbeats went on; one sent during the drain
  // then waited for an answer nobody was left to give (the process never exited), or for another worker to apply
  // it after the leave. Signals are ours (below): heartbeats end first. SIGUSR2 stays free for heap snapshots.
  shutdownSignals: [],
});

const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;
/** What a stop signal does now: exit at once until the worker polls, then drain it (serve sets this). */
let drain: ((signal: NodeJS.Signals) => void) | undefined;
let stopping = false;
for (const signal of STOP_SIGNALS)
  process.on(signal, () => {
    if (drain && !stopping) {
      stopping = true;
      drain(signal);
      return;
    }
    // Nothing to drain yet, or a second signal: activities cut short here are retried (they are idempotent), and
    // a registry membership left behind is forgotten after a minute.
    process.stderr.write(`nodepool-worker: ${signal}: ${stopping ? 'stopping now' : 'stopped while starting'}\n`);
    process.exit(128 + osConstants.signals[signal]);
  });

/** A start-up problem the operator can fix: printed as one line, the process exits with `code`. */
class StartupError extends Error {
  readonly code: number;
  constructor(message: string, code = 1) {
    super(message);
    this.code = code;
  }
}

const USAGE = `usage: node worker/main.ts [-c nodepool.yaml ...] [--replace-config] [connection flags]
  -c, --config FILE    nodepool.yaml; repeat to load several files as one (default: $NODEPOOL_CONFIG,
                       else /etc/nodepool/nodepool.yaml)
  --replace-config     make this worker's configuration the task queue's, stopping workers with another one
${Object.entries(TEMPORAL_FLAGS)
  .map(([k, v]) => `  --${k}${v.type === 'string' ? ' VALUE' : ''}`.padEnd(27) + v.describe)
  .join('\n')}`;

interface Args {
  configPaths: string[];
  replaceConfig: boolean;
  flags: TemporalFlags;
}

function parseCommandLine(argv: string[], env: NodeJS.ProcessEnv): Args {
  const options = {
    config: { type: 'string', short: 'c', multiple: true },
    'replace-config': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
    ...Object.fromEntries(Object.entries(TEMPORAL_FLAGS).map(([k, v]) => [k, { type: v.type }])),
  } as const;
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new StartupError(`${(err as Error).message}\n${USAGE}`, 2);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const flags: TemporalFlags = {};
  for (const k of Object.keys(TEMPORAL_FLAGS) as (keyof typeof TEMPORAL_FLAGS)[])
    if (values[k] !== undefined) flags[k] = values[k] as string | boolean;
  const paths = (values.config as string[] | undefined) ?? [env.NODEPOOL_CONFIG ?? '/etc/nodepool/nodepool.yaml'];
  return { configPaths: paths, replaceConfig: values['replace-config'] === true, flags };
}

function load(paths: string[]): Config {
  try {
    return loadConfig(paths);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const issue of err.issues) process.stderr.write(`${formatIssue(issue)}\n`);
      throw new StartupError(
        `${paths.join(', ')} ${paths.length === 1 ? 'is' : 'are'} not valid; fix the errors above (nodepool config-validate)`,
        2,
      );
    }
    throw err;
  }
}

async function connect(settings: TemporalSettings): Promise<NativeConnection> {
  let options;
  try {
    options = connectionOptions(settings);
  } catch (err) {
    throw new StartupError((err as Error).message, 2);
  }
  try {
    return await NativeConnection.connect(options);
  } catch (err) {
    throw new StartupError(describeConnectError(err, settings));
  }
}

// Errors that mean "could not get to the database" rather than "the migration went wrong".
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  '28P01',
  '28000',
  '3D000',
]);

async function open(config: Config, databaseUrl: string | undefined): Promise<{ orm: Orm; applied: string[] }> {
  let orm: Orm | undefined;
  try {
    orm = await openDatabase(databaseUrl ? { url: databaseUrl } : { dataDir: config.database.dataDir });
    const opened = orm;
    // The first query connects: an unreachable server or a wrong password shows here.
    const applied = databaseUrl ? await withMigrationLock(databaseUrl, () => migrate(opened)) : await migrate(opened);
    return { orm, applied };
  } catch (err) {
    await orm?.close().catch(() => undefined);
    const e = err as Error & { code?: string };
    // The embedded database's own messages say what to do; a PostgreSQL error needs where and which setting.
    if (!databaseUrl || /is not a postgres:\/\/ URL/.test(e.message)) throw new StartupError(e.message);
    if (e.code === undefined || UNREACHABLE.has(e.code))
      throw new StartupError(
        `cannot open the database ${redactUrl(databaseUrl)} (${e.message}); check DATABASE_URL or database.url in nodepool.yaml, and that PostgreSQL runs there`,
      );
    throw new StartupError(`migrating the database ${redactUrl(databaseUrl)} failed: ${e.message}`);
  }
}

async function main(): Promise<number> {
  const args = parseCommandLine(process.argv.slice(2), process.env);
  const config = load(args.configPaths);
  let settings: TemporalSettings;
  try {
    settings = resolveTemporalSettings(config, process.env, args.flags);
  } catch (err) {
    if (err instanceof ConnectionSettingsError) throw new StartupError(err.message, 2);
    throw err;
  }
  const { address, namespace } = settings;
  // The environment wins over the file so containers and tests can point one config at their own services.
  const databaseUrl = process.env.DATABASE_URL || config.database.url;

  // Builds write here; creating them now turns a bad path into a start-up error instead of failed builds.
  for (const d of [config.imagesDir, config.buildLogDir]) {
    try {
      mkdirSync(d, { recursive: true });
    } catch (err) {
      throw new StartupError(
        `cannot create ${d} (${(err as NodeJS.ErrnoException).code}); fix images-dir/build-log-dir`,
      );
    }
  }

  // Bundled (or read from the bundle cache) while the worker connects and migrates.
  const bundle = bundleInChild(WORKFLOWS);
  bundle.catch(() => undefined);
  const connection = await connect(settings);
  log.info({ address, namespace, security: settings.security }, 'temporal reachable');
  try {
    const problems = await searchAttributeProblems(connection, namespace).catch((err: unknown) => {
      throw new StartupError(describeConnectError(err, settings));
    });
    if (problems.length > 0) throw new StartupError(describeProblems(problems, namespace, address), 2);
    const { orm, applied } = await open(config, databaseUrl);
    log.info(
      { database: databaseUrl ? redactUrl(databaseUrl) : `pglite:${config.database.dataDir}`, applied },
      'database ready',
    );
    try {
      return await serve(connection, settings, config, orm, args, bundle);
    } finally {
      await orm.close();
    }
  } finally {
    await connection.close();
  }
}

/**
 * The workflow thread's V8 heap limit, set before the SDK creates it (the flag applies to isolates made later).
 * V8 sizes a heap from the machine's memory and lets garbage pile up to it: on a 24 GiB host the workflow thread
 * of a worker holding 2,000 nodes grew to hundreds of MB of mostly garbage. NODEPOOL_WORKFLOW_HEAP_MB overrides.
 */
function limitWorkflowHeap(): void {
  const mb = Number(process.env.NODEPOOL_WORKFLOW_HEAP_MB ?? 256);
  if (!Number.isInteger(mb) || mb < 64)
    throw new StartupError(
      `NODEPOOL_WORKFLOW_HEAP_MB=${process.env.NODEPOOL_WORKFLOW_HEAP_MB} is not a whole number of MB ≥ 64`,
      2,
    );
  setFlagsFromString(`--max-old-space-size=${mb}`);
  setFlagsFromString('--max-semi-space-size=4');
}

async function serve(
  connection: NativeConnection,
  settings: TemporalSettings,
  config: Config,
  orm: Orm,
  args: Args,
  bundle: Promise<WorkflowBundle>,
): Promise<number> {
  const { address, namespace, taskQueue } = settings;
  const client = new Client({ connection, namespace });
  const identity = workerIdentity();
  const summary = configSummary(config, args.configPaths);
  const workflowBundle = await bundle;
  limitWorkflowHeap();
  // The worker polls before its configuration is accepted: the registry's workflow runs on this task queue, so
  // even the first worker of a deployment answers its own join. Its activities wait for the answer.
  const { promise: activityGate, resolve: accept, reject: refuse } = Promise.withResolvers<void>();
  activityGate.catch(() => undefined);
  const worker = await createNodepoolWorker({
    connection,
    namespace,
    taskQueue,
    orm,
    config,
    buildSpecFor: buildSpecResolver(config),
    activityGate,
    overrides: { identity, workflowBundle },
  });
  const running = worker.run(); // RUNNING from here on: shutdown() may be called
  const shutdown = (): void => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
  };
  const stopWorker = async (): Promise<void> => {
    shutdown();
    await running;
  };
  const membership = await joinConfigRegistry({
    client,
    taskQueue,
    summary,
    identity,
    replace: args.replaceConfig,
    onHeartbeatError: (err) => log.warn({ err: err.message }, 'configuration registry heartbeat failed'),
  }).catch(async (err: unknown) => {
    refuse(err as Error);
    await stopWorker();
    throw err instanceof ConfigRefused ? new StartupError(err.message, 3) : err;
  });
  accept();
  log.info(
    { digest: summary.digest, how: membership.result.how, previous: membership.result.previous?.digest },
    'configuration registered',
  );
  let exitCode = 0;
  try {
    void membership.replaced.then((r) => {
      process.stderr.write(`nodepool-worker: ${describeReplacement(taskQueue, summary, r)}\n`);
      exitCode = 3;
      if (worker.getState() === 'RUNNING') worker.shutdown();
    });
    const started = await startNodepool(client, config, taskQueue);
    log.info(started, 'schedules and catalogs follow nodepool.yaml');
    await startStatusServer({ config, orm, worker, taskQueue, client, log });
    drain = (signal) => {
      log.info({ signal }, 'stopping: running activities get the shutdown grace time; a second signal stops now');
      // Heartbeats end before the drain: once this worker stops polling, one of its own might wait for another
      // worker to apply it, after the leave (worker/config-registry.ts).
      void membership.stopHeartbeats().finally(shutdown);
    };
    log.info({ address, namespace, taskQueue, config: args.configPaths, identity }, 'worker polling');
    await running;
    log.info('worker stopped');
  } finally {
    await stopWorker().catch(() => undefined);
    await membership.close();
  }
  return exitCode;
}

try {
  process.exitCode = await main();
} catch (err) {
  if (err instanceof StartupError) {
    process.stderr.write(`nodepool-worker: ${err.message}\n`);
    process.exitCode = err.code;
  } else {
    // Not an operator's mistake: the stack is what a bug report needs.
    process.stderr.write(`nodepool-worker: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  }
}
