// What Tempest 47.0.0 found the simulator getting wrong inside its claimed subset (issue 15), each pinned at the
// wire: where Tempest, real Glance or real Nova and the simulator disagree, the simulator was wrong.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Sim } from './simulator-support.ts';
import { MV, activeImage, api, createServer, issueToken, startSim, until, waitStatus } from './simulator-support.ts';

let sim: Sim;
let token: string;

before(async () => {
  sim = await startSim({ knobs: { bootSeconds: { min: 0, max: 0 } } });
  token = await issueToken(sim);
});
after(async () => sim.dispose());

const PATCH_V20 = { 'content-type': 'application/openstack-images-v2.0-json-patch' };

describe('glance', () => {
  test('PATCH with the v2.0 media type reads the v2.0 body form, as Glance does', async () => {
    const img = await api(`${sim.image}/v2/images`, { method: 'POST', token, json: { name: 'old', foo: 'bar' } });
    const id = img.body.id as string;
    const replaced = await api(`${sim.image}/v2/images/${id}`, {
      method: 'PATCH',
      token,
      headers: PATCH_V20,
      json: [{ replace: '/name', value: 'new' }, { add: '/colour', value: 'blue' }, { remove: '/foo' }],
    });
    assert.equal(replaced.status, 200, replaced.text);
    assert.equal(replaced.body.name, 'new');
    assert.equal(replaced.body.colour, 'blue');
    assert.equal(replaced.body.foo, undefined);
    const reserved = await api(`${sim.image}/v2/images/${id}`, {
      method: 'PATCH',
      token,
      headers: PATCH_V20,
      json: [{ add: '/os_glance_foo', value: 'bar' }],
    });
    assert.equal(reserved.status, 403, reserved.text);
    // The v2.1 form sent with the v2.0 type is not an operation Glance knows.
    const mixed = await api(`${sim.image}/v2/images/${id}`, {
      method: 'PATCH',
      token,
      headers: PATCH_V20,
      json: [{ op: 'replace', path: '/name', value: 'x' }],
    });
    assert.equal(mixed.status, 400, mixed.text);
  });

  test('an empty image id is a 404 for GET and DELETE, not a list and a 405', async () => {
    const get = await api(`${sim.image}/v2/images/`, { token, headers: { accept: 'application/json' } });
    assert.equal(get.status, 404, get.text);
    const del = await api(`${sim.image}/v2/images/`, { method: 'DELETE', token });
    assert.equal(del.status, 404, del.text);
  });
});

