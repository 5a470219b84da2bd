import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from './support/fast-check.ts';
import { currentUpload, uploadsToDelete, type RetainedUpload, type UploadState } from '../core/retention.ts';

const up = (id: number, version: number, state: UploadState, withdrawn?: boolean): RetainedUpload =>
  withdrawn ? { id, version, state, withdrawn } : { id, version, state };
const ids = (uploads: RetainedUpload[]) => uploadsToDelete(uploads).map((d) => d.id);

test("the seed's runbook: delete the current, the previous is current, and the next build keeps it", () => {
  // Two READY uploads of devstack-precise in hpcloud-az2, as in the seed's image-list.
  const previous = up(168655, 1394417686, 'ready');
  const current = up(168696, 1394514268, 'ready');
  let pair = [previous, current];
  assert.equal(currentUpload(pair)?.id, 168696);
  assert.deepEqual(uploadsToDelete(pair), []);

  // `nodepool image-delete 168696`: it goes to deleting, and the previous is current at once.
  pair = [previous, { ...current, state: 'deleting', withdrawn: true }];
  assert.equal(currentUpload(pair)?.id, 168655);
  assert.deepEqual(ids(pair), [168696]);
  pair = [previous, { ...current, state: 'deleted', withdrawn: true }];
  assert.deepEqual(ids(pair), []);

  // The next daily build uploads and becomes READY: it is current, and 168655 is the next most recent, kept.
  pair = [...pair, up(168740, 1394600668, 'uploading')];
  assert.equal(currentUpload(pair)?.id, 168655);
  pair = [...pair.slice(0, 2), up(168740, 1394600668, 'ready')];
  assert.equal(currentUpload(pair)?.id, 168740);
  assert.deepEqual(uploadsToDelete(pair), []);

  // One more build: only now does 168655 go, superseded by the two newer READY uploads.
  pair = [...pair, up(168801, 1394687068, 'ready')];
  assert.deepEqual(uploadsToDelete(pair), [
    { id: 168655, reason: 'superseded by READY uploads 168801 (version 1394687068) and 168740 (version 1394600668)' },
  ]);
});

test('the two newest READY uploads are never deleted; older READY ones are, oldest first', () => {
  const pair = [up(4, 40, 'ready'), up(1, 10, 'ready'), up(3, 30, 'ready'), up(2, 20, 'ready')];
  assert.deepEqual(ids(pair), [1, 2]);
  assert.equal(currentUpload(pair)?.id, 4);
});

test('a single READY upload is kept and current', () => {
  assert.deepEqual(ids([up(1, 10, 'ready')]), []);
  assert.equal(currentUpload([up(1, 10, 'ready')])?.id, 1);
});

test('no READY upload: no current', () => {
  assert.equal(currentUpload([]), undefined);
  assert.equal(currentUpload([up(1, 10, 'failed'), up(2, 20, 'uploading'), up(3, 30, 'deleting')]), undefined);
});

test('the newest failed upload stays visible until something newer exists; older failures go', () => {
  assert.deepEqual(ids([up(1, 10, 'ready'), up(2, 20, 'failed')]), []);
  assert.deepEqual(
    uploadsToDelete([up(1, 10, 'failed'), up(2, 20, 'failed'), up(3, 30, 'ready'), up(4, 40, 'failed')]),
    [
      { id: 1, reason: 'failed; superseded by upload 4 (version 40)' },
      { id: 2, reason: 'failed; superseded by upload 4 (version 40)' },
    ],
  );
  // Something newer that is still uploading also supersedes a failure.
  assert.deepEqual(ids([up(1, 10, 'failed'), up(2, 20, 'uploading')]), [1]);
});

test('deleting uploads are returned again: a retried delete', () => {
  assert.deepEqual(uploadsToDelete([up(1, 10, 'deleting'), up(2, 20, 'ready')]), [
    { id: 1, reason: 'deletion in progress: retried until the cloud confirms' },
  ]);
});

test('building, uploading, validating and deleted uploads are never returned', () => {
  const pair = [up(1, 10, 'building'), up(2, 20, 'uploading'), up(3, 30, 'validating'), up(4, 5, 'deleted')];
  assert.deepEqual(ids(pair), []);
  assert.deepEqual(ids([...pair.map((u) => ({ ...u, withdrawn: true }))]), []);
});

