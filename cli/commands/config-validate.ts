// `nodepool config-validate`: checks nodepool.yaml without touching Temporal, the database or any cloud,
// so it can run in CI before a configuration change is deployed.
import type { CommandModule } from 'yargs';

export interface ConfigValidateArgs {
  config: string;
}

export const configValidateCommand: CommandModule<object, ConfigValidateArgs> = {
  command: 'config-validate',
  describe: 'Check nodepool.yaml and report every problem with file:line:column (exit 2 when invalid)',
  handler: async (args) => (await import('../actions/config-validate.ts')).configValidate(args),
};
