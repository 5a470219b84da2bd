// A workflow that upserts a search attribute the namespace does not know fails every workflow task, so the
// worker checks them at start and refuses to run with the exact commands that register them.
import type { NativeConnection } from '@temporalio/worker';
import { SEARCH_ATTRIBUTES } from '../workflows/search-attributes.ts';

// temporal.api.enums.v1.IndexedValueType
const INDEXED_VALUE_TYPES: Record<string, number> = { Keyword: 2, Int: 3, KeywordList: 7 };

export interface SearchAttributeProblem {
  name: string;
  type: string;
  /** What the namespace has instead, when it has the name with another type. */
  found?: string;
}

export async function searchAttributeProblems(
  connection: NativeConnection,
  namespace: string,
): Promise<SearchAttributeProblem[]> {
  const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
  const have = (customAttributes ?? {}) as Record<string, number>;
  const problems: SearchAttributeProblem[] = [];
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
    const found = have[name];
    if (found === INDEXED_VALUE_TYPES[type]) continue;
    const other = Object.entries(INDEXED_VALUE_TYPES).find(([, v]) => v === found)?.[0];
    problems.push(found === undefined ? { name, type } : { name, type, found: other ?? `type ${found}` });
  }
  return problems;
}

export function describeProblems(problems: SearchAttributeProblem[], namespace: string, address: string): string {
  const lines = problems.map((p) =>
    p.found
      ? `  ${p.name} is registered as ${p.found}, nodepool needs ${p.type}: remove and re-create it`
      : `  temporal operator search-attribute create --address ${address} --namespace ${namespace} --name ${p.name} --type ${p.type}`,
  );
  return [
    `namespace ${namespace} at ${address} lacks nodepool's search attributes; workflows would fail until they exist. Register them:`,
    ...lines,
  ].join('\n');
}
