// The OpenStack driver against the cloud simulator: every adapter operation, pagination, re-authentication,
// the typed error for each failure, idempotent creates, and a streamed 1 GiB upload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { openSync, closeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import type { Server } from '../providers/adapter.ts';
import { Invalid, NotFound, QuotaExceeded, RateLimited, Transient } from '../providers/errors.ts';
import { uploadTags } from '../providers/tags.ts';
import { until } from './support/poll.ts';
import { APPCRED_SECRET, PASSWORD, cloud, rejection, spec, uploadSmall } from './providers-support.ts';

test('password and application-credential auth both reach Nova and list the m1 flavors', async (t) => {
  const c = await cloud(t);
  for (const name of ['sim', 'sim-appcred']) {
    const flavors = await c.adapter(name).listFlavors();
    const names = flavors.map((f) => f.name);
    for (const wanted of ['m1.tiny', 'm1.small', 'm1.medium', 'm1.large']) assert.ok(names.includes(wanted), name);
    for (const f of flavors) assert.ok(f.vcpus > 0 && f.ramMB > 0 && typeof f.id === 'string', JSON.stringify(f));
  }
});

test('server lifecycle: create, poll to active, list with metadata, quota usage, delete until 404', async (t) => {
  const c = await cloud(t);
  const a = c.adapter();
  const { image } = await uploadSmall(a, c.smallImage);
  const created = await a.createServer(spec(image.id, '0000000001'));
  assert.equal(created.state, 'building');
  const active = await until('server ACTIVE', async () => {
    const s = await a.getServer(created.id);
    assert.notEqual(s.state, 'error', s.fault);
    return s.state === 'active' ? s : undefined;
  });
  assert.equal(active.name, 'np-0000000001');
  assert.equal(active.metadata.nodepool_node_id, '0000000001');
  assert.equal(active.imageId, image.id);
  assert.equal(active.flavor.vcpus, 1);
  assert.ok(active.addresses.publicIpv4 ?? active.addresses.privateIpv4, 'an ACTIVE server has an address');

  const listed = (await a.listServers()).find((s) => s.id === created.id);
  assert.deepEqual(listed?.metadata, active.metadata);
  const quota = await a.getQuota();
  assert.equal(quota.usage.instances, 1);
  assert.ok(quota.usage.cores >= 1 && quota.usage.ramMB >= 1);

  assert.equal(await a.deleteServer(created.id), 'deleted');
  await until('server gone', async () => {
    const err = await a.getServer(created.id).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (err === undefined) return undefined;
    assert.ok(err instanceof NotFound, String(err));
    return true;
  });
  assert.equal(await a.deleteServer(created.id), 'already-gone');
});

test('servers and images are listed across pages', async (t) => {
  const c = await cloud(t);
  const a = c.adapter('sim', { pageSize: 2 });
  const images = [];
  for (let i = 0; i < 5; i++) images.push((await uploadSmall(a, c.smallImage)).image.id);
  const listedImages = (await a.listImages()).map((i) => i.id);
  for (const id of images) assert.ok(listedImages.includes(id), `image ${id} listed`);
  assert.equal(new Set(listedImages).size, listedImages.length, 'no image listed twice');

  const servers = [];
  for (let i = 0; i < 5; i++) servers.push((await a.createServer(spec(images[0]!, `page-${i}`))).id);
  const listed = (await a.listServers()).map((s) => s.id);
  assert.deepEqual([...listed].sort(), [...servers].sort());
});

test('a create whose response is lost is retried into the same server, never a second one', async (t) => {
  const c = await cloud(t);
  const a = c.adapter('sim', { timeoutMs: 5000 });
  const { image } = await uploadSmall(a, c.smallImage);
  await c.sim.setKnobs({ faults: [{ operation: 'server.create', kind: 'drop', rate: 1, count: 1 }] });
  const lost = await rejection(a.createServer(spec(image.id, '0000000007')));
  assert.ok(lost instanceof Transient, String(lost));
  const retried = await a.createServer(spec(image.id, '0000000007'));
  const mine = (await a.listServers()).filter((s: Server) => s.name === 'np-0000000007');
  assert.equal(mine.length, 1, 'exactly one server');
  assert.equal(mine[0]!.id, retried.id);
});

test('an expired token is renewed before use, and a 401 (a token the clock thinks fresh) re-authenticates once', async (t) => {
  const c = await cloud(t, { tokenTtlSeconds: 1 });
  const a = c.adapter();
  await a.listFlavors();
  assert.equal(a.authCount, 1);
  await until('a renewed token', async () => {
    await a.listFlavors();
    return a.authCount >= 2 ? true : undefined;
  });

  // A clock that has stopped believes every token is fresh, so only Nova's 401 can make it re-authenticate.
  const stopped = Date.now();
  const skewed = c.adapter('sim', { now: () => stopped });
  await skewed.listFlavors();
  const before = skewed.authCount;
  await until('re-authentication after 401', async () => {
    await skewed.listFlavors();
    return skewed.authCount > before ? true : undefined;
  });
});

