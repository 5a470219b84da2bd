import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { tracking } from './tracking.ts';
import { Node } from './node.ts';

export const NODE_REQUEST_STATES = ['requested', 'pending', 'fulfilled', 'failed'] as const;
export type NodeRequestState = (typeof NODE_REQUEST_STATES)[number];

/** A CI system's request for a set of labelled nodes. */
export const NodeRequest = defineEntity({
  name: 'NodeRequest',
  tableName: 'node_request',
  properties: {
    id: p.integer().primary().autoincrement(),
    /** Caller-chosen idempotency key: a retried request never allocates twice. */
    requestKey: p.string().length(255).unique('node_request_request_key_unique'),
    labels: p.json<string[]>(),
    requestor: p.string().length(255),
    /** Lower is more urgent, as in nodepool ("100" for min-ready requests, "200" default). */
    priority: p.integer().default(200),
    state: p.enum(NODE_REQUEST_STATES).default('requested'),
    /** The provider the request was routed to. */
    provider: p.string().length(255).nullable(),
    /** Why it failed, in the operator's words. */
    reason: p.text().nullable(),
    nodes: () => p.oneToMany(Node).mappedBy('request'),
    /** Why the request is waiting (e.g. "at quota in rax-dfw"): shown by request-list. */
    waitReasons: p.json<string[]>().default('[]'),
    declinedBy: p.json<string[]>().default('[]'),
    ...tracking(),
  },
  indexes: [{ properties: ['state', 'priority'], name: 'node_request_state_priority_index' }],
});
export type NodeRequest = InferEntity<typeof NodeRequest>;
