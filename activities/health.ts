// Diagnostics an operator (and the CLI's `status`) can ask a running worker for.
import type { Orm } from '../db/orm.ts';
import { ImageBuild, ImageUpload, Node, NodeRequest } from '../db/entities/index.ts';

export interface DatabaseStatus {
  driver: string;
  appliedMigrations: string[];
  pendingMigrations: string[];
  counts: { builds: number; uploads: number; nodes: number; requests: number };
}

export function healthActivities(orm: Orm) {
  return {
    async databaseStatus(): Promise<DatabaseStatus> {
      // A fork per execution: concurrent activities never share an identity map.
      const em = orm.em.fork();
      const [executed, pending] = await Promise.all([orm.migrator.getExecuted(), orm.migrator.getPending()]);
      const [builds, uploads, nodes, requests] = await Promise.all([
        em.count(ImageBuild, {}),
        em.count(ImageUpload, {}),
        em.count(Node, {}),
        em.count(NodeRequest, {}),
      ]);
      return {
        driver: orm.config.getDriver().constructor.name,
        appliedMigrations: executed.map((m) => m.name),
        pendingMigrations: pending.map((m) => m.name),
        counts: { builds, uploads, nodes, requests },
      };
    },
  };
}
