// Idempotent writes by natural key. Activities are retried after timeouts and lost responses, so every
// write they make must land once however often it runs.
import type { EntityManager } from '@mikro-orm/core';
import { ImageBuild, ImageUpload, Node, NodeRequest } from './entities/index.ts';

type BuildKey = Pick<ImageBuild, 'image' | 'version'>;
type UploadKey = { buildId: number; provider: string };

export async function upsertImageBuild(
  em: EntityManager,
  data: BuildKey & Partial<Omit<ImageBuild, 'id' | 'image' | 'version' | 'rowVersion'>>,
): Promise<ImageBuild> {
  return em.upsert(ImageBuild, { formats: [], files: [], ...data } as never, {
    onConflictFields: ['image', 'version'],
    onConflictExcludeFields: ['createdAt'],
  });
}

export async function upsertImageUpload(
  em: EntityManager,
  key: UploadKey,
  data: Omit<Partial<ImageUpload>, 'id' | 'build' | 'provider' | 'rowVersion'> &
    Pick<ImageUpload, 'image' | 'hostname' | 'version' | 'format'>,
): Promise<ImageUpload> {
  return em.upsert(ImageUpload, { ...data, build: key.buildId, provider: key.provider } as never, {
    onConflictFields: ['build', 'provider'],
    onConflictExcludeFields: ['createdAt'],
  });
}

export async function upsertNode(
  em: EntityManager,
  data: Pick<Node, 'launchKey' | 'provider' | 'pool' | 'label' | 'hostname'> & Partial<Omit<Node, 'id' | 'rowVersion'>>,
): Promise<Node> {
  return em.upsert(Node, { hostKeys: [], ...data } as never, {
    onConflictFields: ['launchKey'],
    onConflictExcludeFields: ['createdAt'],
  });
}

export async function upsertNodeRequest(
  em: EntityManager,
  data: Pick<NodeRequest, 'requestKey' | 'labels' | 'requestor'> &
    Partial<Omit<NodeRequest, 'id' | 'rowVersion' | 'nodes'>>,
): Promise<NodeRequest> {
  return em.upsert(NodeRequest, { waitReasons: [], declinedBy: [], ...data } as never, {
    onConflictFields: ['requestKey'],
    onConflictExcludeFields: ['createdAt'],
  });
}
