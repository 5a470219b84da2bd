// What an operator sees when the worker cannot start: one line saying what is wrong and which setting fixes it, a
// non-zero exit, and never a stack trace or a raw gRPC TransportError.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { temporalAddress } from './support/temporal.ts';

const ROOT = join(import.meta.dirname, '..');
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'nodepool-startup-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function runWorker(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'worker', 'main.ts'), ...args], {
      env: { ...process.env, DATABASE_URL: '', TEMPORAL_ADDRESS: '', NODEPOOL_TASK_QUEUE: '', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

function config(name: string, extra = ''): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    `images-dir: ${join(dir, 'images')}\nbuild-log-dir: ${join(dir, 'logs')}\ndatabase:\n  data-dir: ${join(dir, `${name}.db`)}\n${extra}`,
  );
  return file;
}

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

function assertOneLine(stderr: string): string {
  const lines = stderr.split('\n').filter((l) => l.startsWith('nodepool-worker: '));
  assert.equal(lines.length, 1, stderr);
  assert.doesNotMatch(stderr, /\n\s+at |TransportError|ServiceError/, 'no stack trace, no raw gRPC error');
  return lines[0] as string;
}

test('Temporal not reachable: exit 1 naming the address and where it comes from', async () => {
  const port = await closedPort();
  const r = await runWorker(['-c', config('a.yaml')], { TEMPORAL_ADDRESS: `127.0.0.1:${port}` });
  assert.equal(r.code, 1);
  const line = assertOneLine(r.stderr);
  assert.match(line, new RegExp(`cannot reach the Temporal server at 127\\.0\\.0\\.1:${port} \\(plaintext\\)`));
  assert.match(line, /Connection refused.*--address, TEMPORAL_ADDRESS or temporal\.address/);

  const dns = await runWorker(['-c', config('b.yaml'), '--address', 'no-such-host.invalid:7233'], {});
  assert.equal(dns.code, 1);
  assert.match(assertOneLine(dns.stderr), /cannot resolve the Temporal address no-such-host\.invalid:7233/);
});

test('PostgreSQL not reachable: exit 1 naming the (redacted) URL and DATABASE_URL', async () => {
  const port = await closedPort();
  const r = await runWorker(['-c', config('c.yaml')], {
    TEMPORAL_ADDRESS: temporalAddress(),
    DATABASE_URL: `postgres://nodepool:s3cret@127.0.0.1:${port}/nodepool`,
  });
  assert.equal(r.code, 1);
  const line = assertOneLine(r.stderr);
  assert.match(
    line,
    new RegExp(`cannot open the database postgres://nodepool:\\*\\*\\*@127\\.0\\.0\\.1:${port}/nodepool`),
  );
  assert.match(line, /check DATABASE_URL or database\.url/);
  assert.doesNotMatch(r.stderr, /s3cret/);
});

test('the embedded database in use by another process: exit 1 saying which and what to do', async () => {
  const file = config('d.yaml');
  const dataDir = join(dir, 'd.yaml.db');
  mkdirSync(dataDir, { recursive: true });
  // This test process holds it, as a running worker or `nodepool up` would.
  writeFileSync(`${dataDir}.lock`, `${process.pid}\n`);
  const r = await runWorker(['-c', file], { TEMPORAL_ADDRESS: temporalAddress() });
  assert.equal(r.code, 1);
  assert.match(
    assertOneLine(r.stderr),
    new RegExp(`the embedded database ${dataDir} is in use by process ${process.pid}; stop it, or give every process`),
  );
});

test('a mistyped flag: exit 2 with the usage', async () => {
  const r = await runWorker(['-c', config('e.yaml'), '--adress', 'x:1'], {});
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Unknown option '--adress'/);
  assert.match(r.stderr, /--address VALUE/);
});
