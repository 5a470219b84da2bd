// What `nodepool up` adds to an operator's nodepool.yaml, decided without I/O: one cloud simulator per
// `driver: simulator` provider (from its `simulator:` settings), the clouds.yaml entries that reach them, and
// an overlay nodepool.yaml loaded after the operator's file (config/merge.ts joins them by name) that names
// those clouds, the simulators' SSH ports and the local directories — only where the operator's file is silent,
// so a key both files set can never disagree.
import { stringify } from 'yaml';
import type { Config } from '../config/index.ts';

/** An operator-facing problem with the configuration `up` was given. */
export class UpPlanError extends Error {
  override name = 'UpPlanError';
}

export interface SimulatorPlan {
  provider: string;
  /** The clouds.yaml cloud the provider uses: its own `cloud`, else the provider's name. */
  cloud: string;
  /** The overlay sets providers[].cloud (the operator's file has none). */
  setsCloud: boolean;
  /** region_name of the clouds.yaml entry. */
  region: string;
  regions: string[];
  seed: number;
  bootSeconds?: number;
  quota?: { instances?: number; cores?: number; ram?: number };
  /** The SSH port the operator's connection-port fixes, if any; otherwise `up` picks one. */
  sshPort?: number;
  /** Diskimages and cloud-images of the provider without a connection-port: the overlay sets the SSH port. */
  portless: { diskimages: string[]; cloudImages: string[] };
}

type Dict = Record<string, unknown>;

function isDict(v: unknown): v is Dict {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value at a path of the file as written (before defaults), or undefined. */
export function rawAt(raw: unknown, path: (string | number)[]): unknown {
  let v: unknown = raw;
  for (const key of path) {
    if (typeof key === 'number' ? !Array.isArray(v) : !isDict(v)) return undefined;
    v = (v as Record<string | number, unknown>)[key];
  }
  return v;
}

function rawNamed(raw: unknown, path: (string | number)[], name: string): Dict | undefined {
  const list = rawAt(raw, path);
  return Array.isArray(list) ? (list.find((e) => isDict(e) && e.name === name) as Dict | undefined) : undefined;
}

export function planSimulators(config: Config, raw: unknown): SimulatorPlan[] {
  const plans: SimulatorPlan[] = [];
  for (const p of config.providers) {
    if (p.driver !== 'simulator') continue;
    const s = p.simulator ?? {};
    const regions = s.regions ?? [p.regionName ?? 'RegionOne'];
    const region = p.regionName ?? (regions[0] as string);
    if (!regions.includes(region))
      throw new UpPlanError(
        `provider ${p.name}: region-name ${region} is not one of its simulator's regions (${regions.join(', ')}); add it to simulator.regions`,
      );
    const rawProvider = rawNamed(raw, ['providers'], p.name);
    const ports = new Map<number, string>();
    const portless: SimulatorPlan['portless'] = { diskimages: [], cloudImages: [] };
    for (const [key, names, into] of [
      ['diskimages', p.diskimages.map((d) => d.name), portless.diskimages],
      ['cloud-images', p.cloudImages.map((c) => c.name), portless.cloudImages],
    ] as const) {
      for (const name of names) {
        const port = rawNamed(rawProvider, [key], name)?.['connection-port'];
        if (typeof port === 'number') ports.set(port, `${key} ${name}`);
        else into.push(name);
      }
    }
    if (ports.size > 1)
      throw new UpPlanError(
        `provider ${p.name}: its simulator serves SSH on one port, but connection-port differs (${[...ports]
          .map(([port, what]) => `${port} for ${what}`)
          .join(', ')}); use one port, or leave connection-port out and let nodepool up pick it`,
      );
    plans.push({
      provider: p.name,
      cloud: p.cloud ?? p.name,
      setsCloud: p.cloud === undefined,
      region,
      regions,
      seed: s.seed ?? 1,
      ...(s.bootTime === undefined ? {} : { bootSeconds: s.bootTime }),
      ...(s.quota === undefined ? {} : { quota: s.quota }),
      ...(ports.size === 1 ? { sshPort: [...ports.keys()][0] as number } : {}),
      portless,
    });
  }
  const simClouds = new Set(plans.map((s) => s.cloud));
  for (const p of config.providers)
    if (p.driver !== 'simulator' && p.cloud !== undefined && simClouds.has(p.cloud))
      throw new UpPlanError(
        `provider ${p.name} uses cloud ${p.cloud}, which nodepool up makes a simulator for another provider; rename one of them`,
      );
  return plans;
}

export interface OverlayInput {
  sims: (SimulatorPlan & { sshPort: number })[];
  imagesDir: string;
  buildLogDir: string;
  databaseDir: string;
  /** The status page's port, when given on the command line. */
  webappPort?: number;
}

/** The overlay nodepool.yaml's content. */
export function overlay(raw: unknown, input: OverlayInput): Dict {
  const out: Dict = {};
  const providers = input.sims
    .map((s) => {
      const entry: Dict = { name: s.provider };
      if (s.setsCloud) entry.cloud = s.cloud;
      const port = { 'connection-port': s.sshPort };
      if (s.portless.diskimages.length > 0) entry.diskimages = s.portless.diskimages.map((name) => ({ name, ...port }));
      if (s.portless.cloudImages.length > 0)
        entry['cloud-images'] = s.portless.cloudImages.map((name) => ({ name, ...port }));
      return entry;
    })
    .filter((e) => Object.keys(e).length > 1);
  if (providers.length > 0) out.providers = providers;
  if (rawAt(raw, ['images-dir']) === undefined) out['images-dir'] = input.imagesDir;
  if (rawAt(raw, ['build-log-dir']) === undefined) out['build-log-dir'] = input.buildLogDir;
  if (rawAt(raw, ['database', 'data-dir']) === undefined) out.database = { 'data-dir': input.databaseDir };
  if (input.webappPort !== undefined) {
    if (rawAt(raw, ['webapp', 'port']) !== undefined)
      throw new UpPlanError('--webapp-port and webapp.port in nodepool.yaml both set the status page port; keep one');
    out.webapp = { port: input.webappPort };
  }
  return out;
}

export function overlayText(content: Dict, configFile: string): string {
  const head = [
    `# Written by nodepool up at each start; loaded after ${configFile}. Edit that file instead:`,
    '# this one only fills in what nodepool up runs locally (simulated clouds, directories, ports).',
  ];
  return `${head.join('\n')}\n${Object.keys(content).length > 0 ? stringify(content) : '{}\n'}`;
}

export interface SimulatorEndpoint {
  cloud: string;
  authUrl: string;
  region: string;
}

/**
 * clouds.yaml for the worker: the operator's own clouds (when a provider needs a real cloud) with one entry per
 * simulator added. clouds.yaml is one file (the first found wins), so the operator's entries are copied.
 */
export function cloudsYaml(sims: SimulatorEndpoint[], base: unknown): string {
  const baseDict = isDict(base) ? base : {};
  const clouds: Dict = isDict(baseDict.clouds) ? { ...baseDict.clouds } : {};
  for (const s of sims)
    clouds[s.cloud] = {
      auth: {
        auth_url: s.authUrl,
        // The simulator accepts any credentials; these name its one project.
        username: 'nodepool',
        password: 'secret',
        project_name: 'nodepool',
        user_domain_name: 'Default',
        project_domain_name: 'Default',
      },
      region_name: s.region,
      identity_api_version: 3,
    };
  const head = '# Written by nodepool up at each start: the simulated clouds (and the clouds of your clouds.yaml).\n';
  return head + stringify({ ...baseDict, clouds });
}
