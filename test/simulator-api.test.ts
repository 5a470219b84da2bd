// Wire-level checks of the simulator: status codes, bodies and headers as the api-ref describes them.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Sim } from './simulator-support.ts';
import {
  MV,
  PASSWORD_AUTH,
  activeImage,
  api,
  createServer,
  issueToken,
  startSim,
  until,
  waitStatus,
} from './simulator-support.ts';

let sim: Sim;
let token: string;

before(async () => {
  sim = await startSim({ regions: ['RegionOne', 'RegionTwo'] });
  token = await issueToken(sim);
});
after(async () => sim.dispose());

describe('keystone', () => {
  test('version discovery at the identity root and /v3', async () => {
    const root = await api(sim.authUrl);
    assert.equal(root.status, 300);
    assert.equal(root.body.versions.values[0].id, 'v3.14');
    assert.equal(root.body.versions.values[0].links[0].href, `${sim.authUrl}/v3/`);
    const v3 = await api(`${sim.authUrl}/v3`);
    assert.equal(v3.status, 200);
    assert.equal(v3.body.version.status, 'stable');
  });

  test('password auth by name and by id gives 201, token only in X-Subject-Token, catalog per region', async () => {
    const r = await api(`${sim.authUrl}/v3/auth/tokens`, { method: 'POST', json: PASSWORD_AUTH });
    assert.equal(r.status, 201);
    assert.ok(r.headers.get('x-subject-token'));
    assert.ok(!JSON.stringify(r.body).includes(r.headers.get('x-subject-token')!));
    const t = r.body.token;
    assert.deepEqual(t.methods, ['password']);
    assert.equal(t.project.name, 'nodepool');
    assert.deepEqual(t.project.domain, { id: 'default', name: 'Default' });
    assert.match(t.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const compute = t.catalog.find((s: { type: string }) => s.type === 'compute');
    const urls = compute.endpoints.map((e: { region_id: string; interface: string; url: string }) =>
      [e.region_id, e.interface, e.url].join(' '),
    );
    assert.ok(urls.includes(`RegionTwo public ${sim.baseUrl}/RegionTwo/compute/v2.1`));
    assert.ok(urls.includes(`RegionOne internal ${sim.baseUrl}/RegionOne/compute/v2.1`));
    const image = t.catalog.find((s: { type: string }) => s.type === 'image');
    assert.ok(image.endpoints.some((e: { url: string }) => e.url === `${sim.baseUrl}/RegionOne/image`));

    const byId = await api(`${sim.authUrl}/v3/auth/tokens?nocatalog`, {
      method: 'POST',
      json: {
        auth: {
          identity: { methods: ['password'], password: { user: { id: t.user.id, password: 'secret' } } },
          scope: { project: { id: t.project.id } },
        },
      },
    });
    assert.equal(byId.status, 201);
    assert.equal(byId.body.token.catalog, undefined);
  });

  test('unscoped and domain-scoped tokens', async () => {
    const unscoped = await api(`${sim.authUrl}/v3/auth/tokens`, {
      method: 'POST',
      json: { auth: { identity: PASSWORD_AUTH.auth.identity } },
    });
    assert.equal(unscoped.status, 201);
    assert.equal(unscoped.body.token.project, undefined);
    const domain = await api(`${sim.authUrl}/v3/auth/tokens`, {
      method: 'POST',
      json: { auth: { identity: PASSWORD_AUTH.auth.identity, scope: { domain: { name: 'Default' } } } },
    });
    assert.equal(domain.status, 201);
    assert.equal(domain.body.token.domain.id, 'default');
    // Nova needs a project: an unscoped token is authenticated but not allowed.
    const nova = await api(`${sim.compute}/servers`, { token: unscoped.headers.get('x-subject-token')! });
    assert.equal(nova.status, 403);
  });

  test('wrong password gives the generic 401 with WWW-Authenticate', async () => {
    const bad = structuredClone(PASSWORD_AUTH);
    bad.auth.identity.password.user.password = 'nope';
    const r = await api(`${sim.authUrl}/v3/auth/tokens`, { method: 'POST', json: bad });
    assert.equal(r.status, 401);
    assert.deepEqual(r.body, {
      error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' },
    });
    assert.equal(r.headers.get('www-authenticate'), `Keystone uri="${sim.authUrl}"`);
  });

  test('application credential: 201, carries the credential, refuses a scope', async () => {
    const identity = {
      methods: ['application_credential'],
      application_credential: { id: 'nodepool-appcred', secret: 'appcred-secret' },
    };
    const r = await api(`${sim.authUrl}/v3/auth/tokens`, { method: 'POST', json: { auth: { identity } } });
    assert.equal(r.status, 201);
    assert.deepEqual(r.body.token.methods, ['application_credential']);
    assert.equal(r.body.token.application_credential.id, 'nodepool-appcred');
    assert.equal(r.body.token.project.name, 'nodepool');
    const scoped = await api(`${sim.authUrl}/v3/auth/tokens`, {
      method: 'POST',
      json: { auth: { identity, scope: { project: { name: 'nodepool', domain: { id: 'default' } } } } },
    });
    assert.equal(scoped.status, 401);
    const wrong = await api(`${sim.authUrl}/v3/auth/tokens`, {
      method: 'POST',
      json: { auth: { identity: { ...identity, application_credential: { id: 'nodepool-appcred', secret: 'x' } } } },
    });
    assert.equal(wrong.status, 401);
  });

  test('token validation and revocation', async () => {
    const subject = await issueToken(sim);
    const ok = await api(`${sim.authUrl}/v3/auth/tokens`, {
      token,
      headers: { 'x-subject-token': subject },
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get('x-subject-token'), subject);
    const del = await api(`${sim.authUrl}/v3/auth/tokens`, {
      method: 'DELETE',
      token,
      headers: { 'x-subject-token': subject },
    });
    assert.equal(del.status, 204);
    const gone = await api(`${sim.authUrl}/v3/auth/tokens`, { token, headers: { 'x-subject-token': subject } });
    assert.equal(gone.status, 404);
    const used = await api(`${sim.compute}/flavors`, { token: subject });
    assert.equal(used.status, 401);
  });
});

describe('nova', () => {
  test('version discovery without a token', async () => {
    const root = await api(`${sim.baseUrl}/RegionOne/compute/`);
    assert.equal(root.status, 200);
    const current = root.body.versions.find((v: { status: string }) => v.status === 'CURRENT');
    assert.equal(current.id, 'v2.1');
    assert.equal(current.min_version, '2.1');
    assert.equal(current.version, '2.104');
    const v21 = await api(`${sim.compute}/`);
    assert.equal(v21.body.version.id, 'v2.1');
  });

  test('missing or bad token: keystonemiddleware 401 body and WWW-Authenticate', async () => {
    for (const t of [undefined, 'not-a-token']) {
      const r = await api(`${sim.compute}/servers`, t === undefined ? {} : { token: t });
      assert.equal(r.status, 401);
      assert.equal(r.body.error.code, 401);
      assert.equal(r.headers.get('www-authenticate'), `Keystone uri="${sim.authUrl}"`);
    }
  });

  test('microversion headers: echoed, latest, out of range 406, malformed 400', async () => {
    const plain = await api(`${sim.compute}/flavors`, { token });
    assert.equal(plain.headers.get('x-openstack-nova-api-version'), '2.1');
    assert.match(plain.headers.get('x-compute-request-id') ?? '', /^req-[0-9a-f-]{36}$/);
    assert.match(plain.headers.get('vary') ?? '', /OpenStack-API-Version/);
    const legacy = await api(`${sim.compute}/flavors`, { token, headers: { 'X-OpenStack-Nova-API-Version': '2.30' } });
    assert.equal(legacy.headers.get('openstack-api-version'), 'compute 2.30');
    const both = await api(`${sim.compute}/flavors`, {
      token,
      headers: { 'X-OpenStack-Nova-API-Version': '2.30', ...MV('2.60') },
    });
    assert.equal(both.headers.get('openstack-api-version'), 'compute 2.60');
    const latest = await api(`${sim.compute}/flavors`, { token, headers: MV('latest') });
    assert.equal(latest.headers.get('openstack-api-version'), 'compute 2.104');
    const high = await api(`${sim.compute}/flavors`, { token, headers: MV('2.999') });
    assert.equal(high.status, 406);
    assert.equal(
      high.body.computeFault.message,
      'Version 2.999 is not supported by the API. Minimum is 2.1 and maximum is 2.104.',
    );
    const bad = await api(`${sim.compute}/flavors`, { token, headers: MV('two') });
    assert.equal(bad.status, 400);
  });

  test('flavors: list, detail by microversion, get, 404', async () => {
    const list = await api(`${sim.compute}/flavors`, { token });
    assert.deepEqual(
      list.body.flavors.map((f: { name: string }) => f.name),
      ['m1.tiny', 'm1.small', 'm1.medium', 'm1.large', 'm1.xlarge'],
    );
    const old = await api(`${sim.compute}/flavors/detail`, { token });
    const tiny = old.body.flavors[0];
    assert.deepEqual([tiny.id, tiny.vcpus, tiny.ram, tiny.disk, tiny.swap], ['1', 1, 512, 1, '']);
    assert.equal(tiny['os-flavor-access:is_public'], true);
    const modern = await api(`${sim.compute}/flavors/detail?minRam=4096`, { token, headers: MV('2.75') });
    assert.deepEqual(
      modern.body.flavors.map((f: { name: string; swap: number }) => [f.name, f.swap]),
      [
        ['m1.medium', 0],
        ['m1.large', 0],
        ['m1.xlarge', 0],
      ],
    );
    const one = await api(`${sim.compute}/flavors/2`, { token });
    assert.equal(one.body.flavor.name, 'm1.small');
    const missing = await api(`${sim.compute}/flavors/m1.tiny`, { token });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.itemNotFound.message, 'Flavor m1.tiny could not be found.');
    const page = await api(`${sim.compute}/flavors?limit=2`, { token });
    assert.equal(page.body.flavors.length, 2);
    assert.match(page.body.flavors_links[0].href, /marker=2/);
  });

  test('servers: create 202 with Location, BUILD → ACTIVE, show, metadata, delete 204 then 404', async () => {
    const imageId = await activeImage(sim, token);
    const created = await createServer(sim, token, imageId, { metadata: { role: 'test' } });
    assert.equal(created.status, 202);
    const id = created.body.server.id;
    assert.equal(created.headers.get('location'), `${sim.compute}/servers/${id}`);
    assert.equal(created.body.server.links[0].rel, 'self');
    assert.ok(created.body.server.adminPass);
    assert.deepEqual(created.body.server.security_groups, [{ name: 'default' }]);

    const building = await api(`${sim.compute}/servers/${id}`, { token, headers: MV('2.79') });
    assert.equal(building.status, 200);
    if (building.body.server.status === 'BUILD') {
      assert.deepEqual(building.body.server.addresses, {});
      assert.equal(building.body.server['OS-EXT-STS:vm_state'], 'building');
    }
    const active = (await waitStatus(sim, token, id, 'ACTIVE')).body.server;
    assert.equal(active['OS-EXT-STS:vm_state'], 'active');
    assert.equal(active['OS-EXT-STS:power_state'], 1);
    const addr = active.addresses.private[0];
    assert.match(addr.addr, /^127\.\d+\.\d+\.\d+$/);
    assert.equal(addr.version, 4);
    assert.equal(addr['OS-EXT-IPS:type'], 'fixed');
    assert.equal(active.accessIPv4, '', 'Nova shows accessIPv4 only when the create set it');
    assert.equal(active.flavor.original_name, 'm1.tiny');
    assert.equal(active.metadata.role, 'test');
    assert.equal(active.tenant_id, active.tenant_id.toString());
    const old = await api(`${sim.compute}/servers/${id}`, { token });
    assert.equal(old.body.server.flavor.id, '1');

    const md = `${sim.compute}/servers/${id}/metadata`;
    assert.deepEqual((await api(md, { method: 'POST', token, json: { metadata: { a: '1' } } })).body, {
      metadata: { role: 'test', a: '1' },
    });
    assert.deepEqual((await api(md, { method: 'PUT', token, json: { metadata: { b: '2' } } })).body, {
      metadata: { b: '2' },
    });
    assert.deepEqual((await api(`${md}/b`, { token })).body, { meta: { b: '2' } });
    assert.equal((await api(`${md}/b`, { method: 'DELETE', token })).status, 204);
    assert.equal((await api(`${md}/b`, { token })).status, 404);

    const del = await api(`${sim.compute}/servers/${id}`, { method: 'DELETE', token });
    assert.equal(del.status, 204);
    assert.equal(del.text, '');
    const gone = await api(`${sim.compute}/servers/${id}`, { token });
    assert.equal(gone.status, 404);
    assert.deepEqual(gone.body, { itemNotFound: { code: 404, message: `Instance ${id} could not be found.` } });
  });

  test('create validation: networks by microversion, flavor, image, metadata, unknown keys', async () => {
    const imageId = await activeImage(sim, token);
    const noNet = await api(`${sim.compute}/servers`, {
      method: 'POST',
      token,
      headers: MV('2.37'),
      json: { server: { name: 'x', flavorRef: '1', imageRef: imageId } },
    });
    assert.equal(noNet.status, 400);
    assert.match(noNet.body.badRequest.message, /'networks' is a required property/);
    const autoOld = await createServer(sim, token, imageId, { networks: 'auto' }, '2.36');
    assert.equal(autoOld.status, 400);
    const badFlavor = await createServer(sim, token, imageId, { flavorRef: '99' });
    assert.equal(badFlavor.body.badRequest.message, 'Flavor 99 could not be found.');
    const badImage = await createServer(sim, token, '0b5c6e2a-6a8e-4a36-9f51-3f8e2d1c0b9a');
    assert.equal(badImage.body.badRequest.message, 'Can not find requested image');
    const queued = await api(`${sim.image}/v2/images`, { method: 'POST', token, json: { name: 'q' } });
    const notActive = await createServer(sim, token, queued.body.id);
    assert.equal(notActive.body.badRequest.message, `Image ${queued.body.id} is not active.`);
    const badKey = await createServer(sim, token, imageId, { metadata: { 'bad/key': 'v' } });
    assert.equal(badKey.status, 400);
    const extra = await createServer(sim, token, imageId, { colour: 'blue' });
    assert.match(extra.body.badRequest.message, /Additional properties are not allowed \('colour' was unexpected\)/);
    const tooMany = Object.fromEntries(Array.from({ length: 129 }, (_, i) => [`k${i}`, 'v']));
    const meta = await createServer(sim, token, imageId, { metadata: tooMany });
    assert.equal(meta.status, 403);
    assert.equal(meta.body.forbidden.message, 'Maximum number of metadata items exceeds 128');
  });

  test('server list: summary and detail, limit/marker pagination with servers_links, bad marker', async () => {
    const imageId = await activeImage(sim, token);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await createServer(sim, token, imageId, { name: `page-${i}` });
      assert.equal(r.status, 202, r.text);
      ids.push(r.body.server.id);
    }
    const summary = await api(`${sim.compute}/servers?name=^page-`, { token });
    assert.deepEqual(Object.keys(summary.body.servers[0]).sort(), ['id', 'links', 'name']);
    const seen: string[] = [];
    let url: string | undefined = `${sim.compute}/servers/detail?name=^page-&limit=2`;
    let pages = 0;
    while (url) {
      const r = await api(url, { token });
      assert.equal(r.status, 200);
      seen.push(...r.body.servers.map((s: { id: string }) => s.id));
      url = r.body.servers_links?.find((l: { rel: string }) => l.rel === 'next')?.href;
      pages += 1;
      assert.ok(pages < 10);
    }
    assert.deepEqual(seen, [...ids].reverse(), 'newest first, every server once');
    assert.equal(pages, 3);
    const bad = await api(`${sim.compute}/servers/detail?marker=nope`, { token });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.badRequest.message, 'marker [nope] not found');

    const since = new Date(Date.now() - 60_000).toISOString();
    await api(`${sim.compute}/servers/${ids[0]}`, { method: 'DELETE', token });
    const changed = await api(`${sim.compute}/servers/detail?changes-since=${since}`, { token });
    const deleted = changed.body.servers.find((s: { id: string }) => s.id === ids[0]);
    assert.equal(deleted.status, 'DELETED');
    const regionTwo = await api(`${sim.baseUrl}/RegionTwo/compute/v2.1/servers`, { token });
    assert.deepEqual(regionTwo.body.servers, []);
  });

  test('limits reflect quota and usage; availability zones', async () => {
    const r = await api(`${sim.compute}/limits`, { token, headers: MV('2.79') });
    const abs = r.body.limits.absolute;
    assert.equal(abs.maxTotalInstances, 100);
    assert.equal(abs.maxTotalRAMSize, 819200);
    assert.equal(abs.maxServerMeta, 128);
    assert.equal(typeof abs.totalInstancesUsed, 'number');
    assert.equal(abs.maxImageMeta, undefined);
    assert.deepEqual(r.body.limits.rate, []);
    const before239 = await api(`${sim.compute}/limits`, { token });
    assert.equal(before239.body.limits.absolute.maxImageMeta, 128);
    const az = await api(`${sim.compute}/os-availability-zone`, { token });
    assert.equal(az.body.availabilityZoneInfo[0].zoneName, 'nova');
  });

  test('createImage: 202 with Location before 2.45, body from 2.45; snapshot goes queued → active', async () => {
    const imageId = await activeImage(sim, token);
    const id = (await createServer(sim, token, imageId)).body.server.id;
    const early = await api(`${sim.compute}/servers/${id}/action`, {
      method: 'POST',
      token,
      json: { createImage: { name: 'too-early' } },
    });
    if (early.status === 409) assert.match(early.body.conflictingRequest.message, /Cannot 'createImage' instance/);
    await waitStatus(sim, token, id, 'ACTIVE');
    const v1 = await api(`${sim.compute}/servers/${id}/action`, {
      method: 'POST',
      token,
      json: { createImage: { name: 'snap-old', metadata: { purpose: 'test' } } },
    });
    assert.equal(v1.status, 202);
    const loc = v1.headers.get('location') ?? '';
    assert.match(loc, new RegExp(`^${sim.image}/v2/images/[0-9a-f-]{36}$`));
    const snapId = loc.split('/').pop()!;
    const snap = await until('snapshot active', async () => {
      const r = await api(`${sim.image}/v2/images/${snapId}`, { token });
      return r.body.status === 'active' ? r.body : undefined;
    });
    assert.equal(snap.image_type, 'snapshot');
    assert.equal(snap.instance_uuid, id);
    assert.equal(snap.purpose, 'test');
    const file = await fetch(`${sim.image}/v2/images/${snapId}/file`, { headers: { 'x-auth-token': token } });
    const data = Buffer.from(await file.arrayBuffer());
    assert.equal(createHash('md5').update(data).digest('hex'), snap.checksum);
    await until('server task_state cleared', async () => {
      const r = await api(`${sim.compute}/servers/${id}`, { token });
      return r.body.server['OS-EXT-STS:task_state'] === null ? true : undefined;
    });
    const v245 = await api(`${sim.compute}/servers/${id}/action`, {
      method: 'POST',
      token,
      headers: MV('2.45'),
      json: { createImage: { name: 'snap-new' } },
    });
    assert.equal(v245.status, 202);
    assert.equal(v245.headers.get('location'), null);
    assert.match(v245.body.image_id, /^[0-9a-f-]{36}$/);
  });
});

