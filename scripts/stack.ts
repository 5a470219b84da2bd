// The one-command local stack: a Temporal dev server (with Web UI), the cloud simulator, and a nodepool
// worker on the embedded PGlite database, wired together with a generated clouds.yaml and nodepool.yaml.
//   npm run stack                      # everything, Web UI on http://127.0.0.1:8233
//   npm run stack -- --temporal-address host:port   # use a running Temporal server instead
// Ctrl-C stops all of it; state stays in --dir (default .tmp/stack) for the next start.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, ensureTemporalCli, log } from './tools.ts';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes.ts';

const { values: args } = parseArgs({
  options: {
    dir: { type: 'string', default: join(ROOT, '.tmp', 'stack') },
    'temporal-address': { type: 'string' },
    'temporal-port': { type: 'string', default: '7233' },
    'ui-port': { type: 'string', default: '8233' },
    'sim-port': { type: 'string', default: '5000' },
    'ssh-port': { type: 'string', default: '2222' },
    'task-queue': { type: 'string', default: 'nodepool' },
    config: { type: 'string', short: 'c' },
  },
});

const dir = resolve(args.dir);
mkdirSync(dir, { recursive: true });
const children: ChildProcess[] = [];

function start(name: string, cmd: string, argv: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const out = openSync(join(dir, `${name}.log`), 'a');
  const child = spawn(cmd, argv, { stdio: ['ignore', out, out], env: { ...process.env, ...env }, cwd: ROOT });
  child.on('error', (err) => {
    log(`cannot run ${name} (${cmd}): ${err.message}. Stopping the stack.`);
    void stop(1);
  });
  child.on('exit', (code, signal) => {
    if (!stopping) {
      log(`${name} exited (${signal ?? code}); see ${join(dir, `${name}.log`)}. Stopping the stack.`);
      void stop(1);
    }
  });
  children.push(child);
  return child;
}

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const c of [...children].reverse()) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (stopping) return;
    if (await probe().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not come up within ${timeoutMs / 1000}s; see the logs in ${dir}`);
}

async function main(): Promise<void> {
  let temporalAddress = args['temporal-address'];
  let ui = 'the Web UI of your Temporal server';
  if (!temporalAddress) {
    const cli = ensureTemporalCli();
    const argv = [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      args['temporal-port'],
      '--ui-port',
      args['ui-port'],
    ];
    argv.push('--db-filename', join(dir, 'temporal.db'), '--log-level', 'warn');
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) argv.push('--search-attribute', `${name}=${type}`);
    start('temporal', cli, argv);
    temporalAddress = `127.0.0.1:${args['temporal-port']}`;
    ui = `http://127.0.0.1:${args['ui-port']}`;
  }
  const { Connection } = await import('@temporalio/client');
  await waitFor('Temporal', async () => {
    const c = await Connection.connect({ address: temporalAddress, connectTimeout: 1000 });
    await c.close();
    return true;
  });

  const simUrl = `http://127.0.0.1:${args['sim-port']}`;
  start('sim-cloud', process.execPath, [
    join(ROOT, 'cli', 'main.ts'),
    'sim-cloud',
    '--state-dir',
    join(dir, 'sim'),
    '--port',
    args['sim-port'],
    '--ssh-port',
    args['ssh-port'],
  ]);
  await waitFor('sim-cloud', async () => (await fetch(`${simUrl}/identity/v3`)).ok);

  const cloudsYaml = join(dir, 'clouds.yaml');
  writeFileSync(
    cloudsYaml,
    [
      '# Written by npm run stack: the simulator as an OpenStack cloud.',
      'clouds:',
      '  sim:',
      '    auth:',
      `      auth_url: ${simUrl}/identity`,
      '      username: nodepool',
      '      password: secret',
      '      project_name: nodepool',
      '      user_domain_name: Default',
      '      project_domain_name: Default',
      '    region_name: RegionOne',
      '',
    ].join('\n'),
  );
  const configFile = args.config ? resolve(args.config) : join(dir, 'nodepool.yaml');
  if (!args.config) {
    writeFileSync(
      configFile,
      [
        '# Written by npm run stack: one simulated provider.',
        'labels:',
        '  - name: ubuntu-noble',
        '    min-ready: 1',
        'diskimages:',
        '  - name: ubuntu-noble',
        '    elements: [ubuntu-minimal, vm]',
        'providers:',
        '  - name: sim',
        '    cloud: sim',
        '    region-name: RegionOne',
        '    diskimages:',
        '      - name: ubuntu-noble',
        '    pools:',
        '      - name: main',
        '        max-servers: 5',
        '        labels:',
        '          - name: ubuntu-noble',
        '            diskimage: ubuntu-noble',
        '            flavor-name: m1.small',
        `images-dir: ${JSON.stringify(join(dir, 'images'))}`,
        `build-log-dir: ${JSON.stringify(join(dir, 'logs'))}`,
        'temporal:',
        `  address: ${temporalAddress}`,
        `  task-queue: ${args['task-queue']}`,
        'database:',
        `  data-dir: ${JSON.stringify(join(dir, 'db'))}`,
        '',
      ].join('\n'),
    );
  }
  start('worker', process.execPath, [join(ROOT, 'worker', 'main.ts'), '-c', configFile], {
    OS_CLIENT_CONFIG_FILE: cloudsYaml,
    TEMPORAL_ADDRESS: temporalAddress,
    NODEPOOL_TASK_QUEUE: args['task-queue'],
  });
  process.stdout.write(
    [
      'stack ready',
      `  Temporal      ${temporalAddress}  (Web UI: ${ui})`,
      `  sim-cloud     ${simUrl}/identity  (clouds.yaml: ${cloudsYaml}, cloud "sim")`,
      `  worker        task queue ${args['task-queue']}, config ${configFile}`,
      `  logs          ${dir}/*.log`,
      '',
    ].join('\n'),
  );
}

main().catch((err: Error) => {
  log(err.message);
  void stop(1);
});
