// Custom search attributes, registered on the dev server at start and upserted by workflows,
// so operators can filter builds and pools in the Temporal Web UI (e.g. NodepoolImage = "ubuntu").
import { SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';

export const SEARCH_ATTRIBUTES = {
  NodepoolImage: 'Keyword',
  NodepoolProvider: 'KeywordList',
  NodepoolState: 'Keyword',
  NodepoolVersion: 'Int',
  NodepoolBuild: 'Int',
} as const;

export const NODEPOOL_IMAGE = defineSearchAttributeKey('NodepoolImage', SearchAttributeType.KEYWORD);
/** Keyword attributes hold a list: every provider a workflow works for. */
export const NODEPOOL_PROVIDER = defineSearchAttributeKey('NodepoolProvider', SearchAttributeType.KEYWORD_LIST);
export const NODEPOOL_STATE = defineSearchAttributeKey('NodepoolState', SearchAttributeType.KEYWORD);
/** A build's version (unix seconds at its start), as image-list shows it. */
export const NODEPOOL_VERSION = defineSearchAttributeKey('NodepoolVersion', SearchAttributeType.INT);
/** A build's id (the ImageBuild row), so `image-build --retry BUILD` and the Web UI find its workflow. */
export const NODEPOOL_BUILD = defineSearchAttributeKey('NodepoolBuild', SearchAttributeType.INT);
