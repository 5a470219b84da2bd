// Build schedules follow nodepool.yaml when a worker starts: added, changed and removed diskimages update their
// schedules; an operator's image-pause survives a restart unless nodepool.yaml's own pause changed; schedules of
// another nodepool (another task queue) are never touched.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import { parseConfig } from '../config/index.ts';
import { syncSchedules } from '../worker/schedules.ts';
import { buildScheduleId } from '../workflows/ids.ts';
import { connectClient, uniqueTaskQueue } from './support/temporal.ts';

let client: Client;
let close: () => Promise<void>;
const taskQueue = uniqueTaskQueue('schedules');
const other = uniqueTaskQueue('schedules-other');
const tag = Math.random().toString(36).slice(2, 8);
const [a, b, c, foreign] = ['a', 'b', 'c', 'foreign'].map((x) => `sched-${x}-${tag}`) as [
  string,
  string,
  string,
  string,
];

function config(diskimages: string) {
  return parseConfig(`diskimages:\n${diskimages}`, 'nodepool.yaml', { onNotice: () => {} });
}

async function schedule(image: string) {
  return client.schedule.getHandle(buildScheduleId(image)).describe();
}

before(async () => {
  ({ client, close } = await connectClient());
});

after(async () => {
  for (const image of [a, b, c, foreign])
    await client.schedule
      .getHandle(buildScheduleId(image))
      .delete()
      .catch(() => {});
  // Schedules start a first build at once; no worker serves these task queues, so end those workflows.
  for await (const w of client.workflow.list({ query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'` }))
    await client.workflow
      .getHandle(w.workflowId)
      .terminate('test over')
      .catch(() => {});
  await close();
});

test('schedules are created, updated and deleted as nodepool.yaml changes, keeping operator pauses', async () => {
  // Another nodepool's schedule in the same namespace.
  await syncSchedules(client, config(`  - {name: ${foreign}, builder: script, script: /bin/true, pause: true}`), other);

  const first = await syncSchedules(
    client,
    config(
      `  - {name: ${a}, builder: script, script: /bin/true, rebuild-age: 24h}\n` +
        `  - {name: ${b}, builder: script, script: /bin/true, pause: true}`,
    ),
    taskQueue,
  );
  assert.deepEqual(first.created.sort(), [a, b].sort());
  const sa = await schedule(a);
  assert.equal(sa.spec.intervals?.[0]?.every, 86_400_000);
  assert.equal(sa.state.paused, false);
  assert.equal(sa.action.type, 'startWorkflow');
  assert.equal(sa.action.type === 'startWorkflow' ? sa.action.workflowType : '', 'imageBuild');
  assert.equal(sa.action.type === 'startWorkflow' ? sa.action.taskQueue : '', taskQueue);
  assert.equal((await schedule(b)).state.paused, true, 'paused in nodepool.yaml');

  // An operator pauses a; a restart with the same file leaves everything as it is.
  await client.schedule.getHandle(buildScheduleId(a)).pause('nodepool image-pause');
  const again = await syncSchedules(
    client,
    config(
      `  - {name: ${a}, builder: script, script: /bin/true, rebuild-age: 24h}\n` +
        `  - {name: ${b}, builder: script, script: /bin/true, pause: true}`,
    ),
    taskQueue,
  );
  assert.deepEqual(again.unchanged.sort(), [a, b].sort());
  assert.equal((await schedule(a)).state.paused, true);

  // a's interval changes, b goes, c comes: a keeps the operator's pause (its nodepool.yaml pause did not change).
  const changed = await syncSchedules(
    client,
    config(
      `  - {name: ${a}, builder: script, script: /bin/true, rebuild-age: 12h}\n` +
        `  - {name: ${c}, builder: script, script: /bin/true}`,
    ),
    taskQueue,
  );
  assert.deepEqual(changed, { created: [c], updated: [a], deleted: [b], unchanged: [] });
  const sa2 = await schedule(a);
  assert.equal(sa2.spec.intervals?.[0]?.every, 43_200_000);
  assert.equal(sa2.state.paused, true);
  await assert.rejects(schedule(b), ScheduleNotFoundError);

  // nodepool.yaml pausing and then unpausing a decides, whatever the operator did before.
  await syncSchedules(
    client,
    config(
      `  - {name: ${a}, builder: script, script: /bin/true, rebuild-age: 12h, pause: true}\n  - {name: ${c}, builder: script, script: /bin/true}`,
    ),
    taskQueue,
  );
  assert.equal((await schedule(a)).state.paused, true);
  await syncSchedules(
    client,
    config(
      `  - {name: ${a}, builder: script, script: /bin/true, rebuild-age: 12h}\n  - {name: ${c}, builder: script, script: /bin/true}`,
    ),
    taskQueue,
  );
  assert.equal((await schedule(a)).state.paused, false);

  // The other nodepool's schedule was never touched.
  assert.equal((await schedule(foreign)).state.paused, true);
});
