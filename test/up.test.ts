// `nodepool up` for real, as a newcomer runs it: the embedded example in a temporary data directory on free
// ports, its own Temporal dev server, two simulated clouds (one taking VHD) and the worker on PGlite. It must
// say it is up only when the worker polls, get the script-built image READY in both clouds and the min-ready
// nodes READY, answer `nodepool status` and `nodepool replay --all`, refuse a second `up`, stop on Ctrl-C with
// nothing left listening, and resume from its data directory under `npm start` (stopped by SIGTERM, as a
// service manager stops it).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../scripts/tools.ts';
import type { StatusReport } from '../cli/actions/status.ts';
import type { NodeView } from '../workflows/pool-api.ts';
import { startSimCloud } from '../simulator/index.ts';
import { runCli, type CliResult } from './support/cli.ts';
import { createTestDatabase } from './support/db.ts';
import { until } from './support/poll.ts';

const ROOT = join(import.meta.dirname, '..');
const EXAMPLE = join(ROOT, 'examples', 'nodepool.local.yaml');

let dir: string;
let ports: { temporal: number; ui: number; webapp: number };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nodepool-up-'));
  ports = { temporal: await freePort(), ui: await freePort(), webapp: await freePort() };
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** `up` runs its own Temporal server and PGlite: nothing of the test harness's environment may leak in. */
function upEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['DATABASE_URL', 'TEMPORAL_ADDRESS', 'NODEPOOL_TASK_QUEUE', 'NODEPOOL_CONFIG']) delete env[k];
  return env;
}

function upArgs(dataDir = join(dir, 'data'), p = ports): string[] {
  return [
    '--data-dir',
    dataDir,
    '--temporal-port',
    String(p.temporal),
    '--ui-port',
    String(p.ui),
    '--webapp-port',
    String(p.webapp),
  ];
}

