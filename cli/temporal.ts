// How the CLI reaches Temporal: the `temporal` CLI's flags and TEMPORAL_* variables over nodepool.yaml's temporal
// section (worker/connection.ts), NODEPOOL_TASK_QUEUE over temporal.task-queue, with an operator-readable error
// when nothing answers.
import { Client, Connection } from '@temporalio/client';
import type { Config } from '../config/index.ts';
import {
  ConnectionSettingsError,
  connectionOptions,
  diagnoseConnectError,
  resolveTemporalSettings,
} from '../worker/connection.ts';
import { CliError } from './errors.ts';

export { DEFAULT_CONFIG, loadCliConfig } from './config.ts';

export interface CliTemporal {
  client: Client;
  namespace: string;
  taskQueue: string;
  address: string;
  close(): Promise<void>;
}

import { temporalFlags } from './temporal-flags.ts';

export async function connectTemporal(config: Config | undefined): Promise<CliTemporal> {
  let settings;
  let options;
  try {
    settings = resolveTemporalSettings(config, process.env, temporalFlags());
    options = connectionOptions(settings);
  } catch (err) {
    if (err instanceof ConnectionSettingsError) throw new CliError(err.message, 2);
    throw err;
  }
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...options, connectTimeout: 5000 });
  } catch (err) {
    throw new CliError(await diagnoseConnectError(err, settings), 1);
  }
  return {
    client: new Client({ connection, namespace: settings.namespace }),
    namespace: settings.namespace,
    taskQueue: settings.taskQueue,
    address: settings.address,
    close: () => connection.close(),
  };
}
