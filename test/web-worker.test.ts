// The status server as the worker runs it: the real worker process serves it on nodepool.yaml's webapp port,
// on loopback only unless listen_address says otherwise, reports ready once it polls, and stops with it; a
// port already taken is a clear error (or, in the worker, a logged one that does not stop the work).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../config/index.ts';
import { freePort } from '../scripts/tools.ts';
import { StatusServerError, startStatusServer } from '../web/server.ts';
import { createNodepoolEnv, type NodepoolEnv } from './support/nodepool.ts';
import { until } from './support/poll.ts';
import { get, hasMetric, scrape, tryConnect } from './support/web.ts';

let env: NodepoolEnv;
let port: number;

before(async () => {
  port = await freePort();
  env = await createNodepoolEnv({
    prefix: 'webworker',
    config: `
webapp:
  port: ${port}
temporal:
  address: {{temporal}}
  task-queue: {{taskQueue}}
images-dir: {{dir}}/images
build-log-dir: {{dir}}/logs
`,
  });
});

after(async () => {
  await env?.close();
});

test('the worker process serves the status pages on 127.0.0.1 only, is ready once it polls, and stops them with itself', async () => {
  const child = await env.spawnWorker();
  const base = `http://127.0.0.1:${port}/`;
  await until('/ready to answer 200', async () => ((await get(`${base}ready`)).status === 200 ? true : undefined));
  assert.equal((await get(`${base}ready`)).body, 'OK\n');
  // Loopback by default: the same port on another address of the machine has no one listening.
  assert.equal(await tryConnect('127.0.0.2', port), 'ECONNREFUSED');
  const samples = await scrape(base);
  assert.ok(hasMetric(samples, 'process_resident_memory_bytes'), 'the process metrics');
  assert.ok(
    (await get(`${base}metrics`)).body.includes('# TYPE nodepool_launches_total counter'),
    "nodepool's metrics",
  );
  const list = await get(`${base}label-list`, 'application/json');
  assert.deepEqual([list.status, JSON.parse(list.body)], [200, []]);

  child.kill('SIGTERM');
  const code = await until('the worker to exit after SIGTERM', async () => child.exitCode ?? undefined, 60_000);
  assert.equal(code, 0);
  assert.equal(await tryConnect('127.0.0.1', port), 'ECONNREFUSED');
});

test("listen_address and port come from nodepool.yaml's webapp; a port in use is a clear error", async () => {
  const other = await freePort();
  const file = join(env.dir, 'webapp.yaml');
  writeFileSync(file, `webapp:\n  port: ${other}\n  listen_address: 127.0.0.2\n`);
  const config = loadConfig(file);
  const opts = { config, client: env.client, orm: env.orm, taskQueue: env.taskQueue };
  const server = await startStatusServer(opts);
  assert.ok(server);
  try {
    assert.equal(server.url, `http://127.0.0.2:${other}/`);
    assert.equal(await tryConnect('127.0.0.2', other), 'connected');
    assert.equal(await tryConnect('127.0.0.1', other), 'ECONNREFUSED');

    await assert.rejects(
      startStatusServer(opts),
      (err: Error) =>
        err instanceof StatusServerError &&
        err.message ===
          `cannot serve status pages on 127.0.0.2:${other}: the port is in use; set webapp.port / webapp.listen_address in nodepool.yaml`,
    );
    // The worker passes its log: the error is logged and the worker goes on without status pages.
    const logged: string[] = [];
    const log = { info: () => {}, error: (_: object, msg: string) => void logged.push(msg) };
    assert.equal(await startStatusServer({ ...opts, log }), undefined);
    assert.deepEqual(logged, [
      `cannot serve status pages on 127.0.0.2:${other}: the port is in use; set webapp.port / webapp.listen_address in nodepool.yaml`,
    ]);
  } finally {
    await server.close();
  }
  assert.equal(await tryConnect('127.0.0.2', other), 'ECONNREFUSED');
});