interface Running {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

function start(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Running {
  const child = spawn(command, args, { cwd: ROOT, env: { ...upEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, exited };
}

function startUp(args = upArgs(), env: NodeJS.ProcessEnv = {}): Running {
  return start(process.execPath, [join(ROOT, 'cli', 'main.ts'), 'up', ...args], env);
}

async function waitFor(up: Running, text: string, ms: number): Promise<void> {
  await until(
    `"${text}" from nodepool up`,
    async () => {
      if (up.out().includes(text)) return true;
      if (up.child.exitCode !== null) throw new Error(`nodepool up exited ${up.child.exitCode}:\n${up.out()}`);
      return undefined;
    },
    ms,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n--- output so far:\n${up.out()}`);
  });
}

/** After a failed assertion: stop it the way an operator would (a SIGKILL leaves its children running). */
async function stopped(up: Running): Promise<void> {
  if (up.child.exitCode !== null || up.child.signalCode !== null) return;
  up.child.kill('SIGINT');
  const timer = setTimeout(() => up.child.kill('SIGKILL'), 60_000);
  await up.exited;
  clearTimeout(timer);
}

function cli(args: string[]): Promise<CliResult> {
  return runCli([...args, '-c', EXAMPLE], { env: { TEMPORAL_ADDRESS: `127.0.0.1:${ports.temporal}` } });
}

async function status(): Promise<StatusReport> {
  const r = await cli(['status', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as StatusReport;
}

async function readyNodes(): Promise<NodeView[]> {
  const r = await cli(['list', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as NodeView[]).filter((n) => n.state === 'ready');
}

/** Whether anything accepts connections at host:port. */
function listening(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** The pids of a process's children, from /proc. */
function children(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces, so read after its closing parenthesis.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The ports `up` gave the simulators, as it keeps them in its data directory. */
function simulatorPorts(): Record<string, { http: number; ssh: number }> {
  return (
    JSON.parse(readFileSync(join(dir, 'data', 'ports.json'), 'utf8')) as {
      simulators: Record<string, { http: number; ssh: number }>;
    }
  ).simulators;
}

let first: { uploads: string[]; nodes: number[]; endpoints: { host: string; port: number }[]; pids: number[] };

test('nodepool up brings the embedded example to READY: one build, raw and VHD uploads, min-ready nodes in both clouds', async () => {
  const up = startUp();
  try {
    await waitFor(up, 'nodepool is up', 180_000);
    // "Up" means the worker polls already: status, asked at once, finds it.
    const early = await status();
    assert.equal(early.workers.length, 1, `no worker polling when up said it was up:\n${up.out()}`);
    assert.match(up.out(), new RegExp(`Web UI +http://127\\.0\\.0\\.1:${ports.ui}`));
    assert.equal((await fetch(`http://127.0.0.1:${ports.ui}/`)).status, 200, 'the Web UI answers');
    assert.match(up.out(), new RegExp(`Status page +http://127\\.0\\.0\\.1:${ports.webapp}/`));
    assert.equal((await fetch(`http://127.0.0.1:${ports.webapp}/`)).status, 200, 'the status page answers');

    await waitFor(up, 'Every image is READY in every provider', 300_000);
    const s = await status();
    assert.deepEqual(
      s.images.map((i) => `${i.image}@${i.provider}:${i.state}`),
      ['tiny@sim-kvm:ready', 'tiny@sim-xen:ready'],
    );
    const byLabel = Object.fromEntries(s.labels.map((l) => [l.label, l]));
    assert.ok((byLabel.tiny?.ready ?? 0) >= 2, JSON.stringify(byLabel));
    assert.ok((byLabel['tiny-xen']?.ready ?? 0) >= 1, JSON.stringify(byLabel));

    // The text form names the same, for people.
    const text = await cli(['status']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /1 worker polling/);
    assert.match(text.stdout, /\| tiny +\| sim-xen +\| READY +\|/);
    assert.match(text.stdout, /\| tiny-xen +\| 1 +\| [1-9]/);

    // One build, converted for the Xen-style cloud by the built-in VHD writer; raw goes as built.
    const builds = await cli(['dib-image-list']);
    assert.equal(builds.code, 0, builds.stderr);
    assert.match(builds.stdout, /tiny-\d+\.builtin\.vhd, tiny-\d+\.raw \| \d+ +\| ready/);
    assert.equal(builds.stdout.match(/\| ready /g)?.length, 1, builds.stdout);

    // The deploy check against the live system: every workflow it ran replays against this code.
    const replay = await runCli(['replay', '--all'], { env: { TEMPORAL_ADDRESS: `127.0.0.1:${ports.temporal}` } });
    assert.equal(replay.code, 0, `${replay.stdout}\n${replay.stderr}`);
    assert.match(replay.stdout, /OK {2}providerPool pool\/sim-xen/);
    assert.match(replay.stdout, /OK {2}imageBuild image-build\/tiny\/scheduled/);

    const simPorts = simulatorPorts();
    const nodes = await readyNodes();
    first = {
      uploads: s.images.map((i) => `${i.provider}:${i.current?.id}`),
      nodes: nodes.map((n) => n.id).sort(),
      endpoints: [
        { host: '127.0.0.1', port: ports.temporal },
        { host: '127.0.0.1', port: ports.ui },
        { host: '127.0.0.1', port: ports.webapp },
        ...Object.values(simPorts).map((p) => ({ host: '127.0.0.1', port: p.http })),
        // Every READY node's SSH endpoint, on its own loopback address.
        ...nodes.map((n) => ({ host: n.ip as string, port: simPorts[n.provider]?.ssh as number })),
      ],
      pids: children(up.child.pid as number),
    };
    for (const e of first.endpoints) assert.ok(await listening(e.port, e.host), `nothing at ${e.host}:${e.port}`);
    assert.ok(first.pids.length >= 2, 'the Temporal server and the worker run as children');

    // A second `up` on the same data directory is refused, naming the one that runs.
    const again = startUp(upArgs(join(dir, 'data'), { temporal: 1, ui: 2, webapp: 3 }));
    assert.equal(await again.exited, 1, again.out());
    assert.match(
      again.out(),
      new RegExp(
        `nodepool up is already running with data directory .*data \\(pid ${up.child.pid}, Temporal 127\\.0\\.0\\.1:${ports.temporal}`,
      ),
    );
    // And one on another data directory cannot take the ports.
    const other = startUp(upArgs(join(dir, 'other')));
    assert.equal(await other.exited, 1, other.out());
    assert.match(
      other.out(),
      new RegExp(`port ${ports.temporal} on 127\\.0\\.0\\.1, for the Temporal server, is already in use`),
    );
    for (const r of [again, other]) assert.doesNotMatch(r.out(), /\n\s+at /, 'no stack trace');

    // Ctrl-C: everything stops, in order, and says so.
    up.child.kill('SIGINT');
    assert.equal(await up.exited, 0, up.out());
    assert.match(
      up.out(),
      /SIGINT: stopping nodepool[\s\S]*Worker stopped[\s\S]*Temporal server stopped[\s\S]*nodepool stopped\./,
    );
    for (const e of first.endpoints)
      assert.equal(await listening(e.port, e.host), false, `${e.host}:${e.port} still listens`);
    for (const pid of first.pids) assert.equal(alive(pid), false, `child ${pid} still runs`);
    assert.equal(existsSync(join(dir, 'data', 'up.lock')), false, 'the data directory is unlocked');
  } finally {
    await stopped(up);
  }
});

test('npm start resumes from the data directory (same uploads and nodes, nothing rebuilt), retries a failed build, stops on SIGTERM', async () => {
  assert.ok(first, 'needs the first test');
  // What a service manager runs and stops: npm, whose script execs nodepool up.
  const npm = process.env.npm_execpath;
  const up = npm
    ? start(process.execPath, [npm, 'start', '--', ...upArgs()])
    : start('npm', ['start', '--', ...upArgs()]);
  try {
    await waitFor(up, 'Every image is READY in every provider', 180_000);
    const s = await status();
    assert.deepEqual(
      s.images.map((i) => `${i.provider}:${i.current?.id}`),
      first.uploads,
      'the same uploads are current',
    );
    const builds = await cli(['dib-image-list']);
    assert.equal(builds.stdout.match(/\| ready /g)?.length, 1, `no second build:\n${builds.stdout}`);
    assert.deepEqual((await readyNodes()).map((n) => n.id).sort(), first.nodes, 'the same nodes are READY');

    // A build that fails in one provider continues from there with image-build --retry, nothing rebuilt.
    const xen = `http://127.0.0.1:${simulatorPorts()['sim-xen']?.http}/admin/knobs`;
    const knobs = (patch: object) =>
      fetch(xen, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(patch) });
    assert.equal((await knobs({ imageDirectUpload: false, imageImportMethods: [] })).status, 200);
    const failed = await cli(['image-build', 'tiny', '--wait', '--timeout', '240']);
    assert.equal(failed.code, 1, `${failed.stdout}\n${failed.stderr}`);
    const m = /build (\d+) of tiny \(version (\d+)\): partly-failed/.exec(failed.stdout);
    assert.ok(m, failed.stdout);
    assert.match(failed.stdout, /\| sim-xen +\| failed +\| \d+ +\| +\| image\.upload: HTTP 403/);
    assert.equal((await knobs({ imageDirectUpload: true, imageImportMethods: ['glance-direct'] })).status, 200);
    const retried = await cli(['image-build', '--retry', m[1] as string, '--wait', '--timeout', '240']);
    assert.equal(retried.code, 0, `${retried.stdout}\n${retried.stderr}`);
    assert.match(retried.stdout, new RegExp(`build ${m[1]} of tiny \\(version ${m[2]}\\): ready`));
    assert.match(retried.stdout, /\| sim-xen +\| ready +\|/);
    assert.doesNotMatch(retried.stdout, /\| sim-kvm /, 'only the failed provider was tried again');
    const log = readFileSync(join(dir, 'data', 'build-logs', `tiny-${m[2]}.log`), 'utf8');
    assert.equal(log.match(/build-tiny-image\.sh: wrote/g)?.length, 1, `the image was built once:\n${log}`);

    up.child.kill('SIGTERM');
    assert.equal(await up.exited, 0, up.out());
    assert.match(up.out(), /SIGTERM: stopping nodepool[\s\S]*nodepool stopped\./);
    for (const e of first.endpoints)
      assert.equal(await listening(e.port, e.host), false, `${e.host}:${e.port} still listens`);
  } finally {
    await stopped(up);
  }
});

test("up --config runs an operator's nodepool.yaml on PostgreSQL, its clouds.yaml clouds beside the simulated ones; a killed up's leftovers are stopped", async () => {
  const db = await createTestDatabase('up');
  // The operator's cloud: behind clouds.yaml as a real one would be (the simulator is the only stand-in).
  const cloud = await startSimCloud({ stateDir: join(dir, 'operator-cloud') });
  const etc = join(dir, 'operator');
  mkdirSync(etc, { recursive: true });
  const cloudsYaml = join(etc, 'clouds.yaml');
  writeFileSync(
    cloudsYaml,
    [
      'clouds:',
      '  realcloud:',
      '    auth:',
      `      auth_url: ${cloud.authUrl}`,
      '      username: nodepool',
      '      password: secret',
      '      project_name: nodepool',
      '      user_domain_name: Default',
      '      project_domain_name: Default',
      '    region_name: RegionOne',
      '',
    ].join('\n'),
  );
  const config = join(etc, 'nodepool.yaml');
  writeFileSync(
    config,
    [
      'providers:',
      '  - name: real',
      '    cloud: realcloud',
      '  - name: local',
      '    driver: simulator',
      '    simulator: { seed: 3, regions: [Lab] }',
      'temporal:',
      '  task-queue: operators',
      '',
    ].join('\n'),
  );
  const p = { temporal: await freePort(), ui: await freePort(), webapp: await freePort() };
  const dataDir = join(dir, 'operator-data');
  const args = ['--config', config, ...upArgs(dataDir, p)];
  const env = { DATABASE_URL: db.url, OS_CLIENT_CONFIG_FILE: cloudsYaml };
  const killed = startUp(args, env);
  let restarted: Running | undefined;
  try {
    // An `up` killed outright cannot stop its children (they write to their own log files and live on); the next
    // one on the directory does.
    await waitFor(killed, 'nodepool is up', 180_000);
    killed.child.kill('SIGKILL');
    await killed.exited;
    assert.ok(await listening(p.temporal), 'its Temporal server outlived it');
    const up = (restarted = startUp(args, env));
    await waitFor(up, 'nodepool is up', 180_000);
    assert.match(up.out(), /Stopping what a killed nodepool up left running on this data directory \(pids \d+, \d+\)/);

    assert.match(up.out(), /Worker polling task queue operators \(database: postgres:\/\/[^:]+:\*\*\*@/);
    assert.doesNotMatch(up.out(), new RegExp(`:${new URL(db.url).password}@`), 'the password is not printed');
    assert.equal(existsSync(join(dataDir, 'db')), false, 'no PGlite database beside PostgreSQL');
    const cliEnv = { TEMPORAL_ADDRESS: `127.0.0.1:${p.temporal}` };
    // The worker reaches the operator's cloud through their clouds.yaml and the simulated one through up's entry.
    const real = await runCli(['info', 'real', '-c', config], { env: cliEnv });
    assert.equal(real.code, 0, `${real.stdout}\n${real.stderr}`);
    assert.match(real.stdout, /Provider real \(cloud realcloud, image format qcow2\)/);
    const local = await runCli(['info', 'local', '-c', config], { env: cliEnv });
    assert.equal(local.code, 0, `${local.stdout}\n${local.stderr}`);
    // Its simulator offers region Lab only: the catalog lookup would fail with any other.
    assert.match(local.stdout, /Provider local \(cloud local, image format qcow2\)/);
    up.child.kill('SIGINT');
    assert.equal(await up.exited, 0, up.out());
  } finally {
    await stopped(restarted ?? killed);
    await cloud.close();
    await db.drop();
  }
});
