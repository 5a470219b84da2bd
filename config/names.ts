// Names nodepool derives from configuration: uploaded image names (image-name-format), server names
// (hostname-format) and snapshot template server names. Formats are Python format strings, as in nodepool.
import type { Diskimage, Provider } from './schema.ts';

const FIELD = /\{\{|\}\}|\{([^{}]*)\}/g;

/** The fields a Python format string uses: `{image_name}-{timestamp}` → image_name, timestamp. */
export function formatFields(format: string): string[] {
  return [...format.matchAll(FIELD)].flatMap((m) => (m[1] === undefined ? [] : [m[1]]));
}

function applyFormat(format: string, values: Record<string, string>): string {
  return format.replace(FIELD, (whole, field: string | undefined) => {
    if (field === undefined) return whole[0] as string;
    const value = values[field];
    // The schema admits only known fields, so this is a programming error.
    if (value === undefined) throw new Error(`format ${JSON.stringify(format)} uses unknown field {${field}}`);
    return value;
  });
}

/** The name an upload gets in the cloud: the provider's image-name-format (`{image_name}-{timestamp}`). */
export function formatImageName(
  provider: Pick<Provider, 'imageNameFormat'>,
  imageName: string,
  timestamp: number | string,
): string {
  return applyFormat(provider.imageNameFormat, { image_name: imageName, timestamp: String(timestamp) });
}

/** A server's name: the provider's hostname-format (`{label.name}-{provider.name}-{node.id}`). */
export function formatHostname(
  provider: Pick<Provider, 'name' | 'hostnameFormat'>,
  labelName: string,
  nodeId: number | string,
): string {
  return applyFormat(provider.hostnameFormat, {
    'label.name': labelName,
    'provider.name': provider.name,
    'node.id': String(nodeId),
  });
}

/** A snapshot build's template server: `<image>-<version>.template.<template-domain>`. */
export function templateServerName(
  diskimage: Pick<Diskimage, 'name' | 'templateDomain'>,
  version: number | string,
): string {
  return `${diskimage.name}-${version}.template.${diskimage.templateDomain}`;
}
