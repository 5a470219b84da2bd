// Every knob visibly changes the simulator's behaviour, at run time through the admin endpoint, and the
// randomness behind them is reproducible from the seed.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { DEFAULT_KNOBS } from '../simulator/index.ts';
import type { Sim } from './simulator-support.ts';
import { MV, activeImage, api, createServer, issueToken, startSim, until, waitStatus } from './simulator-support.ts';

let sim: Sim;
let token: string;
let imageId: string;

before(async () => {
  sim = await startSim({ seed: 7 });
  token = await issueToken(sim);
  imageId = await activeImage(sim, token);
});
after(async () => sim.dispose());
// A failed test must not leave its knobs behind for the next one.
beforeEach(async () => sim.setKnobs(DEFAULT_KNOBS));

async function setKnobs(patch: unknown) {
  return api(`${sim.baseUrl}/admin/knobs`, { method: 'PUT', json: patch });
}

describe('admin endpoint', () => {
  test('GET returns the knobs, PUT merges and returns the result', async () => {
    const got = await api(`${sim.baseUrl}/admin/knobs`);
    assert.equal(got.status, 200);
    assert.equal(got.body.tokenTtlSeconds, 3600);
    assert.equal(got.body.deletedRetentionSeconds, 3600);
    assert.deepEqual(got.body.quota, { instances: 100, cores: 400, ramMB: 819200, metadataItems: 128, ports: -1 });
    const put = await setKnobs({ quota: { cores: 50 } });
    assert.equal(put.status, 200);
    assert.equal(put.body.quota.cores, 50);
    assert.equal(put.body.quota.instances, 100);
    assert.equal(sim.knobs().quota.cores, 50);
    await setKnobs({ quota: { cores: 400 } });
  });

  test('unknown keys and bad values give 400 naming the problem', async () => {
    const unknown = await setKnobs({ bootTime: 3 });
    assert.equal(unknown.status, 400);
    assert.match(unknown.body.error.message, /bootTime/);
    assert.match(unknown.body.error.message, /Known keys: tokenTtlSeconds/);
    const badOp = await setKnobs({ faults: [{ operation: 'server.reboot', kind: 'error500', rate: 1 }] });
    assert.equal(badOp.status, 400);
    assert.match(badOp.body.error.message, /faults\.0\.operation/);
    const badRange = await setKnobs({ bootSeconds: { min: 2, max: 1 } });
    assert.equal(badRange.status, 400);
    assert.match(badRange.body.error.message, /bootSeconds: min must not exceed max/);
    await assert.rejects(sim.setKnobs({ serverErrorRate: 2 } as never), /serverErrorRate/);
    const badRetention = await setKnobs({ deletedRetentionSeconds: -1 });
    assert.equal(badRetention.status, 400);
    assert.match(badRetention.body.error.message, /deletedRetentionSeconds: .*>=0/);
  });
});

