// `nodepool up`: a whole nodepool on this machine, in the foreground. The Temporal dev server (state and Web UI
// persisted in the data directory), one cloud simulator per `driver: simulator` provider, and the nodepool
// worker (PGlite in the data directory unless DATABASE_URL names PostgreSQL), which syncs the build schedules,
// catalogs and pools when it starts. It says it is up only once the worker polls; it then follows the images
// and min-ready nodes until they are READY, and runs until SIGINT or SIGTERM, which stop everything in order
// (worker, simulators, server) and exit 0. A restart resumes from the data directory.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Listr } from 'listr2';
import { parse } from 'yaml';
import { CliError } from '../cli/errors.ts';
import type { CliTemporal } from '../cli/temporal.ts';
import { ConfigError, loadConfig, type Config } from '../config/index.ts';
import { configFileCandidates } from '../providers/openstack/clouds-yaml.ts';
import { ROOT, ensureTemporalCli } from '../scripts/tools.ts';
import { DataDirInUse, lockDataDir, type DataDirLock } from './lock.ts';
import { UpPlanError, cloudsYaml, overlay, overlayText, planSimulators, type SimulatorPlan } from './plan.ts';
import { simulatorPorts, takenPort, writePorts, type PortNeed, type SimulatorPorts } from './ports.ts';
import type { Service } from './service.ts';
import { startSimulator, type RunningSimulator } from './simulators.ts';
import { startTemporalServer, waitForTemporal } from './temporal-server.ts';
import { watchUntilReady } from './watch.ts';
import { logMessage, startWorkerProcess, waitForWorker } from './worker-process.ts';

/** The nodepool `up` runs without --config: two simulated clouds, one script-built image, min-ready nodes. */
export const EMBEDDED_CONFIG = join(ROOT, 'examples', 'nodepool.local.yaml');

const HOST = '127.0.0.1';
/** The worker gives running activities 2 minutes on SIGTERM (worker/worker.ts); a little more before SIGKILL. */
const WORKER_STOP_MS = 150_000;
const TEMPORAL_STOP_MS = 30_000;

export interface UpOptions {
  /** The operator's nodepool.yaml; the embedded example when undefined. */
  config?: string;
  dataDir: string;
  /** Use this Temporal server instead of starting the dev server. */
  temporalAddress?: string;
  temporalPort: number;
  uiPort: number;
  /** The status page's port (nodepool.yaml's webapp.port otherwise). */
  webappPort?: number;
  /** Stop following the images and nodes once up (for scripts). */
  noWatch?: boolean;
}

/** A path as the operator would type it from here. */
function shown(path: string): string {
  const r = relative(process.cwd(), path);
  return r === '' ? '.' : r.startsWith('..') || isAbsolute(r) ? path : r;
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable database url>';
  }
}

/** The operator's clouds.yaml, found as the worker would find it, for the clouds of non-simulated providers. */
function operatorClouds(): { file?: string; data: unknown } {
  for (const file of configFileCandidates()) {
    if (!existsSync(file)) continue;
    try {
      return { file, data: parse(readFileSync(file, 'utf8')) };
    } catch (err) {
      throw new CliError(`${file} is not valid YAML (${(err as Error).message.split('\n')[0]}); fix it`, 2);
    }
  }
  return { data: {} };
}

interface Running {
  temporal?: Service;
  sims: RunningSimulator[];
  worker?: Service;
}

