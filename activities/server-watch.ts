// Watching many servers at once: one listing of the project every poll, shared by every server a batch waits
// on, instead of one GET per server per poll (a launcher booting 100 nodes would otherwise ask 400 times a second).
import type { ProviderAdapter, Server } from '../providers/adapter.ts';

interface Waiter {
  id: string;
  done: (s: Server | undefined) => boolean;
  deadline: number;
  resolve: (s: Server | undefined) => void;
  reject: (e: Error) => void;
  what: string;
}

export class ServerWatch {
  readonly #adapter: ProviderAdapter;
  readonly #pollMs: number;
  readonly #signal: AbortSignal | undefined;
  readonly #waiters = new Set<Waiter>();
  #running = false;

  constructor(adapter: ProviderAdapter, pollMs: number, signal?: AbortSignal) {
    this.#adapter = adapter;
    this.#pollMs = pollMs;
    this.#signal = signal;
  }

  /**
   * Resolves with the server once `done` says so (`undefined`: the cloud no longer lists it), or rejects with
   * `what` after `timeoutMs`.
   */
  wait(
    id: string,
    done: (s: Server | undefined) => boolean,
    timeoutMs: number,
    what: string,
  ): Promise<Server | undefined> {
    return new Promise((resolve, reject) => {
      this.#waiters.add({ id, done, deadline: Date.now() + timeoutMs, resolve, reject, what });
      if (!this.#running) void this.#loop();
    });
  }

  async #loop(): Promise<void> {
    this.#running = true;
    try {
      while (this.#waiters.size > 0) {
        if (this.#signal?.aborted) {
          for (const w of this.#waiters) w.reject(new Error('cancelled'));
          this.#waiters.clear();
          return;
        }
        let byId: Map<string, Server>;
        try {
          byId = new Map((await this.#adapter.listServers()).map((s) => [s.id, s]));
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
