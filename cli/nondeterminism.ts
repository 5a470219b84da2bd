// Turning Temporal's nondeterminism errors into what an operator needs before a deploy: which history event
// the new code disagrees with, what that event was (an activity, a timer, a child workflow, a marker...) and
// what the code did instead. The SDK's message is kept too: it is the authority; this only points at the event.
import { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;
type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

const EventType = temporal.api.enums.v1.EventType;

/** EVENT_TYPE_ACTIVITY_TASK_SCHEDULED → ActivityTaskScheduled, as the Web UI and Core name them. */
export function eventTypeName(type: number | null | undefined): string {
  const raw = type === null || type === undefined ? undefined : EventType[type];
  if (!raw) return `event type ${String(type)}`;
  return raw
    .replace(/^EVENT_TYPE_/, '')
    .toLowerCase()
    .replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());
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
    if (m) return `marker ${m.markerName ?? '?'}`;
    const s = e.signalExternalWorkflowExecutionInitiatedEventAttributes;
    if (s) return `signal ${s.signalName ?? '?'} to ${s.workflowExecution?.workflowId ?? '?'}`;
    const sig = e.workflowExecutionSignaledEventAttributes;
    if (sig) return `signal ${sig.signalName ?? '?'} received`;
    const u = e.workflowExecutionUpdateAcceptedEventAttributes;
    if (u) return `update ${u.acceptedRequest?.input?.name ?? '?'} accepted`;
    if (e.upsertWorkflowSearchAttributesEventAttributes) return 'search attributes upserted';
    if (e.workflowPropertiesModifiedEventAttributes) return 'memo or properties modified';
    if (e.workflowExecutionContinuedAsNewEventAttributes) return 'continued as new';
    return '';
  })();
  return `event ${eventId(e)} ${eventTypeName(e.eventType)}${what ? `: ${what}` : ''}`;
}

/**
 * The SDK's nondeterminism message with the events it names described from the history, e.g.
 * "history event 5 ActivityTaskScheduled: activity planBuild (activity id 1)". The message names an event as
 * `HistoryEvent(id: 5, ...)`, `event 5` or `event_id: 5` depending on the case Core hit.
 */
export function explainNondeterminism(message: string, history: History): string {
  const details = message.replace(/^.*?Details: /s, '');
  const ids = new Set<number>();
  for (const m of details.matchAll(/HistoryEvent\(\s*id:\s*(\d+)|event(?:_id)?[\s:=#]+(\d+)/gi))
    ids.add(Number(m[1] ?? m[2]));
  const events = history.events ?? [];
  const named = [...ids]
    .map((id) => events.find((e) => eventId(e) === id))
    .filter((e): e is HistoryEvent => e !== undefined);
  const lines = [`the code does not match the history: ${details.trim()}`];
  for (const e of named) lines.push(`history has ${describeEvent(e)}`);
  return lines.join('\n');
}