export async function up(o: UpOptions): Promise<number> {
  const configFile = resolve(o.config ?? EMBEDDED_CONFIG);
  if (!existsSync(configFile)) throw new CliError(`config file ${configFile} does not exist; pass --config FILE`, 2);
  // Bad files are reported as config-validate reports them (a ConfigError reaches the CLI's handler).
  const userConfig = loadConfig(configFile);
  const raw: unknown = parse(readFileSync(configFile, 'utf8'));
  let plans: SimulatorPlan[];
  try {
    plans = planSimulators(userConfig, raw);
  } catch (err) {
    if (err instanceof UpPlanError) throw new CliError(`${shown(configFile)}: ${err.message}`, 2);
    throw err;
  }
  const realProviders = userConfig.providers.filter((p) => p.driver !== 'simulator');

  const dataDir = resolve(o.dataDir);
  const logDir = join(dataDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const address = o.temporalAddress ?? `${HOST}:${o.temporalPort}`;
  const webUi = o.temporalAddress ? undefined : `http://${HOST}:${o.uiPort}`;
  let lock: DataDirLock;
  try {
    lock = lockDataDir(dataDir, {
      pid: process.pid,
      temporal: address,
      ...(webUi ? { webUi } : {}),
      startedAt: new Date().toISOString(),
    });
  } catch (err) {
    if (err instanceof DataDirInUse) throw new CliError(err.message, 1);
    throw err;
  }
  if (lock.leftovers.length > 0) await stopLeftovers(lock.leftovers);

  const running: Running = { sims: [] };
  const abort = new AbortController();
  let stopRequested: ((sig: NodeJS.Signals) => void) | undefined;
  const stopSignal = new Promise<NodeJS.Signals>((resolveStop) => (stopRequested = resolveStop));
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals === 1) {
      process.stdout.write(
        `\n${sig}: stopping nodepool (${sig === 'SIGINT' ? 'Ctrl-C' : 'SIGINT'} again stops at once)\n`,
      );
      abort.abort(new Error(`stopped by ${sig}`));
      stopRequested?.(sig);
      return;
    }
    process.stdout.write(`${sig} again: killing everything now\n`);
    running.worker?.kill('SIGKILL');
    running.temporal?.kill('SIGKILL');
    process.exit(1);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const recordChildren = (): void =>
    lock.children([running.temporal?.pid, running.worker?.pid].filter((p): p is number => p !== undefined));
  let temporal: CliTemporal | undefined;
  let exitCode = 0;
  try {
    const taskQueue = process.env.NODEPOOL_TASK_QUEUE || userConfig.temporal.taskQueue;
    const namespace = userConfig.temporal.namespace;
    const overlayFile = join(dataDir, 'nodepool.up.yaml');
    const cloudsFile = join(dataDir, 'clouds.yaml');
    const portsFile = join(dataDir, 'ports.json');
    let config: Config = userConfig;
    let statusUrl: string | undefined;
    let simPorts = new Map<string, SimulatorPorts>();

    // Found (or installed) before the progress display starts: it says which binary it uses.
    const temporalCli = o.temporalAddress ? undefined : ensureTemporalCli();
    const startup = new Listr(
      [
        {
          title: `Reading ${shown(configFile)}`,
          task: async (_ctx, task) => {
            const needs: PortNeed[] = [];
            if (!o.temporalAddress)
              needs.push(
                { port: o.temporalPort, what: 'the Temporal server', fix: '--temporal-port PORT' },
                { port: o.uiPort, what: 'the Temporal Web UI', fix: '--ui-port PORT' },
              );
            const webappPort = o.webappPort ?? userConfig.webapp.port;
            needs.push({ port: webappPort, what: 'the status page', fix: '--webapp-port PORT' });
            const taken = await takenPort(needs);
            if (taken) throw new CliError(taken, 1);
            const ports = await simulatorPorts(portsFile, plans);
            const content = overlay(raw, {
              sims: plans.map((p) => ({ ...p, sshPort: (ports.get(p.provider) as { ssh: number }).ssh })),
              imagesDir: join(dataDir, 'images'),
              buildLogDir: join(dataDir, 'build-logs'),
              databaseDir: join(dataDir, 'db'),
              ...(o.webappPort === undefined ? {} : { webappPort: o.webappPort }),
            });
            writeFileSync(overlayFile, overlayText(content, configFile));
            // The operator's file was checked (and its notices shown) above; the overlay only fills in.
            config = loadConfig([configFile, overlayFile], { onNotice: () => {} });
            task.title = `${shown(configFile)}: ${config.providers.length} providers (${plans.length} simulated), ${config.diskimages.length} diskimages, ${config.labels.length} labels`;
            simPorts = ports;
          },
        },
        {
          title: o.temporalAddress
            ? `Connecting to the Temporal server at ${address}`
            : `Starting the Temporal server (state in ${shown(join(dataDir, 'temporal.db'))})`,
          task: async (_ctx, task) => {
            if (!o.temporalAddress && temporalCli) {
              const cli = temporalCli;
              running.temporal = startTemporalServer({
                cli,
                dataDir,
                logDir,
                host: HOST,
                port: o.temporalPort,
                uiPort: o.uiPort,
                namespace,
              });
              recordChildren();
            }
            await waitForTemporal(address, running.temporal, abort.signal);
            task.title = webUi ? `Temporal server on ${address}, Web UI ${webUi}` : `Temporal server on ${address}`;
          },
        },
        {
          title: `Starting ${plans.length} simulated cloud${plans.length === 1 ? '' : 's'}`,
          enabled: () => plans.length > 0,
          task: async (_ctx, task) => {
            for (const p of plans) {
              running.sims.push(await startSimulator(p, simPorts.get(p.provider) as SimulatorPorts, dataDir));
            }
            // The ports they got, for the next start (the same URLs for the state they keep).
            writePorts(portsFile, new Map(running.sims.map((s) => [s.plan.provider, s.ports])));
            const base = realProviders.length > 0 ? operatorClouds() : { data: {} };
            writeFileSync(
              cloudsFile,
              cloudsYaml(
                running.sims.map((s) => ({ cloud: s.plan.cloud, authUrl: s.sim.authUrl, region: s.plan.region })),
                base.data,
              ),
              // It may hold a copy of the operator's credentials.
              { mode: 0o600 },
            );
            task.title = `Simulated clouds: ${running.sims.map((s) => `${s.plan.provider} (${s.sim.authUrl})`).join(', ')}`;
          },
        },
        {
          title: 'Starting the nodepool worker',
          task: async (_ctx, task) => {
            const env: NodeJS.ProcessEnv = { ...process.env, TEMPORAL_ADDRESS: address };
            if (plans.length > 0) env.OS_CLIENT_CONFIG_FILE = cloudsFile;
            const worker = startWorkerProcess({ configFiles: [configFile, overlayFile], logDir, env });
            running.worker = worker;
            recordChildren();
            // Its own log lines (database, schedules, polling) show what it is at; the rest is in its log.
            const stopShowing = worker.onLine((line) => {
              const msg = logMessage(line);
              if (msg !== undefined) task.output = msg;
            });
            try {
              await waitForWorker(worker, address, namespace, taskQueue, abort.signal);
            } finally {
              stopShowing();
            }
            const db = process.env.DATABASE_URL || config.database.url;
            task.title = `Worker polling task queue ${taskQueue} (database: ${db ? redact(db) : `PGlite in ${shown(config.database.dataDir)}`}); schedules, catalogs and pools follow ${shown(configFile)}`;
          },
        },
        {
          title: 'Checking the status page',
          task: async (_ctx, task) => {
            const host = config.webapp.listenAddress === '0.0.0.0' ? HOST : config.webapp.listenAddress;
            const url = `http://${host}:${config.webapp.port}/`;
            const deadline = Date.now() + 3000;
            while (Date.now() < deadline && !abort.signal.aborted) {
              try {
                await fetch(url, { signal: AbortSignal.timeout(1000) });
                statusUrl = url;
                task.title = `Status page ${url}`;
                return;
              } catch {
                await new Promise((r) => setTimeout(r, 250));
              }
            }
            task.skip(`No status page at ${url}: this worker does not serve one`);
          },
        },
      ],
      { exitOnError: true, registerSignalListeners: false, rendererOptions: { collapseSkips: false } },
    );

    try {
      await startup.run();
    } catch (err) {
      if (abort.signal.aborted) return 0;
      throw err;
    }
    // A child that dies from now on stops everything.
    for (const s of [running.temporal, running.worker])
      void s?.exited.then((exit) => {
        if (s.stopping || abort.signal.aborted) return;
        process.stderr.write(`nodepool up: ${s.explain(exit)}\nStopping everything.\n`);
        exitCode = 1;
        abort.abort(new Error(`${s.name} stopped`));
        stopRequested?.('SIGTERM');
      });

    const connection = await Connection.connect({ address });
    temporal = {
      client: new Client({ connection, namespace }),
      namespace,
      taskQueue,
      address,
      close: () => connection.close(),
    };
    banner({ configFile, dataDir, config, address, namespace, taskQueue, webUi, statusUrl, sims: running.sims });
    if (!o.noWatch) {
      const done = await watchUntilReady({ temporal, config, signal: abort.signal });
      if (done === 'ready')
        process.stdout.write('Every image is READY in every provider and every label has its min-ready nodes.\n');
    }
    if (!abort.signal.aborted) process.stdout.write('nodepool keeps running; Ctrl-C stops it.\n');
    await stopSignal;
    return exitCode;
  } catch (err) {
    // Operator mistakes keep their exit code (a ConfigError is printed by the CLI as config-validate does).
    if (err instanceof CliError || err instanceof ConfigError) throw err;
    if (err instanceof UpPlanError) throw new CliError(err.message, 2);
    throw new CliError((err as Error).message, 1);
  } finally {
    await temporal?.close().catch(() => undefined);
    // The signal handlers stay until everything stopped: a second Ctrl-C while stopping kills at once.
    await stop(running);
    lock.release();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** The Temporal server and worker of an `up` that was killed (SIGKILL cannot stop its children). */
async function stopLeftovers(pids: number[]): Promise<void> {
  process.stdout.write(
    `Stopping what a killed nodepool up left running on this data directory (pids ${pids.join(', ')})\n`,
  );
  for (const pid of pids)
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  const deadline = Date.now() + 10_000;
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}

async function stop(running: Running): Promise<void> {
  const tasks = new Listr(
    [
      {
        title: 'Stopping the worker (running activities get up to 2 minutes)',
        enabled: () => running.worker !== undefined,
        task: async (_ctx, task) => {
          await running.worker?.stop(WORKER_STOP_MS);
          task.title = 'Worker stopped';
        },
      },
      {
        title: 'Stopping the simulated clouds',
        enabled: () => running.sims.length > 0,
        task: async (_ctx, task) => {
          await Promise.all(running.sims.map((s) => s.sim.close()));
          task.title = 'Simulated clouds stopped';
        },
      },
      {
        title: 'Stopping the Temporal server',
        enabled: () => running.temporal !== undefined,
        task: async (_ctx, task) => {
          await running.temporal?.stop(TEMPORAL_STOP_MS);
          task.title = 'Temporal server stopped';
        },
      },
    ],
    { exitOnError: false, registerSignalListeners: false },
  );
  if (running.worker || running.sims.length > 0 || running.temporal) {
    await tasks.run();
    process.stdout.write('nodepool stopped.\n');
  }
}

interface BannerInput {
  configFile: string;
  dataDir: string;
  config: Config;
  address: string;
  namespace: string;
  taskQueue: string;
  webUi: string | undefined;
  statusUrl: string | undefined;
  sims: RunningSimulator[];
}

function banner(b: BannerInput): void {
  const viaNpm = process.env.npm_lifecycle_event !== undefined;
  const cli = viaNpm ? 'npm run nodepool --' : 'nodepool';
  const local = (a: string): string => a.replace(/^(localhost|127\.0\.0\.1):/, 'loopback:');
  const env = local(b.address) === local(b.config.temporal.address) ? '' : `TEMPORAL_ADDRESS=${b.address} `;
  const lines = [
    '',
    `nodepool is up: ${shown(b.configFile)}, state in ${shown(b.dataDir)}`,
    `  Temporal      ${b.address} (namespace ${b.namespace}, task queue ${b.taskQueue})`,
    ...(b.webUi ? [`  Web UI        ${b.webUi}`] : []),
    ...(b.statusUrl ? [`  Status page   ${b.statusUrl}`] : []),
    ...b.sims.map(
      (s, i) =>
        `  ${i === 0 ? 'Simulators' : '          '}    ${s.plan.provider}: ${s.sim.authUrl} (cloud ${s.plan.cloud}, SSH port ${s.ports.ssh})`,
    ),
    `  Logs          ${shown(join(b.dataDir, 'logs'))}/ (temporal.log, worker.log), builds in ${shown(b.config.buildLogDir)}`,
    `  Try           ${env}${cli} status -c ${shown(b.configFile)}`,
    `                ${env}${cli} image-list -c ${shown(b.configFile)}`,
    `                ${env}${cli} list -c ${shown(b.configFile)}`,
    'Ctrl-C stops everything; the next start resumes from the data directory.',
    '',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
