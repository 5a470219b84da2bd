// Checks that span sections: names referring to other names, duplicates, and limits that cannot be met.
// They run once the structure is valid, on the camelCase config; paths are reported with the file's keys.
import { formatPath, type PathSegment } from './locate.ts';
import type { Config } from './schema.ts';
import { didYouMean } from './suggest.ts';

export interface Finding {
  path: PathSegment[];
  message: string;
  /** Point at the key rather than its value (the key itself is the mistake). */
  at?: 'key';
}

export interface CrossCheckContext {
  /** The vhd-util to run (the configured path, or the one found on PATH), or undefined when there is none. */
  findVhdUtil: () => string | undefined;
}

/** Looking for vhd-util touches the disk: once per check is enough. */
function once<T>(fn: () => T): () => T {
  let done = false;
  let value: T;
  return () => {
    if (!done) [value, done] = [fn(), true];
    return value;
  };
}

function duplicates(items: readonly { name: string }[], prefix: PathSegment[], kind: string): Finding[] {
  const first = new Map<string, number>();
  const findings: Finding[] = [];
  items.forEach((item, i) => {
    const seen = first.get(item.name);
    if (seen === undefined) first.set(item.name, i);
    else
      findings.push({
        path: [...prefix, i, 'name'],
        message: `duplicate ${kind} name '${item.name}' (already used by ${formatPath([...prefix, seen])})`,
      });
  });
  return findings;
}

function checkDiskimages(config: Config): Finding[] {
  const findings: Finding[] = [];
  config.diskimages.forEach((image, i) => {
    const at = (key: string): PathSegment[] => ['diskimages', i, key];
    if (image.builder === 'dib') {
      if (!image.elements)
        findings.push({
          path: at('elements'),
          message: `missing required key 'elements' (builder dib needs the diskimage-builder elements to use)`,
        });
      if (image.script !== undefined)
        findings.push({ path: at('script'), at: 'key', message: `'script' needs builder: script (this is dib)` });
    } else {
      if (image.script === undefined)
        findings.push({ path: at('script'), message: `missing required key 'script' (builder script needs a path)` });
      if (image.elements)
        findings.push({ path: at('elements'), at: 'key', message: `'elements' needs builder: dib (this is script)` });
    }
  });
  return findings;
}

/** The provider's image-format against the diskimages' formats lists, and the vhd-util it may need. */
function checkProviderFormats(config: Config, p: number, findVhdUtil: () => string | undefined): Finding[] {
  const findings: Finding[] = [];
  const provider = config.providers[p];
  if (!provider) return findings;
  const at = (...rest: PathSegment[]): PathSegment[] => ['providers', p, ...rest];
  const format = provider.imageFormat;
  if (format === undefined) return findings;
  for (const image of provider.diskimages) {
    const d = config.diskimages.findIndex((x) => x.name === image.name);
    const formats = config.diskimages[d]?.formats;
    if (formats && !formats.includes(format))
      findings.push({
        path: ['diskimages', d, 'formats'],
        message: `diskimage '${image.name}' is uploaded to provider '${provider.name}' as ${format} (${formatPath(at('image-format'))}) but its formats [${formats.join(', ')}] lack ${format}; add ${format}`,
      });
  }
  const converter = provider.vhdConverter ?? config.vhdConverter;
  if (format !== 'vhd' || converter === 'builtin' || provider.diskimages.length === 0) return findings;
  // auto falls back to the built-in converter when vhd-util is not on PATH, but not past a configured path.
  if (converter === 'auto' && config.vhdUtil === undefined) return findings;
  if (findVhdUtil() !== undefined) return findings;
  const problem =
    config.vhdUtil === undefined
      ? 'no vhd-util was found on PATH'
      : `vhd-util '${config.vhdUtil}' is not an executable file`;
  const converterKey = provider.vhdConverter === undefined ? ['vhd-converter'] : at('vhd-converter');
  findings.push({
    path: config.vhdUtil === undefined ? converterKey : ['vhd-util'],
    message: `provider '${provider.name}' makes VHD images with vhd-util (vhd-converter: ${converter}), but ${problem}; set vhd-util to its path, or use vhd-converter: builtin`,
  });
  return findings;
}

