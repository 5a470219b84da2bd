// The pool's hands in the cloud, batched because one activity per node per call cannot keep up with a pool
// of hundreds of nodes: one launcher boots many servers (create → ACTIVE within launch-timeout → an SSH
// handshake within boot-timeout → READY, retrying up to launch-retries and deleting each failed server) and
// tells the pool about each node as it finishes; one deleter removes many servers and confirms each is gone;
// one reconcile lists the servers and the quota. Launch details (flavor, networks, user data, ...) are read
// from nodepool.yaml here in the worker, so nothing secret reaches the workflow history.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import pLimit from 'p-limit';
import type { Config, Pool, PoolLabel, Provider } from '../config/index.ts';
import type { CloudServer, LaunchResult } from '../core/pool-state.ts';
import type { QuotaHeadroom, Resources } from '../core/pool-types.ts';
import {
  NotFound,
  QuotaExceeded,
  TAGS,
  isOwnedBy,
  nodeTags,
  toApplicationFailure,
  type ProviderAdapter,
} from '../providers/index.ts';
import type { Server, ServerSpec } from '../providers/adapter.ts';
import { deletedSignal, launchResultsSignal } from '../workflows/pool-api.ts';
import { poolWorkflowId } from '../workflows/ids.ts';
import { timeLaunch } from '../metrics/instrument.ts';
import { providerAdapter, type ProviderDeps } from './provider.ts';
import { watchFor, type ServerWatch } from './server-watch.ts';
import { sshRunScript, waitForSsh } from './ssh.ts';
import { pickFlavor } from '../core/flavor.ts';

export interface LaunchNode {
  id: number;
  hostname: string;
  pool: string;
  label: string;
  /** The cloud image id of the upload to boot. */
  imageId?: string;
  /** A cloud-images entry's name. */
  cloudImage?: string;
  validation?: boolean;
  /** The diskimage a validation node validates (its validate-script runs on it). */
  diskimage?: string;
}

export interface LaunchBatch {
  provider: string;
  nodes: LaunchNode[];
}

export interface DeleteNode {
  id: number;
  hostname: string;
  externalId?: string;
}

export interface ReconcileResult {
  servers: CloudServer[];
  quota: QuotaHeadroom;
  flavors: Record<string, Resources>;
}

const POLL_MS = 250;
// How often results are sent to the pool while a batch runs: a few signals per second, not one per node.
const REPORT_MS = 50;
const ATTEMPT_TAG = 'nodepool_launch_attempt';

function poolLabel(config: Config | undefined, provider: string, pool: string, label: string) {
  const p = config?.providers.find((x) => x.name === provider);
  const pl = p?.pools.find((x) => x.name === pool);
  const l = pl?.labels.find((x) => x.name === label);
  if (!p || !pl || !l)
    throw ApplicationFailure.nonRetryable(
      `pool ${pool} of provider ${provider} has no label ${label} in this worker's nodepool.yaml`,
      'UnknownLabel',
    );
  return { provider: p, pool: pl, label: l };
}

/** Where the node's sshd listens: the diskimage's or cloud image's connection-port. */
function connectionPort(provider: Provider, label: PoolLabel): number {
  if (label.diskimage) return provider.diskimages.find((d) => d.name === label.diskimage)?.connectionPort ?? 22;
  if (label.cloudImage) return provider.cloudImages.find((c) => c.name === label.cloudImage)?.connectionPort ?? 22;
  return 22;
}

async function cloudImageId(adapter: ProviderAdapter, provider: Provider, name: string): Promise<string> {
  const entry = provider.cloudImages.find((c) => c.name === name);
  if (entry?.imageId) return entry.imageId;
  const wanted = entry?.imageName ?? name;
  const byName = (await adapter.listImages({ name: wanted })).filter((i) => i.state === 'active');
  if (byName.length === 1) return (byName[0] as { id: string }).id;
  if (byName.length > 1)
    throw ApplicationFailure.nonRetryable(
      `cloud image ${wanted} names ${byName.length} images in ${provider.name}; give image-id instead`,
      'UnknownImage',
    );
  try {
    return (await adapter.getImage(wanted)).id;
  } catch (err) {
    if (err instanceof NotFound)
      throw ApplicationFailure.nonRetryable(`cloud image ${wanted} does not exist in ${provider.name}`, 'UnknownImage');
    throw err;
  }
}

