// "did you mean" hints: a typo in a key or a name is the most common configuration mistake.

/** Edits (insert, delete, replace, swap two neighbours) to turn `a` into `b`: 'vdh' is one swap from 'vhd'. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => d[i]?.[j] ?? 0;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

/** The closest candidate, if it is close enough to be a plausible typo (or a `_` written for a `-`). */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const normal = word.toLowerCase().replaceAll('_', '-');
  // Short names are too close to everything for a guess to help.
  const limit = word.length < 3 ? 0 : Math.max(1, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = candidate === normal ? 0 : editDistance(normal, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= limit ? best : undefined;
}

/** ` — did you mean 'x'?` or an empty string. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const hint = closest(word, candidates);
  return hint === undefined || hint === word ? '' : ` — did you mean '${hint}'?`;
}
