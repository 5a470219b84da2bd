// A worker polls before the configuration registry has accepted it (the registry's workflow runs on the same task
// queue), so its activities wait for the answer: run after an accept, fail retryably after a refusal, for another
// worker to run them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/common';
import { gated } from '../worker/worker.ts';

function gate() {
  const { promise, resolve: accept, reject: refuse } = Promise.withResolvers<void>();
  promise.catch(() => undefined);
  return { promise, accept, refuse };
}

test('activities wait for the accept, then run with their arguments', async () => {
  const g = gate();
  const calls: unknown[][] = [];
  const acts = gated({ add: async (a: number, b: number) => (calls.push([a, b]), a + b) }, g.promise);
  let settled = false;
  const result = acts.add(2, 3).finally(() => (settled = true));
  // One turn of the event loop runs every microtask an ungated call would need; this one must still be waiting.
  await setImmediate();
  assert.equal(settled, false, 'still waiting for the registry');
  assert.deepEqual(calls, []);
  g.accept();
  assert.equal(await result, 5);
  assert.deepEqual(calls, [[2, 3]]);
});

test('after a refusal every activity fails retryably, saying why, and never runs', async () => {
  const g = gate();
  let ran = false;
  const acts = gated({ launch: async () => (ran = true) }, g.promise);
  const waiting = acts.launch();
  g.refuse(new Error('task queue q runs another nodepool.yaml'));
  for (const p of [waiting, acts.launch()]) {
    const err = await p.then(
      () => assert.fail('an activity of a refused worker ran'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ApplicationFailure);
    assert.equal(err.nonRetryable, false);
    assert.match(err.message, /may not run activities: task queue q runs another nodepool.yaml/);
  }
  assert.equal(ran, false);
});