test('a withdrawn READY upload is neither current nor kept: it goes, and the next two READY are kept', () => {
  const pair = [up(1, 10, 'ready'), up(2, 20, 'ready'), up(3, 30, 'ready', true)];
  assert.equal(currentUpload(pair)?.id, 2);
  assert.deepEqual(uploadsToDelete(pair), [{ id: 3, reason: 'withdrawn by an operator (image-delete)' }]);
  // A withdrawn failure goes even when it is the newest.
  assert.deepEqual(ids([up(1, 10, 'ready'), up(2, 20, 'failed', true)]), [2]);
});

test('the version decides, not the id: an older build uploaded late is not current', () => {
  const pair = [up(1, 30, 'ready'), up(2, 20, 'ready'), up(3, 10, 'ready')];
  assert.equal(currentUpload(pair)?.id, 1);
  assert.deepEqual(ids(pair), [3]);
});

test('equal versions are ordered by id', () => {
  const pair = [up(7, 10, 'ready'), up(5, 10, 'ready'), up(6, 10, 'ready')];
  assert.equal(currentUpload(pair)?.id, 7);
  assert.deepEqual(ids(pair), [5]);
});

// ---------------------------------------------------------------------------------------------------------
// Random histories of one pair: builds start and advance, uploads fail, operators delete (sometimes the
// current one, sometimes while a new build is uploading), retention runs and the cloud confirms deletions.

type Step =
  | { kind: 'build'; gap: number }
  | { kind: 'advance'; pick: number; outcome: 'ok' | 'fail' | 'skip-validation' }
  | { kind: 'operator-delete'; pick: number; stillReady: boolean }
  | { kind: 'retention' }
  | { kind: 'confirm'; pick: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('build' as const), gap: fc.integer({ min: -90_000, max: 90_000 }) }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('advance' as const),
      pick: fc.nat(),
      outcome: fc.constantFrom('ok', 'ok', 'ok', 'fail', 'skip-validation') as fc.Arbitrary<
        'ok' | 'fail' | 'skip-validation'
      >,
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('operator-delete' as const), pick: fc.nat(), stillReady: fc.boolean() }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('retention' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('confirm' as const), pick: fc.nat() }) },
);

// Histories must reach the interesting cases, or the properties pass vacuously: these count how often.
const seen = { supersededReady: 0, keptTwo: 0, withdrawnCurrent: 0 };

const NEXT: Partial<Record<UploadState, UploadState>> = {
  building: 'uploading',
  uploading: 'validating',
  validating: 'ready',
};

function oracleKept(uploads: RetainedUpload[]): RetainedUpload[] {
  return uploads
    .filter((u) => u.state === 'ready' && !u.withdrawn)
    .sort((a, b) => b.version - a.version || b.id - a.id)
    .slice(0, 2);
}

function checkInvariants(uploads: RetainedUpload[]): void {
  const decisions = uploadsToDelete(uploads);
  const returned = new Set(decisions.map((d) => d.id));
  assert.equal(returned.size, decisions.length, 'an upload returned twice');
  const kept = oracleKept(uploads);
  if (kept.length === 2) seen.keptTwo++;
  if (decisions.some((d) => d.reason.startsWith('superseded'))) seen.supersededReady++;
  for (const u of kept) assert.ok(!returned.has(u.id), `kept upload ${u.id} returned`);
  assert.equal(currentUpload(uploads)?.id, kept[0]?.id);
  const newest = [...uploads].sort((a, b) => b.version - a.version || b.id - a.id)[0];
  for (const u of uploads) {
    const expected =
      u.state === 'deleting' ||
      (u.state === 'ready' && !kept.includes(u)) ||
      (u.state === 'failed' && (u.withdrawn === true || u !== newest));
    assert.equal(returned.has(u.id), expected, `upload ${u.id} (${u.state}) returned: ${returned.has(u.id)}`);
  }
  for (const d of decisions) assert.ok(d.reason.length > 0);
}

