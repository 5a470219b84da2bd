// `npm run test:tempest`: OpenStack's own API test suite (Tempest, pinned, from PyPI) judges the simulator.
// Installs Tempest into the project venv, starts a simulator on a fresh state dir, writes tempest.conf and the
// pre-provisioned accounts, runs the suites serially, prints totals per suite and every failure, and exits
// non-zero on any failure (or when a suite that must pass whole does not). Not part of `npm test`.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startSimCloud, type SimCloud } from '../simulator/index.ts';
import { TEMPEST_ACCOUNTS } from '../simulator/identity.ts';
import { ROOT, log } from './tools.ts';
import { EXCLUDE, INCLUDE, SUITES, TEMPEST_VERSION, tempestConf } from './tempest-config.ts';

const VENV_BIN = join(ROOT, '.venv', 'bin');
const WORK = join(ROOT, '.tmp', 'tempest');

interface Result {
  id: string;
  status: 'success' | 'skip' | 'fail' | 'xfail' | 'uxsuccess' | string;
  reason: string;
}

function ensureTempest(): void {
  const python = join(VENV_BIN, 'python');
  const shown = spawnSync(python, ['-m', 'pip', 'show', 'tempest'], { encoding: 'utf8' });
  const version = /^Version: (.+)$/m.exec(shown.stdout ?? '')?.[1];
  if (version === TEMPEST_VERSION) return;
  log(`pip install tempest==${TEMPEST_VERSION} (found ${version ?? 'none'})`);
  const r = spawnSync(
    python,
    ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `tempest==${TEMPEST_VERSION}`],
    {
      encoding: 'utf8',
    },
  );
  if (r.status !== 0) throw new Error(`pip install tempest==${TEMPEST_VERSION} failed:\n${r.stdout}${r.stderr}`);
}

