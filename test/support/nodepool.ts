// A whole nodepool for a test: the cloud simulator, clouds.yaml, a nodepool.yaml, a fresh PostgreSQL database,
// and a worker on its own task queue of the ONE dev server — in this process, or as the real worker process
// (for tests that kill it). The CLI runs as its own process against it, as an operator's would.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { NativeConnection, Worker } from '@temporalio/worker';
import { loadConfig, type Config } from '../../config/index.ts';
import { migrate, openDatabase, type Orm } from '../../db/orm.ts';
import { freePort } from '../../scripts/tools.ts';
import { startSimCloud, type SimCloud, type SimCloudOptions } from '../../simulator/index.ts';
import { buildSpecResolver } from '../../worker/build-spec.ts';
import { createNodepoolWorker } from '../../worker/worker.ts';
import { runCli, type CliResult } from './cli.ts';
import { createTestDatabase, type TestDatabase } from './db.ts';
import { cleanupAll } from './cleanup.ts';
import { until } from './poll.ts';
import { connectClient, connectWorker, temporalAddress, uniqueTaskQueue } from './temporal.ts';

const ROOT = join(import.meta.dirname, '..', '..');

export interface NodepoolEnv {
  dir: string;
  /** The simulator behind clouds.yaml's `simcloud`. */
  sim: SimCloud;
  /** Every simulator by clouds.yaml cloud name (`simcloud` and any `extraClouds`). */
  sims: Record<string, SimCloud>;
  sshPort: number;
  taskQueue: string;
  configFile: string;
  config: Config;
  cloudEnv: NodeJS.ProcessEnv;
  db: TestDatabase;
  orm: Orm;
  client: Client;
  /** Runs `nodepool ARGS -c nodepool.yaml` as its own process against this nodepool. */
  cli(args: string[]): Promise<CliResult>;
  /** Starts the worker in this process (the default) and returns a stop function. */
  startWorker(): Promise<() => Promise<void>>;
  /** Starts the real worker process (`node worker/main.ts`); kill it as a test needs. */
  spawnWorker(extraEnv?: NodeJS.ProcessEnv): Promise<ChildProcess>;
  close(): Promise<void>;
}

export interface NodepoolEnvOptions {
  prefix: string;
  /** nodepool.yaml; `{{taskQueue}}`, `{{temporal}}`, `{{dir}}` and `{{sshPort}}` are filled in. */
  config: string;
  sim?: Partial<SimCloudOptions>;
  /** More clouds, each its own simulator (cloud name → options), for tests where providers must differ. */
  extraClouds?: Record<string, Partial<SimCloudOptions>>;
  /** Extra files to write into the test directory before the config is loaded (name → [text, mode]). */
  files?: Record<string, [string, number?]>;
}

/**
 * A provider entry of the nodepool.yaml given to createNodepoolEnv: one pool of one label, booting the cirros-0.6
 * image the test uploads to its simulated cloud, ready once the simulator's SSH port answers.
 */
export function simProvider(p: {
  name: string;
  label: string;
  maxServers: number;
  cloud?: string;
  /** More keys of the provider, e.g. 'boot-timeout: 30'. */
  extra?: string[];
}): string {
  return [
    `  - name: ${p.name}`,
    `    cloud: ${p.cloud ?? 'simcloud'}`,
    '    rate: 0',
    ...(p.extra ?? []).map((line) => `    ${line}`),
    '    cloud-images: [{name: cirros, image-name: cirros-0.6, connection-port: {{sshPort}}}]',
    `    pools: [{name: main, max-servers: ${p.maxServers}, labels: [{name: ${p.label}, cloud-image: cirros, flavor-name: m1.tiny}]}]`,
  ].join('\n');
}

