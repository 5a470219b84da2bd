// The `script` builder for real: a small shell script makes a sparse raw image. Its environment, its
// failures (exit non-zero, no image, not raw, timeout), and what a retry finds after a crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildRawImage, type BuildRawImageOptions } from '../images/builders/build.ts';
import { ImageBuildError } from '../images/builders/errors.ts';
import { groupsOfTree } from '../images/builders/run.ts';
import { INHERITED_VARIABLES, scrubber, type BuildSpec } from '../images/builders/environment.ts';
import { workDir } from './support/images.ts';

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** A build script: its body runs under `set -e` with the builder's environment. */
function script(dir: string, name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\nset -e\n${body}\n`, { mode: 0o755 });
  return path;
}

/** A sparse 64 MiB raw with a few bytes at its start, as a real image build would leave (much smaller). */
const MAKE_RAW = `truncate -s 64M "$IMAGE_PATH"\nprintf 'nodepool test image' | dd of="$IMAGE_PATH" conv=notrunc status=none`;

function setup(
  t: { after(fn: () => void): void },
  body: string,
  spec: Partial<BuildSpec> = {},
): { dir: string; imagesDir: string; opts: BuildRawImageOptions } {
  const dir = workDir(t, 'builder-script-');
  const imagesDir = join(dir, 'images');
  const fullSpec: BuildSpec = {
    image: 'ubuntu-noble',
    builder: 'script',
    script: script(dir, 'build.sh', body),
    release: 'noble',
    envVars: { DIB_TEST_SETTING: 'plain', API_TOKEN: 's3cret-token-value' },
    formats: ['qcow2', 'vhd'],
    buildTimeoutSeconds: 60,
    ...spec,
  };
  return {
    dir,
    imagesDir,
    opts: {
      spec: fullSpec,
      version: 1394514268,
      buildId: 7,
      imagesDir,
      logPath: join(dir, 'logs', 'build-7.log'),
      graceMs: 2000,
    },
  };
}

async function rejectsKind(p: Promise<unknown>, kind: string, re: RegExp, retryable: boolean): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ImageBuildError, String(err));
    assert.equal(err.kind, kind);
    assert.equal(err.retryable, retryable);
    assert.match(err.message, re);
    return true;
  });
}

test('a script builds a sparse raw image: final name, size, sha256, its environment, and nothing else left', async (t) => {
  const { dir, imagesDir, opts } = setup(
    t,
    [
      // What the script saw, one variable a line (values in the env dump are ours to check here).
      `env > "$TMP_DIR/../../../env.txt"`,
      `test -d "$TMP_DIR"`,
      `test "$1" = "$IMAGE_PATH"`,
      `echo "building $NODEPOOL_IMAGE_NAME for $NODEPOOL_IMAGE_FORMATS"`,
      MAKE_RAW,
    ].join('\n'),
  );
  const before = process.env.NODEPOOL_TEST_WORKER_SECRET;
  process.env.NODEPOOL_TEST_WORKER_SECRET = 'postgres://user:pw@db/nodepool';
  t.after(() => {
    if (before === undefined) delete process.env.NODEPOOL_TEST_WORKER_SECRET;
    else process.env.NODEPOOL_TEST_WORKER_SECRET = before;
  });
  const progress: string[] = [];
  const built = await buildRawImage({ ...opts, onProgress: (p) => progress.push(p.phase) });
  const final = join(imagesDir, 'ubuntu-noble-1394514268.raw');
  assert.deepEqual(built, { rawPath: final, size: 64 * 1024 * 1024, sha256: sha256(final), reused: false });
  assert.ok(statSync(final).blocks * 512 < 1024 * 1024, 'still sparse');
  assert.deepEqual(readdirSync(imagesDir), ['ubuntu-noble-1394514268.raw'], 'no staging directory, lock or temp file');
  assert.deepEqual([...new Set(progress)], ['waiting', 'building', 'checksum']);

  const env = Object.fromEntries(
    readFileSync(join(dir, 'env.txt'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const staging = env.IMAGE_NAME?.slice(0, env.IMAGE_NAME.lastIndexOf('/')) ?? '';
  assert.match(staging, new RegExp(`^${imagesDir}/\\.ubuntu-noble-1394514268\\.build-[0-9a-f]{8}$`));
  for (const [name, value] of Object.entries({
    NODEPOOL_IMAGE_NAME: 'ubuntu-noble',
    NODEPOOL_IMAGE_VERSION: '1394514268',
    NODEPOOL_BUILD_ID: '7',
    NODEPOOL_IMAGE_FORMATS: 'qcow2 vhd',
    DIB_RELEASE: 'noble',
    IMAGE_NAME: `${staging}/ubuntu-noble-1394514268`,
    IMAGE_PATH: `${staging}/ubuntu-noble-1394514268.raw`,
    NODEPOOL_IMAGE_PATH: `${staging}/ubuntu-noble-1394514268.raw`,
    IMAGE_TYPE: 'raw',
    TMP_DIR: `${staging}/tmp`,
    DIB_TEST_SETTING: 'plain',
    API_TOKEN: 's3cret-token-value',
  }))
    assert.equal(env[name], value, name);
  assert.equal(env.NODEPOOL_TEST_WORKER_SECRET, undefined, "the worker's own environment stays out of the build");
  const allowed = new Set<string>([...INHERITED_VARIABLES, 'PWD', 'SHLVL', '_', 'OLDPWD']);
  const unexpected = Object.keys(env).filter(
    (k) => !allowed.has(k) && !/^(NODEPOOL_|DIB_|IMAGE_)/.test(k) && !['API_TOKEN', 'TMP_DIR'].includes(k),
  );
  assert.deepEqual(unexpected, [], 'only the documented variables');

  const log = readFileSync(opts.logPath, 'utf8');
  assert.match(
    log,
    /^nodepool: building ubuntu-noble version 1394514268 \(build 7\) with script: .*build\.sh .*\/ubuntu-noble-1394514268\.raw$/m,
  );
  assert.match(log, /^building ubuntu-noble for qcow2 vhd$/m, "the script's output, line by line");
  assert.match(log, /^nodepool: environment: .*API_TOKEN.* \(values not logged\)$/m);
  assert.doesNotMatch(log, /s3cret-token-value/, 'our own log lines never hold env-var values');
});

test('a script that fails, leaves no image, or leaves a non-raw image fails clearly, and leaves nothing', async (t) => {
  const cases: [string, string, string, RegExp, boolean][] = [
    [
      'exit 3',
      'echo "mirror unreachable: $API_TOKEN" >&2\nexit 3',
      'failed',
      /build script .*build\.sh failed \(exit 3\); see the build log .*build-7\.log\. Last output: mirror unreachable: s3cret/,
      true,
    ],
    [
      'no image',
      'echo done',
      'no-image',
      /finished without error but left no image at .*ubuntu-noble-1394514268\.raw/,
      false,
    ],
    ['empty image', ': > "$IMAGE_PATH"', 'no-image', /left an empty file at /, false],
    [
      'not raw',
      'qemu-img create -q -f qcow2 "$IMAGE_PATH" 64M',
      'bad-image',
      /left a non-raw image: input image .* is qcow2, not raw \(magic "QFI\\xfb"/,
      false,
    ],
    [
      'ragged',
      'head -c 1000 /dev/zero > "$IMAGE_PATH"',
      'bad-image',
      /left 1000 bytes at .*not a whole number of 512-byte sectors/,
      false,
    ],
  ];
  for (const [name, body, kind, re, retryable] of cases) {
    const { imagesDir, opts } = setup(t, body);
    await rejectsKind(buildRawImage(opts), kind, re, retryable);
    assert.deepEqual(readdirSync(imagesDir), [], `${name}: nothing left in the images directory`);
  }
});

test('a script past its build-timeout is killed with everything it started, and the failure names the timeout', async (t) => {
  const { dir, imagesDir, opts } = setup(
    t,
    // A background child in the same process group, and one in a session of its own (as dpkg runs its
    // maintainer scripts); the script then hangs.
    [
      `sleep 600 &\necho $! > "${'$'}{TMP_DIR}/../../../child.pid"`,
      `setsid sleep 600 &\necho $! >> "${'$'}{TMP_DIR}/../../../child.pid"`,
      'echo started\nwait',
    ].join('\n'),
    { buildTimeoutSeconds: 1 },
  );
  await rejectsKind(
    buildRawImage(opts),
    'timeout',
    /building ubuntu-noble with build script .* took longer than its build-timeout of 1 s and was killed\. Raise build-timeout/,
    false,
  );
  const children = readFileSync(join(dir, 'child.pid'), 'utf8').trim().split('\n').map(Number);
  assert.equal(children.length, 2);
  for (const child of children)
    assert.throws(() => process.kill(child, 0), /ESRCH/, `background child ${child} was killed too`);
  assert.deepEqual(readdirSync(imagesDir), []);
});

test('a missing or non-executable script is a configuration error, before anything runs', async (t) => {
  const { dir, opts } = setup(t, MAKE_RAW);
  await rejectsKind(
    buildRawImage({ ...opts, spec: { ...opts.spec, script: join(dir, 'nope.sh') } }),
    'bad-config',
    /build script .*nope\.sh for diskimage ubuntu-noble does not exist/,
    false,
  );
  const plain = join(dir, 'plain.sh');
  writeFileSync(plain, MAKE_RAW, { mode: 0o644 });
  await rejectsKind(
    buildRawImage({ ...opts, spec: { ...opts.spec, script: plain } }),
    'bad-config',
    /plain\.sh for diskimage ubuntu-noble is not an executable file; chmod \+x it/,
    false,
  );
});

test("a retry removes a dead attempt's staging directory, and reuses a complete image from an earlier attempt", async (t) => {
  const { dir, imagesDir, opts } = setup(t, `echo ran >> "${'$'}{TMP_DIR}/../../../runs.txt"\n${MAKE_RAW}`);
  // What a worker killed mid-build leaves: a staging directory with a half-written image.
  const dead = join(imagesDir, '.ubuntu-noble-1394514268.build-0badf00d');
  mkdirSync(join(dead, 'tmp'), { recursive: true });
  writeFileSync(join(dead, 'ubuntu-noble-1394514268.raw'), 'half');
  // Another version's staging directory is not this build's business.
  const other = join(imagesDir, '.ubuntu-noble-1394500000.build-12345678');
  mkdirSync(other);
  const first = await buildRawImage(opts);
  assert.equal(first.reused, false);
  assert.deepEqual(readdirSync(imagesDir).sort(), [
    '.ubuntu-noble-1394500000.build-12345678',
    'ubuntu-noble-1394514268.raw',
  ]);
  assert.match(readFileSync(opts.logPath, 'utf8'), /removing .*build-0badf00d, left by an earlier attempt/);

  const again = await buildRawImage(opts);
  assert.deepEqual(again, { ...first, reused: true });
  assert.equal(readFileSync(join(dir, 'runs.txt'), 'utf8'), 'ran\n', 'the script ran once');

  // An image under the final name that is not a raw disk image is rebuilt, not trusted.
  writeFileSync(first.rawPath, 'QFI\xfb not really');
  const rebuilt = await buildRawImage(opts);
  assert.equal(rebuilt.reused, false);
  assert.equal(rebuilt.sha256, first.sha256);
  assert.equal(readFileSync(join(dir, 'runs.txt'), 'utf8'), 'ran\nran\n');
});

test("the process groups of a tree: its own and every descendant's, not its parent's or siblings'", () => {
  const rows = [
    { pid: 100, ppid: 1, pgid: 100 },
    { pid: 101, ppid: 100, pgid: 100 },
    { pid: 102, ppid: 101, pgid: 102 },
    { pid: 103, ppid: 102, pgid: 102 },
    { pid: 104, ppid: 103, pgid: 104 },
    { pid: 200, ppid: 1, pgid: 200 },
    { pid: 201, ppid: 200, pgid: 201 },
  ];
  assert.deepEqual(groupsOfTree(rows, 100).sort(), [100, 102, 104]);
  assert.deepEqual(groupsOfTree(rows, 102).sort(), [102, 104]);
});

test('scrubbing: env-var values become their names; short values are left alone', () => {
  const scrub = scrubber({ API_TOKEN: 's3cret-token-value', INNER: 'token', FLAG: '1' });
  assert.equal(
    scrub('auth s3cret-token-value failed, token=1'),
    'auth <env-vars API_TOKEN> failed, <env-vars INNER>=1',
  );
});
