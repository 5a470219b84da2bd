// Waiting for state without sleeping blindly: probe at once, then on every tick of a fixed interval until the
// probe returns a value, with a bounded deadline, and fail naming what never happened.
import { setInterval } from 'node:timers/promises';

const TICK_MS = 50;

export async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  const first = await probe();
  if (first !== undefined) return first;
  for await (const _ of setInterval(TICK_MS)) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
  }
  throw new Error('unreachable: the interval never ends');
}
