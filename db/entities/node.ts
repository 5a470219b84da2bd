import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { tracking } from './tracking.ts';
import { ImageUpload } from './image-upload.ts';
import { NodeRequest } from './node-request.ts';

export const NODE_STATES = ['building', 'ready', 'in-use', 'used', 'hold', 'deleting', 'failed', 'deleted'] as const;
export type NodeState = (typeof NODE_STATES)[number];

/** A test node: one server in one provider's pool. */
export const Node = defineEntity({
  name: 'Node',
  tableName: 'node',
  properties: {
    id: p.integer().primary().autoincrement(),
    /** Set by the pool workflow before the launch, so a retried insert finds the same row. */
    launchKey: p.string().length(255).unique('node_launch_key_unique'),
    provider: p.string().length(255),
    pool: p.string().length(255),
    label: p.string().length(255),
    upload: () => p.manyToOne(ImageUpload).nullable().deleteRule('set null'),
    externalId: p.string().length(255).nullable(),
    hostname: p.string().length(255),
    ip: p.string().length(64).nullable(),
    ipv6: p.string().length(64).nullable(),
    az: p.string().length(255).nullable(),
    hostKeys: p.json<string[]>().default('[]'),
    state: p.enum(NODE_STATES).default('building'),
    holdReason: p.text().nullable(),
    holdExpiresAt: p.datetime().nullable(),
    request: () => p.manyToOne(NodeRequest).nullable().deleteRule('set null'),
    /** Booted only to validate a new upload; never handed to a request. */
    validation: p.boolean().default(false),
    /** Why the node failed or is being deleted, in the operator's words. */
    reason: p.text().nullable(),
    readyAt: p.datetime().nullable(),
    ...tracking(),
  },
  uniques: [{ properties: ['provider', 'externalId'], name: 'node_provider_external_id_unique' }],
  indexes: [{ properties: ['provider', 'state'], name: 'node_provider_state_index' }],
});
export type Node = InferEntity<typeof Node>;
