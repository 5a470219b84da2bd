import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import type { temporal } from '@temporalio/proto';
import type { ReplayWorkerOptions } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import type { ReplayArgs } from '../commands/replay.ts';
import { CliError } from '../errors.ts';
import { explainNondeterminism, historyFacts, historyPrefix, taskCuts } from '../nondeterminism.ts';
import { loadCliConfig } from '../config.ts';

// The worker SDK (the replayer) and the Temporal client load only once the input is known to be good, so a
// mistake is answered at once.
const worker = () => import('@temporalio/worker');

type History = temporal.api.history.v1.IHistory;

interface Input {
  /** Where it came from: a file or a workflow ID. */
  source: string;
  workflowId: string;
  history: History;
}

export interface ReplayOutcome {
  source: string;
  workflowId: string;
  runId: string;
  workflowType: string;
  events: number;
  result: 'ok' | 'nondeterminism' | 'failed';
  /** What differs (nondeterminism) or why the replay failed. */
  detail?: string;
}

function readHistoryFile(file: string): Input {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(
      `--file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      2,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CliError(`--file ${file}: not JSON (${(err as Error).message})`, 2);
  }
  let history: History;
  try {
    history = historyFromJSON(json);
  } catch (err) {
    throw new CliError(
      `--file ${file}: not a workflow history (${(err as Error).message}); save one with: temporal workflow show --workflow-id ID --output json`,
      2,
    );
  }
  checkHistory(history, `--file ${file}`);
  return { source: file, workflowId: basename(file).replace(/\.json$/, ''), history };
}

function checkHistory(history: History, where: string): void {
  const first = history.events?.[0];
  if (!first?.workflowExecutionStartedEventAttributes)
    throw new CliError(
      `${where}: not a workflow history: ${history.events?.length ? 'its first event is not WorkflowExecutionStarted' : 'it has no events'}`,
      2,
    );
}

async function* fromTemporal(args: ReplayArgs, found: { count: number }): AsyncGenerator<Input> {
  const config = loadCliConfig(args.config);
  const { connectTemporal } = await import('../temporal.ts');
  const { WorkflowNotFoundError } = await import('@temporalio/client');
  const t = await connectTemporal(config);
  try {
    if (args['workflow-id'] !== undefined) {
      const id = args['workflow-id'];
      try {
        const history = await t.client.workflow.getHandle(id, args['run-id']).fetchHistory();
        checkHistory(history, id);
        found.count++;
        yield { source: id, workflowId: id, history };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError)
          throw new CliError(
            `no workflow ${id}${args['run-id'] ? ` with run ${args['run-id']}` : ''} in namespace ${t.namespace} at ${t.address}`,
            2,
          );
        throw err;
      }
      return;
    }
    // This nodepool's workflows by default: another deployment may share the namespace.
    const query = args.query ?? `TaskQueue = '${t.taskQueue}'`;
    try {
      for await (const { workflowId, history } of t.client.workflow.list({ query }).intoHistories()) {
        if (!history) continue;
        found.count++;
        yield { source: workflowId, workflowId, history };
      }
    } catch (err) {
      if (found.count === 0 && /invalid query|failed to parse|unknown/i.test((err as Error).message))
        throw new CliError(
          `--query ${JSON.stringify(query)} is not a valid visibility query: ${(err as Error).message}`,
          2,
        );
      throw err;
    }
  } finally {
    await t.close();
  }
}

/**
 * The first workflow task the code disagrees with: replays of ever longer prefixes (cut between tasks), by
 * bisection, with the bundle already built.
 */
async function failingTask(options: ReplayWorkerOptions, input: Input): Promise<{ from: number; to: number }> {
  const cuts = taskCuts(input.history);
  let lo = 0;
  let hi = cuts.length - 1;
  let failed = false;
  async function* probes(): AsyncGenerator<{ workflowId: string; history: History }> {
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      yield { workflowId: input.workflowId, history: historyPrefix(input.history, cuts[mid] as number) };
      if (failed) hi = mid;
      else lo = mid + 1;
    }
  }
  const { Worker } = await worker();
  for await (const r of Worker.runReplayHistories(options, probes()))
    failed = r.error instanceof DeterminismViolationError;
  return { from: lo > 0 ? (cuts[lo - 1] as number) : 0, to: cuts[lo] as number };
}

async function resultOf(
  options: ReplayWorkerOptions,
  input: Input,
  runId: string,
  error: Error | undefined,
): Promise<ReplayOutcome> {
  const facts = historyFacts(input.history);
  const base = {
    source: input.source,
    workflowId: input.workflowId,
    runId: facts.runId ?? runId,
    workflowType: facts.workflowType,
    events: facts.events,
  };
  if (!error) return { ...base, result: 'ok' };
  if (error instanceof DeterminismViolationError)
    return {
      ...base,
      result: 'nondeterminism',
      detail: explainNondeterminism(error.message, input.history, await failingTask(options, input)),
    };
  return { ...base, result: 'failed', detail: error.message };
}

export function renderOutcome(o: ReplayOutcome): string {
  const head = `${o.result === 'ok' ? 'OK' : o.result === 'nondeterminism' ? 'NONDETERMINISTIC' : 'FAILED'}  ${o.workflowType} ${o.source} (${o.events} events)`;
  return o.detail ? `${head}\n${o.detail.replace(/^/gm, '    ')}` : head;
}

export async function replay(args: ReplayArgs): Promise<void> {
  const files = (args.file ?? []).map(String);
  const fromServer = args['workflow-id'] !== undefined || args.all || args.query !== undefined;
  if (files.length === 0 && !fromServer)
    throw new CliError('name a workflow ID, a history file (--file FILE) or --all [--query QUERY]', 2);
  if (files.length > 0 && fromServer)
    throw new CliError('give history files or workflows on the server (an ID or --all), not both', 2);
  if (args['workflow-id'] !== undefined && (args.all || args.query !== undefined))
    throw new CliError('give a workflow ID or --all/--query, not both', 2);
  if (args['run-id'] !== undefined && args['workflow-id'] === undefined)
    throw new CliError('--run-id needs a workflow ID', 2);

  // Files are all read first, so a bad one is reported before the (slow) workflow bundle is built.
  const fileInputs = files.map(readHistoryFile);
  const found = { count: 0 };
  const pending: Input[] = [];
  async function* inputs(): AsyncGenerator<{ workflowId: string; history: History }> {
    for await (const input of fileInputs.length > 0 ? fileInputs : fromTemporal(args, found)) {
      pending.push(input);
      yield { workflowId: input.workflowId, history: input.history };
    }
  }

  // The replay workers' own chatter (bundling, Core's warning for the very failure we report) is not the
  // operator's business; errors still show.
  const { DefaultLogger, Runtime, Worker } = await worker();
  const { WORKFLOWS, bundleInChild } = await import('../../worker/bundle.ts');
  const logger = new DefaultLogger('ERROR');
  Runtime.install({ logger, telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } } });
  const options: ReplayWorkerOptions = {
    // The worker's own bundle of this code (from the cache it starts from, else made as it makes it), built once:
    // the bisection of a nondeterministic history replays it again.
    workflowBundle: await bundleInChild(WORKFLOWS),
    replayName: 'nodepool-replay',
  };
  const outcomes: ReplayOutcome[] = [];
  for await (const r of Worker.runReplayHistories(options, inputs())) {
    const input = pending.shift() as Input;
    const outcome = await resultOf(options, input, r.runId, r.error);
    outcomes.push(outcome);
    if (!args.json) process.stdout.write(`${renderOutcome(outcome)}\n`);
  }
  if (outcomes.length === 0)
    throw new CliError(
      `no workflow matches ${args.query ? `--query ${JSON.stringify(args.query)}` : 'the task queue'}: nothing to replay`,
      2,
    );
  const bad = outcomes.filter((o) => o.result !== 'ok');
  if (args.json) process.stdout.write(`${JSON.stringify(outcomes, null, 2)}\n`);
  else
    process.stdout.write(
      bad.length === 0
        ? `${outcomes.length} replayed, all deterministic against this code\n`
        : `${outcomes.length} replayed: ${outcomes.length - bad.length} OK, ${bad.filter((o) => o.result === 'nondeterminism').length} nondeterministic, ${bad.filter((o) => o.result === 'failed').length} failed\n`,
    );
  if (bad.length > 0) process.exitCode = 1;
}
