// The typed API CI systems use to get nodes: requestNodes resolves with the nodes once a pool has them, and
// release hands them back. It acts only through Temporal: queries find which provider can serve a request
// (READY nodes first, core/request-routing.ts decides), an update with the request's key submits it (so a
// retried submission is the same request), and queries follow it until it is fulfilled or fails.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { routeRequest, type ProviderOffer } from '../core/request-routing.ts';
import { poolWorkflowId } from '../workflows/ids.ts';
import {
  deleteNodeUpdate,
  hasNodeQuery,
  holdNodeUpdate,
  offerQuery,
  poolQuery,
  releaseNodesSignal,
  requestNodesSignal,
  requestQuery,
  type NodeRequestInput,
  type PoolView,
  type RequestStatus,
} from '../workflows/pool-api.ts';

export type { AssignedNode, NodeRequestInput, PoolView, RequestStatus } from '../workflows/pool-api.ts';

export interface NodepoolClientOptions {
  /** The providers with pools (nodepool.yaml's, or every pool running in the namespace when not given). */
  providers?: string[];
  /** How long one answer from a pool may take. */
  queryTimeoutMs?: number;
  /** How long what the pools offer (READY nodes, room) is trusted before they are asked again. */
  offerTtlMs?: number;
}

export class NodepoolError extends Error {}

const ATTEMPT_MS = 3_000;

/** An error and its causes in one line: the SDK's own message is often only "Failed to query Workflow". */
function describe(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e instanceof Error && parts.length < 4; e = e.cause) parts.push(e.message);
  return parts.join(': ');
}

export class NodepoolClient {
  readonly #client: Client;
  readonly #providers: string[] | undefined;
  readonly #timeout: number;
  readonly #offerTtlMs: number;
  #cache: { at: number; offers: ProviderOffer[] } | undefined;
  readonly #routes = new Map<string, string>();

  constructor(client: Client, opts: NodepoolClientOptions = {}) {
    this.#client = client;
    this.#providers = opts.providers;
    this.#timeout = opts.queryTimeoutMs ?? 10_000;
    this.#offerTtlMs = opts.offerTtlMs ?? 500;
  }

