// Shared by the driver tests: a simulator with instant boots, a clouds.yaml pointing at it (password,
// application-credential and wrong-password clouds), an adapter factory, and small upload/server helpers.
import type { TestContext } from 'node:test';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startSimCloud, type KnobsPatch } from '../simulator/index.ts';
import { adapterForCloud, type AdapterOptions } from '../providers/index.ts';
import type { ProviderAdapter } from '../providers/adapter.ts';
import type { OpenStackAdapter } from '../providers/openstack/adapter.ts';
import { nodeTags, uploadTags } from '../providers/tags.ts';

export type Sim = Awaited<ReturnType<typeof startSimCloud>>;

export const PASSWORD = 'secret';
export const APPCRED_SECRET = 'appcred-secret';

/** A simulator with boots that finish at once, a clouds.yaml pointing at it, and an adapter factory. */
export async function cloud(
  t: TestContext,
  knobs: KnobsPatch = {},
  extraClouds: (sim: Sim) => Record<string, unknown> = () => ({}),
) {
  const dir = mkdtempSync(join(tmpdir(), 'providers-openstack-'));
  const sim: Sim = await startSimCloud({
    stateDir: join(dir, 'state'),
    seed: 1,
    knobs: { bootSeconds: { min: 0, max: 0 }, latencyMs: { min: 0, max: 0 }, ...knobs },
  });
  t.after(async () => {
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const file = join(dir, 'clouds.yaml');
  writeFileSync(
    file,
    stringify({
      clouds: {
        sim: {
          region_name: 'RegionOne',
          image_format: 'qcow2',
          auth: {
            auth_url: sim.authUrl,
            username: 'nodepool',
            password: PASSWORD,
            user_domain_name: 'Default',
            project_name: 'nodepool',
            project_domain_name: 'Default',
          },
        },
        'sim-appcred': {
          region_name: 'RegionOne',
          auth_type: 'v3applicationcredential',
          auth: {
            auth_url: sim.authUrl,
            application_credential_id: 'nodepool-appcred',
            application_credential_secret: APPCRED_SECRET,
          },
        },
        'sim-wrong': {
          auth: {
            auth_url: sim.authUrl,
            username: 'nodepool',
            password: 'not-the-password',
            user_domain_name: 'Default',
            project_name: 'nodepool',
            project_domain_name: 'Default',
          },
        },
        ...extraClouds(sim),
      },
    }),
  );
  const adapter = (name = 'sim', opts: AdapterOptions = {}) =>
    adapterForCloud(name, {
      env: { OS_CLIENT_CONFIG_FILE: file },
      cwd: dir,
      home: dir,
      siteDirs: [],
      fresh: true,
      ...opts,
    }) as OpenStackAdapter;
  const smallImage = join(dir, 'small.qcow2');
  writeFileSync(smallImage, Buffer.from('QFI\xfb not really a qcow2, but bytes are bytes'));
  return { sim, dir, adapter, smallImage };
}

export async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

export async function uploadSmall(a: ProviderAdapter, path: string, uploadId: string = randomUUID()) {
  return a.uploadImage({
    path,
    name: `img-${uploadId}`,
    diskFormat: 'qcow2',
    metadata: uploadTags({ provider: 'sim', uploadId, imageName: 'ubuntu' }),
  });
}

export function spec(imageId: string, nodeId: string, flavor = 'm1.tiny') {
  return {
    name: `np-${nodeId}`,
    flavor,
    imageId,
    metadata: nodeTags({ provider: 'sim', nodeId, imageName: 'ubuntu' }),
    userData: '#cloud-config\n',
  };
}
