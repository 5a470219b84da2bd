// Opens the database: PostgreSQL when given a postgres:// URL, otherwise embedded PGlite (the default for a
// single-host install). Both run the same committed migrations.
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
  return (await MikroORM.init({
    ...common(opts),
    dbName: 'nodepool',
    driverOptions: { dataDir },
  } as never)) as unknown as Orm;
}

/** Applies every pending migration; returns the names applied. */
export async function migrate(orm: Orm): Promise<string[]> {
  const applied = await orm.migrator.up();
  return applied.map((m) => m.name);
}