function checkProviders(config: Config): Finding[] {
  const findings: Finding[] = [];
  const labelNames = config.labels.map((l) => l.name);
  const imageNames = config.diskimages.map((d) => d.name);
  config.providers.forEach((provider, p) => {
    const at = (...rest: PathSegment[]): PathSegment[] => ['providers', p, ...rest];
    if (provider.driver === 'openstack' && provider.cloud === undefined)
      findings.push({
        path: at('cloud'),
        message: `missing required key 'cloud' (the clouds.yaml cloud to use; only driver: simulator may leave it out)`,
      });
    if (provider.driver !== 'simulator' && provider.simulator !== undefined)
      findings.push({ path: at('simulator'), at: 'key', message: `a simulator block needs driver: simulator` });

    findings.push(...duplicates(provider.diskimages, at('diskimages'), 'provider diskimage'));
    findings.push(...duplicates(provider.pools, at('pools'), 'pool'));
    const providerImages = provider.diskimages.map((d) => d.name);
    provider.diskimages.forEach((image, d) => {
      if (!imageNames.includes(image.name))
        findings.push({
          path: at('diskimages', d, 'name'),
          message: `unknown diskimage '${image.name}' (not under the top-level diskimages)${didYouMean(image.name, imageNames)}`,
        });
    });

    provider.pools.forEach((pool, q) => {
      findings.push(...duplicates(pool.labels, at('pools', q, 'labels'), 'pool label'));
      pool.labels.forEach((label, l) => {
        if (!labelNames.includes(label.name))
          findings.push({
            path: at('pools', q, 'labels', l, 'name'),
            message: `unknown label '${label.name}' (not under the top-level labels)${didYouMean(label.name, labelNames)}`,
          });
        if (providerImages.includes(label.diskimage)) return;
        const listed = `provider '${provider.name}' diskimages (${providerImages.join(', ') || 'none'})`;
        findings.push({
          path: at('pools', q, 'labels', l, 'diskimage'),
          message: imageNames.includes(label.diskimage)
            ? `diskimage '${label.diskimage}' is not among ${listed}; add it to ${formatPath(at('diskimages'))}`
            : `unknown diskimage '${label.diskimage}', not among ${listed}${didYouMean(label.diskimage, providerImages)}`,
        });
      });
    });
  });
  return findings;
}

function checkMinReady(config: Config): Finding[] {
  const findings: Finding[] = [];
  config.labels.forEach((label, i) => {
    if (label.minReady === 0) return;
    const serving: string[] = [];
    let capacity = 0;
    for (const provider of config.providers)
      for (const pool of provider.pools)
        if (pool.labels.some((l) => l.name === label.name)) {
          serving.push(`${provider.name}/${pool.name} ${pool.maxServers}`);
          capacity += pool.maxServers;
        }
    if (serving.length === 0)
      findings.push({
        path: ['labels', i, 'min-ready'],
        message: `label '${label.name}' has min-ready ${label.minReady} but no pool serves it; add it to a pool's labels or set min-ready: 0`,
      });
    else if (label.minReady > capacity)
      findings.push({
        path: ['labels', i, 'min-ready'],
        message: `min-ready ${label.minReady} for label '${label.name}' exceeds the ${capacity} servers its pools may run (max-servers: ${serving.join(', ')}); lower min-ready or raise max-servers`,
      });
  });
  return findings;
}

export function crossCheck(config: Config, ctx: CrossCheckContext): Finding[] {
  const findVhdUtil = once(ctx.findVhdUtil);
  return [
    ...duplicates(config.labels, ['labels'], 'label'),
    ...duplicates(config.providers, ['providers'], 'provider'),
    ...duplicates(config.diskimages, ['diskimages'], 'diskimage'),
    ...checkDiskimages(config),
    ...checkProviders(config),
    ...config.providers.flatMap((_, p) => checkProviderFormats(config, p, findVhdUtil)),
    ...checkMinReady(config),
  ];
}
