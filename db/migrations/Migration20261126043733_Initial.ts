import { Migration } from '@mikro-orm/migrations';

export class Migration20261126043733_Initial extends Migration {
  override name = 'Migration20261126043733_Initial';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "image_build" ("id" serial primary key, "image" varchar(255) not null, "version" bigint not null, "formats" jsonb not null default '[]', "files" jsonb not null default '[]', "state" text not null default 'building', "log_path" text null, "workflow_id" varchar(255) null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "state_changed_at" timestamptz not null, "row_version" int not null default 1);`,
    );
    this.addSql(`create index "image_build_image_state_index" on "image_build" ("image", "state");`);
    this.addSql(
      `alter table "image_build" add constraint "image_build_image_version_unique" unique ("image", "version");`,
    );

    this.addSql(
      `create table "image_upload" ("id" serial primary key, "provider" varchar(255) not null, "image" varchar(255) not null, "build_id" int not null, "hostname" varchar(255) not null, "version" bigint not null, "format" varchar(16) not null, "external_id" varchar(255) null, "server_id" varchar(255) null, "state" text not null default 'building', "created_at" timestamptz not null, "updated_at" timestamptz not null, "state_changed_at" timestamptz not null, "row_version" int not null default 1);`,
    );
    this.addSql(
      `create index "image_upload_image_provider_state_index" on "image_upload" ("image", "provider", "state");`,
    );
    this.addSql(
      `alter table "image_upload" add constraint "image_upload_build_provider_unique" unique ("build_id", "provider");`,
    );

    this.addSql(
      `create table "node_request" ("id" serial primary key, "request_key" varchar(255) not null, "labels" jsonb not null, "requestor" varchar(255) not null, "priority" int not null default 200, "state" text not null default 'requested', "wait_reasons" jsonb not null default '[]', "declined_by" jsonb not null default '[]', "created_at" timestamptz not null, "updated_at" timestamptz not null, "state_changed_at" timestamptz not null, "row_version" int not null default 1);`,
    );
    this.addSql(`alter table "node_request" add constraint "node_request_request_key_unique" unique ("request_key");`);
    this.addSql(`create index "node_request_state_priority_index" on "node_request" ("state", "priority");`);

    this.addSql(
      `create table "node" ("id" serial primary key, "launch_key" varchar(255) not null, "provider" varchar(255) not null, "pool" varchar(255) not null, "label" varchar(255) not null, "upload_id" int null, "external_id" varchar(255) null, "hostname" varchar(255) not null, "ip" varchar(64) null, "ipv6" varchar(64) null, "az" varchar(255) null, "host_keys" jsonb not null default '[]', "state" text not null default 'building', "hold_reason" text null, "hold_expires_at" timestamptz null, "request_id" int null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "state_changed_at" timestamptz not null, "row_version" int not null default 1);`,
    );
    this.addSql(`alter table "node" add constraint "node_launch_key_unique" unique ("launch_key");`);
    this.addSql(`create index "node_provider_state_index" on "node" ("provider", "state");`);
    this.addSql(
      `alter table "node" add constraint "node_provider_external_id_unique" unique ("provider", "external_id");`,
    );

    this.addSql(
      `alter table "image_build" add constraint "image_build_state_check" check ("state" in ('building', 'ready', 'failed', 'deleting'));`,
    );

    this.addSql(
      `alter table "image_upload" add constraint "image_upload_build_id_foreign" foreign key ("build_id") references "image_build" ("id") on delete cascade;`,
    );
    this.addSql(
      `alter table "image_upload" add constraint "image_upload_state_check" check ("state" in ('building', 'uploading', 'ready', 'failed', 'deleting', 'deleted'));`,
    );

    this.addSql(
      `alter table "node_request" add constraint "node_request_state_check" check ("state" in ('requested', 'pending', 'fulfilled', 'failed'));`,
    );

    this.addSql(
      `alter table "node" add constraint "node_upload_id_foreign" foreign key ("upload_id") references "image_upload" ("id") on delete set null;`,
    );
    this.addSql(
      `alter table "node" add constraint "node_request_id_foreign" foreign key ("request_id") references "node_request" ("id") on delete set null;`,
    );
    this.addSql(
      `alter table "node" add constraint "node_state_check" check ("state" in ('building', 'ready', 'in-use', 'used', 'hold', 'deleting', 'failed', 'deleted'));`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "image_upload" drop constraint "image_upload_build_id_foreign";`);
    this.addSql(`alter table "node" drop constraint "node_upload_id_foreign";`);
    this.addSql(`alter table "node" drop constraint "node_request_id_foreign";`);

    this.addSql(`drop table if exists "image_build" cascade;`);
    this.addSql(`drop table if exists "image_upload" cascade;`);
    this.addSql(`drop table if exists "node_request" cascade;`);
    this.addSql(`drop table if exists "node" cascade;`);
  }
}
