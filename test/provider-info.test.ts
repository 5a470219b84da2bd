// `nodepool info PROVIDER` end to end: the real CLI process asks Temporal, a real worker resolves the cloud's
// credentials from clouds.yaml and lists the simulator through the real driver; no secret reaches the history.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { NativeConnection, Worker } from '@temporalio/worker';
import { loadConfig } from '../config/index.ts';
import { migrate, openDatabase, type Orm } from '../db/orm.ts';
import { adapterForCloud, nodeTags, uploadTags } from '../providers/index.ts';
import { freePort } from '../scripts/tools.ts';
import { startSimCloud, type SimCloud } from '../simulator/index.ts';
import { createNodepoolWorker } from '../worker/worker.ts';
import { providerInfo } from '../workflows/index.ts';
import { runCli } from './support/cli.ts';
import { cleanupAll } from './support/cleanup.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { connectClient, connectWorker, temporalAddress, uniqueTaskQueue } from './support/temporal.ts';

const APPCRED_SECRET = 'appcred-secret';

/** The history as text with every payload decoded, so a search sees what the Web UI would show. */
function historyText(history: unknown): string {
  // protobufjs renders bytes as base64 in toJSON; payload bytes sit under `data`.
  return JSON.stringify(history, (key, value: unknown) =>
    key === 'data' && typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : value,
  );
}

let dir: string;
let sim: SimCloud;
let db: TestDatabase;
let orm: Orm;
let nativeConnection: NativeConnection;
let client: Client;
let closeClient: () => Promise<void>;
let worker: Worker;
let running: Promise<void>;
let configFile: string;
let cloudEnv: NodeJS.ProcessEnv;
const taskQueue = uniqueTaskQueue('info');

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nodepool-info-'));
  sim = await startSimCloud({ stateDir: join(dir, 'sim'), sshPort: await freePort() });
  writeFileSync(
    join(dir, 'clouds.yaml'),
    [
      'clouds:',
      '  simcloud:',
      '    auth_type: v3applicationcredential',
      '    auth:',
      `      auth_url: ${sim.authUrl}`,
      '      application_credential_id: nodepool-appcred',
      `      application_credential_secret: ${APPCRED_SECRET}`,
      '    region_name: RegionOne',
      '',
    ].join('\n'),
  );
  cloudEnv = { OS_CLIENT_CONFIG_FILE: join(dir, 'clouds.yaml') };
  configFile = join(dir, 'nodepool.yaml');
  writeFileSync(
    configFile,
    [
      'labels: [{name: ubuntu, min-ready: 0}]',
      'diskimages: [{name: ubuntu, elements: [vm]}]',
      'providers:',
      '  - name: sim',
      '    cloud: simcloud',
      '    region-name: RegionOne',
      '    diskimages: [{name: ubuntu}]',
      '    pools: [{name: main, max-servers: 2, labels: [{name: ubuntu, diskimage: ubuntu, flavor-name: m1.tiny}]}]',
      'temporal:',
      `  address: ${temporalAddress()}`,
      `  task-queue: ${taskQueue}`,
      '',
    ].join('\n'),
  );

  db = await createTestDatabase('info');
  orm = await openDatabase({ url: db.url });
  await migrate(orm);
  nativeConnection = await connectWorker();
  ({ client, close: closeClient } = await connectClient());
  worker = await createNodepoolWorker({
    connection: nativeConnection,
    taskQueue,
    orm,
    config: loadConfig(configFile),
    cloudEnv,
  });
  running = worker.run();
});

after(async () => {
  await cleanupAll([
    async () => {
      worker.shutdown();
      await running;
    },
    closeClient,
    () => nativeConnection.close(),
    () => orm.close(),
    () => db.drop(),
    () => sim.close(),
    () => rmSync(dir, { recursive: true, force: true }),
  ]);
});

