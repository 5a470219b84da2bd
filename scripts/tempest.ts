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
  return (JSON.parse(parsed.stdout) as Result[]).map((r) => ({ ...r, id: r.id.replace(/\[.*\]$/, '') }));
}

/** The test ids a `tempest run` with these selection arguments would run (tags stripped). */
function listTests(selection: string[]): string[] {
  const r = spawnSync(join(VENV_BIN, 'tempest'), ['run', '--list-tests', ...selection], {
    cwd: WORK,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, PATH: `${VENV_BIN}:${process.env.PATH ?? ''}` },
  });
  if (r.status !== 0) throw new Error(`tempest run --list-tests failed:\n${r.stdout}${r.stderr}`);
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('tempest.'))
    .map((l) => l.replace(/\[.*\]$/, ''));
}

/**
 * One result per test: a class whose setUpClass was skipped (or failed) reports once for the class, so its tests
 * take that outcome and reason, and totals count tests, not classes.
 */
function perTest(results: Result[], listed: string[]): Result[] {
  const byId = new Map(results.filter((r) => !r.id.includes(' (')).map((r) => [r.id, r]));
  const classes = new Map<string, Result>();
  for (const r of results) {
    const m = /^(?:setUpClass|tearDownClass) \((.+)\)$/.exec(r.id);
    if (m && r.status !== 'success' && !(r.id.startsWith('tearDownClass') && r.status === 'skip')) {
      classes.set(m[1]!, r);
    }
  }
  const out: Result[] = [];
  for (const id of listed) {
    const own = byId.get(id);
    const cls = classes.get(id.slice(0, id.lastIndexOf('.')));
    if (cls && cls.status !== 'skip') out.push({ id, status: cls.status, reason: cls.reason });
    else if (own) out.push(own);
    else if (cls) out.push({ id, status: 'skip', reason: cls.reason });
    else out.push({ id, status: 'fail', reason: 'listed but never reported (the run stopped?)' });
  }
  return out;
}

function totals(results: Result[]): { passed: number; skipped: number; failed: number } {
  const passed = results.filter((r) => r.status === 'success').length;
  const skipped = results.filter((r) => r.status === 'skip').length;
  return { passed, skipped, failed: results.length - passed - skipped };
}

function report(results: Result[], excluded: string[], filtered: boolean): boolean {
  let ok = true;
  const lines: string[] = ['', `Tempest ${TEMPEST_VERSION} against the simulator (tests, not classes):`];
  for (const suite of SUITES) {
    const mine = results.filter((r) => suite.pattern.test(r.id));
    const t = totals(mine);
    const off = excluded.filter((id) => suite.pattern.test(id)).length;
    if (filtered && mine.length === 0) continue;
    // A filtered run cannot judge a suite as a whole: only its failures count.
    const whole =
      !filtered && suite.allMustPass === true && (t.skipped > 0 || t.failed > 0 || mine.length === 0 || off > 0);
    if (t.failed > 0 || whole) ok = false;
    lines.push(
      `  ${suite.name.padEnd(14)} ${String(mine.length).padStart(3)} run: ${t.passed} passed, ${t.skipped} skipped, ` +
        `${t.failed} failed; ${off} switched off by regex` +
        (suite.allMustPass && !filtered ? ` (must pass whole${whole ? ': NOT MET' : ': met'})` : ''),
    );
  }
  const failures = results.filter((r) => r.status !== 'success' && r.status !== 'skip');
  if (failures.length > 0) {
    ok = false;
    lines.push('', `Failures (${failures.length}):`);
    for (const f of failures) lines.push(`  ${f.id}`, ...f.reason.split('\n').map((l) => `      ${l}`));
  }
  if (filtered) lines.push('', 'A filtered run: the target is judged on a full run (no arguments).');
  process.stdout.write(`${lines.join('\n')}\n`);
  if (!filtered) writeSummary(results, excluded);
  return ok;
}

/** A Markdown summary (totals, every skip grouped by reason, every test switched off) for docs/simulator.md. */
function writeSummary(results: Result[], excluded: string[]): void {
  const md: string[] = [
    `| suite | run | passed | skipped | failed | switched off by regex |`,
    `| ----- | --- | ------ | ------- | ------ | --------------------- |`,
  ];
  for (const suite of SUITES) {
    const mine = results.filter((r) => suite.pattern.test(r.id));
    const t = totals(mine);
    const off = excluded.filter((id) => suite.pattern.test(id)).length;
    md.push(`| ${suite.name} | ${mine.length} | ${t.passed} | ${t.skipped} | ${t.failed} | ${off} |`);
  }
  const reasons = new Map<string, string[]>();
  for (const r of results.filter((x) => x.status === 'skip')) {
    const reason = r.reason.trim().split('\n')[0] ?? '';
    reasons.set(reason, [...(reasons.get(reason) ?? []), r.id]);
  }
  md.push('', '### Skipped by configuration, by reason', '');
  for (const [reason, ids] of [...reasons].sort((a, b) => b[1].length - a[1].length)) {
    md.push(`- ${reason} (${ids.length}):`, ...ids.sort().map((id) => `  - \`${id.replace(/^tempest\.api\./, '')}\``));
  }
  md.push('', '### Switched off by regex', '');
  for (const e of EXCLUDE) {
    const ids = excluded.filter((id) => new RegExp(e.regex).test(id));
    md.push(`- ${e.why} (${ids.length}):`, ...ids.sort().map((id) => `  - \`${id.replace(/^tempest\.api\./, '')}\``));
  }
  writeFileSync(join(WORK, 'summary.md'), `${md.join('\n')}\n`);
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
    // `tempest run` makes the test repository itself, but listing needs it first.
    const init = spawnSync(join(VENV_BIN, 'stestr'), ['init'], { cwd: WORK, encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`stestr init failed: ${init.stderr}`);
    const extra = process.argv.slice(2);
    // stestr ORs an include list with a regex, so a regex given on the command line replaces the list.
    const selection = ['--config-file', confFile];
    if (extra.length > 0) selection.push('--regex', extra.join('|'));
    else selection.push('--include-list', join(WORK, 'include.txt'));
    const all = listTests(selection);
    if (EXCLUDE.length > 0) selection.push('--exclude-list', join(WORK, 'exclude.txt'));
    const listed = listTests(selection);
    const excluded = all.filter((id) => !listed.includes(id));
    await runTempest(['run', '--serial', ...selection], (k) => (kill = k));
    const ok = report(perTest(readResults(), listed), excluded, extra.length > 0);
    log(`tempest.conf, accounts and the log: ${WORK}`);
    return ok ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await sim.close();
  }
}

if (import.meta.main) {
  process.exitCode = await main().catch((err: unknown) => {
    process.stderr.write(`test:tempest: ${(err as Error).message}\n`);
    return 2;
  });
}
