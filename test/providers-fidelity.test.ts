// The driver defects found against real Keystone, Glance and Nova (issue 15), the request-classification fixes
// from issue 13, and the richer server spec, each run against the simulator the real services judged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Invalid, QuotaExceeded } from '../providers/errors.ts';
import { uploadTags } from '../providers/tags.ts';
import { until } from './support/poll.ts';
import { cloud, rejection, spec, uploadSmall, type Sim } from './providers-support.ts';

/** A token and a fetch against the simulator as user nodepool, to look at what the driver sent. */
async function peek(sim: Sim) {
  const auth = await fetch(`${sim.authUrl}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'nodepool', domain: { id: 'default' }, password: 'secret' } },
        },
        scope: { project: { name: 'nodepool', domain: { id: 'default' } } },
      },
    }),
  });
  const token = auth.headers.get('x-subject-token')!;
  const body = (await auth.json()) as { token: { user: { id: string } } };
  return {
    userId: body.token.user.id,
    get: async (path: string, headers: Record<string, string> = {}) => {
      const r = await fetch(`${sim.baseUrl}/RegionOne${path}`, { headers: { 'x-auth-token': token, ...headers } });
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      return (await r.json()) as any;
    },
    send: (method: string, url: string) => fetch(url, { method, headers: { 'x-auth-token': token } }),
  };
}

const MV = { 'OpenStack-API-Version': 'compute 2.79' };

test('driver defect 1: an upload Glance refuses for good leaves no image record behind', async (t) => {
  const c = await cloud(t, { imageFormatEnforcement: true });
  const a = c.adapter();
  // c.smallImage is not a qcow2 (it only starts like one), so Glance's format check refuses it with 415.
  const err = await rejection(uploadSmall(a, c.smallImage, 'refused-1'));
  assert.ok(err instanceof Invalid, String(err));
  assert.equal(err.status, 415);
  assert.match(err.message, /does not match stream data raw/);
  assert.deepEqual(await a.listImages({ name: 'img-refused-1' }), []);
});

test('driver defect 2: a deleted application credential is refused credentials at once, not a retried NotFound', async (t) => {
  const c = await cloud(t);
  const a = c.adapter('sim-appcred');
  await a.listFlavors();
  const p = await peek(c.sim);
  const del = await p.send('DELETE', `${c.sim.authUrl}/v3/users/${p.userId}/application_credentials/nodepool-appcred`);
  assert.equal(del.status, 204);
  // Its tokens died with it: the next call gets a 401, re-authenticates once, and Keystone answers 404.
  const err = await rejection(a.listFlavors());
  assert.ok(err instanceof Invalid, `${err.name}: ${err.message}`);
  assert.equal(err.status, 404);
  assert.match(err.message, /does not know this application credential.*clouds\.yaml/);
  const fresh = await rejection(c.adapter('sim-appcred').listFlavors());
  assert.ok(fresh instanceof Invalid, String(fresh));
});

test('an auth_url with no Keystone behind it (404) is Invalid and says to check auth_url', async (t) => {
  const c = await cloud(t, {}, (sim) => ({
    'sim-nowhere': {
      auth_type: 'v3applicationcredential',
      auth: {
        auth_url: `${sim.baseUrl}/nowhere/v3`,
        application_credential_id: 'nodepool-appcred',
        application_credential_secret: 'appcred-secret',
      },
    },
  }));
  const err = await rejection(c.adapter('sim-nowhere').listFlavors());
  assert.ok(err instanceof Invalid, `${err.name}: ${err.message}`);
  assert.match(err.message, /no Keystone v3 token API at .*\/nowhere\/v3\/auth\/tokens \(HTTP 404\); check auth_url/);
});

test('driver defect 3: a worker clock hours ahead of Keystone still uses each token for its lifetime', async (t) => {
  const c = await cloud(t);
  const ahead = c.adapter('sim', { now: () => Date.now() + 2 * 3600_000 });
  for (let i = 0; i < 5; i++) await ahead.listFlavors();
  assert.equal(ahead.authCount, 1);
  const behind = c.adapter('sim', { now: () => Date.now() - 2 * 3600_000 });
  for (let i = 0; i < 5; i++) await behind.listFlavors();
  assert.equal(behind.authCount, 1);
});

test('nova defects 1-3: networks by name, none, auto; config drive and security groups are sent', async (t) => {
  const c = await cloud(t);
  const a = c.adapter();
  const p = await peek(c.sim);
  const { image } = await uploadSmall(a, c.smallImage);
  const named = await a.createServer({
    ...spec(image.id, 'net-1'),
    networks: ['private'],
    configDrive: true,
    securityGroups: ['default'],
  });
  const active = await until('named ACTIVE', async () => {
    const s = await a.getServer(named.id);
    return s.state === 'active' ? s : undefined;
  });
  assert.ok(active.addresses.privateIpv4, 'attached to the network named private');
  const raw = (await p.get(`/compute/v2.1/servers/${named.id}`, MV)).server;
  assert.equal(raw.config_drive, 'True');
  assert.deepEqual(raw.security_groups, [{ name: 'default' }]);
  assert.deepEqual(Object.keys(raw.addresses), ['private']);

  const none = await a.createServer({ ...spec(image.id, 'net-2'), networks: 'none' });
  const noneActive = await until('none ACTIVE', async () => {
    const s = await a.getServer(none.id);
    return s.state === 'active' ? s : undefined;
  });
  assert.deepEqual(noneActive.addresses, {});
  const byUuid = c.sim.knobs().networks.find((n) => n.name === 'private')!.id;
  assert.ok((await a.createServer({ ...spec(image.id, 'net-3'), networks: [byUuid] })).id);

  const unknown = await rejection(a.createServer({ ...spec(image.id, 'net-4'), networks: ['nowhere'] }));
  assert.ok(unknown instanceof Invalid, String(unknown));
  assert.match(unknown.message, /network "nowhere" not found in cloud sim \(it has: private, public\)/);
  await c.sim.setKnobs({
    networks: [
      ...c.sim.knobs().networks,
      { id: '0c2e4a6b-8d0f-4b2a-9c4e-6a8c0e2f4b6d', name: 'private', external: false },
    ],
  });
  const ambiguous = await rejection(a.createServer({ ...spec(image.id, 'net-5'), networks: ['private-2'] }));
  assert.match(ambiguous.message, /not found/, 'an unknown name is still unknown');
  const fresh = c.adapter();
  const twice = await rejection(fresh.createServer({ ...spec(image.id, 'net-6'), networks: ['private'] }));
  assert.ok(twice instanceof Invalid, String(twice));
  assert.match(twice.message, /"private" is ambiguous in cloud sim: 2 networks.*0c2e4a6b-8d0f-4b2a-9c4e-6a8c0e2f4b6d/);

  const badGroup = await rejection(
    a.createServer({ ...spec(image.id, 'net-7'), networks: [byUuid], securityGroups: ['nope'] }),
  );
  assert.ok(badGroup instanceof Invalid, String(badGroup));
  assert.match(badGroup.message, /Security group nope not found/);
});

test('issue 13: "auto" that cannot choose is Invalid with a hint; the port quota is QuotaExceeded', async (t) => {
  const c = await cloud(t);
  const a = c.adapter();
  const { image } = await uploadSmall(a, c.smallImage);
  const defaults = c.sim.knobs().networks;
  await c.sim.setKnobs({
    networks: [...defaults, { id: '7a9c1e3f-5b7d-4f9a-8c1e-3f5b7d9a1c3e', name: 'second', external: false }],
  });
  const conflict = await rejection(a.createServer(spec(image.id, 'auto-1')));
  assert.ok(conflict instanceof Invalid, `${conflict.name}: ${conflict.message}`);
  assert.equal(conflict.status, 409);
  assert.match(conflict.message, /More than one possible network found.*name one in the pool's networks/);
  await c.sim.setKnobs({ networks: defaults, quota: { ports: 1 } });
  await a.createServer(spec(image.id, 'port-1'));
  const full = await rejection(a.createServer(spec(image.id, 'port-2')));
  assert.ok(full instanceof QuotaExceeded, `${full.name}: ${full.message}`);
  assert.match(full.message, /Maximum number of ports exceeded/);
});

test('boot from volume: block_device_mapping_v2 from the image, the volume reported back', async (t) => {
  const c = await cloud(t);
  const a = c.adapter();
  const p = await peek(c.sim);
  const { image } = await uploadSmall(a, c.smallImage);
  const created = await a.createServer({
    ...spec(image.id, 'bfv-1'),
    bootFromVolume: { volumeSizeGB: 20, deleteOnTermination: false },
  });
  assert.equal(created.imageId, undefined);
  const active = await until('bfv ACTIVE', async () => {
    const s = await a.getServer(created.id);
    return s.state === 'active' ? s : undefined;
  });
  assert.equal(active.imageId, undefined);
  assert.equal(active.volumes?.length, 1);
  const raw = (await p.get(`/compute/v2.1/servers/${created.id}`, MV)).server;
  assert.deepEqual(raw['os-extended-volumes:volumes_attached'][0].delete_on_termination, false);
  const bad = await rejection(a.createServer({ ...spec(image.id, 'bfv-2'), bootFromVolume: { volumeSizeGB: 0 } }));
  assert.ok(bad instanceof Invalid);
});

test('nova defect 5: create, get and list return one Server shape, flavor id and size included', async (t) => {
  const c = await cloud(t);
  const a = c.adapter();
  const { image } = await uploadSmall(a, c.smallImage);
  const created = await a.createServer(spec(image.id, 'shape-1', 'm1.small'));
  const expected = { id: '2', name: 'm1.small', vcpus: 1, ramMB: 2048 };
  assert.deepEqual(created.flavor, expected);
  assert.deepEqual((await a.getServer(created.id)).flavor, expected);
  assert.deepEqual((await c.adapter().getServer(created.id)).flavor, expected, 'a fresh adapter too');
  assert.deepEqual((await a.listServers()).find((s) => s.id === created.id)?.flavor, expected);
  // What create cannot know yet (creation time, the zone Nova picks) comes with the first get; nothing else differs.
  const got = Object.keys(await a.getServer(created.id));
  assert.deepEqual(
    Object.keys(created).filter((k) => !got.includes(k)),
    [],
  );
});

test('nova defect 4: a snapshot stuck queued past the deadline is deleted and a fresh one taken', async (t) => {
  const c = await cloud(t);
  const a = c.adapter();
  const { image } = await uploadSmall(a, c.smallImage);
  const server = await a.createServer(spec(image.id, 'snap-stuck'));
  await until('ACTIVE', async () => ((await a.getServer(server.id)).state === 'active' ? true : undefined));
  // Snapshots take as long as boots: an hour is stuck as far as this test is concerned.
  await c.sim.setKnobs({ bootSeconds: { min: 3600, max: 3600 } });
  const tags = uploadTags({ provider: 'sim', uploadId: 'stuck-1', imageName: 'ubuntu' });
  const first = await a.createServerImage(server.id, 'snap-stuck', tags);
  assert.equal((await a.getImage(first)).state, 'queued');
  assert.equal(await a.createServerImage(server.id, 'snap-stuck', tags), first, 'before the deadline it is reused');
  const second = await a.createServerImage(server.id, 'snap-stuck', tags, { staleQueuedAfterMs: 0 });
  assert.notEqual(second, first);
  assert.deepEqual(
    (await a.listImages({ name: 'snap-stuck' })).map((i) => i.id),
    [second],
  );
});

test('Glance import: clouds.yaml asks for it, or the cloud refuses the upload and offers glance-direct', async (t) => {
  const c = await cloud(t, {}, (sim) => ({
    'sim-import': {
      region_name: 'RegionOne',
      image_api_use_import: true,
      auth: {
        auth_url: sim.authUrl,
        username: 'nodepool',
        password: 'secret',
        user_domain_name: 'Default',
        project_name: 'nodepool',
        project_domain_name: 'Default',
      },
    },
  }));
  const p = await peek(c.sim);
  const tasksOf = async (id: string) => (await p.get(`/image/v2/images/${id}/tasks`)).tasks.length as number;

  const asked = await uploadSmall(c.adapter('sim-import'), c.smallImage, 'import-1');
  assert.equal(asked.image.state, 'active');
  assert.ok(asked.verifiedBy);
  assert.equal(await tasksOf(asked.image.id), 1, 'uploaded through an import task');

  const a = c.adapter();
  const direct = await uploadSmall(a, c.smallImage, 'direct-1');
  assert.equal(await tasksOf(direct.image.id), 0, 'a direct upload by default');
  await c.sim.setKnobs({ imageDirectUpload: false });
  const fallback = await uploadSmall(a, c.smallImage, 'fallback-1');
  assert.equal(fallback.image.state, 'active');
  assert.equal(await tasksOf(fallback.image.id), 1);

  await c.sim.setKnobs({ imageImportMethods: [] });
  const neither = await rejection(uploadSmall(a, c.smallImage, 'neither-1'));
  assert.ok(neither instanceof Invalid, String(neither));
  assert.equal(neither.status, 403);
  assert.deepEqual(await a.listImages({ name: 'img-neither-1' }), [], 'no empty record left behind');

  await c.sim.setKnobs({ imageImportMethods: ['glance-direct'], imageFormatEnforcement: true });
  const refused = await rejection(uploadSmall(a, c.smallImage, 'refused-import-1'));
  assert.ok(refused instanceof Invalid, String(refused));
  assert.match(refused.message, /could not import/);
  assert.deepEqual(await a.listImages({ name: 'img-refused-import-1' }), []);
});
