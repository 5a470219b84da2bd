// `nodepool replay`: replays recorded workflow histories against this checkout's workflow code, the check to
// run before deploying a new worker. Exit 0: every history replays; 1: nondeterminism (or another replay
// failure); 2: bad input.
import type { CommandModule } from 'yargs';

export interface ReplayArgs {
  config: string;
  'workflow-id'?: string;
  'run-id'?: string;
  file?: string[];
  all: boolean;
  query?: string;
  json: boolean;
}

export const replayCommand: CommandModule<{ config: string }, ReplayArgs> = {
  command: 'replay [workflow-id]',
  describe: "Replay workflow histories against this code's workflows: run it before deploying a new worker",
  builder: (y) =>
    y
      .positional('workflow-id', { type: 'string', describe: "a workflow's ID, e.g. pool/sim-kvm (its latest run)" })
      .option('run-id', { type: 'string', describe: 'with a workflow ID: that run instead of the latest' })
      .option('file', {
        type: 'string',
        array: true,
        describe: 'a history JSON file (temporal workflow show --output json, test/histories/*.json); repeatable',
      })
      .option('all', {
        type: 'boolean',
        default: false,
        describe: "every workflow of nodepool's task queue (running and closed), or of --query",
      })
      .option('query', {
        type: 'string',
        describe: 'a visibility query choosing the workflows, e.g. "WorkflowType = \'imageBuild\'" (implies --all)',
      })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON for scripts' }) as never,
  handler: async (args) => (await import('../actions/replay.ts')).replay(args),
};
