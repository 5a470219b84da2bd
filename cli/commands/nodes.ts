// Node commands, named as nodepool names them: list, request, release, hold, delete, request-list.
import type { CommandModule } from 'yargs';
import type * as NodeActions from '../actions/nodes.ts';

interface Common {
  config: string;
}

export interface ListArgs extends Common {
  json: boolean;
}

export interface RequestArgs extends Common {
  labels: string[];
  wait: boolean;
  key?: string;
  priority: number;
  requestor: string;
  timeout: number;
  json: boolean;
}

export interface ReleaseArgs extends Common {
  ids: number[];
}

export interface HoldArgs extends Common {
  id: number;
  reason: string;
  expires?: string;
}

export interface DeleteArgs extends Common {
  id: number;
  now: boolean;
}

type Actions = typeof NodeActions;

const run = async <A>(name: keyof Actions, args: A): Promise<void> => {
  const actions = await import('../actions/nodes.ts');
  await (actions[name] as (a: A) => Promise<void>)(args);
};

export const listCommand: CommandModule<Common, ListArgs> = {
  command: 'list',
  describe: 'List nodes in every pool',
  builder: (y) => y.option('json', { type: 'boolean', default: false, describe: 'print JSON for scripts' }),
  handler: (args) => run('list', args),
};

export const requestCommand: CommandModule<Common, RequestArgs> = {
  command: 'request <labels..>',
  describe: 'Request nodes (one per label given) as a CI system would; --wait until they are READY',
  builder: (y) =>
    y
      .positional('labels', { type: 'string', array: true, demandOption: true, describe: 'labels, e.g. ubuntu-noble' })
      .option('wait', { type: 'boolean', default: false, describe: 'wait until the request is fulfilled or fails' })
      .option('key', {
        type: 'string',
        describe: 'idempotency key (default: a new one); a retry with it is the same request',
      })
      .option('priority', { type: 'number', default: 200, describe: 'lower is more urgent' })
      .option('requestor', { type: 'string', default: 'nodepool-cli', describe: 'who asks, shown by request-list' })
      .option('timeout', { type: 'number', default: 0, describe: 'with --wait: seconds to wait (0: no limit)' })
      .option('json', { type: 'boolean', default: false, describe: 'print JSON for scripts' }) as never,
  handler: (args) => run('request', args),
};

export const releaseCommand: CommandModule<Common, ReleaseArgs> = {
  command: 'release <ids..>',
  describe: 'Release nodes a request got: they are deleted and replaced',
  builder: (y) =>
    y.positional('ids', { type: 'number', array: true, demandOption: true, describe: 'node IDs' }) as never,
  handler: (args) => run('release', args),
};

export const holdCommand: CommandModule<Common, HoldArgs> = {
  command: 'hold <id>',
  describe: 'Take a node out of use (kept, not deleted) until --expires or max-hold-age',
  builder: (y) =>
    y
      .positional('id', { type: 'number', demandOption: true, describe: 'node ID' })
      .option('reason', { type: 'string', demandOption: true, describe: 'why, shown by list' })
      .option('expires', { type: 'string', describe: 'how long, e.g. 2h or 1d (max-hold-age caps it)' }),
  handler: (args) => run('hold', args),
};

export const deleteCommand: CommandModule<Common, DeleteArgs> = {
  command: 'delete <id>',
  describe: 'Delete a node; one in use is deleted when its user releases it, unless --now',
  builder: (y) =>
    y
      .positional('id', { type: 'number', demandOption: true, describe: 'node ID' })
      .option('now', { type: 'boolean', default: false, describe: 'do not wait for its user' }),
  handler: (args) => run('deleteNode', args),
};

export const requestListCommand: CommandModule<Common, ListArgs> = {
  command: 'request-list',
  describe: 'List node requests: pending ones with why they wait, fulfilled and failed ones with why',
  builder: (y) => y.option('json', { type: 'boolean', default: false, describe: 'print JSON for scripts' }),
  handler: (args) => run('requestList', args),
};
