// Which image formats a build must produce: one per format its providers upload.
import type { Config, ImageFormat, Provider } from './schema.ts';

/** The clouds.yaml `image_format` of a provider's cloud, when known (a single value applies to every provider). */
export type CloudImageFormat = ImageFormat | ((provider: Provider) => ImageFormat | undefined);

/**
 * The formats to build for a diskimage: its `formats` list, plus, for every provider listing it (paused or not,
 * so a pause does not change what a build produces), the provider's `image-format`, else the cloud's
 * clouds.yaml `image_format`, else qcow2. Empty when no provider uses it and it lists no formats, and for
 * snapshot diskimages (made in the cloud, nothing is built locally).
 */
export function imageFormatsForDiskimage(
  config: Config,
  diskimageName: string,
  cloudImageFormat?: CloudImageFormat,
): Set<ImageFormat> {
  const diskimage = config.diskimages.find((d) => d.name === diskimageName);
  if (!diskimage) throw new Error(`unknown diskimage '${diskimageName}'`);
  if (diskimage.builder === 'snapshot') return new Set();
  const formats = new Set<ImageFormat>(diskimage.formats ?? []);
  for (const provider of config.providers) {
    if (!provider.diskimages.some((d) => d.name === diskimageName)) continue;
    const fromCloud = typeof cloudImageFormat === 'function' ? cloudImageFormat(provider) : cloudImageFormat;
    formats.add(provider.imageFormat ?? fromCloud ?? 'qcow2');
  }
  return formats;
}
