// Idempotent writes by natural key. Activities are retried after timeouts and lost responses, so every
// write they make must land once however often it runs. An upsert updates only the fields it is given,
// bumps the optimistic row version (so a concurrent read-modify-write notices it), and moves stateChangedAt
// only when the state really changes.
import { raw, type EntityManager, type EntityName } from '@mikro-orm/core';
import type { SqlEntityManager } from '@mikro-orm/sql';
import { ImageBuild, ImageUpload } from './entities/index.ts';

type Row = Record<string, unknown>;

async function upsertBy<T extends object>(
  em: EntityManager,
  entity: EntityName<T>,
  table: string,
  keys: string[],
  data: Row,
): Promise<T> {
  const given = Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined));
  // The query builder converts insert values through the entity's types, but writes merge values as they
  // are: JSON columns (lists, file records) must go into the merge as JSON text.
  const asColumn = (v: unknown): unknown =>
    v !== null && typeof v === 'object' && !(v instanceof Date) ? JSON.stringify(v) : v;
  const now = new Date();
  const merge: Row = { updatedAt: now, rowVersion: raw(`"${table}"."row_version" + 1`) };
  for (const [k, v] of Object.entries(given)) if (!keys.includes(k)) merge[k] = asColumn(v);
  if ('state' in given) {
    merge.stateChangedAt = raw(
      `case when "${table}"."state" is distinct from excluded."state" then excluded."state_changed_at" else "${table}"."state_changed_at" end`,
    );
  }
  const where = Object.fromEntries(keys.map((k) => [k, given[k]]));
  // Both our drivers (PostgreSQL, PGlite) are SQL drivers.
  const sql = em as unknown as SqlEntityManager;
  // An existing row is updated in place first: INSERT … ON CONFLICT takes a value from the id sequence even when
  // it only updates, and the ids are what operators type (they should not jump by two).
  // The query builder's UPDATE converts values through the entity's types itself (JSON columns included).
  const set: Row = { updatedAt: now, rowVersion: merge.rowVersion };
  for (const [k, v] of Object.entries(given)) if (!keys.includes(k)) set[k] = v;
  if ('state' in given)
    set.stateChangedAt = raw(
      `case when "${table}"."state" is distinct from ? then ? else "${table}"."state_changed_at" end`,
      [given.state, now],
    );
  const updated = (await sql
    .createQueryBuilder(entity)
    .update(set as never)
    .where(where as never)
    .execute('run')) as {
    affectedRows?: number;
  };
  if (!updated.affectedRows) {
    await sql
      .createQueryBuilder(entity)
      .insert({ ...given, createdAt: now, updatedAt: now, stateChangedAt: now, rowVersion: 1 } as never)
      .onConflict(keys as never)
      .merge(merge as never)
      .execute();
  }
  // A fresh read: the identity map must not hand back a copy from before this write.
  return em.fork().findOneOrFail(entity, where as never);
}

export function upsertImageBuild(
  em: EntityManager,
  data: Pick<ImageBuild, 'image' | 'version'> & Partial<Omit<ImageBuild, 'id' | 'image' | 'version' | 'rowVersion'>>,
): Promise<ImageBuild> {
  return upsertBy(em, ImageBuild, 'image_build', ['image', 'version'], data);
}

export function upsertImageUpload(
  em: EntityManager,
  key: { buildId: number; provider: string },
  data: Omit<Partial<ImageUpload>, 'id' | 'build' | 'provider' | 'rowVersion'> &
    Pick<ImageUpload, 'image' | 'hostname' | 'version' | 'format'>,
): Promise<ImageUpload> {
  return upsertBy(em, ImageUpload, 'image_upload', ['build', 'provider'], {
    ...data,
    build: key.buildId,
    provider: key.provider,
  });
}