describe('glance', () => {
  test('version discovery: 300 with CURRENT v2.x', async () => {
    const r = await api(sim.image);
    assert.equal(r.status, 300);
    assert.equal(r.body.versions[0].status, 'CURRENT');
    assert.equal(r.body.versions[0].links[0].href, `${sim.image}/v2/`);
  });

  test('create 201 flat entity with Location; custom properties at top level; validation', async () => {
    const r = await api(`${sim.image}/v2/images`, {
      method: 'POST',
      token,
      json: { name: 'ubuntu', disk_format: 'raw', container_format: 'bare', tags: ['x'], os_distro: 'ubuntu' },
    });
    assert.equal(r.status, 201);
    assert.equal(r.headers.get('location'), `${sim.image}/v2/images/${r.body.id}`);
    const img = r.body;
    assert.equal(img.status, 'queued');
    assert.equal(img.visibility, 'shared');
    assert.equal(img.os_distro, 'ubuntu');
    assert.deepEqual(img.tags, ['x']);
    for (const k of ['checksum', 'os_hash_algo', 'os_hash_value', 'size', 'virtual_size']) assert.equal(img[k], null);
    assert.equal(img.self, `/v2/images/${img.id}`);
    assert.equal(img.file, `/v2/images/${img.id}/file`);
    assert.equal(img.schema, '/v2/schemas/image');
    assert.match(img.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const badDisk = await api(`${sim.image}/v2/images`, { method: 'POST', token, json: { disk_format: 'floppy' } });
    assert.equal(badDisk.status, 400);
    assert.match(badDisk.text, /'floppy' is not one of/);
    const badContainer = await api(`${sim.image}/v2/images`, {
      method: 'POST',
      token,
      json: { container_format: 'zip' },
      headers: { accept: 'application/json' },
    });
    assert.equal(badContainer.status, 400);
    assert.equal(badContainer.body.code, '400 Bad Request');
    const reserved = await api(`${sim.image}/v2/images`, { method: 'POST', token, json: { os_glance_x: 'y' } });
    assert.equal(reserved.status, 403);
    const readOnly = await api(`${sim.image}/v2/images`, { method: 'POST', token, json: { status: 'active' } });
    assert.equal(readOnly.status, 403);
    const dup = await api(`${sim.image}/v2/images`, { method: 'POST', token, json: { id: img.id } });
    assert.equal(dup.status, 409);
  });

  test('upload: saving → active with md5 and sha512; 409 on second upload; download; 204 when no data', async () => {
    const created = await api(`${sim.image}/v2/images`, {
      method: 'POST',
      token,
      json: { name: 'data', disk_format: 'qcow2', container_format: 'bare' },
    });
    const id = created.body.id;
    const empty = await api(`${sim.image}/v2/images/${id}/file`, { token });
    assert.equal(empty.status, 204);
    const bytes = Buffer.alloc(1024 * 1024 + 17, 7);
    const up = await api(`${sim.image}/v2/images/${id}/file`, {
      method: 'PUT',
      token,
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    assert.equal(up.status, 204);
    const img = (await api(`${sim.image}/v2/images/${id}`, { token })).body;
    assert.equal(img.status, 'active');
    assert.equal(img.size, bytes.length);
    assert.equal(img.checksum, createHash('md5').update(bytes).digest('hex'));
    assert.equal(img.os_hash_algo, 'sha512');
    assert.equal(img.os_hash_value, createHash('sha512').update(bytes).digest('hex'));
    const again = await api(`${sim.image}/v2/images/${id}/file`, {
      method: 'PUT',
      token,
      headers: { 'content-type': 'application/octet-stream' },
      body: bytes,
    });
    assert.equal(again.status, 409);
    assert.match(again.text, /Image status transition from active to saving is not allowed/);
    const down = await fetch(`${sim.image}/v2/images/${id}/file`, { headers: { 'x-auth-token': token } });
    assert.equal(down.status, 200);
    assert.ok(Buffer.from(await down.arrayBuffer()).equals(bytes));

    const noFormats = await api(`${sim.image}/v2/images`, { method: 'POST', token, json: { name: 'nf' } });
    const nf = await api(`${sim.image}/v2/images/${noFormats.body.id}/file`, {
      method: 'PUT',
      token,
      headers: { 'content-type': 'application/octet-stream' },
      body: 'x',
    });
    assert.equal(nf.status, 400);
    const sized = await api(`${sim.image}/v2/images`, {
      method: 'POST',
      token,
      json: { disk_format: 'raw', container_format: 'bare' },
    });
    const mismatch = await api(`${sim.image}/v2/images/${sized.body.id}/file`, {
      method: 'PUT',
      token,
      headers: { 'content-type': 'application/octet-stream', 'x-openstack-image-size': '5' },
      body: 'abc',
    });
    assert.equal(mismatch.status, 400);
    assert.equal((await api(`${sim.image}/v2/images/${sized.body.id}`, { token })).body.status, 'queued');
  });

  test('list: pagination with relative next links, filters, sort; bad marker 400', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await api(`${sim.image}/v2/images`, {
        method: 'POST',
        token,
        json: { name: `list-${i}`, disk_format: 'raw', container_format: 'bare', tags: ['listed'], batch: 'b1' },
      });
      ids.push(r.body.id);
    }
    const seen: string[] = [];
    let next: string | undefined = '/v2/images?tag=listed&limit=2';
    let pages = 0;
    while (next) {
      const r = await api(`${sim.image}${next}`, { token });
      assert.equal(r.status, 200);
      assert.equal(r.body.schema, '/v2/schemas/images');
      assert.match(r.body.first, /^\/v2\/images/);
      seen.push(...r.body.images.map((i: { id: string }) => i.id));
      next = r.body.next;
      pages += 1;
      assert.ok(pages < 10);
    }
    assert.deepEqual(seen, [...ids].reverse());
    assert.equal(pages, 3);
    const byName = await api(`${sim.image}/v2/images?name=list-3`, { token });
    assert.deepEqual(
      byName.body.images.map((i: { id: string }) => i.id),
      [ids[3]],
    );
    const byProp = await api(`${sim.image}/v2/images?batch=b1&sort=name:asc`, { token });
    assert.deepEqual(
      byProp.body.images.map((i: { name: string }) => i.name),
      ['list-0', 'list-1', 'list-2', 'list-3', 'list-4'],
    );
    const queued = await api(`${sim.image}/v2/images?status=in:queued,saving&tag=listed`, { token });
    assert.equal(queued.body.images.length, 5);
    const bad = await api(`${sim.image}/v2/images?marker=nope`, { token });
    assert.equal(bad.status, 400);
  });

  test('patch, tags, delete 204 then 404, protected 403', async () => {
    const id = (
      await api(`${sim.image}/v2/images`, {
        method: 'POST',
        token,
        json: { name: 'p', disk_format: 'raw', container_format: 'bare', protected: true },
      })
    ).body.id;
    const wrongType = await api(`${sim.image}/v2/images/${id}`, {
      method: 'PATCH',
      token,
      json: [{ op: 'add', path: '/a', value: 'b' }],
    });
    assert.equal(wrongType.status, 415);
    const patchType = { 'content-type': 'application/openstack-images-v2.1-json-patch' };
    const patched = await api(`${sim.image}/v2/images/${id}`, {
      method: 'PATCH',
      token,
      headers: patchType,
      json: [
        { op: 'add', path: '/a', value: 'b' },
        { op: 'replace', path: '/name', value: 'renamed' },
      ],
    });
    assert.equal(patched.status, 200);
    assert.equal(patched.body.a, 'b');
    assert.equal(patched.body.name, 'renamed');
    const missing = await api(`${sim.image}/v2/images/${id}`, {
      method: 'PATCH',
      token,
      headers: patchType,
      json: [{ op: 'remove', path: '/zzz' }],
    });
    assert.equal(missing.status, 409);
    assert.equal((await api(`${sim.image}/v2/images/${id}/tags/t1`, { method: 'PUT', token })).status, 204);
    assert.deepEqual((await api(`${sim.image}/v2/images/${id}`, { token })).body.tags, ['t1']);
    const prot = await api(`${sim.image}/v2/images/${id}`, { method: 'DELETE', token });
    assert.equal(prot.status, 403);
    await api(`${sim.image}/v2/images/${id}`, {
      method: 'PATCH',
      token,
      headers: patchType,
      json: [{ op: 'replace', path: '/protected', value: false }],
    });
    assert.equal((await api(`${sim.image}/v2/images/${id}`, { method: 'DELETE', token })).status, 204);
    const gone = await api(`${sim.image}/v2/images/${id}`, { token });
    assert.equal(gone.status, 404);
    assert.match(gone.text, /^404 Not Found/);
  });
});
