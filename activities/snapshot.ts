// The snapshot builder (nodepool's 2014 way, and where the seed's Hostname and Server ID come from): boot a
// template server from a base image, run the diskimage's setup script on it over SSH, snapshot it, wait for the
// snapshot to go active, delete the template. Idempotent (the template and the snapshot are found by name and
// tags on a retry), heartbeating, cancellable, and it leaves nothing behind when it fails.
import { appendFile, readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { Config, Diskimage, Provider, ProviderDiskimage } from '../config/index.ts';
import {
  NotFound,
  TAGS,
  isOwnedBy,
  toApplicationFailure,
  uploadTags,
  type ProviderAdapter,
} from '../providers/index.ts';
import { providerAdapter, type ProviderDeps } from './provider.ts';
import { sshRunScript, waitForSsh } from './ssh.ts';

export interface SnapshotBuildInput {
  provider: string;
  image: string;
  uploadId: number;
  buildId: number;
  /** The template server's name: `<image>-<version>.template.<domain>`. */
  templateName: string;
  /** The snapshot's name in the cloud. */
  externalName: string;
  logPath: string;
}

export interface SnapshotBuildResult {
  externalId: string;
  serverId: string;
  hostKey?: string;
}

const POLL_MS = 1_000;

function settings(
  config: Config | undefined,
  providerName: string,
  image: string,
): { provider: Provider; diskimage: Diskimage; pd: ProviderDiskimage } {
  const provider = config?.providers.find((p) => p.name === providerName);
  const diskimage = config?.diskimages.find((d) => d.name === image);
  const pd = provider?.diskimages.find((d) => d.name === image);
  if (!provider || !diskimage || !pd)
    throw ApplicationFailure.nonRetryable(
      `provider ${providerName} does not list diskimage ${image} in this worker's nodepool.yaml`,
      'UnknownDiskimage',
    );
  if (!pd.baseImage || !pd.flavorName)
    throw ApplicationFailure.nonRetryable(
      `snapshot builds of ${image} in ${providerName} need base-image and flavor-name under providers[${providerName}].diskimages[${image}]`,
      'SnapshotConfig',
    );
  if (!diskimage.script)
    throw ApplicationFailure.nonRetryable(
      `snapshot builds of ${image} need a setup script (diskimages[].script)`,
      'SnapshotConfig',
    );
  return { provider, diskimage, pd };
}

async function resolveImageId(adapter: ProviderAdapter, nameOrId: string): Promise<string> {
  const byName = (await adapter.listImages({ name: nameOrId })).filter((i) => i.state === 'active');
  if (byName.length === 1) return (byName[0] as { id: string }).id;
  if (byName.length > 1)
    throw ApplicationFailure.nonRetryable(
      `base-image ${nameOrId} names ${byName.length} active images; give its id instead`,
      'SnapshotConfig',
    );
  try {
    return (await adapter.getImage(nameOrId)).id;
  } catch (err) {
    if (err instanceof NotFound)
      throw ApplicationFailure.nonRetryable(
        `base-image ${nameOrId} is neither an image name nor an id in the cloud`,
        'SnapshotConfig',
      );
    throw err;
  }
}

export function snapshotActivities(deps: ProviderDeps) {
  return {
    async snapshotBuild(input: SnapshotBuildInput): Promise<SnapshotBuildResult> {
      const ctx = Context.current();
      const signal = ctx.cancellationSignal;
      const { provider, diskimage, pd } = settings(deps.config, input.provider, input.image);
      const log = async (line: string): Promise<void> => {
        await appendFile(input.logPath, `[${input.provider}] ${line}\n`).catch(() => undefined);
      };
      const step = (what: string): void => ctx.heartbeat({ step: what, template: input.templateName });
      const tags = uploadTags({
        provider: input.provider,
        uploadId: String(input.uploadId),
        imageName: input.image,
        buildId: String(input.buildId),
      });
      const adapter = providerAdapter(deps, input.provider);
      let serverId: string | undefined;
      let snapshotId: string | undefined;
      try {
        // A retry after a finished snapshot whose answer was lost: the image is there, only cleanup is left.
        const done = (await adapter.listImages({ name: input.externalName })).find(
          (i) =>
            isOwnedBy(i.metadata, input.provider) &&
            i.metadata[TAGS.uploadId] === tags[TAGS.uploadId] &&
            i.state === 'active',
        );
        const existingTemplate = (await adapter.listServers()).find(
          (s) => s.name === input.templateName && s.metadata[TAGS.uploadId] === tags[TAGS.uploadId],
        );
        if (done) {
          if (existingTemplate) await deleteAndWait(adapter, existingTemplate.id, signal, step);
          return {
            externalId: done.id,
            serverId: existingTemplate?.id ?? done.metadata.nodepool_template_server ?? '',
          };
        }

        step('booting template');
        const imageId = await resolveImageId(adapter, pd.baseImage as string);
        await log(`booting template ${input.templateName} from ${pd.baseImage} (${imageId}), flavor ${pd.flavorName}`);
        const server = await adapter.createServer({
          name: input.templateName,
          flavor: pd.flavorName as string,
          imageId,
          metadata: tags,
          ...(Array.isArray(pd.networkChoice) ? { networks: pd.networkChoice } : {}),
        });
        serverId = server.id;
        const active = await waitActive(adapter, server.id, provider.launchTimeout * 1000, signal, step);
        const address = active.addresses.publicIpv4 ?? active.addresses.privateIpv4 ?? active.addresses.publicIpv6;
        if (!address)
          throw ApplicationFailure.create({
            message: `template ${input.templateName} is ACTIVE without an address`,
            type: 'SnapshotBuild',
          });
        const port = pd.connectionPort;
        step('waiting for ssh');
        let hostKey: string;
        try {
          hostKey = await waitForSsh(address, port, provider.bootTimeout * 1000, signal, POLL_MS);
        } catch (err) {
          if (signal.aborted) throw err;
          throw ApplicationFailure.create({ message: (err as Error).message, type: 'SnapshotBuild' });
        }
        await log(`template ${input.templateName} (${server.id}) is up at ${address}:${port}, host key ${hostKey}`);

        step('running setup script');
        const script = await readFile(diskimage.script as string, 'utf8');
        const privateKey = pd.privateKey ? await readFile(pd.privateKey, 'utf8') : undefined;
        let lines = 0;
        const code = await sshRunScript({
          host: address,
          port,
          username: pd.username ?? diskimage.username ?? 'root',
          ...(privateKey ? { privateKey } : {}),
          script,
          timeoutMs: provider.bootTimeout * 1000,
          signal,
          onLine: (line) => {
            lines++;
            void log(line);
            if (lines % 50 === 0) step(`running setup script (${lines} lines)`);
          },
        });
        if (code !== 0)
          throw ApplicationFailure.create({
            message: `the setup script ${diskimage.script} exited ${code} on ${input.templateName} (see the build log)`,
            type: 'SnapshotSetupFailed',
            // The script decides: a failing setup is the image's fault, not the cloud's; the next build retries.
            nonRetryable: true,
          });

        step('snapshotting');
        snapshotId = await adapter.createServerImage(server.id, input.externalName, tags);
        await log(`snapshot ${input.externalName} (${snapshotId}) of ${server.id} started`);
        await waitImageActive(adapter, snapshotId, signal, step);
        await log(`snapshot ${snapshotId} is active; deleting the template`);
        await deleteAndWait(adapter, server.id, signal, step);
        return { externalId: snapshotId, serverId: server.id, hostKey };
      } catch (err) {
        // Nothing is left behind: the template goes, and so does a snapshot that never went active.
        const reason = err instanceof Error ? err.message : String(err);
        await log(`snapshot build failed: ${reason}; cleaning up`);
        if (serverId) await deleteAndWait(adapter, serverId, undefined, step).catch(() => undefined);
        if (snapshotId) await adapter.deleteImage(snapshotId).catch(() => undefined);
        throw toApplicationFailure(err);
      }
    },
  };
}

async function waitActive(
  adapter: ProviderAdapter,
  id: string,
  timeoutMs: number,
  signal: AbortSignal,
  step: (s: string) => void,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await adapter.getServer(id);
    if (s.state === 'active') return s;
    if (s.state === 'error')
      throw ApplicationFailure.create({
        message: `template server ${id} went to ERROR: ${s.fault ?? s.rawStatus}`,
        type: 'SnapshotBuild',
      });
    if (Date.now() > deadline)
      throw ApplicationFailure.create({
        message: `template server ${id} not ACTIVE within ${timeoutMs / 1000} s (launch-timeout)`,
        type: 'SnapshotBuild',
      });
    step(`waiting for ACTIVE (${s.rawStatus})`);
    await delay(POLL_MS, undefined, { signal });
  }
}

async function waitImageActive(adapter: ProviderAdapter, id: string, signal: AbortSignal, step: (s: string) => void) {
  for (;;) {
    const image = await adapter.getImage(id);
    if (image.state === 'active') return image;
    if (image.state === 'killed' || image.state === 'deleted')
      throw ApplicationFailure.create({ message: `snapshot ${id} went ${image.rawStatus}`, type: 'SnapshotBuild' });
    step(`waiting for the snapshot (${image.rawStatus})`);
    await delay(POLL_MS, undefined, { signal });
  }
}

async function deleteAndWait(
  adapter: ProviderAdapter,
  id: string,
  signal: AbortSignal | undefined,
  step: (s: string) => void,
): Promise<void> {
  await adapter.deleteServer(id);
  for (;;) {
    try {
      const s = await adapter.getServer(id);
      if (s.state === 'deleted') return;
    } catch (err) {
      if (err instanceof NotFound) return;
      throw err;
    }
    step('deleting the template');
    await delay(POLL_MS, undefined, signal ? { signal } : undefined);
  }
}
