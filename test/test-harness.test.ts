// The harness's own cleanups: a failed cleanup must not leave a test file waiting for ever (it once cost a
// whole CI run its time budget: a DROP DATABASE that threw left the simulator listening).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { cleanupAll } from './support/cleanup.ts';
import { createTestDatabase } from './support/db.ts';

test('dropping a test database ends the connections still in it, idle or in a transaction', async () => {
  const db = await createTestDatabase('harness');
  const idle = new pg.Client({ connectionString: db.url });
  const busy = new pg.Client({ connectionString: db.url });
  // Terminated connections report an error event; it is the expected outcome here.
  for (const c of [idle, busy]) c.on('error', () => undefined);
  await idle.connect();
  await busy.connect();
  await busy.query('BEGIN');
  await busy.query('CREATE TABLE t (x int)');
  await db.drop();
  const admin = new pg.Client({ connectionString: process.env.NODEPOOL_PG_ADMIN_URL });
  await admin.connect();
  try {
    const name = new URL(db.url).pathname.slice(1);
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    assert.equal(rowCount, 0, `${name} is gone`);
  } finally {
    await admin.end();
  }
  await Promise.allSettled([idle.end(), busy.end()]);
  await db.drop(); // twice is fine: after-hooks may run it again
});

test('cleanupAll runs every step even when one fails, then throws that failure', async () => {
  const ran: string[] = [];
  await assert.rejects(
    cleanupAll([
      () => ran.push('a'),
      () => {
        throw new Error('drop failed');
      },
      async () => ran.push('c'),
    ]),
    /drop failed/,
  );
  assert.deepEqual(ran, ['a', 'c']);
  await assert.rejects(
    cleanupAll([
      () => Promise.reject(new Error('one')),
      () => {
        throw new Error('two');
      },
    ]),
    (err: unknown) => err instanceof AggregateError && err.errors.length === 2,
  );
  await cleanupAll([]);
});
