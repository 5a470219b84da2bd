// `nodepool up`: the whole nodepool on this machine in the foreground (Temporal dev server and Web UI, a cloud
// simulator per `driver: simulator` provider, the worker), until Ctrl-C. `npm start` runs it.
import type { CommandModule } from 'yargs';

export interface UpArgs {
  config?: string;
  'data-dir': string;
  'temporal-address'?: string;
  'temporal-port': number;
  'ui-port': number;
  'webapp-port'?: number;
  watch: boolean;
}

export const upCommand: CommandModule<object, UpArgs> = {
  command: 'up',
  describe: 'Run a whole nodepool here until Ctrl-C: Temporal dev server and Web UI, simulated clouds, the worker',
  builder: (y) =>
    y
      // Without --config, `up` runs the embedded example (examples/nodepool.local.yaml), not /etc/nodepool.
      .option('config', {
        type: 'string',
        default: process.env.NODEPOOL_CONFIG,
        defaultDescription: 'examples/nodepool.local.yaml: two simulated clouds',
        describe: 'nodepool.yaml to run',
      })
      .option('data-dir', {
        type: 'string',
        default: '.nodepool',
        describe: 'where the Temporal state, the database, images, simulators and logs live',
      })
      .option('temporal-address', {
        type: 'string',
        describe: 'use this Temporal server (host:port) instead of starting the dev server',
      })
      .option('temporal-port', { type: 'number', default: 7233, describe: "the dev server's gRPC port" })
      .option('ui-port', { type: 'number', default: 8233, describe: "the dev server's Web UI port" })
      .option('webapp-port', {
        type: 'number',
        describe: "the status page's port (default: nodepool.yaml webapp.port)",
      })
      .option('watch', {
        type: 'boolean',
        default: true,
        describe: 'follow the images and min-ready nodes until READY (--no-watch: only start)',
      }) as never,
  handler: async (args) => (await import('../actions/up.ts')).up(args),
};
