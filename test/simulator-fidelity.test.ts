// What Tempest 47.0.0 found the simulator getting wrong inside its claimed subset (issue 15), each pinned at the
// wire: where Tempest, real Glance or real Nova and the simulator disagree, the simulator was wrong.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Sim } from './simulator-support.ts';
import { MV, activeImage, api, createServer, issueToken, startSim, waitStatus } from './simulator-support.ts';

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
    assert.equal(shown.body.server.accessIPv6, '0000:0000::2');
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
