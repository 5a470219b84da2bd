// Records the workflow histories test/replay.test.ts replays: `npm run histories:record`. It runs the real
// thing — `nodepool up` on the embedded example (two simulated clouds, one of them VHD) in a temporary data
// directory — waits until the image is READY everywhere and the min-ready nodes are up, exercises a pool (a
// request, a release) and builds once more by hand (so a catalog holds two builds), then saves the history of
// every workflow on the task queue as JSON in this directory (the format of `temporal workflow show --output
// json`) under stable names, replacing the previous recording's, and stops `up`. Commit the files it writes: CI
// replays every JSON file here against the workflow code of every change (files kept by hand included).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { format, resolveConfig } from 'prettier';
import { NodepoolClient } from '../../client/nodepool-client.ts';
import { ROOT, freePort } from '../../scripts/tools.ts';
import { until } from '../support/poll.ts';

const HERE = import.meta.dirname;
const TASK_QUEUE = 'nodepool';

function log(msg: string): void {
  process.stderr.write(`[histories] ${msg}\n`);
}

/** `up`'s environment: its own Temporal server and PGlite, whatever the caller's shell points at. */
function upEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'NODEPOOL_TASK_QUEUE', 'NODEPOOL_CONFIG']) delete env[k];
  return env;
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'cli', 'main.ts'), ...args], { env, cwd: ROOT });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`nodepool ${args.join(' ')} exited ${code}:\n${out}`)),
    );
  });
}

/** Stable names (no start times in them), so recording again replaces the files instead of adding new ones. */
function fileName(type: string, workflowId: string, taken: Set<string>): string {
  const id = workflowId.replace(/-(\d{10,}|\d{4}-\d\d-\d\dT[\d:]+Z)$/, '').replace(/[^A-Za-z0-9_.-]+/g, '_');
  let name = `${type}--${id}.json`;
  for (let i = 2; taken.has(name); i++) name = `${type}--${id}--${i}.json`;
  taken.add(name);
  return name;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nodepool-histories-'));
  const [temporalPort, uiPort, webappPort] = [await freePort(), await freePort(), await freePort()];
  const address = `127.0.0.1:${temporalPort}`;
  const env = upEnv();
  log(`nodepool up in ${dir} (Temporal ${address})`);
  const up = spawn(
    process.execPath,
    [
      join(ROOT, 'cli', 'main.ts'),
      'up',
      '--data-dir',
      dir,
      '--temporal-port',
      String(temporalPort),
      '--ui-port',
      String(uiPort),
      '--webapp-port',
      String(webappPort),
    ],
    { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  up.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => up.on('exit', (code) => r(code)));
  let connection: Connection | undefined;
  try {
    await until(
      'every image READY and the min-ready nodes',
      async () => {
        if (up.exitCode !== null) throw new Error(`nodepool up exited ${up.exitCode}:\n${out}`);
        return out.includes('Every image is READY') ? true : undefined;
      },
      300_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${out}`);
    });
    connection = await Connection.connect({ address });
    const client = new Client({ connection });
    const nodepool = new NodepoolClient(client, { providers: ['sim-kvm', 'sim-xen'] });

    log('a request served from a READY node, then released');
    const got = await nodepool.requestNodes(
      { key: 'histories-1', labels: ['tiny'], requestor: 'histories' },
      { wait: true, timeoutMs: 60_000 },
    );
    if (got.state !== 'fulfilled') throw new Error(`request not fulfilled: ${JSON.stringify(got)}`);
    await nodepool.release(got.nodes.map((n) => n.id));

    log('a second build, by hand');
    await run(['image-build', 'tiny', '--wait', '--timeout', '240'], { ...env, TEMPORAL_ADDRESS: address });

    await until(
      'min-ready again',
      async () => {
        // A pool between two runs may not answer this once; the next poll asks again.
        const pools = await nodepool.pools().catch(() => undefined);
        if (!pools) return undefined;
        const ready = (label: string) =>
          pools.flatMap((p) => p.nodes).filter((n) => n.label === label && n.state === 'ready' && !n.requestKey).length;
        return ready('tiny') >= 2 && ready('tiny-xen') >= 1 ? true : undefined;
      },
      120_000,
    );

    const taken = new Set<string>();
    let count = 0;
    for await (const w of client.workflow.list({ query: `TaskQueue = '${TASK_QUEUE}'` })) {
      const history = await client.workflow.getHandle(w.workflowId, w.runId).fetchHistory();
      const name = fileName(w.type, w.workflowId, taken);
      const file = join(HERE, name);
      // Formatted as `npm run lint` checks every file.
      writeFileSync(file, await format(historyToJSON(history), { ...(await resolveConfig(file)), filepath: file }));
      log(`${name}: ${history.events?.length ?? 0} events`);
      count++;
    }
    log(`${count} histories written to ${HERE}`);
  } finally {
    await connection?.close();
    up.kill('SIGINT');
    const code = await exited;
    if (code !== 0) log(`nodepool up exited ${code}`);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