describe('nova', () => {
  test('accessIPv4 and accessIPv6 are kept as sent and malformed ones refused with 400', async () => {
    const imageId = await activeImage(sim, token);
    const created = await createServer(sim, token, imageId, { accessIPv4: '1.1.1.1', accessIPv6: '0000:0000::2' });
    assert.equal(created.status, 202, created.text);
    const shown = await waitStatus(sim, token, created.body.server.id as string, 'ACTIVE');
    assert.equal(shown.body.server.accessIPv4, '1.1.1.1');
    assert.equal(shown.body.server.accessIPv6, '::2', 'stored compressed, as Nova does');
    for (const [field, value] of [
      ['accessIPv4', '1.1.1.1.1.1'],
      ['accessIPv6', 'notanip'],
    ] as const) {
      const bad = await createServer(sim, token, imageId, { [field]: value });
      assert.equal(bad.status, 400, `${field} ${value}: ${bad.text}`);
      assert.match(bad.body.badRequest.message, new RegExp(`${field}.*is not a 'ipv[46]'`));
    }
  });

  test('server show carries server_groups from 2.71 and scheduler_hints (show and detail) from 2.100', async () => {
    const imageId = await activeImage(sim, token);
    const created = await createServer(sim, token, imageId);
    const id = created.body.server.id as string;
    await waitStatus(sim, token, id, 'ACTIVE');
    const at = async (v: string) => {
      const show = await api(`${sim.compute}/servers/${id}`, { token, headers: MV(v) });
      const detail = await api(`${sim.compute}/servers/detail`, { token, headers: MV(v) });
      return { show: show.body.server, detail: detail.body.servers.find((s: { id: string }) => s.id === id) };
    };
    const v270 = await at('2.70');
    assert.ok(!('server_groups' in v270.show));
    const v271 = await at('2.71');
    assert.deepEqual(v271.show.server_groups, []);
    assert.ok(!('server_groups' in v271.detail), 'server_groups is in show only');
    const v299 = await at('2.99');
    assert.ok(!('scheduler_hints' in v299.show) && !('scheduler_hints' in v299.detail));
    const v2100 = await at('2.100');
    assert.deepEqual(v2100.show.scheduler_hints, {});
    assert.deepEqual(v2100.detail.scheduler_hints, {});
  });

  test("an image whose min_ram or min_disk exceeds the flavor's is refused with 400", async () => {
    const imageId = await activeImage(sim, token);
    for (const [field, value, message] of [
      ['/min_ram', 513, "Flavor's memory is too small for requested image."],
      ['/min_disk', 2, "Flavor's disk is too small for requested image."],
    ] as const) {
      const patched = await api(`${sim.image}/v2/images/${imageId}`, {
        method: 'PATCH',
        token,
        headers: { 'content-type': 'application/openstack-images-v2.1-json-patch' },
        json: [
          { op: 'replace', path: '/min_ram', value: 0 },
          { op: 'replace', path: '/min_disk', value: 0 },
          { op: 'replace', path: field, value },
        ],
      });
      assert.equal(patched.status, 200, patched.text);
      const tiny = await createServer(sim, token, imageId, { flavorRef: '1' });
      assert.equal(tiny.status, 400, tiny.text);
      assert.equal(tiny.body.badRequest.message, message);
      const small = await createServer(sim, token, imageId, { flavorRef: '2' });
      assert.equal(small.status, 202, small.text);
    }
  });

  test('changes-since must be an ISO 8601 date-time', async () => {
    for (const value of ['2011/01/01', 'yesterday', '1700000000']) {
      const r = await api(`${sim.compute}/servers/detail?changes-since=${encodeURIComponent(value)}`, { token });
      assert.equal(r.status, 400, `${value}: ${r.text}`);
    }
    for (const value of ['2011-01-01T00:00:00Z', '2011-01-01T00:00:00.123456+00:00', '2011-01-01']) {
      const r = await api(`${sim.compute}/servers/detail?changes-since=${encodeURIComponent(value)}`, { token });
      assert.equal(r.status, 200, `${value}: ${r.text}`);
    }
  });

  test('a network uuid that is not a UUID is refused before any network lookup', async () => {
    const imageId = await activeImage(sim, token);
    const r = await createServer(sim, token, imageId, { networks: [{ uuid: 'private' }] });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.body.badRequest.message, 'Bad networks format: network uuid is not in proper format (private)');
    const unknown = await createServer(sim, token, imageId, {
      networks: [{ uuid: '11111111-2222-4333-8444-555555555555' }],
    });
    assert.equal(unknown.status, 400, unknown.text);
    assert.match(unknown.body.badRequest.message, /Network 11111111-2222-4333-8444-555555555555 could not be found/);
  });
});

const READER_AUTH = {
  auth: {
    identity: {
      methods: ['password'],
      password: { user: { name: 'demo-reader', domain: { id: 'default' }, password: 'reader-secret' } },
    },
    scope: { project: { name: 'demo', domain: { id: 'default' } } },
  },
};
const DEMO_AUTH = structuredClone(READER_AUTH);
DEMO_AUTH.auth.identity.password.user = { name: 'demo', domain: { id: 'default' }, password: 'demo-secret' };

