// `nodepool sim-cloud`: runs the OpenStack-compatible simulator in the foreground until SIGINT/SIGTERM.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CliError } from '../errors.ts';
import { startSimCloud } from '../../simulator/index.ts';
import type { SimCloud } from '../../simulator/index.ts';
import { KnobsError, DEFAULT_KNOBS, mergeKnobs } from '../../simulator/knobs.ts';

import type { SimCloudArgs as Args } from '../commands/sim-cloud.ts';
import { cloudsYaml } from '../sim-clouds-yaml.ts';

function readKnobs(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError(`--knobs ${file}: cannot read it (${(err as Error).message})`, 2);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new CliError(`--knobs ${file}: not valid JSON (${(err as Error).message})`, 2);
  }
  try {
    mergeKnobs(DEFAULT_KNOBS, parsed);
  } catch (err) {
    if (err instanceof KnobsError) throw new CliError(`--knobs ${file}: ${err.message}`, 2);
    throw err;
  }
  return parsed;
}

export async function simCloud(args: Args): Promise<void> {
  for (const name of ['port', 'ssh-port', 'seed'] as const) {
    const v = args[name];
    if (!Number.isInteger(v) || v < 0 || (name !== 'seed' && v > 65535)) {
      throw new CliError(`--${name} must be a whole number${name === 'seed' ? '' : ' from 0 to 65535'}, got ${v}`, 2);
    }
  }
  const knobs = args.knobs === undefined ? undefined : readKnobs(resolve(args.knobs));
  let sim: SimCloud;
  try {
    sim = await startSimCloud({
      stateDir: args['state-dir'],
      host: args.host,
      port: args.port,
      seed: args.seed,
      regions: args.region,
      sshPort: args['ssh-port'],
      ...(knobs !== undefined ? { knobs: knobs as never } : {}),
    });
  } catch (err) {
    throw new CliError(`sim-cloud could not start: ${(err as Error).message}`, 1);
  }
  process.stdout.write(
    `sim-cloud listening; auth URL ${sim.authUrl}\n` +
      `state dir ${resolve(args['state-dir'])}; knobs at ${sim.baseUrl}/admin/knobs\n\n` +
      `# clouds.yaml\n${cloudsYaml(sim, args.region)}`,
  );
  await new Promise<void>((done) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await sim.close();
  process.stdout.write('sim-cloud stopped\n');
}
