// Opens the database: PostgreSQL when given a postgres:// URL, otherwise embedded PGlite (the default for a
// single-host install). Both run the same committed migrations.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { MikroORM as CoreMikroORM, Options } from '@mikro-orm/core';
import { Migrator } from '@mikro-orm/migrations';
import { ENTITIES } from './entities/index.ts';
import { MIGRATIONS } from './migrations/index.ts';

export interface DatabaseOptions {
  /** postgres://user:pass@host:port/db. When absent, PGlite at dataDir. */
  url?: string;
  /** PGlite data directory; 'memory://' for a throwaway database. */
  dataDir?: string;
  debug?: boolean;
}

export type Orm = CoreMikroORM;

function common(opts: DatabaseOptions): Partial<Options> {
  return {
    entities: ENTITIES,
    extensions: [Migrator],
    // Silent: callers report what migrate() applied in their own log.
    migrations: {
      migrationsList: MIGRATIONS,
      path: 'db/migrations',
      snapshot: false,
      transactional: true,
      silent: true,
    },
    debug: opts.debug ?? false,
    // Activities fork their own EntityManager; the global one is never used for work.
    allowGlobalContext: false,
  };
}

export function isPostgresUrl(url: string | undefined): url is string {
  return url !== undefined && /^postgres(ql)?:\/\//.test(url);
}

/** A URL safe to print: the password is replaced. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<unparseable database url>';
  }
}

export async function openDatabase(opts: DatabaseOptions): Promise<Orm> {
  if (opts.url !== undefined && !isPostgresUrl(opts.url)) {
    throw new Error(
      `database url ${redactUrl(opts.url)} is not a postgres:// URL; give postgres://user:password@host:5432/db or omit it to use the embedded PGlite database`,
    );
  }
  if (isPostgresUrl(opts.url)) {
    const { MikroORM } = await import('@mikro-orm/postgresql');
    return (await MikroORM.init({ ...common(opts), clientUrl: opts.url } as never)) as unknown as Orm;
  }
  const { MikroORM } = await import('@mikro-orm/pglite');
  const dataDir = opts.dataDir ?? 'memory://';
  const release = dataDir.startsWith('memory://') ? () => {} : lockDataDir(dataDir);
  try {
    const orm = (await MikroORM.init({
      ...common(opts),
      dbName: 'nodepool',
      driverOptions: { dataDir },
    } as never)) as unknown as Orm;
    const close = orm.close.bind(orm);
    orm.close = async (force?: boolean) => {
      try {
        await close(force);
      } finally {
        release();
      }
    };
    return orm;
  } catch (err) {
    release();
    throw err;
  }
}

/**
 * PGlite is one process's database: a second process on the same data directory sees its own copy and the
 * last to close overwrites the other's writes. A lock file beside the directory makes that an error.
 */
function lockDataDir(dataDir: string): () => void {
  const lock = `${resolve(dataDir)}.lock`;
  mkdirSync(dirname(lock), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
      const release = () => rmSync(lock, { force: true });
      process.once('exit', release);
      return () => {
        process.off('exit', release);
        release();
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number(readFileSync(lock, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
        throw new Error(
          `the embedded database ${dataDir} is in use by process ${holder}; stop it, or give every process the same ` +
            'PostgreSQL database (database.url: postgres://...) to run more than one',
        );
      }
      if (holder === process.pid) throw new Error(`the embedded database ${dataDir} is already open in this process`);
      rmSync(lock, { force: true }); // left by a process that died
    }
  }
  throw new Error(`could not lock the embedded database ${dataDir} (${lock})`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Applies every pending migration; returns the names applied. */
export async function migrate(orm: Orm): Promise<string[]> {
  const applied = await orm.migrator.up();
  return applied.map((m) => m.name);
}