describe('faults', () => {
  test('error500 with count: the first matching request fails in Nova dialect, the next succeeds', async () => {
    await sim.setKnobs({ faults: [{ operation: 'server.list', kind: 'error500', rate: 1, count: 1 }] });
    const failed = await api(`${sim.compute}/servers`, { token });
    assert.equal(failed.status, 500);
    assert.equal(failed.body.computeFault.code, 500);
    assert.match(failed.body.computeFault.message, /^Unexpected API Error/);
    const ok = await api(`${sim.compute}/servers`, { token });
    assert.equal(ok.status, 200);
    const flavors = await api(`${sim.compute}/flavors`, { token });
    assert.equal(flavors.status, 200, 'other operations are untouched');
    await sim.setKnobs({ faults: [] });
  });

  test('error503 on image.list and on auth', async () => {
    await sim.setKnobs({
      faults: [
        { operation: 'image.list', kind: 'error503', rate: 1 },
        { operation: 'auth', kind: 'error503', rate: 1, count: 1 },
      ],
    });
    const images = await api(`${sim.image}/v2/images`, { token });
    assert.equal(images.status, 503);
    assert.match(images.text, /^503 Service Unavailable/);
    const auth = await api(`${sim.authUrl}/v3/auth/tokens`, { method: 'POST', json: {} });
    assert.equal(auth.status, 503);
    assert.equal(auth.body.error.code, 503);
    await sim.setKnobs({ faults: [] });
  });

  test('timeout: the request is never answered', async () => {
    await sim.setKnobs({ faults: [{ operation: 'flavor.list', kind: 'timeout', rate: 1, count: 1 }] });
    await assert.rejects(
      fetch(`${sim.compute}/flavors`, { headers: { 'x-auth-token': token }, signal: AbortSignal.timeout(400) }),
      (err: Error) => err.name === 'TimeoutError',
    );
    assert.equal((await api(`${sim.compute}/flavors`, { token })).status, 200);
    await sim.setKnobs({ faults: [] });
  });

  test('drop: the server is created but the client gets no response', async () => {
    await sim.setKnobs({ faults: [{ operation: 'server.create', kind: 'drop', rate: 1, count: 1 }] });
    await assert.rejects(createServer(sim, token, imageId, { name: 'dropped-create' }), /fetch failed/);
    const list = await api(`${sim.compute}/servers?name=^dropped-create$`, { token });
    assert.equal(list.body.servers.length, 1, 'the action took effect');
    await sim.setKnobs({ faults: [] });
  });

  test('rate limit: 429 with Retry-After, and retryAfter in the Nova body', async () => {
    await sim.setKnobs({ rateLimit: { requestsPerSecond: 3, retryAfterSeconds: 7 } });
    const results = await Promise.all(Array.from({ length: 8 }, () => api(`${sim.compute}/flavors`, { token })));
    await sim.setKnobs({ rateLimit: null });
    const limited = results.filter((r) => r.status === 429);
    assert.ok(limited.length >= 5, `expected at least 5 of 8 limited, got ${limited.length}`);
    assert.equal(limited[0]!.headers.get('retry-after'), '7');
    assert.equal(limited[0]!.body.overLimit.retryAfter, '7');
    assert.equal((await api(`${sim.compute}/flavors`, { token })).status, 200);
  });

  test('latency delays every API request', async () => {
    await sim.setKnobs({ latencyMs: { min: 300, max: 300 } });
    const start = Date.now();
    await api(`${sim.compute}/flavors`, { token });
    const took = Date.now() - start;
    await sim.setKnobs({ latencyMs: { min: 0, max: 0 } });
    assert.ok(took >= 290, `took ${took} ms`);
  });
});

