// The committed migrations, in order. Listed explicitly so they load the same way under type stripping,
// in tests and from an installed package. `npm run migration:create -- Name` writes the next one.
import type { MigrationObject } from '@mikro-orm/core';
import { Migration20261126043733_Initial } from './Migration20261126043733_Initial.ts';
import { Migration20261201202621_ImageLifecycle } from './Migration20261201202621_ImageLifecycle.ts';

export const MIGRATIONS: MigrationObject[] = [
  { name: 'Migration20261126043733_Initial', class: Migration20261126043733_Initial },
  { name: 'Migration20261201202621_ImageLifecycle', class: Migration20261201202621_ImageLifecycle },
];