export async function createNodepoolEnv(opts: NodepoolEnvOptions): Promise<NodepoolEnv> {
  const dir = mkdtempSync(join(tmpdir(), `nodepool-${opts.prefix}-`));
  const sshPort = await freePort();
  const sims: Record<string, SimCloud> = {};
  sims.simcloud = await startSimCloud({ stateDir: join(dir, 'sim'), sshPort, ...opts.sim });
  for (const [name, o] of Object.entries(opts.extraClouds ?? {}))
    sims[name] = await startSimCloud({ stateDir: join(dir, `sim-${name}`), sshPort, ...o });
  const sim = sims.simcloud;
  const taskQueue = uniqueTaskQueue(opts.prefix);
  const clouds = Object.entries(sims).flatMap(([name, s]) => [
    `  ${name}:`,
    '    auth:',
    `      auth_url: ${s.authUrl}`,
    '      username: nodepool',
    '      password: secret',
    '      project_name: nodepool',
    '      user_domain_name: Default',
    '      project_domain_name: Default',
    '    region_name: RegionOne',
  ]);
  writeFileSync(join(dir, 'clouds.yaml'), ['clouds:', ...clouds, ''].join('\n'));
  for (const [name, [text, mode]] of Object.entries(opts.files ?? {}))
    writeFileSync(join(dir, name), text, mode === undefined ? {} : { mode });
  const cloudEnv = { OS_CLIENT_CONFIG_FILE: join(dir, 'clouds.yaml') };
  const configFile = join(dir, 'nodepool.yaml');
  writeFileSync(
    configFile,
    opts.config
      .replaceAll('{{taskQueue}}', taskQueue)
      .replaceAll('{{temporal}}', temporalAddress())
      .replaceAll('{{dir}}', dir)
      .replaceAll('{{sshPort}}', String(sshPort)),
  );
  const config = loadConfig(configFile);
  // The worker process makes these at start; an in-process worker's test does it here.
  for (const d of [config.imagesDir, config.buildLogDir]) mkdirSync(d, { recursive: true });
  const db = await createTestDatabase(opts.prefix.replace(/[^a-z0-9_]/gi, '_'));
  const orm = await openDatabase({ url: db.url });
  await migrate(orm);
  const { client, close: closeClient } = await connectClient();
  let nativeConnection: NativeConnection | undefined;
  const stops: (() => Promise<void>)[] = [];
  const children: ChildProcess[] = [];
  const env = {
    ...cloudEnv,
    TEMPORAL_ADDRESS: temporalAddress(),
    NODEPOOL_TASK_QUEUE: taskQueue,
    DATABASE_URL: db.url,
  };

  return {
    dir,
    sim,
    sims,
    sshPort,
    taskQueue,
    configFile,
    config,
    cloudEnv,
    db,
    orm,
    client,
    cli: (args) => runCli([...args, '-c', configFile], { env }),
    async startWorker() {
      nativeConnection ??= await connectWorker();
      const worker: Worker = await createNodepoolWorker({
        connection: nativeConnection,
        taskQueue,
        orm,
        config,
        cloudEnv,
        buildSpecFor: buildSpecResolver(config),
        overrides: { shutdownGraceTime: '1 second' },
      });
      const running = worker.run();
      let stopped = false;
      const stop = async (): Promise<void> => {
        if (stopped) return;
        stopped = true;
        worker.shutdown();
        await running;
      };
      stops.push(stop);
      return stop;
    },
    async spawnWorker(extraEnv = {}) {
      const child = spawn(process.execPath, [join(ROOT, 'worker', 'main.ts'), '-c', configFile], {
        env: { ...process.env, ...env, ...extraEnv },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
      children.push(child);
      await until(
        'the worker process to poll',
        async () => {
          if (child.exitCode !== null) throw new Error(`worker exited ${child.exitCode}:\n${out}`);
          return out.includes('worker polling') ? true : undefined;
        },
        60_000,
      );
      return child;
    },
    async close() {
      await cleanupAll([
        ...stops,
        () => {
          for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
        },
        () => nativeConnection?.close(),
        closeClient,
        () => orm.close(),
        () => db.drop(),
        ...Object.values(sims).map((s) => () => s.close()),
        () => rmSync(dir, { recursive: true, force: true }),
      ]);
    },
  };
}
