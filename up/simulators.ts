// The cloud simulators of a nodepool.yaml's `driver: simulator` providers, in the `up` process: one per
// provider, with its state (servers, images) in the data directory so a restart finds them again.
import { join } from 'node:path';
import { startSimCloud, type KnobsPatch, type SimCloud } from '../simulator/index.ts';
import type { SimulatorPlan } from './plan.ts';
import type { SimulatorPorts } from './ports.ts';

export interface RunningSimulator {
  plan: SimulatorPlan;
  ports: SimulatorPorts;
  sim: SimCloud;
}

export function knobsOf(plan: SimulatorPlan): KnobsPatch {
  const knobs: KnobsPatch = {};
  if (plan.bootSeconds !== undefined) knobs.bootSeconds = { min: plan.bootSeconds, max: plan.bootSeconds };
  if (plan.quota) {
    const { instances, cores, ram } = plan.quota;
    knobs.quota = {
      ...(instances === undefined ? {} : { instances }),
      ...(cores === undefined ? {} : { cores }),
      ...(ram === undefined ? {} : { ramMB: ram }),
    };
  }
  return knobs;
}

export async function startSimulator(
  plan: SimulatorPlan,
  ports: SimulatorPorts,
  dataDir: string,
): Promise<RunningSimulator> {
  const start = (port: number) =>
    startSimCloud({
      stateDir: join(dataDir, 'simulators', plan.provider),
      host: '127.0.0.1',
      port,
      sshPort: ports.ssh,
      seed: plan.seed,
      regions: plan.regions,
      knobs: knobsOf(plan),
    });
  try {
    let sim: SimCloud;
    try {
      sim = await start(ports.http);
    } catch (err) {
      // Its port of last time was taken since it was checked: any free one will do (clouds.yaml follows).
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || ports.http === 0) throw err;
      sim = await start(0);
    }
    return { plan, ports: { http: Number(new URL(sim.baseUrl).port), ssh: ports.ssh }, sim };
  } catch (err) {
    throw new Error(`the simulator of provider ${plan.provider} could not start: ${(err as Error).message}`);
  }
}
