// How the CLI reaches Temporal: nodepool.yaml's temporal section, overridden by TEMPORAL_ADDRESS,
// TEMPORAL_NAMESPACE and NODEPOOL_TASK_QUEUE, with an operator-readable error when nothing answers.
import { Client, Connection } from '@temporalio/client';
import type { Config } from '../config/index.ts';
import { CliError } from './errors.ts';

export { DEFAULT_CONFIG, loadCliConfig } from './config.ts';

export interface CliTemporal {
  client: Client;
  namespace: string;
  taskQueue: string;
  address: string;
  close(): Promise<void>;
}

export async function connectTemporal(config: Config | undefined): Promise<CliTemporal> {
  const address = process.env.TEMPORAL_ADDRESS || config?.temporal.address || 'localhost:7233';
  const namespace = process.env.TEMPORAL_NAMESPACE || config?.temporal.namespace || 'default';
  const taskQueue = process.env.NODEPOOL_TASK_QUEUE || config?.temporal.taskQueue || 'nodepool';
  let connection: Connection;
  try {
    connection = await Connection.connect({ address, connectTimeout: 5000 });
  } catch (err) {
    throw new CliError(
      `cannot reach the Temporal server at ${address} (${(err as Error).message}); check temporal.address in nodepool.yaml or TEMPORAL_ADDRESS`,
      1,
    );
  }
  return {
    client: new Client({ connection, namespace }),
    namespace,
    taskQueue,
    address,
    close: () => connection.close(),
  };
}
