// `nodepool sim-cloud`: runs the OpenStack-compatible simulator in the foreground until SIGINT/SIGTERM.
import type { CommandModule } from 'yargs';

export { cloudsYaml } from '../sim-clouds-yaml.ts';

export interface SimCloudArgs {
  'state-dir': string;
  port: number;
  host: string;
  seed: number;
  region: string[];
  'ssh-port': number;
  knobs?: string;
}

export const simCloudCommand: CommandModule<object, SimCloudArgs> = {
  command: 'sim-cloud',
  describe: 'Run the OpenStack-compatible cloud simulator in the foreground (see docs/simulator.md)',
  builder: (y) =>
    y
      .option('state-dir', { type: 'string', default: '.tmp/sim-cloud', describe: 'where state and image data live' })
      .option('port', { type: 'number', default: 0, describe: 'HTTP port (0 = any free port)' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'HTTP listen address' })
      .option('seed', { type: 'number', default: 1, describe: 'seed for every random choice' })
      .option('region', { type: 'string', array: true, default: ['RegionOne'], describe: 'region name (repeatable)' })
      .option('ssh-port', { type: 'number', default: 2222, describe: 'SSH port on every server address' })
      .option('knobs', { type: 'string', describe: 'JSON file with a partial Knobs object' }) as never,
  handler: async (args) => (await import('../actions/sim-cloud.ts')).simCloud(args),
};