describe('keystone users, projects and roles', () => {
  test('three users in two projects; a reader may look but not write; projects do not see each other', async () => {
    const demo = await issueToken(sim, DEMO_AUTH);
    const reader = await issueToken(sim, READER_AUTH);
    const shown = await api(`${sim.authUrl}/v3/auth/tokens`, { token: demo, headers: { 'x-subject-token': reader } });
    assert.deepEqual(
      shown.body.token.roles.map((r: { name: string }) => r.name),
      ['reader'],
    );
    const demoRoles = await api(`${sim.authUrl}/v3/auth/tokens`, { token: demo, headers: { 'x-subject-token': demo } });
    assert.deepEqual(demoRoles.body.token.roles.map((r: { name: string }) => r.name).sort(), ['member', 'reader']);
    // A user cannot scope to a project it has no role on.
    const wrong = structuredClone(DEMO_AUTH);
    wrong.auth.scope.project.name = 'nodepool';
    const refused = await api(`${sim.authUrl}/v3/auth/tokens`, { method: 'POST', json: wrong });
    assert.equal(refused.status, 401);

    const imageId = await activeImage(sim, demo);
    const readerSees = await api(`${sim.image}/v2/images/${imageId}`, { token: reader });
    assert.equal(readerSees.status, 200);
    const readerWrites = await api(`${sim.image}/v2/images`, { method: 'POST', token: reader, json: { name: 'x' } });
    assert.equal(readerWrites.status, 403, readerWrites.text);
    const readerBoots = await createServer(sim, reader, imageId);
    assert.equal(readerBoots.status, 403, readerBoots.text);
    assert.match(readerBoots.body.forbidden.message, /os_compute_api:servers:create/);
    // nodepool's project sees neither demo's image nor can it boot from it.
    assert.equal((await api(`${sim.image}/v2/images/${imageId}`, { token })).status, 404);
    assert.equal((await createServer(sim, token, imageId)).status, 400);
  });

  test('application credentials: create, list by name, show without secret, use, delete, then 404', async () => {
    const demo = await issueToken(sim, DEMO_AUTH);
    const me = (await api(`${sim.authUrl}/v3/auth/tokens`, { token: demo, headers: { 'x-subject-token': demo } })).body
      .token.user.id as string;
    const base = `${sim.authUrl}/v3/users/${me}/application_credentials`;
    const created = await api(base, { method: 'POST', token: demo, json: { application_credential: { name: 'ci' } } });
    assert.equal(created.status, 201, created.text);
    const { id, secret } = created.body.application_credential;
    assert.ok(typeof secret === 'string' && secret.length > 20);
    assert.equal(
      (await api(base, { method: 'POST', token: demo, json: { application_credential: { name: 'ci' } } })).status,
      409,
    );
    const listed = await api(`${base}?name=ci`, { token: demo });
    assert.deepEqual(
      listed.body.application_credentials.map((a: { id: string }) => a.id),
      [id],
    );
    const shown = await api(`${base}/${id}`, { token: demo });
    assert.equal(shown.body.application_credential.secret, undefined);
    const auth = (secretValue: string) =>
      api(`${sim.authUrl}/v3/auth/tokens`, {
        method: 'POST',
        json: {
          auth: {
            identity: { methods: ['application_credential'], application_credential: { id, secret: secretValue } },
          },
        },
      });
    const used = await auth(secret);
    assert.equal(used.status, 201);
    assert.equal(used.body.token.project.name, 'demo');
    assert.equal((await auth('wrong')).status, 401);
    // Another user's credentials are not ours to see.
    assert.equal((await api(`${sim.authUrl}/v3/users/${me}/application_credentials`, { token })).status, 403);
    assert.equal((await api(`${base}/${id}`, { method: 'DELETE', token: demo })).status, 204);
    const revoked = await auth(secret);
    assert.equal(revoked.status, 404, revoked.text);
    assert.equal(revoked.body.error.message, `Could not find Application Credential: ${id}.`);
    // Its tokens went with it.
    const stale = await api(`${sim.compute}/flavors`, { token: used.headers.get('x-subject-token')! });
    assert.equal(stale.status, 401);
  });
});