function serverSpec(
  provider: Provider,
  pool: Pool,
  label: PoolLabel,
  node: LaunchNode,
  imageId: string,
  attempt: number,
  flavor: string,
): ServerSpec {
  const pd = label.diskimage ? provider.diskimages.find((d) => d.name === label.diskimage) : undefined;
  const azs = pool.availabilityZones;
  const networks = label.networkChoice ?? pool.networkChoice;
  const spec: ServerSpec & Record<string, unknown> = {
    name: node.hostname,
    flavor,
    imageId,
    metadata: {
      ...label.instanceProperties,
      ...nodeTags({
        provider: provider.name,
        nodeId: String(node.id),
        imageName: label.diskimage ?? label.cloudImage ?? label.name,
      }),
      [ATTEMPT_TAG]: String(attempt),
    },
    // Spread over the pool's zones by node id, as nodepool picks one per launch.
    ...(azs && azs.length > 0 ? { availabilityZone: azs[node.id % azs.length] as string } : {}),
    ...(label.keyName ? { keyName: label.keyName } : {}),
    ...(label.userdata !== undefined ? { userData: label.userdata } : {}),
    ...(Array.isArray(networks) ? { networks } : { networks }),
    configDrive: pd?.configDrive ?? provider.cloudImages.find((c) => c.name === label.cloudImage)?.configDrive ?? true,
    ...(pool.securityGroups ? { securityGroups: pool.securityGroups } : {}),
    ...(label.bootFromVolume ? { bootFromVolume: { volumeSizeGB: label.volumeSize, deleteOnTermination: true } } : {}),
  };
  return spec;
}

function address(s: Server): { ip?: string; ipv6?: string } {
  const ip = s.addresses.publicIpv4 ?? s.addresses.privateIpv4;
  return { ...(ip ? { ip } : {}), ...(s.addresses.publicIpv6 ? { ipv6: s.addresses.publicIpv6 } : {}) };
}

/** Deletes a server and waits until the cloud no longer lists it; false when it is still there after `timeoutMs`. */
async function deleteAndWait(
  adapter: ProviderAdapter,
  watch: ServerWatch,
  id: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  await adapter.deleteServer(id);
  try {
    await watch.wait(
      id,
      (s) => !s || s.state === 'deleted',
      timeoutMs,
      `server ${id} still there ${timeoutMs / 1000} s after delete`,
      signal,
    );
    return true;
  } catch (err) {
    if ((err as Error).message.includes('still there')) return false;
    throw err;
  }
}

