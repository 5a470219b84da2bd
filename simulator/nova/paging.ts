// Nova's list paging (limit capped at 1000, marker = last id of the previous page), shared by servers and flavors.
import type { RequestContext } from '../http.ts';
import { HttpError } from '../http.ts';

const MAX_LIMIT = 1000;

export function intParam(ctx: RequestContext, name: string): number | undefined {
  const raw = ctx.url.searchParams.get(name);
  if (raw === null) return undefined;
  if (!/^\d+$/.test(raw)) {
    throw new HttpError(
      400,
      `Invalid input for query parameters ${name}. Value: ${raw}. '${raw}' is not a valid integer`,
    );
  }
  return Number(raw);
}

/** The items after the `marker` query parameter's id (all of them without one); an unknown marker is a 400. */
export function afterMarker<T extends { id: string }>(ctx: RequestContext, items: T[]): T[] {
  const marker = ctx.url.searchParams.get('marker');
  if (marker === null) return items;
  const at = items.findIndex((item) => item.id === marker);
  if (at < 0) throw new HttpError(400, `marker [${marker}] not found`);
  return items.slice(at + 1);
}

export function pageLimit(ctx: RequestContext): number {
  return Math.min(intParam(ctx, 'limit') ?? MAX_LIMIT, MAX_LIMIT);
}
