import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OptimisticLockError, UniqueConstraintViolationException } from '@mikro-orm/core';
import { ImageBuild, ImageUpload, Node, NodeRequest } from '../db/entities/index.ts';
import { migrate, openDatabase, redactUrl, type Orm } from '../db/orm.ts';
import { upsertImageBuild, upsertImageUpload } from '../db/upsert.ts';
import { MIGRATIONS } from '../db/migrations/index.ts';
import { createTestDatabase, type TestDatabase } from './support/db.ts';

interface Backend {
  name: string;
  open(): Promise<Orm>;
  cleanup(): Promise<void>;
}

function postgres(): Backend {
  let db: TestDatabase | undefined;
  return {
    name: 'PostgreSQL',
    async open() {
      db ??= await createTestDatabase('db_test');
      return openDatabase({ url: db.url });
    },
    async cleanup() {
      await db?.drop();
    },
  };
}

function pglite(): Backend {
  const dir = mkdtempSync(join(tmpdir(), 'nodepool-pglite-'));
  return {
    name: 'PGlite',
    open: () => openDatabase({ dataDir: join(dir, 'data') }),
    async cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

for (const makeBackend of [postgres, pglite]) {
  const backend = makeBackend();
  describe(`database on ${backend.name}`, () => {
    let orm: Orm;
    before(async () => {
      orm = await backend.open();
    });
    after(async () => {
      await orm.close();
      await backend.cleanup();
    });

    test('the committed migrations apply once, and a second run applies nothing', async () => {
      assert.deepEqual(
        await migrate(orm),
        MIGRATIONS.map((m) => m.name),
      );
      assert.deepEqual(await migrate(orm), []);
    });

    test('the entities match the migrated schema (no pending diff)', async () => {
      const diff = await orm.schema.getUpdateSchemaSQL({ wrap: false });
      assert.equal(diff.trim(), '', `schema differs from migrations:\n${diff}`);
    });

    test('every entity round-trips with its relations', async () => {
      const em = orm.em.fork();
      const build = em.create(ImageBuild, {
        image: 'devstack-precise',
        version: 1394514268,
        formats: ['qcow2', 'vhd'],
        files: [
          { format: 'vhd', path: '/opt/images/x.vhd', size: 1024, sha256: 'ab'.repeat(32), converter: 'builtin' },
        ],
        state: 'ready',
        logPath: '/var/log/nodepool/builds/x.log',
      });
      const upload = em.create(ImageUpload, {
        provider: 'hpcloud-az2',
        image: 'devstack-precise',
        build,
        hostname: 'devstack-precise-1394514268.template.openstack.org',
        version: 1394514268,
        format: 'qcow2',
        externalId: '388782',
        serverId: '4930213',
        state: 'ready',
      });
      const request = em.create(NodeRequest, {
        requestKey: 'zuul-1',
        labels: ['ubuntu-noble', 'ubuntu-noble'],
        requestor: 'zuul',
        priority: 100,
        state: 'pending',
        waitReasons: ['at quota in hpcloud-az2'],
      });
      const node = em.create(Node, {
        launchKey: 'pool-hpcloud-az2-main:1',
        provider: 'hpcloud-az2',
        pool: 'main',
        label: 'ubuntu-noble',
        upload,
        externalId: 'a0c1',
        hostname: 'np0000000001',
        ip: '127.0.0.5',
        az: 'nova',
        hostKeys: ['ssh-ed25519 AAAA'],
        state: 'in-use',
        request,
      });
      await em.flush();

      const fresh = orm.em.fork();
      const gotNode = await fresh.findOneOrFail(Node, node.id, { populate: ['upload', 'upload.build', 'request'] });
      assert.equal(gotNode.state, 'in-use');
      assert.deepEqual(gotNode.hostKeys, ['ssh-ed25519 AAAA']);
      assert.equal(gotNode.upload?.externalId, '388782');
      assert.equal(gotNode.upload?.build.version, 1394514268);
      assert.deepEqual(gotNode.upload?.build.files[0]?.converter, 'builtin');
      assert.deepEqual(gotNode.request?.labels, ['ubuntu-noble', 'ubuntu-noble']);
      const gotRequest = await fresh.findOneOrFail(NodeRequest, request.id, { populate: ['nodes'] });
      assert.deepEqual(
        gotRequest.nodes.getItems().map((n) => n.id),
        [node.id],
      );
      assert.deepEqual(gotRequest.waitReasons, ['at quota in hpcloud-az2']);
      assert.ok(gotRequest.createdAt instanceof Date);
    });

    test('a state outside the enum is refused by the ORM and, for raw writers, by the database', async () => {
      const em = orm.em.fork();
      em.create(ImageBuild, { image: 'bad-state', version: 1, state: 'bogus' as never });
      await assert.rejects(em.flush(), /ImageBuild\.state/);
      const sql =
        "insert into image_build (image, version, state, created_at, updated_at, state_changed_at) values ('bad', 1, 'bogus', now(), now(), now())";
      await assert.rejects(orm.em.fork().getConnection().execute(sql), /image_build_state_check/);
    });

    test('natural keys are unique: a second build of the same image and version is refused', async () => {
      const em = orm.em.fork();
      em.create(ImageBuild, { image: 'dup', version: 42 });
      await em.flush();
      const em2 = orm.em.fork();
      em2.create(ImageBuild, { image: 'dup', version: 42 });
      await assert.rejects(em2.flush(), UniqueConstraintViolationException);
    });

    test('racing writers: the second stale update fails with an optimistic lock error', async () => {
      const em = orm.em.fork();
      const n = em.create(Node, { launchKey: 'race:1', provider: 'p', pool: 'main', label: 'l', hostname: 'h1' });
      await em.flush();
      const a = orm.em.fork();
      const b = orm.em.fork();
      const na = await a.findOneOrFail(Node, n.id);
      const nb = await b.findOneOrFail(Node, n.id);
      na.state = 'ready';
      await a.flush();
      nb.state = 'deleting';
      await assert.rejects(b.flush(), OptimisticLockError);
      const check = await orm.em.fork().findOneOrFail(Node, n.id);
      assert.equal(check.state, 'ready');
    });

    test('an upsert changes only what it is given, bumps the row version, and dates real state changes', async () => {
      const file = { format: 'qcow2', path: '/i/u.qcow2', size: 1, sha256: 'c'.repeat(64), converter: 'qemu-img' };
      const first = await upsertImageBuild(orm.em.fork(), {
        image: 'partial',
        version: 9,
        state: 'building',
        files: [file],
        formats: ['qcow2'],
      });
      const second = await upsertImageBuild(orm.em.fork(), { image: 'partial', version: 9, state: 'building' });
      assert.deepEqual(second.files, [file], 'fields not given are kept');
      assert.deepEqual(second.formats, ['qcow2']);
      assert.equal(second.rowVersion, first.rowVersion + 1, 'every upsert bumps the version');
      assert.equal(second.stateChangedAt.getTime(), first.stateChangedAt.getTime(), 'same state: not a change');
      const third = await upsertImageBuild(orm.em.fork(), { image: 'partial', version: 9, state: 'ready' });
      assert.ok(third.stateChangedAt.getTime() >= second.updatedAt.getTime(), 'a new state is dated');
      assert.equal(third.createdAt.getTime(), first.createdAt.getTime(), 'createdAt never moves');

      // A read-modify-write that raced an upsert fails on the version instead of losing the upsert.
      const em = orm.em.fork();
      const stale = await em.findOneOrFail(ImageBuild, first.id);
      await upsertImageBuild(orm.em.fork(), { image: 'partial', version: 9, logPath: '/var/log/b.log' });
      stale.formats = ['qcow2', 'vhd'];
      await assert.rejects(em.flush(), OptimisticLockError);
      assert.equal((await orm.em.fork().findOneOrFail(ImageBuild, first.id)).logPath, '/var/log/b.log');

      // JSON columns given to an upsert that updates land as JSON, not as text or a SQL array.
      const merged = await upsertImageBuild(orm.em.fork(), { image: 'partial', version: 9, formats: ['raw', 'vhd'] });
      assert.deepEqual(merged.formats, ['raw', 'vhd']);
      assert.deepEqual(merged.files, [file]);
    });

    test('upserts by natural key are idempotent: a retried activity writes one row', async () => {
      const em1 = orm.em.fork();
      const b1 = await upsertImageBuild(em1, { image: 'up', version: 7, state: 'building' });
      const em2 = orm.em.fork();
      const b2 = await upsertImageBuild(em2, { image: 'up', version: 7, state: 'ready', formats: ['raw'] });
      assert.equal(b1.id, b2.id);
      assert.equal((await orm.em.fork().findOneOrFail(ImageBuild, b1.id)).state, 'ready');
      assert.equal(await orm.em.fork().count(ImageBuild, { image: 'up' }), 1);

      const u1 = await upsertImageUpload(
        orm.em.fork(),
        { buildId: b1.id, provider: 'sim' },
        { image: 'up', hostname: 'up-7', version: 7, format: 'qcow2', state: 'uploading' },
      );
      const u2 = await upsertImageUpload(
        orm.em.fork(),
        { buildId: b1.id, provider: 'sim' },
        { image: 'up', hostname: 'up-7', version: 7, format: 'qcow2', state: 'ready', externalId: 'img-1' },
      );
      assert.equal(u1.id, u2.id);
      assert.equal(await orm.em.fork().count(ImageUpload, { build: b1.id }), 1);

      // Node and request rows are written in batches by recordPoolChanges: test/node-records.test.ts.
    });
  });
}

test('PGlite keeps its data across a reopen (the embedded default is durable)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nodepool-pglite-reopen-'));
  try {
    const first = await openDatabase({ dataDir: dir });
    await migrate(first);
    const em = first.em.fork();
    em.create(ImageBuild, { image: 'persist', version: 1 });
    await em.flush();
    await first.close();
    const second = await openDatabase({ dataDir: dir });
    assert.deepEqual(await migrate(second), []);
    assert.equal(await second.em.fork().count(ImageBuild, { image: 'persist' }), 1);
    await second.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a database url that is not postgres:// is refused with the password hidden', async () => {
  await assert.rejects(openDatabase({ url: 'mysql://u:hunter2@h/db' }), (err: Error) => {
    assert.match(err.message, /not a postgres:\/\/ URL/);
    assert.doesNotMatch(err.message, /hunter2/);
    return true;
  });
  assert.equal(redactUrl('postgres://u:hunter2@h:5432/db'), 'postgres://u:***@h:5432/db');
});

test('a PGlite data directory opens in one process at a time; a dead holder does not block it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'nodepool-pglite-lock-'));
  const dataDir = join(dir, 'data');
  try {
    const first = await openDatabase({ dataDir });
    // Another process holding the directory is refused with what to do about it.
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { openDatabase } from ${JSON.stringify(join(import.meta.dirname, '..', 'db', 'orm.ts'))};
         try { await openDatabase({ dataDir: ${JSON.stringify(dataDir)} }); console.log('opened'); }
         catch (e) { console.log(e.message); }`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await new Promise((r) => child.on('close', r));
    assert.match(out, new RegExp(`embedded database .*data is in use by process ${process.pid}`));
    assert.match(out, /postgres:\/\//);
    await first.close();

    // A lock left by a process that no longer exists is taken over.
    writeFileSync(`${dataDir}.lock`, '999999999\n');
    const second = await openDatabase({ dataDir });
    assert.equal(readFileSync(`${dataDir}.lock`, 'utf8').trim(), String(process.pid));
    await second.close();
    assert.equal(existsSync(`${dataDir}.lock`), false, 'closing releases the lock');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
