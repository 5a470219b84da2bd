// The one test entry point: brings up a real PostgreSQL database and ONE real Temporal dev server,
// hands their addresses to node's test runner through the environment, and tears both down afterwards.
// Tests isolate themselves by task queue, workflow IDs and (where they need it) their own database.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import {
  ROOT,
  freePort,
  ensurePip,
  ensurePostgres,
  ensureTemporalCli,
  log,
  releasePostgres,
  requireDebianCommands,
  temporalDevServerArgs,
} from './tools.ts';
import { createDatabase, dropDatabase } from './pg-database.ts';
import { SEARCH_ATTRIBUTES, SERVER_DYNAMIC_CONFIG } from '../workflows/search-attributes.ts';

async function startTemporal(
  cli: string,
  logDir: string,
): Promise<{ proc: ChildProcess; address: string; ui: string }> {
  const port = await freePort();
  const uiPort = await freePort();
  const args = temporalDevServerArgs({
    port,
    uiPort,
    searchAttributes: SEARCH_ATTRIBUTES,
    dynamicConfig: SERVER_DYNAMIC_CONFIG,
  });
  const out = openSync(join(logDir, 'temporal.log'), 'w');
  const proc = spawn(cli, args, { stdio: ['ignore', out, out], detached: false });
  let spawnError: Error | undefined;
  proc.on('error', (err) => (spawnError = err));
  const address = `127.0.0.1:${port}`;
  const { Connection } = await import('@temporalio/client');
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (spawnError) throw new Error(`cannot run ${cli}: ${spawnError.message}`);
    if (proc.exitCode !== null)
      throw new Error(`temporal server exited with ${proc.exitCode}; see ${logDir}/temporal.log`);
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1000 });
      await conn.workflowService.getSystemInfo({});
      await conn.close();
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        proc.kill('SIGTERM');
        throw new Error(
          `temporal server not ready at ${address}: ${(err as Error).message}; see ${logDir}/temporal.log`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  return { proc, address, ui: `http://127.0.0.1:${uiPort}` };
}

async function main(): Promise<number> {
  const logDir = join(ROOT, '.tmp', 'test-run');
  mkdirSync(logDir, { recursive: true });
  // Image tools judged by software we did not write: qemu-img and libvhdi's vhdiinfo.
  // Without them the image tests could only skip, and a green run would prove nothing about images.
  requireDebianCommands(
    { 'qemu-img': 'qemu-utils', vhdiinfo: 'libvhdi-utils' },
    'the image tests convert with qemu-img and judge VHD files with vhdiinfo',
  );
  requireDebianCommands({ openssl: 'openssl' }, 'the TLS tests make their certificates with openssl');
  const temporalCli = ensureTemporalCli();
  // The official OpenStack clients judge the simulator's fidelity; test-only venv.
  const openstack = ensurePip(['openstacksdk==4.22.0', 'python-openstackclient==10.5.0'], 'openstack');

  const adminUrl = ensurePostgres();
  const dbName = `nodepool_test_${process.pid}_${Date.now()}`;
  const databaseUrl = await createDatabase(adminUrl, dbName);
  log(`fresh database ${dbName}`);
  // Whatever happens from here (a failed start, a test run killed by a CI timeout), the server stops and the
  // database goes.
  let temporal: Awaited<ReturnType<typeof startTemporal>> | undefined;
  let runner: ChildProcess | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`${sig}: stopping the tests, the Temporal server and dropping ${dbName}`);
    runner?.kill(sig);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    temporal = await startTemporal(temporalCli, logDir);
    log(`temporal dev server ${temporal.address}, Web UI ${temporal.ui}`);

    const files = process.argv.slice(2);
    const patterns = files.length > 0 ? files : ['test/**/*.test.ts'];
    const env = {
      ...process.env,
      DATABASE_URL: databaseUrl,
      NODEPOOL_PG_ADMIN_URL: adminUrl,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_UI_URL: temporal.ui,
      TEMPORAL_CLI: temporalCli,
      OPENSTACK_CLI: openstack,
    };
    // Every CLI process the tests start runs from the CLI's bundle, made once here rather than by the first of them.
    const warm = spawnSync(process.execPath, [join(ROOT, 'cli', 'bundle.ts'), '--warm'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    if (warm.status !== 0) throw new Error(`cannot bundle the CLI: ${warm.stderr}`);
    log(warm.stdout.trim());
    const concurrency = process.env.TEST_CONCURRENCY ?? '2';
    const child = spawn(
      process.execPath,
      [
        '--test',
        `--test-concurrency=${concurrency}`,
        '--test-reporter=spec',
        // Every test and hook is bounded, and a file whose tests are over exits even if a failed cleanup left
        // a server open. (Not --test-force-exit: in Node 24 it ends a file of many quick tests half way.)
        '--test-timeout=600000',
        '--import=./test/support/exit-guard.ts',
        ...patterns,
      ],
      { stdio: 'inherit', env, cwd: ROOT },
    );
    runner = child;
    // The last line of defence for CI's time budget: a run that should take minutes is stopped, saying so.
    const minutes = Number(process.env.NODEPOOL_TEST_DEADLINE_MINUTES ?? 45);
    const watchdog = setTimeout(() => {
      log(`the tests have run for ${minutes} minutes (NODEPOOL_TEST_DEADLINE_MINUTES): stopping them`);
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
    }, minutes * 60_000);
    watchdog.unref();
    try {
      return await new Promise<number>((resolve) => child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0))));
    } finally {
      clearTimeout(watchdog);
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (temporal && temporal.proc.exitCode === null) {
      const stopped = new Promise((r) => temporal?.proc.once('exit', r));
      temporal.proc.kill('SIGTERM');
      await stopped;
    }
    await dropDatabase(adminUrl, dbName).catch((err: Error) => log(`could not drop ${dbName}: ${err.message}`));
    releasePostgres();
  }
}

if (import.meta.main) {
  try {
    process.exitCode = await main();
  } catch (err) {
    // What is missing and how to get it, not a stack.
    log(`cannot run the tests: ${(err as Error).message}`);
    process.exitCode = 1;
  }
}