/** Two small active images owned by the primary project: Tempest's image_ref and image_ref_alt. */
async function seedImages(sim: SimCloud): Promise<[string, string]> {
  const account = TEMPEST_ACCOUNTS[0]!;
  const auth = await fetch(`${sim.authUrl}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: account.username, domain: { id: 'default' }, password: account.password } },
        },
        scope: { project: { name: account.project_name, domain: { id: 'default' } } },
      },
    }),
  });
  const token = auth.headers.get('x-subject-token');
  if (auth.status !== 201 || !token) throw new Error(`simulator refused the Tempest account: ${auth.status}`);
  const ids: string[] = [];
  for (const name of ['tempest-image', 'tempest-image-alt']) {
    const created = await fetch(`${sim.baseUrl}/RegionOne/image/v2/images`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-auth-token': token },
      body: JSON.stringify({ name, disk_format: 'qcow2', container_format: 'bare' }),
    });
    const id = ((await created.json()) as { id: string }).id;
    const put = await fetch(`${sim.baseUrl}/RegionOne/image/v2/images/${id}/file`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', 'x-auth-token': token },
      body: Buffer.from(`${name}: a few bytes stand in for a disk`),
    });
    if (put.status !== 204) throw new Error(`seeding ${name} failed: ${put.status}`);
    ids.push(id);
  }
  return [ids[0]!, ids[1]!];
}

function runTempest(args: string[], onChild: (kill: () => void) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(VENV_BIN, 'tempest'), args, {
      cwd: WORK,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, PATH: `${VENV_BIN}:${process.env.PATH ?? ''}` },
    });
    onChild(() => child.kill('SIGTERM'));
    child.on('error', reject);
    child.on('exit', (code, sig) => resolve(code ?? (sig ? 1 : 0)));
  });
}

function readResults(): Result[] {
  const subunit = spawnSync(join(VENV_BIN, 'stestr'), ['last', '--subunit'], {
    cwd: WORK,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (subunit.status !== 0) throw new Error(`stestr last --subunit failed: ${subunit.stderr.toString()}`);
  const parsed = spawnSync(join(VENV_BIN, 'python'), [join(ROOT, 'scripts', 'tempest-results.py')], {
    input: subunit.stdout,
    maxBuffer: 256 * 1024 * 1024,
    encoding: 'utf8',
  });
  if (parsed.status !== 0) throw new Error(`reading the subunit stream failed: ${parsed.stderr}`);
  return (JSON.parse(parsed.stdout) as Result[])
    .filter((r) => !/^(setUpClass|tearDownClass) \(/.test(r.id) || r.status !== 'success')
    .map((r) => ({ ...r, id: r.id.replace(/\[.*\]$/, '') }));
}

function report(results: Result[]): boolean {
  let ok = true;
  const lines: string[] = ['', 'Tempest totals against the simulator:'];
  for (const suite of SUITES) {
    const mine = results.filter((r) => suite.pattern.test(r.id));
    const count = (s: string) => mine.filter((r) => r.status === s).length;
    const passed = count('success');
    const skipped = count('skip');
    const failed = mine.length - passed - skipped;
    const whole = suite.allMustPass === true && (skipped > 0 || failed > 0 || mine.length === 0);
    if (failed > 0 || whole) ok = false;
    lines.push(
      `  ${suite.name.padEnd(14)} ran ${String(mine.length).padStart(3)}: passed ${passed}, skipped ${skipped}, failed ${failed}` +
        (suite.allMustPass ? ` (must pass whole${whole ? ': NOT MET' : ''})` : ''),
    );
  }
  const outside = results.filter((r) => !SUITES.some((s) => s.pattern.test(r.id)) && r.status !== 'skip');
  if (outside.some((r) => r.status !== 'success')) ok = false;
  const failures = results.filter((r) => r.status !== 'success' && r.status !== 'skip');
  if (failures.length > 0) {
    lines.push('', `Failures (${failures.length}):`);
    for (const f of failures) lines.push(`  ${f.id}`, ...f.reason.split('\n').map((l) => `      ${l}`));
  }
  lines.push('', `Switched off by regex: ${EXCLUDE.length} patterns (scripts/tempest-config.ts, docs/simulator.md)`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return ok;
}

async function main(): Promise<number> {
  ensureTempest();
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(join(WORK, 'etc'), { recursive: true });
  const sim = await startSimCloud({
    stateDir: join(WORK, 'sim'),
    seed: 1,
    knobs: { bootSeconds: { min: 0.1, max: 0.3 } },
  });
  let kill: (() => void) | undefined;
  const onSignal = () => kill?.();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    log(`simulator at ${sim.authUrl}`);
    const [imageRef, imageRefAlt] = await seedImages(sim);
    const accountsFile = join(WORK, 'etc', 'accounts.yaml');
    writeFileSync(accountsFile, stringify(TEMPEST_ACCOUNTS));
    const confFile = join(WORK, 'etc', 'tempest.conf');
    writeFileSync(
      confFile,
      tempestConf({
        authUrl: sim.authUrl,
        accountsFile,
        lockDir: join(WORK, 'locks'),
        logFile: join(WORK, 'tempest.log'),
        imageRef,
        imageRefAlt,
        publicNetworkId: sim.knobs().networks.find((n) => n.external)?.id ?? '',
      }),
    );
    writeFileSync(join(WORK, 'include.txt'), `${INCLUDE.join('\n')}\n`);
    writeFileSync(join(WORK, 'exclude.txt'), EXCLUDE.map((e) => `${e.regex}  # ${e.why}`).join('\n') + '\n');
    const extra = process.argv.slice(2);
    const args = ['run', '--serial', '--config-file', confFile, '--include-list', join(WORK, 'include.txt')];
    if (EXCLUDE.length > 0) args.push('--exclude-list', join(WORK, 'exclude.txt'));
    if (extra.length > 0) args.push('--regex', extra.join('|'));
    await runTempest(args, (k) => (kill = k));
    const ok = report(readResults());
    log(`tempest.conf, accounts and the log: ${WORK}`);
    return ok ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await sim.close();
  }
}

if (import.meta.main) process.exitCode = await main();