test('5xx and timeouts are Transient, 404 NotFound, quota QuotaExceeded, bad requests Invalid', async (t) => {
  const c = await cloud(t);
  const a = c.adapter('sim', { timeoutMs: 500 });

  for (const [kind, status] of [
    ['error500', 500],
    ['error503', 503],
  ] as const) {
    await c.sim.setKnobs({ faults: [{ operation: 'flavor.list', kind, rate: 1, count: 1 }] });
    const err = await rejection(a.listFlavors());
    assert.ok(err instanceof Transient, `${kind}: ${String(err)}`);
    assert.equal(err.status, status);
    await a.listFlavors();
  }

  await c.sim.setKnobs({ faults: [{ operation: 'server.list', kind: 'timeout', rate: 1, count: 1 }] });
  const slow = await rejection(a.listServers());
  assert.ok(slow instanceof Transient, String(slow));
  assert.match(slow.message, /within 500 ms/);

  await c.sim.setKnobs({ faults: [{ operation: 'auth', kind: 'error500', rate: 1, count: 1 }] });
  const authDown = await rejection(c.adapter().listFlavors());
  assert.ok(authDown instanceof Transient, String(authDown));
  await c.sim.setKnobs({ faults: [] });

  const missing = await rejection(a.getServer(randomUUID()));
  assert.ok(missing instanceof NotFound, String(missing));
  assert.equal(missing.status, 404);
  const noImage = await rejection(a.getImage(randomUUID()));
  assert.ok(noImage instanceof NotFound, String(noImage));
  assert.equal(await a.deleteImage(randomUUID()), 'already-gone');

  const { image } = await uploadSmall(a, c.smallImage);
  const badFlavor = await rejection(a.createServer(spec(image.id, 'x1', 'm1.enormous')));
  assert.ok(badFlavor instanceof Invalid, String(badFlavor));
  assert.match(badFlavor.message, /flavor m1\.enormous not found.*m1\.tiny/);
  const badImage = await rejection(a.createServer(spec('not-a-uuid', 'x2')));
  assert.ok(badImage instanceof Invalid, String(badImage));
  assert.equal(badImage.status, 400);

  await c.sim.setKnobs({ quota: { instances: 1, cores: 100, ramMB: 100_000, metadataItems: 128 } });
  const quota = await a.getQuota();
  assert.equal(quota.limits.instances, 1);
  await a.createServer(spec(image.id, 'q1'));
  const over = await rejection(a.createServer(spec(image.id, 'q2')));
  assert.ok(over instanceof QuotaExceeded, String(over));
  assert.equal(over.status, 403);
  assert.match(over.message, /Quota exceeded for instances/);
});

test('429 is RateLimited with the Retry-After the cloud sent', async (t) => {
  const c = await cloud(t);
  const a = c.adapter();
  await a.listFlavors();
  await c.sim.setKnobs({ rateLimit: { requestsPerSecond: 1, retryAfterSeconds: 3 } });
  const err = await until('a 429', async () => {
    const e = await a.listFlavors().then(
      () => undefined,
      (x: unknown) => x,
    );
    return e;
  });
  assert.ok(err instanceof RateLimited, String(err));
  assert.equal(err.status, 429);
  assert.equal(err.retryAfterMs, 3000);
});

test('a snapshot of a server becomes a tagged image', async (t) => {
  const c = await cloud(t);
  const a = c.adapter();
  const { image } = await uploadSmall(a, c.smallImage);
  const server = await a.createServer(spec(image.id, 'snap'));
  await until('server ACTIVE', async () => ((await a.getServer(server.id)).state === 'active' ? true : undefined));
  const tags = uploadTags({ provider: 'sim', uploadId: 'snap-1', imageName: 'ubuntu' });
  const snapId = await a.createServerImage(server.id, 'snapshot-1', tags);
  const snap = await until('snapshot active', async () => {
    const i = await a.getImage(snapId);
    return i.state === 'active' ? i : undefined;
  });
  assert.equal(snap.name, 'snapshot-1');
  assert.equal(snap.metadata.nodepool_upload_id, 'snap-1');
  // A retried snapshot (its first response lost) finds the first one: exactly one image, one id.
  assert.equal(await a.createServerImage(server.id, 'snapshot-1', tags), snapId);
  assert.equal((await a.listImages({ name: 'snapshot-1' })).length, 1);

  // The cloud takes the snapshot but the answer is lost: the retry returns that snapshot, not a second one.
  await c.sim.setKnobs({ faults: [{ operation: 'server.action', kind: 'drop', rate: 1, count: 1 }] });
  const tags2 = uploadTags({ provider: 'sim', uploadId: 'snap-2', imageName: 'ubuntu' });
  const lost = await rejection(a.createServerImage(server.id, 'snapshot-2', tags2));
  assert.ok(lost instanceof Transient, String(lost));
  const retried = await a.createServerImage(server.id, 'snapshot-2', tags2);
  assert.deepEqual(
    (await a.listImages({ name: 'snapshot-2' })).map((i) => i.id),
    [retried],
  );
});

