// Fidelity judged by software nobody here wrote: the official `openstack` client and openstacksdk (installed from
// PyPI into .venv by the test harness) run against the simulator. Where they disagree, the simulator is wrong.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cloudsYaml } from '../cli/commands/sim-cloud.ts';
import type { Sim } from './simulator-support.ts';
import { api, startSim, tempDir } from './simulator-support.ts';

const CLI = process.env.OPENSTACK_CLI;
const SKIP = CLI === undefined || !existsSync(CLI) ? 'OPENSTACK_CLI is not set; run via npm run test:only' : false;

let sim: Sim;
let dir: string;
let env: NodeJS.ProcessEnv;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: dir, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function osc(...args: string[]): Promise<any> {
  const r = await run(CLI!, [...args, '-f', 'json']);
  assert.equal(r.code, 0, `openstack ${args.join(' ')} failed (${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as unknown;
}

describe('official OpenStack clients against the simulator', { skip: SKIP }, () => {
  before(async () => {
    sim = await startSim({ seed: 11, regions: ['RegionOne', 'RegionTwo'] });
    dir = tempDir('osc-');
    writeFileSync(join(dir, 'clouds.yaml'), cloudsYaml(sim, ['RegionOne']));
    env = {
      PATH: process.env.PATH,
      HOME: dir,
      OS_CLIENT_CONFIG_FILE: join(dir, 'clouds.yaml'),
      OS_CLOUD: 'sim',
    };
  });
  after(async () => {
    await sim?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('token issue with a password and with an application credential', async () => {
    const token = await osc('token', 'issue');
    assert.match(token.id, /^gAAAAA/);
    assert.ok(Date.parse(token.expires) > Date.now());
    const check = await api(`${sim.compute}/flavors`, { token: token.id });
    assert.equal(check.status, 200, 'the simulator accepts the token the client got');
    const app = await osc('--os-cloud', 'sim-appcred', 'token', 'issue');
    assert.equal(app.project_id, token.project_id);
    const flavors = await osc('--os-cloud', 'sim-appcred', 'flavor', 'list');
    assert.ok(flavors.some((f: { Name: string }) => f.Name === 'm1.tiny'));
  });

  test('catalog list and versions show', async () => {
    const catalog = await osc('catalog', 'list');
    const byType = Object.fromEntries(catalog.map((s: { Type: string }) => [s.Type, s]));
    assert.deepEqual(Object.keys(byType).sort(), ['compute', 'identity', 'image', 'network']);
    const urls = byType.compute.Endpoints.map((e: { url: string; region: string }) => `${e.region} ${e.url}`);
    assert.ok(urls.includes(`RegionTwo ${sim.baseUrl}/RegionTwo/compute/v2.1`));
    const versions = await osc('versions', 'show');
    const compute = versions.find((v: { 'Service Type': string; Status: string }) => {
      return v['Service Type'] === 'compute' && v.Status === 'CURRENT';
    });
    assert.equal(compute['Max Microversion'], '2.104');
    assert.ok(versions.some((v: { 'Service Type': string }) => v['Service Type'] === 'image'));
  });

  test('network list and show: names resolve to the ids Nova takes', async () => {
    const networks = await osc('network', 'list');
    const byName = Object.fromEntries(networks.map((n: { Name: string; ID: string }) => [n.Name, n.ID]));
    assert.deepEqual(Object.keys(byName).sort(), ['private', 'public']);
    const shown = await osc('network', 'show', 'public');
    assert.equal(shown.id, byName.public);
    assert.equal(shown['router:external'], true);
    const missing = await run(CLI!, ['network', 'show', 'nope', '-f', 'json']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /No Network found for nope/);
  });

  test('flavor list and limits show --absolute', async () => {
    const flavors = await osc('flavor', 'list');
    const tiny = flavors.find((f: { Name: string }) => f.Name === 'm1.tiny');
    assert.deepEqual([tiny.ID, tiny.RAM, tiny.Disk, tiny.VCPUs], ['1', 512, 1, 1]);
    const limits = await osc('limits', 'show', '--absolute');
    const get = (name: string) => limits.find((l: { Name: string }) => l.Name === name)?.Value;
    // The client asks at microversion 2.1, so the pre-2.36 keys (floating IPs, security groups) are there too.
    assert.equal(get('max_total_instances'), 100);
    assert.equal(get('max_total_ram_size'), 819200);
    assert.equal(get('max_server_meta'), 128);
    assert.equal(get('max_total_floating_ips'), 10);
  });

  test('image create --file, show, list, delete', async () => {
    const file = join(dir, 'disk.qcow2');
    const bytes = Buffer.alloc(200_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31) & 0xff;
    writeFileSync(file, bytes);
    const img = await osc(
      'image',
      'create',
      '--file',
      file,
      '--disk-format',
      'qcow2',
      '--container-format',
      'bare',
      '--property',
      'os_distro=debian',
      'fidelity-image',
    );
    assert.equal(img.status, 'active');
    assert.equal(img.size, bytes.length);
    assert.equal(img.checksum, createHash('md5').update(bytes).digest('hex'));
    assert.equal(img.disk_format, 'qcow2');
    const shown = await osc('image', 'show', 'fidelity-image');
    assert.equal(shown.id, img.id);
    assert.equal(shown.properties.os_distro, 'debian');
    assert.equal(shown.properties.os_hash_algo, 'sha512');
    assert.equal(shown.properties.os_hash_value, createHash('sha512').update(bytes).digest('hex'));
    const list = await osc('image', 'list');
    assert.ok(list.some((i: { ID: string; Status: string }) => i.ID === img.id && i.Status === 'active'));
    const del = await run(CLI!, ['image', 'delete', img.id]);
    assert.equal(del.code, 0, del.stderr);
    const gone = await run(CLI!, ['image', 'show', img.id, '-f', 'json']);
    assert.notEqual(gone.code, 0);
  });

  test('server create --wait with properties, show, list, delete --wait; quota errors reach the user', async () => {
    const file = join(dir, 'base.img');
    writeFileSync(file, Buffer.alloc(4096, 1));
    const image = await osc('image', 'create', '--file', file, '--disk-format', 'raw', 'fidelity-base');
    const server = await osc(
      'server',
      'create',
      '--flavor',
      'm1.tiny',
      '--image',
      image.id,
      // The client turns the name into a uuid through the simulator's Neutron.
      '--network',
      'private',
      '--property',
      'nodepool_node_id=0000001',
      '--property',
      'role=test',
      '--wait',
      'fidelity-vm',
    );
    assert.equal(server.status, 'ACTIVE');
    assert.equal(server.properties.nodepool_node_id, '0000001');
    const shown = await osc('server', 'show', 'fidelity-vm');
    assert.equal(shown.id, server.id);
    assert.equal(shown.flavor.original_name ?? shown.flavor.name, 'm1.tiny');
    const addr = shown.addresses.private[0] as string;
    assert.match(addr, /^127\.\d+\.\d+\.\d+$/);
    assert.equal(shown.accessIPv4, '', 'Nova shows accessIPv4 only when the create set it');
    const list = await osc('server', 'list');
    const row = list.find((s: { ID: string }) => s.ID === server.id);
    assert.equal(row.Status, 'ACTIVE');
    assert.deepEqual(row.Networks, { private: [addr] });

    const limits = await osc('limits', 'show', '--absolute');
    const used = (name: string) => limits.find((l: { Name: string }) => l.Name === name)?.Value;
    assert.deepEqual([used('total_instances_used'), used('total_cores_used'), used('total_ram_used')], [1, 1, 512]);

    await sim.setKnobs({ quota: { instances: 1 } });
    const over = await run(CLI!, [
      'server',
      'create',
      '--flavor',
      'm1.tiny',
      '--image',
      image.id,
      '--nic',
      'none',
      'x',
    ]);
    await sim.setKnobs({ quota: { instances: 100 } });
    assert.notEqual(over.code, 0);
    assert.match(over.stderr, /Quota exceeded for instances: Requested 1, but already used 1 of 1 instances/);
    assert.match(over.stderr, /403/);

    const del = await run(CLI!, ['server', 'delete', '--wait', server.id]);
    assert.equal(del.code, 0, del.stderr);
    const gone = await run(CLI!, ['server', 'show', server.id, '-f', 'json']);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /No Server found|could not be found/);
  });

  test('openstacksdk follows servers_links and glance next links, snapshots, and waits on delete', async () => {
    const python = join(dirname(CLI!), 'python');
    const script = `
import json, openstack
conn = openstack.connect(cloud='sim')
img = conn.image.create_image(name='sdk-base', disk_format='raw', container_format='bare', data=b'x' * 1000, wait=True)
for i in range(4):
    conn.image.create_image(name='sdk-page-%d' % i, disk_format='raw', container_format='bare', data=b'y')
flavor = conn.compute.find_flavor('m1.tiny', ignore_missing=False)
made = [conn.compute.create_server(name='sdk-vm-%d' % i, flavor_id=flavor.id, image_id=img.id, networks='auto') for i in range(3)]
listed = [s.name for s in conn.compute.servers(limit=2, name='^sdk-vm-')]
images = [i.name for i in conn.image.images(limit=2) if i.name.startswith('sdk-page-')]
server = conn.compute.wait_for_server(made[0], interval=0.2, wait=60)
snap = conn.compute.create_server_image(server, name='sdk-snap', wait=True, timeout=60)
for s in made:
    conn.compute.delete_server(s)
for s in made:
    conn.compute.wait_for_delete(s, interval=0.2, wait=60)
print(json.dumps({'servers': listed, 'images': images, 'status': server.status,
                  'ip': server.addresses['private'][0]['addr'],
                  'snap': snap.status, 'left': [s.name for s in conn.compute.servers(name='^sdk-vm-')]}))
`;
    const r = await run(python, ['-'], script);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    assert.deepEqual(out.servers, ['sdk-vm-2', 'sdk-vm-1', 'sdk-vm-0']);
    assert.deepEqual(out.images, ['sdk-page-3', 'sdk-page-2', 'sdk-page-1', 'sdk-page-0']);
    assert.equal(out.status, 'ACTIVE');
    assert.match(out.ip, /^127\./);
    assert.equal(out.snap, 'active');
    assert.deepEqual(out.left, []);
  });
});