describe('neutron and what nova does with networks', () => {
  test('networks list, filter by name, show, 404 in the Neutron dialect; read-only', async () => {
    const net = `${sim.baseUrl}/RegionOne/network`;
    const versions = await api(net);
    assert.equal(versions.body.versions[0].id, 'v2.0');
    const all = await api(`${net}/v2.0/networks`, { token });
    assert.deepEqual(all.body.networks.map((n: { name: string }) => n.name).sort(), ['private', 'public']);
    const byName = await api(`${net}/v2.0/networks?name=private&fields=id&fields=name`, { token });
    assert.equal(byName.body.networks.length, 1);
    assert.deepEqual(Object.keys(byName.body.networks[0]).sort(), ['id', 'name']);
    const missing = await api(`${net}/v2.0/networks/11111111-2222-4333-8444-555555555555`, { token });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.NeutronError.type, 'NetworkNotFound');
    assert.equal((await api(`${net}/v2.0/networks`, { method: 'POST', token, json: {} })).status, 405);
    assert.equal((await api(`${net}/v2.0/networks`)).status, 401);
  });

  test("'auto' with several networks is Nova's 409, with none its 400; the port quota is Nova's 403", async () => {
    const imageId = await activeImage(sim, token);
    const defaults = sim.knobs().networks;
    try {
      await sim.setKnobs({
        networks: [...defaults, { id: 'b2d4f6a8-0c1e-4a3b-9d5f-7e9a1c3b5d7f', name: 'second', external: false }],
      });
      const ambiguous = await createServer(sim, token, imageId, { networks: 'auto' });
      assert.equal(ambiguous.status, 409, ambiguous.text);
      assert.match(ambiguous.body.conflictingRequest.message, /More than one possible network found/);
      await sim.setKnobs({ networks: defaults.filter((n) => n.external) });
      const none = await createServer(sim, token, imageId, { networks: 'auto' });
      assert.equal(none.status, 400, none.text);
      assert.match(none.body.badRequest.message, /Unable to automatically allocate a network/);
      const external = await createServer(sim, token, imageId, { networks: [{ uuid: defaults[1]!.id }] });
      assert.equal(external.status, 403, external.text);
    } finally {
      await sim.setKnobs({ networks: defaults });
    }
    const used = (await api(`${sim.compute}/servers`, { token })).body.servers.length as number;
    await sim.setKnobs({ quota: { ports: used } });
    try {
      const full = await createServer(sim, token, imageId);
      assert.equal(full.status, 403, full.text);
      assert.equal(full.body.forbidden.message, 'Maximum number of ports exceeded');
      const noPort = await createServer(sim, token, imageId, { networks: 'none' });
      assert.equal(noPort.status, 202, 'a server without networks needs no port');
      const shown = await waitStatus(sim, token, noPort.body.server.id as string, 'ACTIVE');
      assert.deepEqual(shown.body.server.addresses, {});
    } finally {
      await sim.setKnobs({ quota: { ports: -1 } });
    }
  });

  test('security groups must exist; boot from volume is reported as an attached volume', async () => {
    const imageId = await activeImage(sim, token);
    const badGroup = await createServer(sim, token, imageId, { security_groups: [{ name: 'nope' }] });
    assert.equal(badGroup.status, 400);
    assert.equal(badGroup.body.badRequest.message, 'Security group nope not found.');
    const bfv = await createServer(sim, token, imageId, {
      imageRef: '',
      block_device_mapping_v2: [
        {
          boot_index: 0,
          uuid: imageId,
          source_type: 'image',
          destination_type: 'volume',
          volume_size: 10,
          delete_on_termination: true,
        },
      ],
    });
    assert.equal(bfv.status, 202, bfv.text);
    const shown = await waitStatus(sim, token, bfv.body.server.id as string, 'ACTIVE');
    assert.equal(shown.body.server.image, '');
    const volumes = shown.body.server['os-extended-volumes:volumes_attached'];
    assert.equal(volumes.length, 1);
    assert.equal(volumes[0].delete_on_termination, true);
    const noSize = await createServer(sim, token, imageId, {
      imageRef: '',
      block_device_mapping_v2: [{ boot_index: 0, uuid: imageId, source_type: 'image', destination_type: 'volume' }],
    });
    assert.equal(noSize.status, 400);
  });
});

