// The nodepool worker process: loads nodepool.yaml (one file or several), opens and migrates the database, and polls the
// configured Temporal task queue until SIGINT/SIGTERM; on those, running activities get the shutdown grace
// time (worker/worker.ts) to finish before they are cancelled and left for a retry.
import { mkdirSync } from 'node:fs';
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { pino } from 'pino';
import { ConfigError, formatIssue, loadConfig, type Config } from '../config/index.ts';
import { migrate, openDatabase, redactUrl } from '../db/orm.ts';
import { buildSpecResolver } from './build-spec.ts';
import { startNodepool } from './startup.ts';
import { createNodepoolWorker } from './worker.ts';
import { describeProblems, searchAttributeProblems } from './search-attributes.ts';
import { startStatusServer } from '../web/server.ts';

const log = pino({ name: 'nodepool-worker' });

/**
 * The nodepool.yaml files: every `-c FILE` / `--config FILE` / `--config=FILE`, in order, loaded as one
 * configuration (a launcher file and a builder file, as nodepool deployments keep them); else NODEPOOL_CONFIG,
 * else /etc/nodepool/nodepool.yaml.
 */
function configPaths(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): string[] {
  const paths: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if ((arg === '-c' || arg === '--config') && argv[i + 1] !== undefined) paths.push(argv[++i] as string);
    else if (arg.startsWith('--config=')) paths.push(arg.slice('--config='.length));
  }
  if (paths.length > 0) return paths;
  return [env.NODEPOOL_CONFIG ?? '/etc/nodepool/nodepool.yaml'];
}

function load(paths: string[]): Config {
  try {
    return loadConfig(paths);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const issue of err.issues) process.stderr.write(`${formatIssue(issue)}\n`);
      process.stderr.write(
        `nodepool-worker: ${paths.join(', ')} ${paths.length === 1 ? 'is' : 'are'} not valid; fix the errors above (nodepool config-validate)\n`,
      );
      process.exit(2);
    }
    throw err;
  }
}

async function main(): Promise<void> {
  const paths = configPaths(process.argv.slice(2));
  const config = load(paths);
  // The environment wins over the file so containers and tests can point one config at their own services.
  const databaseUrl = process.env.DATABASE_URL || config.database.url;
  const address = process.env.TEMPORAL_ADDRESS || config.temporal.address;
  const namespace = config.temporal.namespace;
  const taskQueue = process.env.NODEPOOL_TASK_QUEUE || config.temporal.taskQueue;

  // Builds write here; creating them now turns a bad path into a start-up error instead of failed builds.
  for (const d of [config.imagesDir, config.buildLogDir]) mkdirSync(d, { recursive: true });

  const orm = await openDatabase(databaseUrl ? { url: databaseUrl } : { dataDir: config.database.dataDir });
  const applied = await migrate(orm);
  log.info(
    { database: databaseUrl ? redactUrl(databaseUrl) : `pglite:${config.database.dataDir}`, applied },
    'database ready',
  );

  const connection = await NativeConnection.connect({ address });
  try {
    const problems = await searchAttributeProblems(connection, namespace);
    if (problems.length > 0) {
      process.stderr.write(`nodepool-worker: ${describeProblems(problems, namespace, address)}\n`);
      process.exitCode = 2;
      return;
    }
    const worker = await createNodepoolWorker({
      connection,
      namespace,
      taskQueue,
      orm,
      config,
      buildSpecFor: buildSpecResolver(config),
    });
    const started = await startNodepool(new Client({ connection, namespace }), config, taskQueue);
    log.info(started, 'schedules and catalogs follow nodepool.yaml');
    await startStatusServer({ config, orm, worker, taskQueue, client: new Client({ connection, namespace }), log });
    log.info({ address, namespace, taskQueue, config: paths }, 'worker polling');
    await worker.run();
    log.info('worker stopped');
  } finally {
    await connection.close();
    await orm.close();
  }
}

await main();
