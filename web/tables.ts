// The lists the status endpoints serve, as nodepool's webapp served them: JSON rows (the CLI's --json rows) or
// the CLI's text table, and `?fields=a,b` picking columns. The cells and headers are the CLI's own.
import type { DibImage } from '../core/views.ts';
import { DIB_IMAGE_LIST_HEAD, dibImageListCells, renderDibImageList } from '../cli/actions/dib-image-list.ts';
import { IMAGE_LIST_HEAD, imageListCells, imageListRows, renderImageList } from '../cli/actions/image-list.ts';
import {
  LIST_HEAD,
  REQUEST_LIST_HEAD,
  listCells,
  listNodes,
  renderList,
  requestListCells,
  requestListRows,
} from '../cli/actions/nodes.ts';
import { renderTable } from '../cli/table.ts';
import type { Config } from '../config/index.ts';
import type { CatalogView } from '../workflows/image-catalog.ts';
import type { PoolView } from '../workflows/pool-api.ts';

type Row = object;

export interface Listing {
  rows: Row[];
  head: string[];
  /** The JSON keys behind each column of `head`, in order. */
  keys: string[][];
  cells(row: Row): (string | number)[];
  /** The whole table as the CLI prints it (notes included), for requests without `?fields=`. */
  render(): string;
}

/** Bad `?fields=`: the client's mistake (400). */
export class FieldsError extends Error {}

const norm = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]/g, '');

function listing<R extends Row>(
  rows: R[],
  head: string[],
  keys: string[][],
  cells: (r: R) => (string | number)[],
  render: () => string,
): Listing {
  return { rows, head, keys, cells: cells as (row: Row) => (string | number)[], render };
}

export function imageListing(catalogs: CatalogView[], now: number): Listing {
  const rows = imageListRows(catalogs, now);
  const keys = ['id', 'provider', 'image', 'hostname', 'version', 'imageId', 'serverId', 'state', 'ageHours'];
  return listing(
    rows,
    IMAGE_LIST_HEAD,
    keys.map((k) => [k]),
    imageListCells,
    () => renderImageList(rows),
  );
}

export function dibImageListing(builds: DibImage[], now: number): Listing {
  const keys = ['id', 'image', 'files', 'version', 'state', 'stateSince'];
  return listing(
    builds,
    DIB_IMAGE_LIST_HEAD,
    keys.map((k) => [k]),
    (b) => dibImageListCells(b, now),
    () => renderDibImageList(builds, now),
  );
}

export function nodeListing(pools: PoolView[]): Listing {
  return listing(
    listNodes(pools),
    LIST_HEAD,
    [
      ['id'],
      ['provider'],
      ['label'],
      ['externalId'],
      ['ip'],
      ['state'],
      ['stateAgeSeconds'],
      ['holdReason', 'requestKey'],
    ],
    listCells,
    () => renderList(pools),
  );
}

export function requestListing(pools: PoolView[]): Listing {
  const rows = requestListRows(pools);
  const keys = ['key', 'priority', 'state', 'requestor', 'labels', 'nodeIds', 'provider', 'reason'];
  const head = REQUEST_LIST_HEAD;
  return listing(
    rows,
    head,
    keys.map((k) => [k]),
    requestListCells,
    () => renderTable(head, rows.map(requestListCells)),
  );
}

export interface LabelRow {
  label: string;
  minReady: number;
  /** Providers whose pools offer it. */
  providers: string[];
  building: number;
  ready: number;
  inUse: number;
}

export const LABEL_LIST_HEAD = ['Label', 'Min Ready', 'Providers', 'Building', 'Ready', 'In Use'];

/** nodepool's label-list (its one column, Label) with what the pools hold of each label. */
export function labelListing(config: Config, pools: PoolView[]): Listing {
  const rows = new Map<string, LabelRow>();
  const row = (label: string): LabelRow => {
    let r = rows.get(label);
    if (!r) {
      r = { label, minReady: 0, providers: [], building: 0, ready: 0, inUse: 0 };
      rows.set(label, r);
    }
    return r;
  };
  for (const l of config.labels) row(l.name).minReady = l.minReady;
  for (const p of config.providers)
    for (const pool of p.pools)
      for (const l of pool.labels) {
        const r = row(l.name);
        if (!r.providers.includes(p.name)) r.providers.push(p.name);
      }
  for (const v of pools)
    for (const o of v.occupancy) {
      const r = row(o.label);
      r.building += o.states.building ?? 0;
      r.ready += o.states.ready ?? 0;
      r.inUse += o.states['in-use'] ?? 0;
    }
  const list = [...rows.values()].sort((a, b) => a.label.localeCompare(b.label));
  const cells = (r: LabelRow): (string | number)[] => [
    r.label,
    r.minReady,
    r.providers.join(','),
    r.building,
    r.ready,
    r.inUse,
  ];
  const keys = ['label', 'minReady', 'providers', 'building', 'ready', 'inUse'];
  return listing(
    list,
    LABEL_LIST_HEAD,
    keys.map((k) => [k]),
    cells,
    () => renderTable(LABEL_LIST_HEAD, list.map(cells)),
  );
}

/**
 * The listing as JSON rows or a text table, with only the `fields` asked for. A field names a column by its JSON
 * key or its header (case, spaces and punctuation ignored: `image_id`, `imageid`, `Image ID`), or any other key
 * of the JSON rows (JSON only).
 */
export function present(l: Listing, fields: string[] | undefined, json: boolean): string {
  if (!fields) return json ? `${JSON.stringify(l.rows, null, 2)}\n` : `${l.render()}\n`;
  const rowKeys = new Set<string>(l.rows.flatMap((r) => Object.keys(r)));
  const columns: number[] = [];
  const jsonKeys: string[] = [];
  for (const f of fields) {
    const n = norm(f);
    const col = l.head.findIndex((h, i) => norm(h) === n || (l.keys[i] ?? []).some((k) => norm(k) === n));
    if (col >= 0) {
      columns.push(col);
      jsonKeys.push(...(l.keys[col] ?? []));
      continue;
    }
    const key = json ? [...rowKeys].find((k) => norm(k) === n) : undefined;
    if (key) jsonKeys.push(key);
    // Rows we have not got cannot say which keys they would have: an empty list stays empty either way.
    else if (!json || l.rows.length > 0)
      throw new FieldsError(
        `unknown field ${f}; the columns are ${l.keys.map((k, i) => `${k[0]} (${l.head[i]})`).join(', ')}` +
          (json ? ', and any key of the JSON rows' : ''),
      );
  }
  if (json) {
    const pick = (r: Row): Record<string, unknown> =>
      Object.fromEntries(jsonKeys.filter((k) => k in r).map((k) => [k, (r as Record<string, unknown>)[k]]));
    return `${JSON.stringify(l.rows.map(pick), null, 2)}\n`;
  }
  return `${renderTable(
    columns.map((c) => l.head[c] as string),
    l.rows.map((r) => {
      const cells = l.cells(r);
      return columns.map((c) => cells[c] as string | number);
    }),
  )}\n`;
}