describe('nova keypairs and server update', () => {
  test('key pairs are per user; an unknown key_name is 400; the built-in nodepool key exists', async () => {
    const kp = `${sim.compute}/os-keypairs`;
    const builtIn = await api(`${kp}/nodepool`, { token, headers: MV('2.79') });
    assert.equal(builtIn.status, 200);
    assert.match(builtIn.body.keypair.fingerprint, /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
    const created = await api(kp, { method: 'POST', token, headers: MV('2.79'), json: { keypair: { name: 'gen' } } });
    assert.equal(created.status, 201, created.text);
    assert.match(created.body.keypair.private_key, /BEGIN OPENSSH PRIVATE KEY/);
    const dup = await api(kp, { method: 'POST', token, headers: MV('2.79'), json: { keypair: { name: 'gen' } } });
    assert.equal(dup.status, 409);
    const bad = await api(kp, {
      method: 'POST',
      token,
      headers: MV('2.79'),
      json: { keypair: { name: 'bad', public_key: 'ssh-rsa not-a-key' } },
    });
    assert.equal(bad.status, 400);
    const listed = await api(kp, { token, headers: MV('2.79') });
    assert.deepEqual(
      listed.body.keypairs.map((k: { keypair: { name: string } }) => k.keypair.name),
      ['gen', 'nodepool'],
    );
    const demo = await issueToken(sim, DEMO_AUTH);
    assert.equal((await api(`${kp}/gen`, { token: demo })).status, 404, 'another user has its own key pairs');
    const imageId = await activeImage(sim, token);
    assert.equal((await createServer(sim, token, imageId, { key_name: 'gen' })).status, 202);
    const unknown = await createServer(sim, token, imageId, { key_name: 'missing' });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.badRequest.message, 'Invalid key_name provided.');
    assert.equal((await api(`${kp}/gen`, { method: 'DELETE', token, headers: MV('2.79') })).status, 204);
  });

  test('PUT /servers/{id} renames and sets access IPs (IPv6 stored compressed); bad names are 400', async () => {
    const imageId = await activeImage(sim, token);
    const id = (await createServer(sim, token, imageId)).body.server.id as string;
    const put = (server: unknown) => api(`${sim.compute}/servers/${id}`, { method: 'PUT', token, json: { server } });
    const renamed = await put({ name: 'renamed', accessIPv6: '0000:0000:0000:0000:0000:babe:220.12.22.2' });
    assert.equal(renamed.status, 200, renamed.text);
    assert.equal(renamed.body.server.name, 'renamed');
    assert.equal(renamed.body.server.accessIPv6, '::babe:dc0c:1602');
    assert.equal((await put({ name: '' })).status, 400);
    assert.equal((await put({ name: 'x'.repeat(256) })).status, 400);
    assert.equal((await put({ flavorRef: '2' })).status, 400);
  });
});

