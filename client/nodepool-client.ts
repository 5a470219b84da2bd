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
  requestNodesUpdate,
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
}

export class NodepoolError extends Error {}

export class NodepoolClient {
  readonly #client: Client;
  readonly #providers: string[] | undefined;
  readonly #timeout: number;

  constructor(client: Client, opts: NodepoolClientOptions = {}) {
    this.#client = client;
    this.#providers = opts.providers;
    this.#timeout = opts.queryTimeoutMs ?? 10_000;
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

  async #ask<T>(fn: () => Promise<T>): Promise<T> {
    return this.#client.withDeadline(Date.now() + this.#timeout, fn);
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
          throw new NodepoolError(`the pool of ${provider} did not answer: ${(err as Error).message}`);
        }
      }),
    );
    return out.filter((x): x is { provider: string; value: T } => x !== undefined);
  }

  /**
   * Submits a request and, with `wait`, resolves once it is fulfilled or failed (or `timeoutMs` passes, with
   * the request still pending). The key makes it idempotent: the same key returns the same request.
   */
  async requestNodes(req: NodeRequestInput, opts: { wait?: boolean; timeoutMs?: number } = {}): Promise<RequestStatus> {
    const answers = await this.#each((p) => this.#pool(p).query(offerQuery, req.labels, req.key));
    const known = answers.find((a) => a.value.knows)?.value.knows;
    let status: RequestStatus;
    if (known) status = known;
    else {
      const offers: ProviderOffer[] = answers.map((a) => a.value.offer);
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
      status = await this.#ask(() =>
        this.#pool(route.provider).executeUpdate(requestNodesUpdate, { args: [req], updateId: req.key }),
      );
    }
    if (!opts.wait || status.state !== 'pending') return status;
    return this.waitFor(status, opts.timeoutMs ?? 0);
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

  /** The user is done with these nodes: they are deleted and replaced. */
  async release(ids: number[]): Promise<{ id: number; provider: string }[]> {
    const out: { id: number; provider: string }[] = [];
    for (const id of ids) {
      const provider = await this.#providerOf(id);
      await this.#pool(provider).signal(releaseNodesSignal, [id]);
      out.push({ id, provider });
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
