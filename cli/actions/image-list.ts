import type { CatalogUpload, CatalogView } from '../../workflows/image-catalog.ts';
import { catalogProviders, readCatalogs } from '../catalogs.ts';
import type { ImageListArgs } from '../commands/image-list.ts';
import { renderTable } from '../table.ts';
import { connectTemporal, loadCliConfig } from '../temporal.ts';

/** The seed's columns, in its order. */
export const IMAGE_LIST_HEAD = [
  'ID',
  'Provider',
  'Image',
  'Hostname',
  'Version',
  'Image ID',
  'Server ID',
  'State',
  'Age (hours)',
];

export interface ImageListRow {
  id: number;
  provider: string;
  image: string;
  hostname: string;
  version: number;
  imageId: string;
  serverId: string;
  state: string;
  ageHours: number;
  current: boolean;
  reason?: string;
}

export function imageListRows(views: CatalogView[], now: number): ImageListRow[] {
  const rows: ImageListRow[] = [];
  for (const v of views) {
    for (const u of v.uploads as CatalogUpload[]) {
      // Deleted uploads are gone from the cloud; the catalog keeps them a while only for its own records.
      if (u.state === 'deleted') continue;
      rows.push({
        id: u.id,
        provider: v.provider,
        image: u.image,
        hostname: u.hostname,
        version: u.version,
        imageId: u.externalId ?? '',
        serverId: u.serverId ?? '',
        state: u.state,
        ageHours: Math.max(0, (now - u.stateSince) / 3_600_000),
        current: v.current[u.image] === u.id,
        ...(u.reason ? { reason: u.reason } : {}),
      });
    }
  }
  return rows.sort(
    (a, b) =>
      a.provider.localeCompare(b.provider) || a.image.localeCompare(b.image) || a.version - b.version || a.id - b.id,
  );
}

/** One row's cells under IMAGE_LIST_HEAD (shared with the status pages' /image-list). */
export function imageListCells(r: ImageListRow): (string | number)[] {
  return [r.id, r.provider, r.image, r.hostname, r.version, r.imageId, r.serverId, r.state, r.ageHours.toFixed(2)];
}

export function renderImageList(rows: ImageListRow[]): string {
  const table = renderTable(IMAGE_LIST_HEAD, rows.map(imageListCells));
  // Reasons (why a upload failed or was not validated) do not fit the seed's table; they follow it.
  const notes = rows.filter((r) => r.reason).map((r) => `  ${r.id}: ${r.reason}`);
  return notes.length > 0 ? `${table}\n${['Notes:', ...notes].join('\n')}` : table;
}

export async function imageList(args: ImageListArgs): Promise<void> {
  const config = loadCliConfig(args.config);
  const t = await connectTemporal(config);
  try {
    const views = await readCatalogs(t, await catalogProviders(t, config));
    const rows = imageListRows(views, Date.now());
    process.stdout.write(args.json ? `${JSON.stringify(rows, null, 2)}\n` : `${renderImageList(rows)}\n`);
  } finally {
    await t.close();
  }
}
