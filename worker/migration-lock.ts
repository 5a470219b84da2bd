// Workers of one deployment start together (docker compose up starts both at once) and would each migrate a fresh
// database at the same moment; the second CREATE TYPE fails. A PostgreSQL advisory lock makes them take turns:
// the first migrates, the next finds nothing left to apply.
import pg from 'pg';

// Any constant shared by every nodepool worker; "nodepool" in ASCII.
const MIGRATION_LOCK = 0x6e6f6465706f6f6cn;

export async function withMigrationLock<T>(databaseUrl: string, fn: () => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK.toString()]);
    try {
      return await fn();
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK.toString()]);
    }
  } finally {
    await client.end();
  }
}
