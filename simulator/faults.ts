// Seeded randomness and the misbehaviour the knobs ask for: injected faults, latency, rate limiting.
// Each concern draws from its own stream so that, say, adding latency does not shift which request fails.
import type { FaultKind, Knobs, Operation } from './knobs.ts';

/** sfc32: small, fast, and its whole state is four numbers we can persist across restarts. */
export class Prng {
  private s: [number, number, number, number];
  constructor(seedOrState: number | [number, number, number, number]) {
    if (Array.isArray(seedOrState)) {
      this.s = [...seedOrState];
    } else {
      this.s = [0x9e3779b9, 0x243f6a88, 0xb7e15162, seedOrState >>> 0];
      for (let i = 0; i < 15; i++) this.next();
    }
  }
  /** Uniform in [0, 1). */
  next(): number {
    let [a, b, c, d] = this.s;
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    this.s = [a, b, c, d];
    return (t >>> 0) / 4294967296;
  }
  uniform(min: number, max: number): number {
    return min + (max - min) * this.next();
  }
  state(): [number, number, number, number] {
    return [...this.s];
  }
  /** A random-looking but reproducible UUID v4. */
  uuid(): string {
    const bytes: number[] = [];
    for (let i = 0; i < 16; i++) bytes.push(Math.floor(this.next() * 256));
    bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
    bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
    const hex = bytes.map((b) => b.toString(16).padStart(2, '0')).join('');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
}

/** Independent streams derived from one seed. */
export function streamSeed(seed: number, stream: string): number {
  let h = seed >>> 0;
  for (const ch of stream) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}

export class FaultInjector {
  private readonly rng: Prng;
  private readonly latencyRng: Prng;
  /** How often each rule (by index in knobs.faults) has fired since the faults were last set. */
  private fired: number[] = [];
  private recent: number[] = [];

  constructor(seed: number) {
    this.rng = new Prng(streamSeed(seed, 'faults'));
    this.latencyRng = new Prng(streamSeed(seed, 'latency'));
  }

  resetCounts(): void {
    this.fired = [];
  }

  /** The fault to inject for this request, if any. Every matching rule draws, so the stream stays aligned. */
  pick(knobs: Knobs, op: Operation): FaultKind | undefined {
    let chosen: FaultKind | undefined;
    knobs.faults.forEach((rule, i) => {
      if (rule.operation !== op) return;
      const roll = this.rng.next();
      const used = this.fired[i] ?? 0;
      if (chosen !== undefined) return;
      if (rule.count !== undefined && used >= rule.count) return;
      if (roll < rule.rate) {
        this.fired[i] = used + 1;
        chosen = rule.kind;
      }
    });
    return chosen;
  }

  latency(knobs: Knobs): number {
    const { min, max } = knobs.latencyMs;
    if (max <= 0) return 0;
    return this.latencyRng.uniform(min, max);
  }

  /** Sliding one-second window over all API requests; returns true when this request is over the limit. */
  overRateLimit(knobs: Knobs, now: number): boolean {
    if (knobs.rateLimit === null) return false;
    this.recent = this.recent.filter((t) => now - t < 1000);
    if (this.recent.length >= knobs.rateLimit.requestsPerSecond) return true;
    this.recent.push(now);
    return false;
  }
}
