// Custom search attributes, registered on the dev server at start and upserted by workflows,
// so operators can filter builds and pools in the Temporal Web UI.
export const SEARCH_ATTRIBUTES = {
  NodepoolImage: 'Keyword',
  NodepoolProvider: 'Keyword',
  NodepoolState: 'Keyword',
} as const;