test('uploads are idempotent, checksum-verified, and deleted images read as gone', async (t) => {
  const c = await cloud(t);
  const a = c.adapter();
  const first = await uploadSmall(a, c.smallImage, 'upload-1');
  assert.equal(first.image.state, 'active');
  assert.ok(first.verifiedBy, 'the cloud reported a checksum we matched');
  assert.equal(first.image.diskFormat, 'qcow2');
  assert.equal(first.image.metadata.nodepool_upload_id, 'upload-1');
  const again = await uploadSmall(a, c.smallImage, 'upload-1');
  assert.equal(again.image.id, first.image.id, 'a retried upload reuses the finished image');
  assert.equal((await a.listImages({ name: 'img-upload-1' })).length, 1);
  assert.equal(await a.deleteImage(first.image.id), 'deleted');
  await until('image gone', async () =>
    a.getImage(first.image.id).then(
      () => undefined,
      (e: unknown) => (e instanceof NotFound ? true : undefined),
    ),
  );
});

test('a 1 GiB sparse image streams with flat memory and a verified checksum', async (t) => {
  const c = await cloud(t, { uploadBytesPerSecond: null });
  const a = c.adapter('sim', { timeoutMs: 30_000 });
  const path = join(c.dir, 'big.raw');
  const fd = openSync(path, 'w');
  ftruncateSync(fd, 1024 ** 3);
  closeSync(fd);
  const start = process.memoryUsage();
  let peakRss = start.rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 25);
  try {
    const result = await a.uploadImage({
      path,
      name: 'big',
      diskFormat: 'raw',
      metadata: uploadTags({ provider: 'sim', uploadId: 'big-1', imageName: 'big' }),
    });
    assert.equal(result.bytes, 1024 ** 3);
    assert.equal(result.image.size, 1024 ** 3);
    assert.ok(result.verifiedBy, 'checksum verified');
    if (result.image.hashAlgo === 'sha512') assert.equal(result.image.hashValue, result.sha512);
  } finally {
    clearInterval(sampler);
  }
  const growthMiB = (peakRss - start.rss) / 2 ** 20;
  t.diagnostic(`peak RSS growth ${growthMiB.toFixed(1)} MiB`);
  assert.ok(growthMiB < 200, `RSS grew ${growthMiB.toFixed(1)} MiB during a 1 GiB upload`);
});

test('credentials and tokens never appear in errors or in the adapter printed any way', async (t) => {
  const c = await cloud(t);
  const wrong = await rejection(c.adapter('sim-wrong').listFlavors());
  assert.ok(wrong instanceof Invalid, String(wrong));
  assert.equal(wrong.status, 401);
  assert.match(wrong.message, /refused the credentials/);
  assert.ok(!wrong.message.includes('not-the-password'));

  for (const name of ['sim', 'sim-appcred']) {
    const a = c.adapter(name);
    await a.listFlavors();
    const err = await rejection(a.getServer(randomUUID()));
    for (const text of [
      String(a),
      JSON.stringify(a),
      inspect(a, { depth: 10, showHidden: true }),
      err.message,
      JSON.stringify(err),
      inspect(err, { depth: 10 }),
    ]) {
      assert.ok(!text.includes(PASSWORD) || name !== 'sim', `password shown: ${text}`);
      assert.ok(!text.includes(APPCRED_SECRET), `secret shown: ${text}`);
      assert.ok(!/gAAAA|x-auth-token/i.test(text), `token shown: ${text}`);
    }
  }
});

test('resources without our provider tag are refused before any request', async (t) => {
  const c = await cloud(t);
  const a = c.adapter('sim');
  const image = await uploadSmall(a, c.smallImage);
  const serverErr = await rejection(
    a.createServer({ name: 'np-untagged', flavor: 'm1.tiny', imageId: image.image.id, metadata: { owner: 'me' } }),
  );
  assert.ok(serverErr instanceof Invalid, String(serverErr));
  assert.match(serverErr.message, /without the nodepool_provider_name tag/);
  const imageErr = await rejection(
    a.uploadImage({ path: c.smallImage, name: 'untagged', diskFormat: 'qcow2', metadata: { nodepool_upload_id: '1' } }),
  );
  assert.ok(imageErr instanceof Invalid, String(imageErr));
  assert.equal((await a.listServers()).filter((s) => s.name === 'np-untagged').length, 0);
  assert.equal((await a.listImages({ name: 'untagged' })).length, 0);
});
