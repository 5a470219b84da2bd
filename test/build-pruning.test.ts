import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from './support/fast-check.ts';
import { buildsToPrune, type LocalBuild } from '../core/build-pruning.ts';

const build = (id: number, state: LocalBuild['state'], more: Partial<LocalBuild> = {}): LocalBuild => ({
  id,
  version: 1394417686 + id * 86400,
  state,
  hasFiles: true,
  hasLog: true,
  inUse: false,
  ...more,
});
const opts = { keepReady: 2, keepLogs: 7 };

test('the files of the two most recent READY builds are kept, older READY builds are pruned', () => {
  const builds = [build(1, 'ready'), build(2, 'ready'), build(3, 'ready'), build(4, 'ready')];
  assert.deepEqual(buildsToPrune(builds, opts).files, [1, 2]);
});

test('files of a build still in use somewhere are kept, however old', () => {
  const builds = [build(1, 'ready', { inUse: true }), build(2, 'ready'), build(3, 'ready'), build(4, 'ready')];
  assert.deepEqual(buildsToPrune(builds, opts).files, [2]);
});

test('a building build is never pruned: neither its files nor its log', () => {
  const builds = [build(1, 'building'), build(2, 'ready'), build(3, 'ready'), build(4, 'ready')];
  assert.deepEqual(buildsToPrune(builds, { keepReady: 0, keepLogs: 0 }), { files: [2, 3, 4], logs: [2, 3, 4] });
});

test('failed and deleting builds do not count as READY: their files go, and the READY ones are still kept', () => {
  const builds = [build(1, 'ready'), build(2, 'ready'), build(3, 'failed'), build(4, 'deleting')];
  assert.deepEqual(buildsToPrune(builds, opts).files, [3, 4]);
});

test('the logs of the keepLogs most recent builds are kept, whatever their state; older logs are pruned', () => {
  const builds = [build(1, 'ready'), build(2, 'failed'), build(3, 'deleting'), build(4, 'failed'), build(5, 'ready')];
  assert.deepEqual(buildsToPrune(builds, { keepReady: 2, keepLogs: 3 }).logs, [1, 2]);
});

test('builds without files or logs are not listed for pruning them', () => {
  const builds = [build(1, 'ready', { hasFiles: false, hasLog: false }), build(2, 'ready'), build(3, 'ready')];
  assert.deepEqual(buildsToPrune(builds, { keepReady: 1, keepLogs: 1 }), { files: [2], logs: [2] });
});

test('recency is by version, then id, not by position in the list', () => {
  const builds = [
    build(9, 'ready', { version: 10 }),
    build(1, 'ready', { version: 30 }),
    build(5, 'ready', { version: 30 }),
  ];
  assert.deepEqual(buildsToPrune(builds, { keepReady: 2, keepLogs: 1 }), { files: [9], logs: [1, 9] });
});

test('bad options are refused with what and how', () => {
  assert.throws(
    () => buildsToPrune([], { keepReady: -1, keepLogs: 7 }),
    /keepReady must be a whole number ≥ 0, got -1/,
  );
  assert.throws(() => buildsToPrune([], { keepReady: 2, keepLogs: 1.5 }), /keepLogs must be a whole number ≥ 0/);
});

// An independent statement of the rules, one build at a time, for the exhaustive and property tests.
function oracle(builds: LocalBuild[], o: { keepReady: number; keepLogs: number }) {
  const newer = (a: LocalBuild, b: LocalBuild) => a.version > b.version || (a.version === b.version && a.id > b.id);
  const files: number[] = [];
  const logs: number[] = [];
  for (const b of builds) {
    if (b.state === 'building') continue;
    const newerReady = builds.filter((x) => x.state === 'ready' && newer(x, b)).length;
    const keptForRollback = b.state === 'ready' && newerReady < o.keepReady;
    if (b.hasFiles && !b.inUse && !keptForRollback) files.push(b.id);
    if (b.hasLog && builds.filter((x) => newer(x, b)).length >= o.keepLogs) logs.push(b.id);
  }
  return { files: files.sort((a, b) => a - b), logs: logs.sort((a, b) => a - b) };
}