function run(steps: Step[], start: RetainedUpload[] = []): RetainedUpload[] {
  let uploads = start.map((u) => ({ ...u }));
  let version = Math.max(1394417686, ...uploads.map((u) => u.version));
  let nextId = Math.max(168655, ...uploads.map((u) => u.id + 1));
  for (const s of steps) {
    const live = uploads.filter((u) => u.state !== 'deleted');
    switch (s.kind) {
      case 'build':
        // A negative gap: an older build's upload that reaches this provider late (a retried upload).
        uploads.push({ id: nextId++, version: version + s.gap, state: 'building' });
        version = Math.max(version, version + s.gap);
        break;
      case 'advance': {
        const moving = live.filter((u) => NEXT[u.state]);
        const u = moving[s.pick % Math.max(1, moving.length)];
        if (!u) break;
        if (s.outcome === 'fail') u.state = 'failed';
        else if (s.outcome === 'skip-validation' && u.state === 'uploading') u.state = 'ready';
        else u.state = NEXT[u.state] ?? u.state;
        break;
      }
      case 'operator-delete': {
        const ready = live.filter((u) => u.state === 'ready' && !u.withdrawn);
        const u = ready[s.pick % Math.max(1, ready.length)];
        if (!u) break;
        if (u === oracleKept(live)[0]) seen.withdrawnCurrent++;
        u.withdrawn = true;
        if (!s.stillReady) u.state = 'deleting';
        break;
      }
      case 'retention':
        for (const d of uploadsToDelete(uploads)) {
          const u = uploads.find((x) => x.id === d.id);
          if (u) u.state = 'deleting';
        }
        break;
      case 'confirm': {
        const deleting = live.filter((u) => u.state === 'deleting');
        const u = deleting[s.pick % Math.max(1, deleting.length)];
        if (u) u.state = 'deleted';
        break;
      }
    }
    uploads = [...uploads];
    checkInvariants(uploads);
  }
  return uploads;
}

test('property: over random histories the two newest READY uploads are never deleted, and nothing else lingers', () => {
  fc.assert(
    fc.property(fc.array(step, { maxLength: 80, size: 'max' }), (steps) => {
      run(steps);
    }),
    { numRuns: 3000 },
  );
  assert.ok(seen.keptTwo > 5_000 && seen.supersededReady > 1_000 && seen.withdrawnCurrent > 300, JSON.stringify(seen));
});

test('property: deleting the current while a new build uploads reverts to the previous, which the new build keeps', () => {
  fc.assert(
    fc.property(
      fc.array(step, { maxLength: 40, size: 'max' }),
      // Meanwhile retention runs and the cloud confirms deletions (the new build stays uploading).
      fc.array(
        step.filter((s) => s.kind === 'retention' || s.kind === 'confirm'),
        { maxLength: 8, size: 'max' },
      ),
      fc.integer({ min: 1, max: 90_000 }),
      (history, during, gap) => {
        // Whatever happened before, the pair has two READY uploads now (the seed's starting point).
        let uploads = run(history);
        const top = Math.max(1394417686, ...uploads.map((u) => u.version));
        let id = Math.max(168655, ...uploads.map((u) => u.id + 1));
        uploads.push({ id: id++, version: top + 1, state: 'ready' }, { id: id++, version: top + 2, state: 'ready' });
        const [current, previous] = oracleKept(uploads);
        assert.ok(current && previous);
        // A new build is uploading when the operator deletes the current upload.
        const fresh: RetainedUpload = { id: id++, version: top + 2 + gap, state: 'uploading' };
        uploads.push(fresh);
        uploads = uploads.map((u) => (u.id === current.id ? { ...u, withdrawn: true, state: 'deleting' } : u));
        assert.equal(currentUpload(uploads)?.id, previous.id);
        uploads = run(during, uploads);
        assert.equal(currentUpload(uploads)?.id, previous.id);
        // The new build's upload goes READY: the kept pair is the new one and the reverted-to one.
        uploads = uploads.map((u) => (u.id === fresh.id ? { ...u, state: 'ready' } : u));
        assert.equal(currentUpload(uploads)?.id, fresh.id);
        assert.deepEqual(
          oracleKept(uploads).map((u) => u.id),
          [fresh.id, previous.id],
        );
        assert.ok(!ids(uploads).includes(previous.id));
        assert.ok(!ids(uploads).includes(fresh.id));
        checkInvariants(uploads);
      },
    ),
    { numRuns: 1000 },
  );
});
