// A fresh PostgreSQL database per caller on the real server the test harness started.
import { createDatabase, dropDatabase } from '../../scripts/pg-database.ts';

function adminUrl(): string {
  const url = process.env.NODEPOOL_PG_ADMIN_URL;
  if (!url) throw new Error('NODEPOOL_PG_ADMIN_URL is not set: run tests through `npm test` (scripts/test-env.ts)');
  return url;
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

let counter = 0;

/** A fresh database on the harness's server, or on the one `admin` (an admin URL) names (the benchmarks'). */
export async function createTestDatabase(prefix = 't', admin = adminUrl()): Promise<TestDatabase> {
  const name = `${prefix}_${process.pid}_${Date.now()}_${counter++}`.toLowerCase();
  const url = await createDatabase(admin, name);
  return { url, drop: () => dropDatabase(admin, name) };
}
