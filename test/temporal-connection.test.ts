// Temporal connection settings as the `temporal` CLI has them (flags over TEMPORAL_* over nodepool.yaml), and TLS
// for real: a TLS-terminating proxy with openssl-made certificates in front of the dev server, reached by the
// reference `temporal` CLI, our CLI and the worker process alike; a wrong CA, a wrong name and a missing client
// certificate each fail with one line that says which setting to fix.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { loadConfig, parseConfig } from '../config/index.ts';
import { connectionOptions, resolveTemporalSettings } from '../worker/connection.ts';
import { workerHealth } from '../workflows/index.ts';
import { runCli } from './support/cli.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { until } from './support/poll.ts';
import { connectClient, temporalAddress, uniqueTaskQueue } from './support/temporal.ts';
import { makePki, startTlsProxy, type Pki, type TlsProxy } from './support/tls.ts';

const ROOT = join(import.meta.dirname, '..');

const yaml = (text: string) => parseConfig(text, 'nodepool.yaml');

/** Asynchronously: the TLS proxy lives in this process, and a blocking spawn would stall it. */
function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('settings: flags over TEMPORAL_* over nodepool.yaml over the defaults', () => {
  test('defaults', () => {
    const s = resolveTemporalSettings(undefined, {}, {});
    assert.equal(s.address, 'localhost:7233');
    assert.equal(s.namespace, 'default');
    assert.equal(s.taskQueue, 'nodepool');
    assert.equal(s.security, 'plaintext');
  });

  test('each layer wins over the one below it, field by field', () => {
    const config = yaml(
      'temporal:\n  address: file:1\n  namespace: file-ns\n  task-queue: file-q\n  tls-ca-path: /file/ca.pem\n',
    );
    const fromFile = resolveTemporalSettings(config, {}, {});
    assert.deepEqual([fromFile.address, fromFile.namespace, fromFile.taskQueue], ['file:1', 'file-ns', 'file-q']);
    assert.deepEqual(fromFile.profile.tls?.serverCACert, { path: '/file/ca.pem' });
    assert.equal(fromFile.security, 'TLS', 'a CA alone turns TLS on, as in the temporal CLI');

    const env = {
      TEMPORAL_ADDRESS: 'env:2',
      TEMPORAL_NAMESPACE: 'env-ns',
      NODEPOOL_TASK_QUEUE: 'env-q',
      TEMPORAL_TLS_SERVER_NAME: 'env.name',
    };
    const fromEnv = resolveTemporalSettings(config, env, {});
    assert.deepEqual([fromEnv.address, fromEnv.namespace, fromEnv.taskQueue], ['env:2', 'env-ns', 'env-q']);
    assert.equal(fromEnv.profile.tls?.serverName, 'env.name');
    assert.deepEqual(fromEnv.profile.tls?.serverCACert, { path: '/file/ca.pem' }, "the file's CA stays");

    const fromFlags = resolveTemporalSettings(config, env, {
      address: 'flag:3',
      namespace: 'flag-ns',
      'tls-server-name': 'flag.name',
    });
    assert.deepEqual([fromFlags.address, fromFlags.namespace], ['flag:3', 'flag-ns']);
    assert.equal(fromFlags.profile.tls?.serverName, 'flag.name');
  });

  test("the temporal CLI's environment names, and the older ones it used before", () => {
    const now = resolveTemporalSettings(undefined, {
      TEMPORAL_TLS_CLIENT_CERT_PATH: '/c.pem',
      TEMPORAL_TLS_CLIENT_KEY_PATH: '/k.pem',
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: '/ca.pem',
    });
    const before = resolveTemporalSettings(undefined, {
      TEMPORAL_TLS_CERT: '/c.pem',
      TEMPORAL_TLS_KEY: '/k.pem',
      TEMPORAL_TLS_CA: '/ca.pem',
    });
    assert.deepEqual(now.profile, before.profile);
    assert.equal(now.security, 'mTLS');
  });

  test('an API key turns TLS on; TLS switched off with an API key, or a certificate without its key, is refused', () => {
    assert.equal(resolveTemporalSettings(undefined, { TEMPORAL_API_KEY: 'k' }).security, 'TLS + API key');
    assert.equal(connectionOptions(resolveTemporalSettings(undefined, {}, { 'api-key': 'k' })).tls, true);
    assert.throws(
      () => resolveTemporalSettings(undefined, { TEMPORAL_API_KEY: 'k', TEMPORAL_TLS: 'false' }),
      /API keys are only sent over TLS/,
    );
    assert.throws(() => resolveTemporalSettings(undefined, {}, { 'tls-cert-path': '/c.pem' }), /without its key/);
    assert.throws(
      () => resolveTemporalSettings(undefined, { TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'true' }),
      /--tls-server-name/,
    );
    assert.throws(
      () => connectionOptions(resolveTemporalSettings(undefined, {}, { 'tls-ca-path': '/nonexistent/ca.pem' })),
      /\/nonexistent\/ca\.pem does not exist/,
    );
  });

  test("nodepool.yaml's relative TLS paths are taken from the file's directory", () => {
    const dir = mkdtempSync(join(tmpdir(), 'nodepool-conn-'));
    try {
      const file = join(dir, 'nodepool.yaml');
      writeFileSync(file, 'temporal:\n  tls-cert-path: pki/c.pem\n  tls-key-path: pki/k.pem\n  tls: true\n');
      const s = resolveTemporalSettings(loadConfig(file), {});
      assert.deepEqual(s.profile.tls?.clientCert, { path: join(dir, 'pki', 'c.pem') });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('TLS against a real server', () => {
  let dir: string;
  let pki: Pki;
  let mtls: TlsProxy;
  let db: TestDatabase;
  let client: Client;
  let closeClient: () => Promise<void>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'nodepool-tls-'));
    pki = makePki(dir);
    mtls = await startTlsProxy(temporalAddress(), pki, true);
    db = await createTestDatabase('tls');
    ({ client, close: closeClient } = await connectClient());
  });

  after(async () => {
    await mtls.close();
    await closeClient();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const flags = (ca: string, name = 'temporal.test', withClientCert = true): string[] => [
    '--address',
    mtls.address,
    '--tls-ca-path',
    ca,
    '--tls-server-name',
    name,
    ...(withClientCert ? ['--tls-cert-path', pki.clientCert, '--tls-key-path', pki.clientKey] : []),
  ];

  test('the reference temporal CLI gets through the proxy with these certificates (the setup is right)', async () => {
    const cli = process.env.TEMPORAL_CLI as string;
    const r = await run(cli, ['operator', 'namespace', 'describe', '--namespace', 'default', ...flags(pki.caCert)]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /default/);
  });

  test('our CLI: mTLS by flags works; a wrong CA, a wrong name, no client certificate each say what to fix', async () => {
    const env = { TEMPORAL_ADDRESS: '', NODEPOOL_TASK_QUEUE: uniqueTaskQueue('tls-cli') };
    const ok = await runCli(['image-list', ...flags(pki.caCert)], { env });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /Provider/);

    const cases: [string[], RegExp][] = [
      [flags(pki.otherCaCert), /not signed by the given CA \(--tls-ca-path/],
      [flags(pki.caCert, 'wrong.test'), /not issued for that name; .*--tls-server-name/],
      [flags(pki.caCert, 'temporal.test', false), /refused the TLS handshake \(it may require a client certificate/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['image-list', ...args], { env });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
  });

  test('the worker process: TLS by TEMPORAL_* variables serves its task queue; a wrong CA exits 1 saying so', async () => {
    const taskQueue = uniqueTaskQueue('tls-worker');
    const configFile = join(dir, 'nodepool.yaml');
    writeFileSync(
      configFile,
      [
        `images-dir: ${join(dir, 'images')}`,
        `build-log-dir: ${join(dir, 'logs')}`,
        `temporal:\n  task-queue: ${taskQueue}\n  tls-server-name: temporal.test`,
        `database:\n  url: ${db.url}\n`,
      ].join('\n'),
    );
    const tlsEnv = (ca: string): NodeJS.ProcessEnv => ({
      ...process.env,
      DATABASE_URL: '',
      NODEPOOL_TASK_QUEUE: '',
      TEMPORAL_ADDRESS: mtls.address,
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: ca,
      TEMPORAL_TLS_CLIENT_CERT_PATH: pki.clientCert,
      TEMPORAL_TLS_CLIENT_KEY_PATH: pki.clientKey,
    });

    const bad = await run(
      process.execPath,
      [join(ROOT, 'worker', 'main.ts'), '-c', configFile],
      tlsEnv(pki.otherCaCert),
    );
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /^nodepool-worker: cannot reach .*\(mTLS\): its TLS certificate is not signed by/m);
    assert.doesNotMatch(bad.stderr, /TransportError|\n\s+at /);

    const child = spawn(process.execPath, [join(ROOT, 'worker', 'main.ts'), '-c', configFile], {
      env: tlsEnv(pki.caCert),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    try {
      await until(
        'the worker to poll through the TLS proxy',
        async () => {
          if (child.exitCode !== null) throw new Error(`worker exited ${child.exitCode}:\n${out}`);
          return out.includes('worker polling') ? true : undefined;
        },
        60_000,
      );
      assert.match(out, /"security":"mTLS"/);
      const health = await client.workflow.execute(workerHealth, {
        taskQueue,
        workflowId: `${taskQueue}-health`,
        args: [taskQueue],
        workflowExecutionTimeout: '60 seconds',
      });
      assert.equal(health.taskQueue, taskQueue);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, out);
  });
});
