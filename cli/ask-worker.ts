// Asking a worker something only it can answer (a cloud's state, build records and logs): a short workflow on
// the task queue, with a deadline and, when it passes, the reason in the operator's words.
import { ActivityFailure, TimeoutFailure, WorkflowFailedError, type Client } from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import { CliError } from './errors.ts';
import type { CliTemporal } from './temporal.ts';

/** A timeout has three usual causes; the workflow's history tells which, so the operator looks in the right place. */
async function whyTimedOut(client: Client, workflowId: string, taskQueue: string, timeout: number): Promise<string> {
  const handle = client.workflow.getHandle(workflowId);
  const [description, history] = await Promise.all([handle.describe(), handle.fetchHistory()]);
  const events = history.events ?? [];
  const taskFailure = events.findLast((e) => e.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes;
  if (taskFailure?.failure?.message)
    return `the worker failed the workflow task: ${taskFailure.failure.message} (see the worker's log)`;
  const pending = description.raw.pendingActivities?.[0];
  if (pending?.lastFailure?.message)
    return `no answer within ${timeout}s: the worker's last attempt (${pending.attempt ?? 1}) failed with: ${pending.lastFailure.message}`;
  if (!events.some((e) => e.workflowTaskStartedEventAttributes))
    return `no worker answered on task queue ${taskQueue} within ${timeout}s`;
  if (pending)
    return `no answer within ${timeout}s: the worker is still waiting on the cloud (attempt ${pending.attempt ?? 1})`;
  return `no answer within ${timeout}s from the worker on task queue ${taskQueue}`;
}

export interface AskOptions {
  timeoutSeconds: number;
  workflowId: string;
  /** What is being asked, for messages: "info east", "build-log 42". */
  what: string;
}

export async function askWorker<W extends Workflow>(
  t: CliTemporal,
  workflow: W,
  args: Parameters<W>,
  opts: AskOptions,
): Promise<Awaited<ReturnType<W>>> {
  if (!Number.isFinite(opts.timeoutSeconds) || opts.timeoutSeconds <= 0)
    throw new CliError(`--timeout must be a number of seconds above 0, got ${String(opts.timeoutSeconds)}`, 2);
  try {
    return (await t.client.workflow.execute(workflow, {
      taskQueue: t.taskQueue,
      workflowId: opts.workflowId,
      args,
      workflowExecutionTimeout: `${opts.timeoutSeconds} seconds`,
    } as never)) as Awaited<ReturnType<W>>;
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      if (err.cause instanceof TimeoutFailure)
        throw new CliError(await whyTimedOut(t.client, opts.workflowId, t.taskQueue, opts.timeoutSeconds), 1);
      const inner = err.cause instanceof ActivityFailure ? (err.cause.cause ?? err.cause) : err.cause;
      throw new CliError(`${opts.what} failed: ${inner?.message ?? err.message}`, 1);
    }
    throw err;
  }
}
