import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { NativeConnection } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { migrate, openDatabase, type Orm } from '../db/orm.ts';
import { MIGRATIONS } from '../db/migrations/index.ts';
import { createNodepoolWorker } from '../worker/worker.ts';
import { workerHealth } from '../workflows/index.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';
import { connectClient, connectWorker, uniqueTaskQueue } from './support/temporal.ts';

let db: TestDatabase;
let orm: Orm;
let nativeConnection: NativeConnection;
let client: Client;
let closeClient: () => Promise<void>;

before(async () => {
  db = await createTestDatabase('worker');
  orm = await openDatabase({ url: db.url });
  await migrate(orm);
  nativeConnection = await connectWorker();
  ({ client, close: closeClient } = await connectClient());
});

after(async () => {
  await closeClient();
  await nativeConnection.close();
  await orm.close();
  await db.drop();
});

test('the real worker runs a workflow whose activity reads the real PostgreSQL database', async () => {
  const taskQueue = uniqueTaskQueue('health');
  const worker = await createNodepoolWorker({ connection: nativeConnection, taskQueue, orm });
  const result = await worker.runUntil(
    client.workflow.execute(workerHealth, { taskQueue, workflowId: `${taskQueue}-wf`, args: [taskQueue] }),
  );
  assert.equal(result.taskQueue, taskQueue);
  assert.deepEqual(
    result.database.appliedMigrations,
    MIGRATIONS.map((m) => m.name),
  );
  assert.deepEqual(result.database.pendingMigrations, []);
  assert.match(result.database.driver, /PostgreSql/);

  // The history on the server records the activity, so this really went through Temporal.
  const history = await client.workflow.getHandle(`${taskQueue}-wf`).fetchHistory();
  const scheduled = history.events?.filter((e) => e.activityTaskScheduledEventAttributes) ?? [];
  assert.equal(scheduled[0]?.activityTaskScheduledEventAttributes?.activityType?.name, 'databaseStatus');
});
