// The simulator as a long-lived thing: real SSH endpoints on loopback, state that survives a restart,
// and the `nodepool sim-cloud` command.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import ssh2 from 'ssh2';
import { runCli } from './support/cli.ts';
import type { Sim } from './simulator-support.ts';
import { FLUSH_INTERVAL_MS, stateFileWrites, type ImageRecord } from '../simulator/state.ts';
import {
  MV,
  activeImage,
  api,
  createServer,
  issueToken,
  startSim,
  tempDir,
  until,
  waitStatus,
} from './simulator-support.ts';

const ROOT = join(import.meta.dirname, '..');

interface StateFile {
  servers: Record<string, { address: string; status: string }>;
  deletedServers: Record<string, { status: string }>;
  images: Record<string, ImageRecord>;
}

function readState(stateDir: string): StateFile {
  return JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as StateFile;
}

/** Server ids that changes-since=2000 lists (every server, deleted ones included while retained), by status. */
async function changesSince(sim: Sim, token: string): Promise<Map<string, string>> {
  const r = await api(`${sim.compute}/servers/detail?changes-since=2000-01-01T00:00:00Z&limit=1000`, {
    token,
    headers: MV('2.79'),
  });
  assert.equal(r.status, 200, r.text);
  return new Map((r.body.servers as Array<{ id: string; status: string }>).map((s) => [s.id, s.status]));
}

interface HandshakeResult {
  hostKey: Buffer;
  exitCode: number | null;
}

/** Connects with a real SSH client, records the host key offered, runs `true`. */
function sshHandshake(host: string, port: number, expectedKey?: Buffer): Promise<HandshakeResult> {
  return new Promise((resolve, reject) => {
    const client = new ssh2.Client();
    let offered: Buffer | undefined;
    const timer = setTimeout(() => {
      client.end();
      reject(new Error(`ssh to ${host}:${port} timed out`));
    }, 10_000);
    client.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    client.on('ready', () => {
      client.exec('true', (err, stream) => {
        if (err) return reject(err);
        stream.on('exit', (code: number | null) => {
          clearTimeout(timer);
          client.end();
          resolve({ hostKey: offered!, exitCode: code });
        });
        stream.resume();
      });
    });
    client.connect({
      host,
      port,
      username: 'root',
      password: 'irrelevant',
      readyTimeout: 8000,
      hostVerifier: (key: Buffer) => {
        offered = key;
        return expectedKey === undefined || key.equals(expectedKey);
      },
    });
  });
}

/** The host key as cloud-init prints it in the console log, parsed to the wire blob ssh2 hands hostVerifier. */
async function consoleHostKey(sim: Sim, token: string, id: string): Promise<Buffer> {
  const out = await api(`${sim.compute}/servers/${id}/action`, {
    method: 'POST',
    token,
    json: { 'os-getConsoleOutput': { length: null } },
  });
  assert.equal(out.status, 200);
  const block = /-----BEGIN SSH HOST KEY KEYS-----\n(.+)\n-----END SSH HOST KEY KEYS-----/.exec(out.body.output);
  assert.ok(block, `no host key block in console output:\n${out.body.output}`);
  const parsed = ssh2.utils.parseKey(block[1]!);
  if (parsed instanceof Error) throw parsed;
  return parsed.getPublicSSH();
}

describe('ssh endpoints', () => {
  let sim: Sim;
  after(async () => sim?.dispose());

  test('an ACTIVE server answers a real SSH handshake with the host key its console log printed', async () => {
    sim = await startSim({ seed: 3 });
    const token = await issueToken(sim);
    const image = await activeImage(sim, token);
    const id = (await createServer(sim, token, image)).body.server.id;
    const server = (await waitStatus(sim, token, id, 'ACTIVE')).body.server;
    const addr = server.addresses.private[0].addr as string;
    const expected = await consoleHostKey(sim, token, id);
    const result = await sshHandshake(addr, 2222, expected);
    assert.ok(result.hostKey.equals(expected));
    assert.equal(result.exitCode, 0);

    // A second server gets its own address and its own key.
    const id2 = (await createServer(sim, token, image, { name: 'vm2' })).body.server.id;
    const server2 = (await waitStatus(sim, token, id2, 'ACTIVE')).body.server;
    assert.notEqual(server2.addresses.private[0].addr, addr);
    assert.ok(!(await consoleHostKey(sim, token, id2)).equals(expected));

    // Deleting the server takes its endpoint away.
    await api(`${sim.compute}/servers/${id2}`, { method: 'DELETE', token });
    await assert.rejects(sshHandshake(server2.addresses.private[0].addr, 2222));
  });

  test('a server still in BUILD refuses the handshake', async () => {
    const token = await issueToken(sim);
    const image = await activeImage(sim, token);
    await sim.setKnobs({ bootSeconds: { min: 3600, max: 3600 } });
    const id = (await createServer(sim, token, image, { name: 'booting' })).body.server.id;
    await sim.setKnobs({ bootSeconds: { min: 0.2, max: 0.5 } });
    // The address is not published during BUILD; find it the way an operator could not, to prove the point.
    // State is written a few ms after a change, so wait for the new server to reach the file.
    const addr = await until(
      'the BUILD server in state.json',
      async () => readState(sim.stateDir).servers[id]?.address,
    );
    await assert.rejects(sshHandshake(addr, 2222));
  });
});

