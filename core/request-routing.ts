// Which provider a node request goes to. Nodepool serves a request from one pool of one provider, so only
// providers with a pool offering every label are candidates; among them, READY nodes beat launches and
// launches beat queueing. Pure: the request workflow routes with it from each pool's last summary.

export interface ProviderOffer {
  provider: string;
  /** Labels this provider's pools can serve together in one pool: list of label sets, one per pool. */
  poolLabels: string[][];
  /** READY unallocated nodes per label right now. */
  ready: Record<string, number>;
  /** Free launch capacity in nodes (min over limits), or null if unknown; 0 = at a limit. */
  capacity: number | null;
  /** Requests pending in this provider. */
  pending: number;
  /** Labels whose image is missing here (cannot launch). */
  missingImages: string[];
  paused?: boolean;
}

export type RouteDecision = { provider: string; reason: string } | { fail: string };

function counts(labels: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of labels) m.set(l, (m.get(l) ?? 0) + 1);
  return m;
}

function offersAll(offer: ProviderOffer, wanted: string[]): boolean {
  return offer.poolLabels.some((pool) => wanted.every((l) => pool.includes(l)));
}

function byName(a: ProviderOffer, b: ProviderOffer): number {
  return a.provider < b.provider ? -1 : a.provider > b.provider ? 1 : 0;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Why no provider can take the request, label by label, so the operator knows which config to change. */
function whyNoCandidate(wanted: string[], offers: ProviderOffer[]): string {
  const offeredBy = (label: string) =>
    offers
      .filter((o) => o.poolLabels.some((p) => p.includes(label)))
      .map((o) => o.provider)
      .sort();
  const together = (a: string, b: string) =>
    offers.some((o) => o.poolLabels.some((p) => p.includes(a) && p.includes(b)));
  const parts: string[] = [];
  for (const label of wanted) {
    const where = offeredBy(label);
    if (where.length === 0) {
      parts.push(`no provider offers label ${label}`);
      continue;
    }
    const apart = wanted.filter((other) => other !== label && !together(label, other));
    parts.push(
      apart.length > 0
        ? `label ${label} is offered by ${where.join(', ')} but never together with ${apart.join(', ')}`
        : `label ${label} is offered by ${where.join(', ')}`,
    );
  }
  // Every pair meets somewhere, yet no single pool has them all.
  if (parts.every((p) => !p.includes('never') && !p.startsWith('no provider')))
    parts.push(`no pool offers ${wanted.join(', ')} together`);
  return parts.join('; ');
}

/** Routes a request for `labels` (repeats mean several nodes of a label) to one provider, or says why none. */
export function routeRequest(labels: string[], offers: ProviderOffer[]): RouteDecision {
  if (labels.length === 0) return { fail: 'the request names no labels' };
  const need = counts(labels);
  const wanted = [...need.keys()];
  const candidates = offers.filter((o) => offersAll(o, wanted));
  if (candidates.length === 0) return { fail: whyNoCandidate(wanted, offers) };

  const readyOf = (o: ProviderOffer) => wanted.reduce((sum, l) => sum + (o.ready[l] ?? 0), 0);
  const missingOf = (o: ProviderOffer) =>
    wanted.reduce((sum, l) => sum + Math.max(0, (need.get(l) ?? 0) - (o.ready[l] ?? 0)), 0);

  const fullyReady = candidates
    .filter((o) => missingOf(o) === 0)
    .sort((a, b) => readyOf(b) - readyOf(a) || a.pending - b.pending || byName(a, b));
  const best = fullyReady[0];
  if (best)
    return {
      provider: best.provider,
      reason: `${best.provider} has READY nodes for the whole request (${readyOf(best)} READY of the labels asked for)`,
    };

  const launchable = (o: ProviderOffer) =>
    !o.paused &&
    (o.capacity === null || o.capacity >= missingOf(o)) &&
    !wanted.some((l) => (need.get(l) ?? 0) > (o.ready[l] ?? 0) && o.missingImages.includes(l));
  const launcher = candidates.filter(launchable).sort((a, b) => a.pending - b.pending || byName(a, b))[0];
  if (launcher) {
    const room = launcher.capacity === null ? 'capacity not known yet' : `room for ${launcher.capacity}`;
    return {
      provider: launcher.provider,
      reason: `${launcher.provider} can launch the ${plural(missingOf(launcher), 'missing node')} (${room}, ${launcher.pending} pending)`,
    };
  }

  // Nobody can serve it now: queue where the line is shortest; an unpaused provider will move first.
  const queue = [...candidates].sort(
    (a, b) => Number(a.paused ?? false) - Number(b.paused ?? false) || a.pending - b.pending || byName(a, b),
  )[0] as ProviderOffer;
  return {
    provider: queue.provider,
    reason: `no provider can serve it now; ${queue.provider} has the fewest pending requests (${queue.pending})${queue.paused ? ', though it is paused' : ''} and will queue it`,
  };
}