describe('glance import, deactivation and the upload knobs', () => {
  test('glance-direct: info, stage → uploading, import 202 → active with hashes, one successful task', async () => {
    const info = await api(`${sim.image}/v2/info/import`, { token });
    assert.deepEqual(info.body['import-methods'].value, ['glance-direct']);
    const created = await api(`${sim.image}/v2/images`, {
      method: 'POST',
      token,
      json: { name: 'imported', disk_format: 'raw', container_format: 'bare' },
    });
    assert.equal(created.headers.get('openstack-image-import-methods'), 'glance-direct');
    const id = created.body.id as string;
    const early = await api(`${sim.image}/v2/images/${id}/import`, {
      method: 'POST',
      token,
      json: { method: { name: 'glance-direct' } },
    });
    assert.equal(early.status, 409);
    const data = Buffer.from('staged bytes');
    const staged = await api(`${sim.image}/v2/images/${id}/stage`, {
      method: 'PUT',
      token,
      headers: { 'content-type': 'application/octet-stream' },
      body: data,
    });
    assert.equal(staged.status, 204, staged.text);
    assert.equal((await api(`${sim.image}/v2/images/${id}`, { token })).body.status, 'uploading');
    const imported = await api(`${sim.image}/v2/images/${id}/import`, {
      method: 'POST',
      token,
      json: { method: { name: 'glance-direct' } },
    });
    assert.equal(imported.status, 202, imported.text);
    const active = await until('import done', async () => {
      const r = await api(`${sim.image}/v2/images/${id}`, { token });
      return r.body.status === 'active' ? r.body : undefined;
    });
    assert.equal(active.size, data.length);
    assert.equal(active.os_hash_value, createHash('sha512').update(data).digest('hex'));
    const tasks = await api(`${sim.image}/v2/images/${id}/tasks`, { token });
    assert.equal(tasks.body.tasks.length, 1);
    assert.equal(tasks.body.tasks[0].status, 'success');
    assert.equal(tasks.body.tasks[0].request_id, imported.headers.get('x-openstack-request-id'));
    assert.equal((await api(`${sim.image}/v2/info/stores`, { token })).status, 404, 'no multiple stores');
  });

  test('deactivate hides the data until reactivated', async () => {
    const id = await activeImage(sim, token);
    const act = (a: string) => api(`${sim.image}/v2/images/${id}/actions/${a}`, { method: 'POST', token });
    assert.equal((await act('deactivate')).status, 204);
    assert.equal((await api(`${sim.image}/v2/images/${id}`, { token })).body.status, 'deactivated');
    assert.equal((await api(`${sim.image}/v2/images/${id}/file`, { token })).status, 403);
    assert.equal((await act('reactivate')).status, 204);
    assert.equal((await api(`${sim.image}/v2/images/${id}/file`, { token })).status, 200);
  });

  test('imageDirectUpload off refuses the PUT; imageFormatEnforcement refuses data that is not its disk_format', async () => {
    const make = async (diskFormat: string) =>
      (
        await api(`${sim.image}/v2/images`, {
          method: 'POST',
          token,
          json: { name: 'knobs', disk_format: diskFormat, container_format: 'bare' },
        })
      ).body.id as string;
    const put = (id: string, body: Buffer) =>
      api(`${sim.image}/v2/images/${id}/file`, {
        method: 'PUT',
        token,
        headers: { 'content-type': 'application/octet-stream' },
        body,
      });
    try {
      await sim.setKnobs({ imageDirectUpload: false });
      const refused = await put(await make('raw'), Buffer.from('x'));
      assert.equal(refused.status, 403);
      await sim.setKnobs({ imageDirectUpload: true, imageFormatEnforcement: true });
      const id = await make('qcow2');
      const mismatch = await put(id, Buffer.from('plain raw bytes'));
      assert.equal(mismatch.status, 415, mismatch.text);
      assert.match(mismatch.text, /Image disk_format qcow2 does not match stream data raw/);
      assert.equal((await api(`${sim.image}/v2/images/${id}`, { token })).body.status, 'queued');
      const qcow2 = Buffer.concat([Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]), Buffer.alloc(100)]);
      assert.equal((await put(id, qcow2)).status, 204);
    } finally {
      await sim.setKnobs({ imageDirectUpload: true, imageFormatEnforcement: false });
    }
  });
});
