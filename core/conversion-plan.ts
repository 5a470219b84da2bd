// Which conversions a build needs: one per (format, VHD converter) however many providers share it, so a
// build converts once per format and a failure reaches exactly the providers that needed that file.
// Pure: called from workflows.

export type TargetFormat = 'qcow2' | 'raw' | 'vhd';
export type ConverterChoice = 'auto' | 'builtin' | 'vhd-util';

export interface ConversionTarget {
  provider: string;
  format: TargetFormat;
  /** The provider's vhd-converter (or the global one); ignored for qcow2 and raw. */
  vhdConverter?: ConverterChoice;
}

export interface PlannedConversion {
  format: TargetFormat;
  converter: ConverterChoice;
  /** File name inside the build's image directory. */
  fileName: string;
  providers: string[];
}

export function planConversions(image: string, version: number, targets: ConversionTarget[]): PlannedConversion[] {
  const byKey = new Map<string, PlannedConversion>();
  for (const t of targets) {
    // The VHD converter only matters for VHD; qcow2/raw always come from qemu-img.
    const converter: ConverterChoice = t.format === 'vhd' ? (t.vhdConverter ?? 'auto') : 'auto';
    const key = `${t.format}/${converter}`;
    let planned = byKey.get(key);
    if (!planned) {
      const suffix = converter === 'auto' ? '' : `.${converter}`;
      planned = { format: t.format, converter, fileName: `${image}-${version}${suffix}.${t.format}`, providers: [] };
      byKey.set(key, planned);
    }
    if (!planned.providers.includes(t.provider)) planned.providers.push(t.provider);
  }
  return [...byKey.values()];
}
