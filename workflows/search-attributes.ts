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

/**
 * Temporal server settings nodepool relies on, as dynamic config (`--dynamic-config-value` for the dev server,
 * docker/temporal-dynamic-config.yaml in production). The server buffers one query per workflow by default while
 * a workflow task runs and refuses the rest (RESOURCE_EXHAUSTED, which clients back off from for seconds); a pool
 * answers a stream of request queries while its tasks run back to back.
 */
export const SERVER_DYNAMIC_CONFIG = {
  'history.maxBufferedQueryCount': 1000,
} as const;

export function dynamicConfigArgs(): string[] {
  return Object.entries(SERVER_DYNAMIC_CONFIG).flatMap(([k, v]) => ['--dynamic-config-value', `${k}=${v}`]);
}
