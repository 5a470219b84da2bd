// Benchmark-only workflows for bench/temporal.ts: the smallest shapes of what a pool workflow does (absorb
// signals and updates, answer queries, fan out activities, continue-as-new), with nothing else in the way.
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';

export interface BenchActivities {
  noop(i: number): Promise<number>;
}

const activityOptions = { startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 1 } } as const;
const remote = proxyActivities<BenchActivities>(activityOptions);
const local = proxyLocalActivities<BenchActivities>(activityOptions);

/** One workflow task and done: the floor for start-to-completion. */
export async function short(n: number): Promise<number> {
  return n;
}

export interface CounterState {
  count: number;
  runId: string;
  historyLength: number;
}

export const stateQuery = defineQuery<CounterState>('state');
export const bumpSignal = defineSignal('bump');
export const bumpUpdate = defineUpdate<number>('bump');
/** Continue-as-new now, carrying the count: what a perpetual pool does before its history grows too long. */
export const rolloverSignal = defineSignal('rollover');
export const stopSignal = defineSignal('stop');

/** A long-running counter that signals and updates both increment; stands in for a pool's state. */
export async function counter(start: number): Promise<number> {
  let count = start;
  let rollover = false;
  let stop = false;
  setHandler(stateQuery, () => ({ count, runId: workflowInfo().runId, historyLength: workflowInfo().historyLength }));
  setHandler(bumpSignal, () => void count++);
  setHandler(bumpUpdate, () => ++count);
  setHandler(rolloverSignal, () => void (rollover = true));
  setHandler(stopSignal, () => void (stop = true));
  await condition(() => rollover || stop);
  await condition(allHandlersFinished);
  if (rollover) await continueAsNew<typeof counter>(count);
  return count;
}

/** Runs `n` no-op activities with at most `parallel` in flight; returns how many completed. */
export async function fanout(n: number, parallel: number, useLocal: boolean): Promise<number> {
  const { noop } = useLocal ? local : remote;
  let next = 0;
  let done = 0;
  const lane = async () => {
    for (let i = next++; i < n; i = next++) {
      if ((await noop(i)) === i) done++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, n) }, lane));
  return done;
}
