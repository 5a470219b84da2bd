// The Temporal connection flags every command takes (worker/connection-flags.ts), remembered for connectTemporal.
// Kept apart from cli/temporal.ts so commands that never connect do not load the Temporal client.
import type { Options } from 'yargs';
import { TEMPORAL_FLAGS, type TemporalFlagName, type TemporalFlags } from '../worker/connection-flags.ts';

/** The connection flags every command takes, as yargs options. */
export const TEMPORAL_CLI_OPTIONS: Record<string, Options> = Object.fromEntries(
  Object.entries(TEMPORAL_FLAGS).map(([name, f]) => [name, { type: f.type, describe: f.describe, group: 'Temporal:' }]),
);

let flags: TemporalFlags = {};

export function temporalFlags(): TemporalFlags {
  return flags;
}

/** yargs middleware: remembers the connection flags of this invocation for connectTemporal. */
export function rememberTemporalFlags(argv: Record<string, unknown>): void {
  flags = {};
  for (const name of Object.keys(TEMPORAL_FLAGS) as TemporalFlagName[]) {
    const v = argv[name];
    if (typeof v === 'string' || typeof v === 'boolean') flags[name] = v;
  }
}