  async providers(): Promise<string[]> {
    if (this.#providers) return this.#providers;
    const found: string[] = [];
    for await (const w of this.#client.workflow.list({
      query: `WorkflowType = 'providerPool' AND ExecutionStatus = 'Running'`,
    }))
      if (w.workflowId.startsWith('pool/')) found.push(w.workflowId.slice('pool/'.length));
    return found.sort();
  }

  #pool(provider: string) {
    return this.#client.workflow.getHandle(poolWorkflowId(provider));
  }

  /**
   * One question to a pool, within the deadline. A pool between two runs (continue-as-new) answers the first try
   * with "already completed"; asking again reaches the new run. Queries are read-only and updates carry the
   * request's key, so asking again is safe.
   */
  async #ask<T>(fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.#timeout;
    for (let attempt = 1; ; attempt++) {
      // Each try gets a few seconds, not the whole budget: an update that reached a run just as it continued as
      // new is never answered, and the next try reaches the new run.
      const tryUntil = Math.min(deadline, Date.now() + ATTEMPT_MS);
      try {
        return await this.#client.withDeadline(tryUntil, fn);
      } catch (err) {
        if (err instanceof WorkflowNotFoundError || Date.now() >= deadline - 10) throw err;
        await new Promise((r) => setTimeout(r, Math.min(25 * 2 ** attempt, 500)));
      }
    }
  }

  /** Every provider's answer, skipping pools that do not run; a pool that does not answer is an error. */
  async #each<T>(fn: (provider: string) => Promise<T>): Promise<{ provider: string; value: T }[]> {
    const providers = await this.providers();
    const out = await Promise.all(
      providers.map(async (provider): Promise<{ provider: string; value: T } | undefined> => {
        try {
          return { provider, value: await this.#ask(() => fn(provider)) };
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) return undefined;
          throw new NodepoolError(`the pool of ${provider} did not answer: ${describe(err)}`);
        }
      }),
    );
    return out.filter((x): x is { provider: string; value: T } => x !== undefined);
  }

  /**
   * What every pool offers, asked at most every `offerTtlMs`: asking all pools for every request would cost
   * more than the request itself. A fresh round also tells whether some pool already knows `key`.
   */
  async #offers(labels: string[], key: string): Promise<{ offers: ProviderOffer[]; knows?: RequestStatus }> {
    const cached = this.#cache;
    if (cached && Date.now() - cached.at < this.#offerTtlMs) return { offers: cached.offers };
    const answers = await this.#each((p) => this.#pool(p).query(offerQuery, labels, key));
    this.#cache = { at: Date.now(), offers: answers.map((a) => a.value.offer) };
    const knows = answers.find((a) => a.value.knows)?.value.knows;
    return { offers: this.#cache.offers, ...(knows ? { knows } : {}) };
  }

  #remember(key: string, provider: string): void {
    this.#routes.set(key, provider);
    // The newest few thousand keys are enough: a retry follows its first submission closely.
    if (this.#routes.size > 10_000) this.#routes.delete(this.#routes.keys().next().value as string);
  }

  /**
   * Submits a request and, with `wait`, resolves once it is fulfilled or failed (or `timeoutMs` passes, with
   * the request still pending). The key makes it idempotent: resubmitted through this client it goes to the same
   * pool, which answers with the same request; resubmitted from elsewhere, the first round of offer queries finds
   * the pool that holds it (two submissions of one key racing from two processes within `offerTtlMs` are the
   * one case that can reach two pools).
   */
  async requestNodes(req: NodeRequestInput, opts: { wait?: boolean; timeoutMs?: number } = {}): Promise<RequestStatus> {
    let provider = this.#routes.get(req.key);
    let status: RequestStatus | undefined;
    if (provider === undefined) {
      const { offers, knows } = await this.#offers(req.labels, req.key);
      if (knows) status = knows;
      else {
        const route = routeRequest(req.labels, offers);
        if ('fail' in route)
          return {
            key: req.key,
            provider: '',
            state: 'failed',
            labels: req.labels,
            priority: req.priority ?? 200,
            requestor: req.requestor,
            reason: route.fail,
            nodes: [],
            submittedAt: Date.now(),
          };
        provider = route.provider;
      }
    }
    if (!status) {
      const pool = this.#pool(provider as string);
      await this.#ask(() => pool.signal(requestNodesSignal, req));
      // Answered once the signal is handled: the query waits for the workflow task that handles it.
      status = await this.#answer(provider as string, req.key);
    }
    this.#remember(req.key, status.provider);
    // A request that had to wait was routed on stale offers: the next one asks the pools again.
    if (status.state === 'pending') this.#cache = undefined;
    if (!opts.wait || status.state !== 'pending') return status;
    return this.waitFor(status, opts.timeoutMs ?? 0);
  }

  /** The pool's answer to a request it was just sent (asked again in the rare case the signal is still on its way). */
  async #answer(provider: string, key: string): Promise<RequestStatus> {
    for (let attempt = 0; ; attempt++) {
      const status = await this.#ask(() => this.#pool(provider).query(requestQuery, key));
      if (status) return status;
      if (attempt >= 50) throw new NodepoolError(`the pool of ${provider} did not take request ${key}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Follows a pending request until it is done; `timeoutMs` 0 waits as long as it takes. */
  async waitFor(status: RequestStatus, timeoutMs: number): Promise<RequestStatus> {
    const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Number.POSITIVE_INFINITY;
    let current = status;
    for (let pause = 10; current.state === 'pending' && Date.now() < deadline; pause = Math.min(pause * 2, 250)) {
      await new Promise((r) => setTimeout(r, pause));
      const next = await this.#ask(() => this.#pool(status.provider).query(requestQuery, status.key));
      if (!next) throw new NodepoolError(`request ${status.key} is no longer known to ${status.provider}`);
      current = next;
    }
    return current;
  }

  async requestStatus(key: string): Promise<RequestStatus | undefined> {
    const answers = await this.#each((p) => this.#pool(p).query(requestQuery, key));
    return answers.find((a) => a.value)?.value;
  }

  async #providerOf(id: number): Promise<string> {
    const answers = await this.#each((p) => this.#pool(p).query(hasNodeQuery, id));
    const found = answers.find((a) => a.value);
    if (!found) throw new NodepoolError(`node ${id} is not in any pool (${(await this.providers()).join(', ')})`);
    return found.provider;
  }

  /**
   * The user is done with these nodes: they are deleted and replaced. Nodes as a request returned them carry
   * their provider; bare ids are looked up in every pool first.
   */
  async release(nodes: (number | { id: number; provider: string })[]): Promise<{ id: number; provider: string }[]> {
    const byProvider = new Map<string, number[]>();
    for (const n of nodes) {
      const provider = typeof n === 'number' ? await this.#providerOf(n) : n.provider;
      const id = typeof n === 'number' ? n : n.id;
      byProvider.set(provider, [...(byProvider.get(provider) ?? []), id]);
    }
    const out: { id: number; provider: string }[] = [];
    for (const [provider, ids] of byProvider) {
      await this.#ask(() => this.#pool(provider).signal(releaseNodesSignal, ids));
      out.push(...ids.map((id) => ({ id, provider })));
    }
    return out;
  }

  async hold(
    id: number,
    reason: string,
    expiresInSeconds?: number,
  ): Promise<{ id: number; provider: string; until?: number }> {
    const provider = await this.#providerOf(id);
    const r = await this.#ask(() =>
      this.#pool(provider).executeUpdate(holdNodeUpdate, {
        args: [{ id, reason, ...(expiresInSeconds === undefined ? {} : { expiresInSeconds }) }],
      }),
    );
    return { ...r, provider };
  }

  async deleteNode(id: number, now: boolean): Promise<{ id: number; provider: string; immediate: boolean }> {
    const provider = await this.#providerOf(id);
    const r = await this.#ask(() => this.#pool(provider).executeUpdate(deleteNodeUpdate, { args: [{ id, now }] }));
    return { ...r, provider };
  }

  async pools(): Promise<PoolView[]> {
    return (await this.#each((p) => this.#pool(p).query(poolQuery))).map((a) => a.value);
  }
}