export function nodeActivities(deps: ProviderDeps) {
  return {
    /**
     * Boots a batch of nodes. Each result is signalled to the pool as it comes (and all are returned); a retried
     * batch skips nodes its earlier attempt finished (from the heartbeat details).
     */
    async launchNodes(batch: LaunchBatch): Promise<LaunchResult[]> {
      const ctx = Context.current();
      const done = new Map<number, LaunchResult>(
        ((ctx.info.heartbeatDetails as { done?: LaunchResult[] } | undefined)?.done ?? []).map((r) => [r.id, r]),
      );
      let unsent: LaunchResult[] = [];
      const pool = ctx.client.workflow.getHandle(poolWorkflowId(batch.provider));
      const flush = async (): Promise<void> => {
        if (unsent.length === 0) return;
        const out = unsent;
        unsent = [];
        await pool.signal(launchResultsSignal, out).catch(() => {
          // The pool is between runs (continue-as-new): the results return with the activity instead.
        });
      };
      const ticker = setInterval(() => {
        ctx.heartbeat({ done: [...done.values()] });
        void flush();
      }, REPORT_MS);
      const finish = (r: LaunchResult): void => {
        done.set(r.id, r);
        unsent.push(r);
      };
      try {
        const adapter = providerAdapter(deps, batch.provider);
        const provider = deps.config?.providers.find((p) => p.name === batch.provider);
        if (!provider)
          throw ApplicationFailure.nonRetryable(
            `provider ${batch.provider} is not in this worker's nodepool.yaml`,
            'UnknownProvider',
          );
        // One listing finds what an earlier attempt of this batch created (it stopped heartbeating long before this
        // attempt, so a listing a poll old sees all it made); one watch follows every server booting.
        const watch = watchFor(provider.name, adapter, POLL_MS);
        const known = (await watch.listing(POLL_MS)).filter((x) => isOwnedBy(x.metadata, provider.name));
        // Creates run in parallel up to max-concurrency, each waiting its turn under the provider's rate.
        const limit = pLimit(Math.max(1, provider.maxConcurrency ?? 32));
        const cx = { adapter, watch, known, config: deps.config, provider, signal: ctx.cancellationSignal };
        await Promise.all(
          batch.nodes
            .filter((n) => !done.has(n.id))
            .map((n) => limit(() => timeLaunch(batch.provider, n.label, () => launchOne(cx, n))).then(finish)),
        );
        await flush();
        return [...done.values()];
      } catch (err) {
        throw toApplicationFailure(err);
      } finally {
        clearInterval(ticker);
      }
    },

    /** Deletes servers and confirms each is gone; the pool hears of each as it goes. Retried until all are. */
    async deleteNodes(input: { provider: string; nodes: DeleteNode[] }): Promise<number[]> {
      const ctx = Context.current();
      const pool = ctx.client.workflow.getHandle(poolWorkflowId(input.provider));
      const gone: number[] = [];
      let unsent: number[] = [];
      const ticker = setInterval(() => {
        ctx.heartbeat({ gone: gone.length });
        if (unsent.length > 0) {
          const out = unsent;
          unsent = [];
          void pool.signal(deletedSignal, out).catch(() => {});
        }
      }, REPORT_MS);
      try {
        const adapter = providerAdapter(deps, input.provider);
        const watch = watchFor(input.provider, adapter, POLL_MS);
        const limit = pLimit(32);
        // Nodes whose server id we never learnt are found by name and our node id tag.
        const unknown = input.nodes.filter((n) => !n.externalId);
        const listed = unknown.length > 0 ? await adapter.listServers() : [];
        await Promise.all(
          input.nodes.map((n) =>
            limit(async () => {
              const ids = n.externalId
                ? [n.externalId]
                : listed
                    .filter((s) => isOwnedBy(s.metadata, input.provider) && s.metadata[TAGS.nodeId] === String(n.id))
                    .map((s) => s.id);
              for (const id of ids) {
                if (!(await deleteAndWait(adapter, watch, id, 10 * 60_000, ctx.cancellationSignal)))
                  throw ApplicationFailure.create({
                    message: `server ${id} of node ${n.id} is still there after delete`,
                    type: 'ServerNotGone',
                  });
              }
              gone.push(n.id);
              unsent.push(n.id);
            }),
          ),
        );
        if (unsent.length > 0) await pool.signal(deletedSignal, unsent).catch(() => {});
        return gone;
      } catch (err) {
        throw toApplicationFailure(err);
      } finally {
        clearInterval(ticker);
      }
    },

    /** The cloud's view: our servers (by tag), the quota left to nodepool, and the flavors' sizes. */
    async reconcileProvider(providerName: string): Promise<ReconcileResult> {
      try {
        const adapter = providerAdapter(deps, providerName);
        const [servers, quota, flavors] = await Promise.all([
          adapter.listServers(),
          adapter.getQuota(),
          adapter.listFlavors(),
        ]);
        const byFlavor: Record<string, Resources> = {};
        for (const f of flavors) {
          const r = { instances: 1, cores: f.vcpus, ramMB: f.ramMB };
          byFlavor[f.name] = r;
          byFlavor[f.id] = r;
        }
        const ours = servers.filter((s) => isOwnedBy(s.metadata, providerName));
        // Quota the cloud counts for our servers is given back: the planner counts our nodes itself.
        const used = { instances: 0, cores: 0, ramMB: 0 };
        for (const s of ours) {
          if (s.state === 'deleted') continue;
          const f = (s.flavor.name && byFlavor[s.flavor.name]) || (s.flavor.id && byFlavor[s.flavor.id]) || undefined;
          used.instances += 1;
          used.cores += s.flavor.vcpus ?? f?.cores ?? 0;
          used.ramMB += s.flavor.ramMB ?? f?.ramMB ?? 0;
        }
        const left = (limit: number | null, usage: number, mine: number): number | null =>
          limit === null ? null : Math.max(0, limit - Math.max(0, usage - mine));
        return {
          servers: ours.map((s) => ({
            id: s.id,
            name: s.name,
            state: s.state,
            ...(s.metadata[TAGS.nodeId] ? { nodeId: s.metadata[TAGS.nodeId] } : {}),
            ...(s.metadata[TAGS.uploadId] ? { uploadId: s.metadata[TAGS.uploadId] } : {}),
            ...(s.fault ? { fault: s.fault } : {}),
          })),
          quota: {
            instances: left(quota.limits.instances, quota.usage.instances, used.instances),
            cores: left(quota.limits.cores, quota.usage.cores, used.cores),
            ramMB: left(quota.limits.ramMB, quota.usage.ramMB, used.ramMB),
          },
          flavors: byFlavor,
        };
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },

    /** The catalog's current uploads and withdrawn ones, for a pool starting up. */
    async catalogImages(
      providerName: string,
    ): Promise<{ current: Record<string, { uploadId: number; externalId: string }>; withdrawn: number[] }> {
      const { WorkflowNotFoundError } = await import('@temporalio/client');
      const { catalogQuery } = await import('../workflows/image-catalog.ts');
      const { catalogWorkflowId } = await import('../workflows/ids.ts');
      try {
        const view = await Context.current()
          .client.workflow.getHandle(catalogWorkflowId(providerName))
          .query(catalogQuery);
        const current: Record<string, { uploadId: number; externalId: string }> = {};
        for (const [image, id] of Object.entries(view.current)) {
          const u = view.uploads.find((x) => x.id === id);
          if (u?.externalId) current[image] = { uploadId: u.id, externalId: u.externalId };
        }
        return { current, withdrawn: view.uploads.filter((u) => u.withdrawn).map((u) => u.id) };
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return { current: {}, withdrawn: [] };
        throw err;
      }
    },

    /** Leaked servers (tagged as ours, unknown to the pool for two reconciles): deleted, confirmed gone. */
    async deleteLeakedServers(input: { provider: string; serverIds: string[] }): Promise<string[]> {
      try {
        const adapter = providerAdapter(deps, input.provider);
        const watch = watchFor(input.provider, adapter, POLL_MS);
        await Promise.all(input.serverIds.map((id) => deleteAndWait(adapter, watch, id, 10 * 60_000)));
        return input.serverIds;
      } catch (err) {
        throw toApplicationFailure(err);
      }
    },
  };
}

interface LaunchContext {
  adapter: ProviderAdapter;
  watch: ServerWatch;
  /** Our servers as the batch started: where an earlier attempt's creates are found. */
  known: readonly Server[];
  config: Config | undefined;
  provider: Provider;
  signal: AbortSignal;
}

async function launchOne(cx: LaunchContext, node: LaunchNode): Promise<LaunchResult> {
  const { adapter, watch, config, provider, signal } = cx;
  const { pool, label } = poolLabel(config, provider.name, node.pool, node.label);
  const retries = Math.max(1, provider.launchRetries);
  let lastReason = 'no attempt made';
  let lastServer: string | undefined;
  for (let attempt = 1; attempt <= retries; attempt++) {
    let server: Server | undefined;
    try {
      const imageId =
        node.imageId ?? (node.cloudImage ? await cloudImageId(adapter, provider, node.cloudImage) : undefined);
      if (!imageId) return { id: node.id, outcome: 'failed', reason: `label ${node.label} has no image to boot` };
      const flavor = await flavorFor(adapter, label);
      server = await adapter.createServer(serverSpec(provider, pool, label, node, imageId, attempt, flavor), {
        known: cx.known,
      });
      lastServer = server.id;
      const active = await waitActive(watch, server.id, provider.launchTimeout * 1000, signal);
      const where = address(active);
      let hostKeys: string[] = [];
      if (pool.hostKeyChecking) {
        if (!where.ip && !where.ipv6) throw new Error(`server ${server.id} is ACTIVE without an address`);
        const host = (where.ip ?? where.ipv6) as string;
        const port = connectionPort(provider, label);
        hostKeys = [await waitForSsh(host, port, provider.bootTimeout * 1000, signal, POLL_MS)];
        if (node.validation) await runValidation(config, provider, node, host, port, signal);
      }
      const login = loginFor(provider, label, config);
      return {
        id: node.id,
        outcome: 'ready',
        externalId: server.id,
        hostKeys,
        ...login,
        ...where,
        ...(active.availabilityZone ? { az: active.availabilityZone } : {}),
      };
    } catch (err) {
      if (signal.aborted) throw err;
      if (err instanceof QuotaExceeded && !server) {
        // Over quota is not a failed attempt: the pool waits for capacity and plans again.
        return { id: node.id, outcome: 'aborted', reason: `over quota in ${provider.name}: ${err.message}` };
      }
      if (err instanceof ApplicationFailure && err.nonRetryable)
        return { id: node.id, outcome: 'failed', reason: err.message, ...(server ? { externalId: server.id } : {}) };
      lastReason = `attempt ${attempt}/${retries}: ${(err as Error).message}`;
      if (server && label.consoleLog) {
        // console-log: the boot log of a server that did not come up goes to the worker's log.
        const log = await adapter
          .getConsoleOutput(server.id, 100)
          .catch((e: Error) => `(no console log: ${e.message})`);
        Context.current().log.warn(`console log of ${node.hostname} (${server.id}) after a failed launch`, {
          provider: provider.name,
          node: node.id,
          reason: lastReason,
          console: log,
        });
        lastReason += ' (console log in the worker log)';
      }
      if (server) await deleteAndWait(adapter, watch, server.id, 5 * 60_000, signal).catch(() => undefined);
    }
  }
  return {
    id: node.id,
    outcome: 'failed',
    reason: `launch failed ${retries} times; last: ${lastReason}`,
    ...(lastServer ? { externalId: lastServer } : {}),
  };
}

/** How CI logs in to a node of this label: nodepool's username, connection-port and python-path. */
function loginFor(
  provider: Provider,
  label: PoolLabel,
  config: Config | undefined,
): { username?: string; connectionPort: number; pythonPath?: string } {
  if (label.cloudImage) {
    const c = provider.cloudImages.find((x) => x.name === label.cloudImage);
    return {
      ...(c?.username ? { username: c.username } : {}),
      connectionPort: c?.connectionPort ?? 22,
      pythonPath: c?.pythonPath ?? 'auto',
    };
  }
  const d = config?.diskimages.find((x) => x.name === label.diskimage);
  const pd = provider.diskimages.find((x) => x.name === label.diskimage);
  return {
    ...(d?.username ? { username: d.username } : {}),
    connectionPort: pd?.connectionPort ?? 22,
    pythonPath: d?.pythonPath ?? 'auto',
  };
}

/** The flavor to boot: flavor-name, or with min-ram the smallest flavor containing it with enough RAM. */
async function flavorFor(adapter: ProviderAdapter, label: PoolLabel): Promise<string> {
  if (label.minRam === undefined) return label.flavorName;
  const flavors = await adapter.listFlavors();
  const f = pickFlavor(flavors, label.flavorName, label.minRam);
  if (!f)
    throw ApplicationFailure.nonRetryable(
      `no flavor whose name contains ${label.flavorName} has ${label.minRam} MB of RAM (min-ram of label ${label.name})`,
      'UnknownFlavor',
    );
  return f.name;
}

async function waitActive(watch: ServerWatch, id: string, timeoutMs: number, signal: AbortSignal): Promise<Server> {
  const s = await watch.wait(
    id,
    (x) => !x || x.state === 'active' || x.state === 'error' || x.state === 'deleted',
    timeoutMs,
    `server ${id} not ACTIVE within ${timeoutMs / 1000} s (launch-timeout)`,
    signal,
  );
  if (!s || s.state === 'deleted') throw new Error(`server ${id} vanished while booting`);
  if (s.state === 'error') throw new Error(`server ${id} went to ERROR${s.fault ? `: ${s.fault}` : ''}`);
  return s;
}

/** A validation node also runs the diskimage's validate-script, when it has one. */
async function runValidation(
  config: Config | undefined,
  provider: Provider,
  node: LaunchNode,
  host: string,
  port: number,
  signal: AbortSignal,
): Promise<void> {
  const d = config?.diskimages.find((x) => x.name === node.diskimage);
  if (!d?.validateScript) return;
  const { readFile } = await import('node:fs/promises');
  const pd = provider.diskimages.find((x) => x.name === d.name);
  const script = await readFile(d.validateScript, 'utf8');
  const key = pd?.privateKey ? await readFile(pd.privateKey, 'utf8') : undefined;
  const lines: string[] = [];
  const code = await sshRunScript({
    host,
    port,
    username: pd?.username ?? d.username ?? 'root',
    ...(key ? { privateKey: key } : {}),
    script,
    timeoutMs: provider.bootTimeout * 1000,
    signal,
    onLine: (l) => {
      lines.push(l);
      if (lines.length > 20) lines.shift();
    },
  });
  if (code !== 0)
    throw ApplicationFailure.nonRetryable(
      `validate-script ${d.validateScript} exited ${code}: ${lines.slice(-5).join(' | ')}`,
      'ValidationFailed',
    );
}
