// Checks that span sections: names referring to other names, duplicates, builders and the keys they need,
// files that must exist, and limits that cannot be met. They run once the structure is valid, on the camelCase
// config; paths are reported with the file's keys.
import { formatPath, type PathSegment } from './locate.ts';
import type { KeySources } from './inherit.ts';
import type { Config, Diskimage, DiskimageAsWritten } from './schema.ts';
import { didYouMean } from './suggest.ts';

export interface Finding {
  path: PathSegment[];
  message: string;
  /** Point at the key rather than its value (the key itself is the mistake). */
  at?: 'key';
}

/** What a file named in the configuration lacks: undefined when it is fine. */
export type FileProblem = (path: string, need: 'exec' | 'read') => string | undefined;

export interface CrossCheckContext {
  /** The vhd-util to run (the configured path, or the one found on PATH), or undefined when there is none. */
  findVhdUtil: () => string | undefined;
  fileProblem: FileProblem;
  /** The diskimages as written (abstract ones too), for duplicates and for placing messages. */
  written: readonly DiskimageAsWritten[];
  abstract: ReadonlySet<string>;
  sources: KeySources;
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

/** `script`, `validate-script`, `post-upload-hook`: run by the builders, so they must be there and executable. */
function fileFinding(
  ctx: CrossCheckContext,
  path: PathSegment[],
  key: string,
  file: string,
  need: 'exec' | 'read',
  owner = '',
): Finding[] {
  const problem = ctx.fileProblem(file, need);
  if (problem === undefined) return [];
  const fix =
    need === 'exec'
      ? 'fix the path (relative paths start at the directory of the file naming it), or chmod +x it'
      : 'fix the path';
  return [{ path, message: `${key} ${file}${owner} ${problem}; ${fix}` }];
}

function checkDiskimages(config: Config, ctx: CrossCheckContext): Finding[] {
  const findings: Finding[] = [];
  const ownIndex = new Map(ctx.written.map((d, i) => [d.name, i] as const).reverse());
  for (const image of config.diskimages) {
    const own = ownIndex.get(image.name) ?? 0;
    const from = ctx.sources.get(image.name);
    /** Where a key's value was written: this diskimage, or the ancestor it inherits it from. */
    const at = (camel: string, key: string): PathSegment[] => ['diskimages', from?.get(camel) ?? own, key];
    const inherited = (camel: string): string =>
      (from?.get(camel) ?? own) === own ? '' : ` (for diskimage '${image.name}', which inherits it)`;
    const hasElements = from?.has('elements') === true;
    switch (image.builder) {
      case 'dib':
        if (image.script !== undefined)
          findings.push({
            path: at('script', 'script'),
            at: 'key',
            message: `'script' needs builder: script or snapshot (this is dib)${inherited('script')}`,
          });
        break;
      case 'script':
      case 'snapshot': {
        const what =
          image.builder === 'script'
            ? 'builder script needs a path'
            : 'builder snapshot needs the setup script run on the template';
        if (image.script === undefined)
          findings.push({ path: ['diskimages', own, 'script'], message: `missing required key 'script' (${what})` });
        else
          findings.push(
            ...fileFinding(ctx, at('script', 'script'), 'script', image.script, 'exec', inherited('script')),
          );
        if (hasElements)
          findings.push({
            path: at('elements', 'elements'),
            at: 'key',
            message: `'elements' needs builder: dib (this is ${image.builder})${inherited('elements')}`,
          });
        if (image.builder === 'snapshot' && image.formats !== undefined)
          findings.push({
            path: at('formats', 'formats'),
            at: 'key',
            message: `'formats' does not apply to builder snapshot: the image is made in the cloud${inherited('formats')}`,
          });
        break;
      }
    }
    if (image.validateScript !== undefined) {
      if (!image.validate)
        findings.push({
          path: at('validateScript', 'validate-script'),
          at: 'key',
          message: `'validate-script' needs validate: true${inherited('validateScript')}`,
        });
      else
        findings.push(
          ...fileFinding(
            ctx,
            at('validateScript', 'validate-script'),
            'validate-script',
            image.validateScript,
            'exec',
            inherited('validateScript'),
          ),
        );
    }
  }
  return findings;
}

/** The provider's image-format against the diskimages' formats lists, and the vhd-util it may need. */
function checkProviderFormats(
  config: Config,
  p: number,
  findVhdUtil: () => string | undefined,
  ctx: CrossCheckContext,
): Finding[] {
  const findings: Finding[] = [];
  const provider = config.providers[p];
  if (!provider) return findings;
  const at = (...rest: PathSegment[]): PathSegment[] => ['providers', p, ...rest];
  const format = provider.imageFormat;
  if (format === undefined) return findings;
  const built = provider.diskimages.filter((image) => {
    const d = config.diskimages.find((x) => x.name === image.name);
    return d !== undefined && d.builder !== 'snapshot';
  });
  for (const image of built) {
    const formats = config.diskimages.find((x) => x.name === image.name)?.formats;
    const d = ctx.sources.get(image.name)?.get('formats') ?? 0;
    if (formats && !formats.includes(format))
      findings.push({
        path: ['diskimages', d, 'formats'],
        message: `diskimage '${image.name}' is uploaded to provider '${provider.name}' as ${format} (${formatPath(at('image-format'))}) but its formats [${formats.join(', ')}] lack ${format}; add ${format}`,
      });
  }
  const converter = provider.vhdConverter ?? config.vhdConverter;
  if (format !== 'vhd' || converter === 'builtin' || built.length === 0) return findings;
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

const SNAPSHOT_KEYS = [
  ['baseImage', 'base-image'],
  ['flavorName', 'flavor-name'],
  ['username', 'username'],
  ['privateKey', 'private-key'],
  ['networkChoice', 'networks'],
] as const;

function checkProviderDiskimages(config: Config, p: number, ctx: CrossCheckContext): Finding[] {
  const findings: Finding[] = [];
  const provider = config.providers[p];
  if (!provider) return findings;
  const imageNames = config.diskimages.map((d) => d.name);
  provider.diskimages.forEach((entry, d) => {
    const at = (...rest: PathSegment[]): PathSegment[] => ['providers', p, 'diskimages', d, ...rest];
    if (ctx.abstract.has(entry.name)) {
      findings.push({
        path: at('name'),
        message: `diskimage '${entry.name}' is abstract (only a parent): it is never built; list a diskimage that inherits from it`,
      });
      return;
    }
    const image: Diskimage | undefined = config.diskimages.find((x) => x.name === entry.name);
    if (!image) {
      findings.push({
        path: at('name'),
        message: `unknown diskimage '${entry.name}' (not under the top-level diskimages)${didYouMean(entry.name, imageNames)}`,
      });
      return;
    }
    if (image.builder === 'snapshot') {
      if (entry.baseImage === undefined)
        findings.push({
          path: at('base-image'),
          message: `missing required key 'base-image' (diskimage '${entry.name}' is built by snapshot: the cloud image its template boots from)`,
        });
      if (entry.flavorName === undefined)
        findings.push({
          path: at('flavor-name'),
          message: `missing required key 'flavor-name' (diskimage '${entry.name}' is built by snapshot: the flavor of its template)`,
        });
      if (entry.privateKey !== undefined)
        findings.push(...fileFinding(ctx, at('private-key'), 'private-key', entry.privateKey, 'read'));
    } else {
      for (const [field, key] of SNAPSHOT_KEYS)
        if (entry[field] !== undefined)
          findings.push({
            path: at(key),
            at: 'key',
            message: `'${key}' needs diskimage '${entry.name}' to be built with builder: snapshot (it is ${image.builder})`,
          });
    }
  });
  return findings;
}

function checkProviders(config: Config, ctx: CrossCheckContext): Finding[] {
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
    if (provider.postUploadHook !== undefined)
      findings.push(...fileFinding(ctx, at('post-upload-hook'), 'post-upload-hook', provider.postUploadHook, 'exec'));

    findings.push(...duplicates(provider.diskimages, at('diskimages'), 'provider diskimage'));
    findings.push(...duplicates(provider.cloudImages, at('cloud-images'), 'cloud image'));
    findings.push(...duplicates(provider.pools, at('pools'), 'pool'));
    findings.push(...checkProviderDiskimages(config, p, ctx));
    provider.cloudImages.forEach((image, c) => {
      if (image.imageId !== undefined && image.imageName !== undefined)
        findings.push({
          path: at('cloud-images', c, 'image-name'),
          at: 'key',
          message: `image-id and image-name exclude each other; keep one`,
        });
    });

    const providerImages = provider.diskimages.map((d) => d.name);
    const cloudImages = provider.cloudImages.map((c) => c.name);
    provider.pools.forEach((pool, q) => {
      findings.push(...duplicates(pool.labels, at('pools', q, 'labels'), 'pool label'));
      pool.labels.forEach((label, l) => {
        if (!labelNames.includes(label.name))
          findings.push({
            path: at('pools', q, 'labels', l, 'name'),
            message: `unknown label '${label.name}' (not under the top-level labels)${didYouMean(label.name, labelNames)}`,
          });
        if ('cloudImage' in label.image) {
          const wanted = label.image.cloudImage;
          if (!cloudImages.includes(wanted))
            findings.push({
              path: at('pools', q, 'labels', l, 'cloud-image'),
              message: `unknown cloud image '${wanted}', not among provider '${provider.name}' cloud-images (${cloudImages.join(', ') || 'none'})${didYouMean(wanted, cloudImages)}`,
            });
          return;
        }
        const wanted = label.image.diskimage;
        if (providerImages.includes(wanted)) return;
        const listed = `provider '${provider.name}' diskimages (${providerImages.join(', ') || 'none'})`;
        findings.push({
          path: at('pools', q, 'labels', l, 'diskimage'),
          message: imageNames.includes(wanted)
            ? `diskimage '${wanted}' is not among ${listed}; add it to ${formatPath(at('diskimages'))}`
            : `unknown diskimage '${wanted}', not among ${listed}${didYouMean(wanted, providerImages)}`,
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
    ...duplicates(ctx.written, ['diskimages'], 'diskimage'),
    ...checkDiskimages(config, ctx),
    ...checkProviders(config, ctx),
    ...config.providers.flatMap((_, p) => checkProviderFormats(config, p, findVhdUtil, ctx)),
    ...checkMinReady(config),
  ];
}
