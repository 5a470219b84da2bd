// The record of which nodepool.yaml a task queue runs (core/config-registry.ts decides). It runs on nodepool's
// task queue in the workers' own bundle (a worker's activities wait until its join is accepted, so a worker can
// be refused before it acts), and it does not depend on any nodepool.yaml itself.
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  emptyRegistry,
  heartbeat,
  join,
  leave,
  type HeartbeatResult,
  type JoinRequest,
  type JoinResult,
  type RegistryState,
} from '../core/config-registry.ts';

export const joinUpdate = defineUpdate<JoinResult, [JoinRequest]>('join');
export const heartbeatUpdate = defineUpdate<HeartbeatResult, [{ identity: string; digest: string }]>('heartbeat');
/** A signal, so a stopping worker can leave even when no registry worker is left to run the workflow. */
export const leaveSignal = defineSignal<[{ identity: string }]>('leave');
export const registryQuery = defineQuery<RegistryState>('registry');

// "-2": the first registry ran on a task queue of its own (`<task queue>.config-registry`) that nothing polls now.
export function configRegistryWorkflowId(taskQueue: string): string {
  return `nodepool-config-registry-2:${taskQueue}`;
}

export async function nodepoolConfigRegistry(input: { state?: RegistryState } = {}): Promise<void> {
  let state = input.state ?? emptyRegistry();
  setHandler(joinUpdate, (req) => {
    const r = join(state, req, Date.now());
    state = r.state;
    return r.result;
  });
  setHandler(heartbeatUpdate, ({ identity, digest }) => {
    const r = heartbeat(state, identity, digest, Date.now());
    state = r.state;
    return r.result;
  });
  setHandler(leaveSignal, ({ identity }) => {
    state = leave(state, identity);
  });
  setHandler(registryQuery, () => state);
  // Heartbeats grow the history; a fresh run carries the state on.
  await condition(() => workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > 2000);
  await condition(allHandlersFinished);
  await continueAsNew<typeof nodepoolConfigRegistry>({ state });
}
