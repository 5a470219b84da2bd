// Which flavor a pool label boots: `flavor-name` names one, or, with `min-ram`, nodepool takes the smallest flavor
// whose name contains `flavor-name` and that has at least `min-ram` MB. Pure: the planner and the launcher
// decide with the same rule.

export interface FlavorChoice {
  name: string;
  ramMB: number;
  vcpus: number;
}

export function pickFlavor<F extends FlavorChoice>(
  flavors: readonly F[],
  flavorName: string,
  minRam?: number,
): F | undefined {
  if (minRam === undefined) return flavors.find((f) => f.name === flavorName);
  return flavors
    .filter((f) => f.name.includes(flavorName) && f.ramMB >= minRam)
    .sort((a, b) => a.ramMB - b.ramMB || a.vcpus - b.vcpus || a.name.localeCompare(b.name))[0];
}