test('info lists the servers and images nodepool owns, counts foreign ones, and keeps credentials out of Temporal', async () => {
  const adapter = adapterForCloud('simcloud', { env: cloudEnv, fresh: true });
  const file = join(dir, 'tiny.qcow2');
  writeFileSync(file, randomBytes(64 * 1024));
  const image = await adapter.uploadImage({
    path: file,
    name: 'ubuntu-1700000000',
    diskFormat: 'qcow2',
    metadata: uploadTags({ provider: 'sim', uploadId: '168696', imageName: 'ubuntu' }),
  });
  const ours = await adapter.createServer({
    name: 'np0000000001',
    flavor: 'm1.tiny',
    imageId: image.image.id,
    metadata: nodeTags({ provider: 'sim', nodeId: '0000000001', imageName: 'ubuntu' }),
  });
  // Another nodepool's server in the same project: listed as foreign, never shown as ours.
  await adapter.createServer({
    name: 'other-0001',
    flavor: 'm1.tiny',
    imageId: image.image.id,
    metadata: nodeTags({ provider: 'someone-else', nodeId: '1', imageName: 'ubuntu' }),
  });

  const json = await runCli(['-c', configFile, 'info', 'sim', '--json']);
  assert.equal(json.code, 0, json.stderr);
  const snapshot = JSON.parse(json.stdout) as Awaited<ReturnType<typeof providerInfo>>;
  assert.equal(snapshot.cloud, 'simcloud');
  assert.deepEqual(
    snapshot.servers.map((s) => [s.id, s.name, s.nodeId, s.image]),
    [[ours.id, 'np0000000001', '0000000001', 'ubuntu']],
  );
  assert.equal(snapshot.foreignServers, 1);
  assert.deepEqual(
    snapshot.images.map((i) => [i.id, i.uploadId]),
    [[image.image.id, '168696']],
  );
  assert.equal(snapshot.quota.usage.instances, 2);
  assert.ok(snapshot.flavors.some((f) => f.name === 'm1.tiny'));

  const text = await runCli(['-c', configFile, 'info', 'sim']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /Provider sim \(cloud simcloud, region RegionOne/);
  assert.match(text.stdout, /Servers \(1 ours, 1 not ours and never touched\)/);
  assert.match(text.stdout, new RegExp(`\\| ${ours.id} +\\| np0000000001 +\\| active`));
  assert.match(text.stdout, /^\+-+\+/m, 'ASCII borders, as nodepool prints its tables');
  assert.match(text.stdout, /Quota: instances 2\/100/);

  // The same workflow from here: its whole history never carries the cloud's secret.
  const workflowId = `${taskQueue}-history`;
  await client.workflow.execute(providerInfo, { taskQueue, workflowId, args: ['sim'] });
  const history = historyText(await client.workflow.getHandle(workflowId).fetchHistory());
  assert.ok(history.includes('np0000000001'), 'the history holds the snapshot');
  assert.ok(!history.includes(APPCRED_SECRET), 'no credential in the history');
  assert.ok(!history.includes(sim.authUrl.replace(/\/identity$/, '')), 'no endpoint in the history');
});

test('info names the problem: unknown provider (exit 2), no worker on the task queue', async () => {
  const unknown = await runCli(['-c', configFile, 'info', 'nope']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /provider nope is not in .*nodepool\.yaml \(providers: sim\)/);

  const idle = await runCli(['-c', configFile, 'info', 'sim', '--timeout', '2'], {
    env: { NODEPOOL_TASK_QUEUE: uniqueTaskQueue('nobody-home') },
  });
  assert.equal(idle.code, 1);
  assert.match(idle.stderr, /no worker answered on task queue nobody-home-\w+ within 2s/);

  const unreachable = await runCli(['-c', configFile, 'info', 'sim'], {
    env: { TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` },
  });
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /cannot reach the Temporal server at 127\.0\.0\.1:\d+/);
});

test('when the cloud does not answer, info says so instead of blaming the worker', async () => {
  // A cloud that accepts connections and never answers.
  const held: Socket[] = [];
  const hanging = createServer((socket) => held.push(socket));
  await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
  const port = (hanging.address() as AddressInfo).port;
  const clouds = join(dir, 'dead-clouds.yaml');
  writeFileSync(
    clouds,
    [
      'clouds:',
      '  dead:',
      '    auth:',
      `      auth_url: http://127.0.0.1:${port}/identity`,
      '      username: nodepool',
      '      password: secret',
      '      project_name: nodepool',
      '      user_domain_name: Default',
      '      project_domain_name: Default',
      '',
    ].join('\n'),
  );
  const deadQueue = uniqueTaskQueue('info-dead');
  const deadConfig = join(dir, 'dead.yaml');
  writeFileSync(
    deadConfig,
    readFileSync(configFile, 'utf8').replace('cloud: simcloud', 'cloud: dead').replace(taskQueue, deadQueue),
  );
  const deadWorker = await createNodepoolWorker({
    connection: nativeConnection,
    taskQueue: deadQueue,
    orm,
    config: loadConfig(deadConfig),
    cloudEnv: { OS_CLIENT_CONFIG_FILE: clouds },
  });
  const hangUp = () => {
    hanging.close();
    for (const socket of held) socket.destroy();
  };
  try {
    const r = await deadWorker.runUntil(async () => {
      const result = await runCli(['-c', deadConfig, 'info', 'sim', '--timeout', '4']);
      // Let the stuck activity fail now, so the worker need not wait out its HTTP timeout to stop.
      hangUp();
      return result;
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no answer within 4s: the worker is still waiting on the cloud \(attempt 1\)/);
    assert.doesNotMatch(r.stderr, /no worker answered/);
  } finally {
    hangUp();
  }
});
