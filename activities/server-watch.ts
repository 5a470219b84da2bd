// Watching many servers at once: one listing of the provider's project every poll, shared by every server any
// activity of this worker waits on in that provider (launchers, deleters, leak cleanup), instead of one GET per
// server per poll — or one listing per batch, which under churn (many small batches at once) is the same storm.
import type { ProviderAdapter, Server } from '../providers/adapter.ts';

interface Waiter {
  id: string;
  done: (s: Server | undefined) => boolean;
  deadline: number;
  resolve: (s: Server | undefined) => void;
  reject: (e: Error) => void;
  what: string;
  signal?: AbortSignal;
}

export class ServerWatch {
  #adapter: ProviderAdapter;
  readonly #pollMs: number;
  readonly #waiters = new Set<Waiter>();
  #running = false;
  #last: { at: number; servers: Server[] } | undefined;

  constructor(adapter: ProviderAdapter, pollMs: number) {
    this.#adapter = adapter;
    this.#pollMs = pollMs;
  }

  /** The project's servers as listed at most `maxAgeMs` ago (a fresh listing otherwise). */
  async listing(maxAgeMs: number): Promise<Server[]> {
    if (this.#last && Date.now() - this.#last.at <= maxAgeMs) return this.#last.servers;
    const servers = await this.#adapter.listServers();
    this.#last = { at: Date.now(), servers };
    return servers;
  }

  /** The adapter the next listing uses (a rotated credential gives a new one). */
  use(adapter: ProviderAdapter): this {
    this.#adapter = adapter;
    return this;
  }

  /**
   * Resolves with the server once `done` says so (`undefined`: the cloud no longer lists it), or rejects with
   * `what` after `timeoutMs`, or when `signal` aborts (the activity was cancelled).
   */
  wait(
    id: string,
    done: (s: Server | undefined) => boolean,
    timeoutMs: number,
    what: string,
    signal?: AbortSignal,
  ): Promise<Server | undefined> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new Error('cancelled'));
      const w: Waiter = {
        id,
        done,
        deadline: Date.now() + timeoutMs,
        resolve,
        reject,
        what,
        ...(signal ? { signal } : {}),
      };
      this.#waiters.add(w);
      signal?.addEventListener(
        'abort',
        () => {
          if (this.#waiters.delete(w)) reject(new Error('cancelled'));
        },
        { once: true },
      );
      if (!this.#running) void this.#loop();
    });
  }

  async #loop(): Promise<void> {
    this.#running = true;
    try {
      while (this.#waiters.size > 0) {
        let byId: Map<string, Server>;
        try {
          const servers = await this.#adapter.listServers();
          this.#last = { at: Date.now(), servers };
          byId = new Map(servers.map((s) => [s.id, s]));
        } catch (err) {
          // A failed listing fails every waiter: their callers retry or fail as they would on a failed GET.
          for (const w of this.#waiters) w.reject(err as Error);
          this.#waiters.clear();
          return;
        }
        const now = Date.now();
        for (const w of [...this.#waiters]) {
          const s = byId.get(w.id);
          if (w.done(s)) {
            this.#waiters.delete(w);
            w.resolve(s);
          } else if (now > w.deadline) {
            this.#waiters.delete(w);
            w.reject(new Error(w.what));
          }
        }
        if (this.#waiters.size > 0) await new Promise((r) => setTimeout(r, this.#pollMs));
      }
    } finally {
      this.#running = false;
    }
  }
}

const watches = new Map<string, ServerWatch>();

/** The one watch of this worker process for a provider's servers. */
export function watchFor(provider: string, adapter: ProviderAdapter, pollMs: number): ServerWatch {
  const known = watches.get(provider);
  if (known) return known.use(adapter);
  const watch = new ServerWatch(adapter, pollMs);
  watches.set(provider, watch);
  return watch;
}
