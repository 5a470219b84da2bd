// One Temporal Schedule per diskimage, following nodepool.yaml when the worker starts: added diskimages get a
// schedule (and a first build at once, as nodepool builds an image that has none), changed ones are updated,
// removed ones deleted, and nothing else is touched — including a pause an operator set with image-pause,
// unless nodepool.yaml's own `pause` for that diskimage changed.
import { createHash } from 'node:crypto';
import { ScheduleNotFoundError, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import type { Config, Diskimage } from '../config/index.ts';
import { buildScheduleId, scheduledBuildWorkflowId } from '../workflows/ids.ts';
import { NODEPOOL_IMAGE } from '../workflows/search-attributes.ts';

export const SCHEDULE_PREFIX = 'image-build/';

export interface ScheduleSync {
  created: string[];
  updated: string[];
  deleted: string[];
  unchanged: string[];
}

interface ScheduleMemo {
  /** Digest of what the schedule was made from; unchanged config leaves the schedule alone. */
  nodepoolScheduleHash: string;
  /** nodepool.yaml's pause when the schedule was last written: only a change of it overrides image-pause. */
  nodepoolConfigPaused: boolean;
}

function scheduleHash(d: Diskimage, taskQueue: string): string {
  return createHash('sha256')
    .update(JSON.stringify({ every: d.rebuildAge, taskQueue, pause: d.pause, v: 2 }))
    .digest('hex')
    .slice(0, 16);
}

function action(d: Diskimage, taskQueue: string) {
  const memo: ScheduleMemo = { nodepoolScheduleHash: scheduleHash(d, taskQueue), nodepoolConfigPaused: d.pause };
  return {
    type: 'startWorkflow' as const,
    workflowType: 'imageBuild',
    workflowId: scheduledBuildWorkflowId(d.name),
    taskQueue,
    args: [{ image: d.name }],
    memo: memo as unknown as Record<string, unknown>,
    // Set at start, so `image-build` sees a running scheduled build at once.
    typedSearchAttributes: new TypedSearchAttributes([{ key: NODEPOOL_IMAGE, value: d.name }]),
    staticSummary: `scheduled build of ${d.name}`,
  };
}

function spec(d: Diskimage) {
  return { intervals: [{ every: `${Math.max(1, d.rebuildAge)} seconds` }] };
}

const policies = {
  // A build still running when the next is due is not doubled; the next interval builds again.
  overlap: ScheduleOverlapPolicy.SKIP,
  // After an outage, one catch-up build, not a burst.
  catchupWindow: '1 hour',
};

export async function syncSchedules(client: Client, config: Config, taskQueue: string): Promise<ScheduleSync> {
  const result: ScheduleSync = { created: [], updated: [], deleted: [], unchanged: [] };
  const wanted = new Map(config.diskimages.map((d) => [buildScheduleId(d.name), d]));
  const existing: string[] = [];
  // Only this nodepool's schedules (by task queue): another nodepool sharing the namespace is left alone.
  for await (const s of client.schedule.list()) {
    const owner = (s.memo as { nodepoolTaskQueue?: string } | undefined)?.nodepoolTaskQueue;
    if (s.scheduleId.startsWith(SCHEDULE_PREFIX) && owner === taskQueue) existing.push(s.scheduleId);
  }

  for (const [scheduleId, d] of wanted) {
    const handle = client.schedule.getHandle(scheduleId);
    let description;
    try {
      description = await handle.describe();
    } catch (err) {
      if (!(err instanceof ScheduleNotFoundError)) throw err;
    }
    if (!description) {
      await client.schedule.create({
        scheduleId,
        memo: { nodepoolTaskQueue: taskQueue },
        spec: spec(d),
        action: action(d, taskQueue),
        policies,
        state: {
          paused: d.pause,
          note: d.pause ? 'paused in nodepool.yaml' : 'created from nodepool.yaml',
          // nodepool builds an image that has no build yet at once, not a day later.
          triggerImmediately: !d.pause,
        },
      });
      result.created.push(d.name);
      continue;
    }
    const memo = (description.action as { memo?: Partial<ScheduleMemo> }).memo ?? {};
    const hash = scheduleHash(d, taskQueue);
    if (memo.nodepoolScheduleHash === hash) {
      result.unchanged.push(d.name);
      continue;
    }
    const pauseChanged = memo.nodepoolConfigPaused !== d.pause;
    await handle.update((previous) => ({
      ...previous,
      spec: spec(d),
      action: action(d, taskQueue),
      policies: { ...previous.policies, ...policies },
      state: pauseChanged
        ? { paused: d.pause, note: d.pause ? 'paused in nodepool.yaml' : 'unpaused in nodepool.yaml' }
        : previous.state,
    }));
    result.updated.push(d.name);
  }

  for (const scheduleId of existing) {
    if (wanted.has(scheduleId)) continue;
    await client.schedule.getHandle(scheduleId).delete();
    result.deleted.push(scheduleId.slice(SCHEDULE_PREFIX.length));
  }
  return result;
}
