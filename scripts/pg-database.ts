// Fresh databases for test runs and benchmarks, and dropping them reliably.
import pg from 'pg';

async function withAdmin<T>(adminUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates database `name` and returns the admin URL pointed at it. */
export async function createDatabase(adminUrl: string, name: string): Promise<string> {
  await withAdmin(adminUrl, (c) => c.query(`CREATE DATABASE "${name}"`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

// 42501: WITH (FORCE) may not signal a backend of another role. Autovacuum workers have no role, so a role
// without pg_signal_backend gets this whenever autovacuum happens to be in the database; they finish quickly.
// 55006: still in use (a backend that was connecting while we dropped).
const PASSING = new Set(['42501', '55006']);

/**
 * Drops database `name` even if connections or an autovacuum worker are still in it: a cleanup that throws
 * leaves the rest of a test's resources open, and node's test runner then waits for them forever.
 */
export async function dropDatabase(adminUrl: string, name: string, deadlineMs = 30_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  for (let attempt = 1; ; attempt++) {
    try {
      await withAdmin(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
      return;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (!code || !PASSING.has(code) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, Math.min(100 * attempt, 1000)));
    }
  }
}
