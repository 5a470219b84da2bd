// Developer tool: diffs the entities against a scratch PostgreSQL database migrated to the committed
// migrations, and writes the difference as a new migration file in db/migrations/.
// Usage: npm run migration:create -- NAME   (needs DATABASE_URL or the machine's PostgreSQL)
import pg from 'pg';
import { ensurePostgres } from '../scripts/tools.ts';
import { migrate, openDatabase } from './orm.ts';

const name = process.argv[2];
if (!name || !/^[A-Za-z][A-Za-z0-9]*$/.test(name)) {
  process.stderr.write('usage: npm run migration:create -- NameInCamelCase\n');
  process.exit(2);
}
const admin = ensurePostgres();
const scratch = `nodepool_migration_${Date.now()}`;
const client = new pg.Client({ connectionString: admin });
await client.connect();
await client.query(`CREATE DATABASE "${scratch}"`);
try {
  const url = new URL(admin);
  url.pathname = `/${scratch}`;
  const orm = await openDatabase({ url: url.toString() });
  try {
    await migrate(orm);
    const result = await orm.migrator.create(undefined, false, false, name);
    process.stdout.write(result.fileName ? `wrote db/migrations/${result.fileName}\n` : 'no changes\n');
  } finally {
    await orm.close();
  }
} finally {
  await client.query(`DROP DATABASE IF EXISTS "${scratch}" WITH (FORCE)`);
  await client.end();
}
