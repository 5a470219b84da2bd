// What nodepool owns in a cloud, told apart from what it must never touch. Pure: the activity lists, this
// decides. A resource is ours only when it carries our provider tag; everything else is foreign.

export interface TaggedResource {
  id: string;
  name: string;
  state: string;
  metadata: Readonly<Record<string, string>>;
}

export interface Inventory<T extends TaggedResource> {
  ours: T[];
  foreignCount: number;
  /** Our resources by state, e.g. { active: 12, building: 2 }. */
  byState: Record<string, number>;
}

export const PROVIDER_TAG = 'nodepool_provider_name';

export function inventory<T extends TaggedResource>(resources: T[], provider: string): Inventory<T> {
  const ours = resources.filter((r) => r.metadata[PROVIDER_TAG] === provider);
  const byState: Record<string, number> = {};
  for (const r of ours) byState[r.state] = (byState[r.state] ?? 0) + 1;
  return { ours, foreignCount: resources.length - ours.length, byState };
}
