// Turning Temporal's nondeterminism errors into what an operator needs before a deploy: what Core says the code
// did (its message names the command, and sometimes the event), and which workflow task of the history it
// disagrees with, with the commands the history recorded for that task. Pure: the replay itself is the CLI's.
import protos, { type temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

// A CommonJS module: its namespaces come from the default export.
const EventType = protos.temporal.api.enums.v1.EventType;

/** EVENT_TYPE_ACTIVITY_TASK_SCHEDULED → ActivityTaskScheduled, as the Web UI and Core name them. */
export function eventTypeName(type: number | null | undefined): string {
  const raw = type === null || type === undefined ? undefined : EventType[type];
  if (!raw) return `event type ${String(type)}`;
  return raw
    .replace(/^EVENT_TYPE_/, '')
    .toLowerCase()
    .replace(/(^|_)([a-z])/g, (_m: string, _s: string, c: string) => c.toUpperCase());
}

export interface HistoryFacts {
  workflowType: string;
  runId?: string;
  events: number;
}

export function historyFacts(history: History): HistoryFacts {
  const started = history.events?.[0]?.workflowExecutionStartedEventAttributes;
  const runId = started?.originalExecutionRunId ?? undefined;
  return {
    workflowType: started?.workflowType?.name ?? 'unknown workflow type',
    ...(runId ? { runId } : {}),
    events: history.events?.length ?? 0,
  };
}

function eventId(e: HistoryEvent): number {
  return Number(e.eventId ?? 0);
}

type Marker = temporal.api.history.v1.IMarkerRecordedEventAttributes;

/** A marker's JSON detail (Core writes its local activity and patch markers so), or undefined. */
function markerDetail(m: Marker, key: string): Record<string, unknown> | undefined {
  const data = m.details?.[key]?.payloads?.[0]?.data;
  if (!data) return undefined;
  try {
    return JSON.parse(Buffer.from(data).toString('utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function describeMarker(m: Marker): string {
  if (m.markerName === 'core_local_activity') {
    const d = markerDetail(m, 'data');
    if (d) return `local activity ${String(d.activity_type)} (seq ${String(d.seq)})`;
  }
  if (m.markerName === 'core_patch') {
    const d = markerDetail(m, 'patch_data');
    if (d) return `patch ${String(d.id)}`;
  }
  return `marker ${m.markerName ?? '?'}`;
}

/** One event in an operator's words: its id, type and what it was about. */
export function describeEvent(e: HistoryEvent): string {
  const what = (() => {
    const a = e.activityTaskScheduledEventAttributes;
    if (a) return `activity ${a.activityType?.name ?? '?'} (activity id ${a.activityId ?? '?'})`;
    const t = e.timerStartedEventAttributes;
    if (t) return `timer ${t.timerId ?? '?'} of ${Number(t.startToFireTimeout?.seconds ?? 0)}s`;
    const c = e.startChildWorkflowExecutionInitiatedEventAttributes;
    if (c) return `child workflow ${c.workflowType?.name ?? '?'} ${c.workflowId ?? ''}`.trim();
    const m = e.markerRecordedEventAttributes;
    if (m) return describeMarker(m);
    const s = e.signalExternalWorkflowExecutionInitiatedEventAttributes;
    if (s) return `signal ${s.signalName ?? '?'} to ${s.workflowExecution?.workflowId ?? '?'}`;
    const sig = e.workflowExecutionSignaledEventAttributes;
    if (sig) return `signal ${sig.signalName ?? '?'} received`;
    const u = e.workflowExecutionUpdateAcceptedEventAttributes;
    if (u) return `update ${u.acceptedRequest?.input?.name ?? '?'} accepted`;
    if (e.upsertWorkflowSearchAttributesEventAttributes) return 'search attributes upserted';
    if (e.workflowPropertiesModifiedEventAttributes) return 'memo or properties modified';
    return '';
  })();
  return `event ${eventId(e)} ${eventTypeName(e.eventType)}${what ? `: ${what}` : ''}`;
}

/** Events a workflow task's commands (and protocol messages) put in the history. */
const COMMAND_EVENTS = new Set<number>([
  EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
  EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED,
  EventType.EVENT_TYPE_TIMER_STARTED,
  EventType.EVENT_TYPE_TIMER_CANCELED,
  EventType.EVENT_TYPE_MARKER_RECORDED,
  EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
  EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
  EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
  EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
  EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_REJECTED,
  EventType.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED,
  EventType.EVENT_TYPE_NEXUS_OPERATION_CANCEL_REQUESTED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
]);

/**
 * Where a history can be cut between workflow tasks: before every WorkflowTaskScheduled but the first, and
 * at its end. A prefix cut there holds whole tasks, each with the commands it recorded; replaying longer and
 * longer prefixes finds the first task the code disagrees with (a prefix that fails makes every longer one fail).
 */
export function taskCuts(history: History): number[] {
  const events = history.events ?? [];
  const cuts: number[] = [];
  let seenFirst = false;
  events.forEach((e, i) => {
    if (e.eventType !== EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED) return;
    if (seenFirst) cuts.push(i);
    seenFirst = true;
  });
  if (cuts[cuts.length - 1] !== events.length) cuts.push(events.length);
  return cuts;
}

export function historyPrefix(history: History, length: number): History {
  return { events: (history.events ?? []).slice(0, length) };
}

/** Core's own words, from inside the SDK's wrapping ("Replay failed ... Details: Failure { message: \"...\" }"). */
export function coreMessage(message: string): string {
  const quoted = /message: "((?:[^"\\]|\\.)*)"/.exec(message);
  const core =
    quoted?.[1] !== undefined ? quoted[1].replace(/\\(.)/g, '$1') : message.replace(/^.*?Details: /s, '').trim();
  // Core may print a whole event (Rust's Debug form); its id and type are what matter.
  return core.replace(/HistoryEvent \{ event_id: (\d+),.*?event_type: (\w+),.*$/s, 'HistoryEvent(id: $1, $2)');
}

/**
 * The explanation: Core's message, the events it names by id, and — when the failing workflow task was found
 * (the events from `from` up to `to`) — the commands that task recorded, which the code no longer issues the same.
 */
export function explainNondeterminism(message: string, history: History, task?: { from: number; to: number }): string {
  const core = coreMessage(message);
  const events = history.events ?? [];
  const lines = [core];
  const named = new Set<number>();
  for (const m of core.matchAll(/HistoryEvent\(\s*id:\s*(\d+)/g)) named.add(Number(m[1]));
  for (const id of named) {
    const e = events.find((x) => eventId(x) === id);
    if (e) lines.push(`history: ${describeEvent(e)}`);
  }
  if (task) {
    const slice = events.slice(task.from, task.to);
    const completed = slice.find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
    const commands = slice.filter((e) => e.eventType !== null && COMMAND_EVENTS.has(e.eventType as number));
    lines.push(
      `the first workflow task that differs${completed ? ` completed at event ${eventId(completed)}` : ` is in events ${task.from + 1}-${task.to}`}; ` +
        (commands.length > 0 ? 'the history recorded its commands as:' : 'the history recorded no command for it'),
      ...commands.map((e) => `  ${describeEvent(e)}`),
    );
  }
  lines.push(
    'the code issues other commands than the history: keep the old order, or branch with patched() (docs/replay.md)',
  );
  return lines.join('\n');
}