describe('restart', () => {
  test('servers, images, image data, tokens and host keys survive close and start on the same state dir', async () => {
    const stateDir = tempDir();
    try {
      const first = await startSim({ stateDir, seed: 5 });
      const token = await issueToken(first);
      const data = Buffer.from('persisted image bytes');
      const imageId = await activeImage(first, token, data);
      const id = (await createServer(first, token, imageId, { metadata: { keep: 'me' } })).body.server.id;
      const before = (await waitStatus(first, token, id, 'ACTIVE')).body.server;
      const key = await consoleHostKey(first, token, id);
      const building = (await createServer(first, token, imageId, { name: 'mid-boot' })).body.server.id;
      await first.close();

      const second = await startSim({ stateDir, seed: 5 });
      await assert.rejects(startSim({ stateDir }), /state dir .* is in use by another simulator \(pid \d+\)/);
      try {
        assert.notEqual(second.baseUrl, '', 'restarted');
        const after = (
          await api(`${second.compute}/servers/${id}`, { token, headers: { 'OpenStack-API-Version': 'compute 2.79' } })
        ).body.server;
        assert.equal(after.status, 'ACTIVE');
        assert.equal(after.metadata.keep, 'me');
        assert.deepEqual(after.addresses, before.addresses);
        await waitStatus(second, token, building, 'ACTIVE');
        const img = await api(`${second.image}/v2/images/${imageId}`, { token });
        assert.equal(img.body.status, 'active');
        const file = await fetch(`${second.image}/v2/images/${imageId}/file`, { headers: { 'x-auth-token': token } });
        assert.ok(Buffer.from(await file.arrayBuffer()).equals(data));
        const hs = await sshHandshake(after.addresses.private[0].addr, 2222, key);
        assert.ok(hs.hostKey.equals(key));
        // New ids do not collide with old ones: the id stream continues where it stopped.
        const newId = (await createServer(second, token, imageId)).body.server.id;
        assert.notEqual(newId, id);
        assert.notEqual(newId, building);
      } finally {
        await second.close();
      }
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

describe('persistence at pool sizes', () => {
  test('quick changes are coalesced into few writes, and close writes them all for a restart to see', async () => {
    const stateDir = tempDir();
    const fast = { bootSeconds: { min: 0, max: 0 }, quota: { instances: -1, cores: -1, ramMB: -1 } };
    let first: Sim | undefined;
    try {
      first = await startSim({ stateDir, seed: 11, knobs: fast });
      const token = await issueToken(first);
      const imageId = await activeImage(first, token);
      const writesBefore = stateFileWrites(stateDir);
      const started = Date.now();
      const ids: string[] = [];
      for (let i = 0; i < 200; i++) {
        const r = await createServer(first, token, imageId, { name: `quick-${i}` });
        assert.equal(r.status, 202, r.text);
        ids.push(r.body.server.id as string);
      }
      const deleted = ids.slice(0, 50);
      for (const id of deleted) {
        assert.equal((await api(`${first.compute}/servers/${id}`, { method: 'DELETE', token })).status, 204);
      }
      // The last change of all is a create whose response is dropped: performed, never acknowledged.
      await first.setKnobs({ faults: [{ operation: 'server.create', kind: 'drop', rate: 1, count: 1 }] });
      await assert.rejects(createServer(first, token, imageId, { name: 'dropped' }));
      const elapsed = Date.now() - started;
      const writes = stateFileWrites(stateDir) - writesBefore;
      // One write per interval at most (10 % slack for timers firing a little early, plus the one in flight).
      assert.ok(writes <= Math.ceil(elapsed / (FLUSH_INTERVAL_MS * 0.9)) + 1, `${writes} writes in ${elapsed} ms`);
      assert.ok(writes < 100, `251 changes took ${writes} writes of state.json`);
      const closing = first;
      first = undefined;
      await closing.close();
      assert.equal(stateFileWrites(stateDir) - writesBefore, writes + 1, 'close writes once more');

      const second = await startSim({ stateDir, seed: 11, knobs: fast });
      try {
        const seen = await changesSince(second, token);
        for (const id of ids.slice(50)) assert.equal(seen.get(id), 'ACTIVE', `server ${id} after restart`);
        for (const id of deleted) assert.equal(seen.get(id), 'DELETED', `deleted server ${id} after restart`);
        const live = await api(`${second.compute}/servers?limit=1000`, { token });
        const names = (live.body.servers as Array<{ name: string }>).map((s) => s.name);
        assert.equal(names.length, 151);
        assert.ok(names.includes('dropped'), 'the create whose response was dropped survived the restart');
      } finally {
        await second.close();
      }
    } finally {
      await first?.close();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  test('a state.json from before tombstones were kept apart still loads, tombstones and all', async () => {
    const stateDir = tempDir();
    try {
      const first = await startSim({ stateDir, seed: 13 });
      const token = await issueToken(first);
      const imageId = await activeImage(first, token);
      const gone = (await createServer(first, token, imageId, { name: 'gone' })).body.server.id as string;
      const live = (await createServer(first, token, imageId, { name: 'live' })).body.server.id as string;
      assert.equal((await api(`${first.compute}/servers/${gone}`, { method: 'DELETE', token })).status, 204);
      await first.close();
      // The old layout: DELETED servers among the live ones, no deletedServers.
      const raw = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as Record<string, unknown> & StateFile;
      raw.servers[gone] = raw.deletedServers[gone] as StateFile['servers'][string];
      delete (raw as Partial<StateFile>).deletedServers;
      writeFileSync(join(stateDir, 'state.json'), JSON.stringify(raw));

      const second = await startSim({ stateDir, seed: 13 });
      try {
        const seen = await changesSince(second, token);
        assert.equal(seen.get(gone), 'DELETED');
        assert.equal(seen.has(live), true);
        const listed = await api(`${second.compute}/servers`, { token });
        assert.deepEqual(
          (listed.body.servers as Array<{ id: string }>).map((s) => s.id),
          [live],
        );
        assert.equal((await api(`${second.compute}/servers/${gone}`, { token })).status, 404);
      } finally {
        await second.close();
      }
      assert.ok(readState(stateDir).deletedServers[gone], 'rewritten in the new layout');
      assert.equal(readState(stateDir).servers[gone], undefined);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  test('an import cut short by a stop is staged again on restart, its task failed', async () => {
    const stateDir = tempDir();
    try {
      const first = await startSim({ stateDir, seed: 14 });
      const token = await issueToken(first);
      const created = await api(`${first.image}/v2/images`, {
        method: 'POST',
        token,
        json: { name: 'cut', disk_format: 'raw', container_format: 'bare' },
      });
      const id = created.body.id as string;
      await api(`${first.image}/v2/images/${id}/stage`, {
        method: 'PUT',
        token,
        headers: { 'content-type': 'application/octet-stream' },
        body: Buffer.from('staged'),
      });
      await first.close();
      // What a stop in the middle of the import leaves: the image importing, its task processing.
      const raw = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')) as StateFile;
      const img = raw.images[id]!;
      img.status = 'importing';
      img.tasks = [
        {
          id: 't1',
          type: 'api_image_import',
          status: 'processing',
          owner: img.owner,
          userId: 'u',
          requestId: 'req-1',
          method: 'glance-direct',
          message: '',
          createdAt: img.createdAt,
          updatedAt: img.createdAt,
        },
      ];
      writeFileSync(join(stateDir, 'state.json'), JSON.stringify(raw));
      const second = await startSim({ stateDir, seed: 14 });
      try {
        assert.equal((await api(`${second.image}/v2/images/${id}`, { token })).body.status, 'uploading');
        const tasks = await api(`${second.image}/v2/images/${id}/tasks`, { token });
        assert.equal(tasks.body.tasks[0].status, 'failure');
        const again = await api(`${second.image}/v2/images/${id}/import`, {
          method: 'POST',
          token,
          json: { method: { name: 'glance-direct' } },
        });
        assert.equal(again.status, 202);
        await until('imported', async () =>
          (await api(`${second.image}/v2/images/${id}`, { token })).body.status === 'active' ? true : undefined,
        );
      } finally {
        await second.close();
      }
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  test('deleted servers leave changes-since and state.json after deletedRetentionSeconds', async () => {
    const sim = await startSim({ seed: 12, knobs: { bootSeconds: { min: 0, max: 0 } } });
    try {
      const token = await issueToken(sim);
      const imageId = await activeImage(sim, token);
      const old = (await createServer(sim, token, imageId, { name: 'old' })).body.server.id as string;
      const recent = (await createServer(sim, token, imageId, { name: 'recent' })).body.server.id as string;
      const kept = (await createServer(sim, token, imageId, { name: 'kept' })).body.server.id as string;
      assert.equal((await api(`${sim.compute}/servers/${old}`, { method: 'DELETE', token })).status, 204);
      const oldDeleted = Date.now();
      // Retention is wall-clock time: let the first tombstone age past the short retention set below.
      await until('the first delete to age 4 s', async () => (Date.now() - oldDeleted >= 4000 ? true : undefined));
      assert.equal((await changesSince(sim, token)).get(old), 'DELETED', 'kept under the default retention');

      // Retention 2.5 s: the old tombstone (4 s) is past it; a delete and a list have 2.5 s to answer.
      await sim.setKnobs({ deletedRetentionSeconds: 2.5 });
      const recentDeleting = Date.now();
      assert.equal((await api(`${sim.compute}/servers/${recent}`, { method: 'DELETE', token })).status, 204);
      const seen = await changesSince(sim, token);
      assert.ok(Date.now() - recentDeleting < 2500, 'the machine answered a delete and a list within 2.5 s');
      assert.equal(seen.has(old), false, 'a tombstone past retention is forgotten');
      assert.equal(seen.get(recent), 'DELETED', 'a recent tombstone stays');
      assert.equal(seen.get(kept), 'ACTIVE');
      assert.equal((await api(`${sim.compute}/servers/${old}`, { token })).status, 404);

      const onDisk = await until('state.json without the old tombstone', async () => {
        const state = readState(sim.stateDir);
        return state.deletedServers[old] === undefined ? state : undefined;
      });
      assert.equal(onDisk.servers[old], undefined);
      assert.equal(onDisk.deletedServers[recent]?.status, 'DELETED', 'the recent tombstone is written');
      assert.ok(onDisk.servers[kept], 'live servers stay in state.json');
    } finally {
      await sim.dispose();
    }
  });
});

describe('nodepool sim-cloud', () => {
  test('runs in the foreground, prints the auth URL and a clouds.yaml, stops on SIGINT', async () => {
    const stateDir = tempDir();
    const child = spawn(
      process.execPath,
      [join(ROOT, 'cli', 'main.ts'), 'sim-cloud', '--state-dir', stateDir, '--region', 'R1', '--region', 'R2'],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    try {
      await until(
        'sim-cloud to print a clouds.yaml',
        async () => (/region_name: R1/.test(out) ? true : undefined),
        30_000,
      );
      const authUrl = /auth URL (\S+)/.exec(out)![1]!;
      assert.match(out, new RegExp(`auth_url: ${authUrl}`));
      assert.match(out, /application_credential_id: nodepool-appcred/);
      const discovery = await api(authUrl);
      assert.equal(discovery.status, 300);
      const token = await issueToken({ authUrl } as never);
      const r2 = await api(`${authUrl.replace(/\/identity$/, '')}/R2/compute/v2.1/flavors`, { token });
      assert.equal(r2.status, 200);
    } finally {
      child.kill('SIGINT');
      assert.equal(await exited, 0);
      rmSync(stateDir, { recursive: true, force: true });
    }
    assert.match(out, /sim-cloud stopped/);
  });

  test('a bad --knobs file exits non-zero naming the file and the key', async () => {
    const dir = tempDir();
    try {
      const file = join(dir, 'knobs.json');
      writeFileSync(file, JSON.stringify({ bootSecs: 1 }));
      const r = await runCli(['sim-cloud', '--state-dir', join(dir, 'state'), '--knobs', file]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--knobs .*knobs\.json: invalid knobs: .*bootSecs/);
      writeFileSync(file, '{not json');
      const r2 = await runCli(['sim-cloud', '--state-dir', join(dir, 'state'), '--knobs', file]);
      assert.equal(r2.code, 2);
      assert.match(r2.stderr, /not valid JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