test('exhaustive: every combination of up to three builds and keep counts 0–3 matches the rules', () => {
  const states: LocalBuild['state'][] = ['building', 'ready', 'failed', 'deleting'];
  const variants: Omit<LocalBuild, 'id' | 'version'>[] = [];
  for (const state of states)
    for (const hasFiles of [false, true])
      for (const hasLog of [false, true])
        for (const inUse of [false, true]) variants.push({ state, hasFiles, hasLog, inUse });
  let cases = 0;
  const lists: LocalBuild[][] = [[]];
  for (let n = 1; n <= 3; n++) {
    for (const prev of lists.filter((l) => l.length === n - 1))
      // versions 10, 20, 20: a tie broken by id in the longest lists
      for (const v of variants) lists.push([...prev, { ...v, id: n, version: Math.min(n, 2) * 10 }]);
  }
  for (const builds of lists)
    for (let keepReady = 0; keepReady <= 3; keepReady++)
      for (let keepLogs = 0; keepLogs <= 3; keepLogs++) {
        assert.deepEqual(buildsToPrune(builds, { keepReady, keepLogs }), oracle(builds, { keepReady, keepLogs }));
        cases++;
      }
  assert.equal(cases, (1 + 32 + 32 ** 2 + 32 ** 3) * 16);
});

const localBuild = (id: number) =>
  fc.record({
    id: fc.constant(id),
    version: fc.integer({ min: 1, max: 20 }),
    state: fc.constantFrom('building', 'ready', 'failed', 'deleting') as fc.Arbitrary<LocalBuild['state']>,
    hasFiles: fc.boolean(),
    hasLog: fc.boolean(),
    inUse: fc.boolean(),
  });
const history = fc
  .integer({ min: 0, max: 25 })
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => localBuild(i + 1))))
  .chain((builds) => fc.shuffledSubarray(builds, { minLength: builds.length, maxLength: builds.length }));

test('property: the newest keepReady READY builds, in-use and building builds keep their files; the newest keepLogs keep their logs', () => {
  fc.assert(
    fc.property(history, fc.nat(5), fc.nat(10), (builds, keepReady, keepLogs) => {
      const { files, logs } = buildsToPrune(builds, { keepReady, keepLogs });
      const byId = new Map(builds.map((b) => [b.id, b]));
      const newestReady = builds
        .filter((b) => b.state === 'ready')
        .sort((a, b) => b.version - a.version || b.id - a.id)
        .slice(0, keepReady);
      for (const b of newestReady) assert.ok(!files.includes(b.id));
      for (const id of [...files, ...logs]) assert.notEqual(byId.get(id)?.state, 'building');
      for (const id of files) assert.ok(byId.get(id)?.hasFiles && !byId.get(id)?.inUse);
      for (const id of logs) assert.ok(byId.get(id)?.hasLog);
      const newest = [...builds].sort((a, b) => b.version - a.version || b.id - a.id);
      for (const b of newest.slice(0, keepLogs)) assert.ok(!logs.includes(b.id));
      for (const b of newest.slice(keepLogs)) assert.equal(logs.includes(b.id), b.hasLog && b.state !== 'building');
      assert.deepEqual({ files, logs }, oracle(builds, { keepReady, keepLogs }));
    }),
    { numRuns: 2000 },
  );
});

test('property: pruning is stable: once pruned, planning again prunes nothing more', () => {
  fc.assert(
    fc.property(history, fc.nat(5), fc.nat(10), (builds, keepReady, keepLogs) => {
      const first = buildsToPrune(builds, { keepReady, keepLogs });
      const after = builds.map((b) => ({
        ...b,
        hasFiles: b.hasFiles && !first.files.includes(b.id),
        hasLog: b.hasLog && !first.logs.includes(b.id),
      }));
      assert.deepEqual(buildsToPrune(after, { keepReady, keepLogs }), { files: [], logs: [] });
    }),
    { numRuns: 1000 },
  );
});
