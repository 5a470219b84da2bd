// nodepool's min-ready is per label, whoever serves it; here each provider's pool keeps its own share, so the
// pools need no coordinator. The share is split evenly among the providers offering the label, the first ones in
// nodepool.yaml taking the remainder: `min-ready: 5` over three providers is 2 + 2 + 1. A provider that cannot
// launch (down, at quota) leaves its share unfilled rather than handing it over.

/** This provider's share of a label's min-ready, given every provider offering the label in config order. */
export function minReadyShare(minReady: number, offering: readonly string[], provider: string): number {
  const i = offering.indexOf(provider);
  if (i < 0 || minReady <= 0) return 0;
  const n = offering.length;
  return Math.floor(minReady / n) + (i < minReady % n ? 1 : 0);
}