describe('cloud behaviour knobs', () => {
  test('quota: 403 with the Nova template, and limits show it', async () => {
    const used = (await api(`${sim.compute}/limits`, { token })).body.limits.absolute.totalInstancesUsed;
    await sim.setKnobs({ quota: { instances: used, cores: 400, ramMB: 819200, metadataItems: 128 } });
    const r = await createServer(sim, token, imageId, { name: 'over-quota' });
    assert.equal(r.status, 403);
    assert.equal(
      r.body.forbidden.message,
      `Quota exceeded for instances: Requested 1, but already used ${used} of ${used} instances`,
    );
    const limits = await api(`${sim.compute}/limits`, { token });
    assert.equal(limits.body.limits.absolute.maxTotalInstances, used);
    await sim.setKnobs({ quota: { instances: 100, ramMB: 0 } });
    const ram = await createServer(sim, token, imageId, { name: 'over-ram', flavorRef: '2' });
    assert.match(ram.body.forbidden.message, /^Quota exceeded for ram: Requested 2048, but already used \d+ of 0 ram$/);
    await sim.setKnobs({ quota: { ramMB: 819200 } });
  });

  test('serverErrorRate 1: servers end in ERROR with a fault', async () => {
    await sim.setKnobs({ serverErrorRate: 1 });
    const id = (await createServer(sim, token, imageId, { name: 'doomed' })).body.server.id;
    await sim.setKnobs({ serverErrorRate: 0 });
    const s = (await waitStatus(sim, token, id, 'ERROR')).body.server;
    assert.equal(s['OS-EXT-STS:vm_state'], 'error');
    assert.equal(s.fault.code, 500);
    assert.match(s.fault.message, /No valid host was found/);
  });

  test('bootSeconds: a long boot stays in BUILD', async () => {
    await sim.setKnobs({ bootSeconds: { min: 3600, max: 3600 } });
    const id = (await createServer(sim, token, imageId, { name: 'slow' })).body.server.id;
    await sim.setKnobs({ bootSeconds: { min: 0.2, max: 0.5 } });
    const s = (await api(`${sim.compute}/servers/${id}`, { token })).body.server;
    assert.equal(s.status, 'BUILD');
    assert.equal(s['OS-EXT-STS:task_state'], 'scheduling');
  });

  test('hangDeletes: delete answers 204 but the server stays ACTIVE with task_state deleting', async () => {
    const id = (await createServer(sim, token, imageId, { name: 'sticky' })).body.server.id;
    await waitStatus(sim, token, id, 'ACTIVE');
    await sim.setKnobs({ hangDeletes: true });
    const del = await api(`${sim.compute}/servers/${id}`, { method: 'DELETE', token });
    await sim.setKnobs({ hangDeletes: false });
    assert.equal(del.status, 204);
    const s = (await api(`${sim.compute}/servers/${id}`, { token, headers: MV('2.79') })).body.server;
    assert.equal(s.status, 'ACTIVE');
    assert.equal(s['OS-EXT-STS:task_state'], 'deleting');
    const list = await api(`${sim.compute}/servers?name=^sticky$`, { token });
    assert.equal(list.body.servers.length, 1);

    // Deleted while still booting: it finishes booting and still hangs in deleting.
    await sim.setKnobs({ hangDeletes: true });
    const young = (await createServer(sim, token, imageId, { name: 'sticky-young' })).body.server.id;
    assert.equal((await api(`${sim.compute}/servers/${young}`, { method: 'DELETE', token })).status, 204);
    await sim.setKnobs({ hangDeletes: false });
    const booted = (await waitStatus(sim, token, young, 'ACTIVE')).body.server;
    assert.equal(booted['OS-EXT-STS:task_state'], 'deleting');
  });

  test('uploadBytesPerSecond paces uploads and the image is visibly saving meanwhile', async () => {
    await sim.setKnobs({ uploadBytesPerSecond: 256 * 1024 });
    const id = (
      await api(`${sim.image}/v2/images`, {
        method: 'POST',
        token,
        json: { name: 'slow-upload', disk_format: 'raw', container_format: 'bare' },
      })
    ).body.id;
    const start = Date.now();
    const upload = api(`${sim.image}/v2/images/${id}/file`, {
      method: 'PUT',
      token,
      headers: { 'content-type': 'application/octet-stream' },
      body: Buffer.alloc(512 * 1024, 1),
    });
    await until('image saving', async () => {
      const r = await api(`${sim.image}/v2/images/${id}`, { token });
      return r.body.status === 'saving' ? true : undefined;
    });
    const done = await upload;
    const took = Date.now() - start;
    await sim.setKnobs({ uploadBytesPerSecond: null });
    assert.equal(done.status, 204);
    assert.ok(took >= 1500, `512 KiB at 256 KiB/s took only ${took} ms`);
    assert.equal((await api(`${sim.image}/v2/images/${id}`, { token })).body.status, 'active');
  });

  test('tokenTtlSeconds: an expired token gets 401 with WWW-Authenticate', async () => {
    await sim.setKnobs({ tokenTtlSeconds: 0.3 });
    const short = await issueToken(sim);
    await sim.setKnobs({ tokenTtlSeconds: 3600 });
    assert.equal((await api(`${sim.compute}/flavors`, { token: short })).status, 200);
    const expired = await until('token expiry', async () => {
      const r = await api(`${sim.compute}/flavors`, { token: short });
      return r.status === 401 ? r : undefined;
    });
    assert.equal(expired.headers.get('www-authenticate'), `Keystone uri="${sim.authUrl}"`);
    assert.equal(expired.body.error.message, 'The request you have made requires authentication.');
  });
});

describe('determinism', () => {
  async function run(seed: number) {
    const s = await startSim({
      seed,
      knobs: {
        faults: [{ operation: 'flavor.list', kind: 'error500', rate: 0.5 }],
        bootSeconds: { min: 100, max: 200 },
      },
    });
    try {
      const t = await issueToken(s);
      const statuses: number[] = [];
      for (let i = 0; i < 24; i++) statuses.push((await api(`${s.compute}/flavors`, { token: t })).status);
      const img = await activeImage(s, t);
      const server = (await createServer(s, t, img)).body.server.id as string;
      return { statuses, img, server };
    } finally {
      await s.dispose();
    }
  }

  test('the same seed gives the same faults and ids; another seed differs', async () => {
    const a = await run(42);
    const b = await run(42);
    const c = await run(43);
    assert.deepEqual(a, b);
    assert.ok(a.statuses.includes(500) && a.statuses.includes(200));
    assert.notDeepEqual(a.statuses, c.statuses);
    assert.notEqual(a.server, c.server);
  });
});
