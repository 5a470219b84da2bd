import { Migration } from '@mikro-orm/migrations';

export class Migration20261201202621_ImageLifecycle extends Migration {
  override name = 'Migration20261201202621_ImageLifecycle';

  override up(): void | Promise<void> {
    this.addSql(`alter table "image_build" drop constraint "image_build_state_check";`);
    this.addSql(`alter table "image_build" add "builder" varchar(16) not null default 'dib', add "reason" text null;`);
    this.addSql(
      `alter table "image_build" add constraint "image_build_state_check" check ("state" in ('building', 'ready', 'failed', 'deleting', 'deleted'));`,
    );

    this.addSql(`alter table "image_upload" drop constraint "image_upload_state_check";`);
    this.addSql(
      `alter table "image_upload" add "external_name" varchar(255) null, add "reason" text null, add "size" bigint null, add "sha256" varchar(64) null, add "ready_at" timestamptz null;`,
    );
    this.addSql(
      `alter table "image_upload" add constraint "image_upload_state_check" check ("state" in ('building', 'uploading', 'validating', 'ready', 'failed', 'deleting', 'deleted'));`,
    );

    this.addSql(`alter table "node_request" add "provider" varchar(255) null, add "reason" text null;`);

    this.addSql(
      `alter table "node" add "validation" boolean not null default false, add "reason" text null, add "ready_at" timestamptz null;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "image_build" drop constraint "image_build_state_check";`);
    this.addSql(`alter table "image_build" drop column "builder", drop column "reason";`);
    this.addSql(
      `alter table "image_build" add constraint "image_build_state_check" check ("state" in ('building', 'ready', 'failed', 'deleting'));`,
    );

    this.addSql(`alter table "image_upload" drop constraint "image_upload_state_check";`);
    this.addSql(
      `alter table "image_upload" drop column "external_name", drop column "reason", drop column "size", drop column "sha256", drop column "ready_at";`,
    );
    this.addSql(
      `alter table "image_upload" add constraint "image_upload_state_check" check ("state" in ('building', 'uploading', 'ready', 'failed', 'deleting', 'deleted'));`,
    );

    this.addSql(`alter table "node" drop column "validation", drop column "reason", drop column "ready_at";`);

    this.addSql(`alter table "node_request" drop column "provider", drop column "reason";`);
  }
}
