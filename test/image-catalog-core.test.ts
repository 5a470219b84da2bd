// The catalog's pure decisions: merging upload reports, what an operator may delete, which cloud images leak.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from './support/fast-check.ts';
import {
  applyUploadReport,
  checkOperatorDelete,
  currentByImage,
  findLeakedImages,
  type CatalogUpload,
  type UploadReport,
} from '../core/image-catalog.ts';
import type { UploadState } from '../core/retention.ts';

const base: Omit<CatalogUpload, 'id' | 'state' | 'version' | 'stateSince'> = {
  image: 'ubuntu',
  buildId: 1,
  hostname: 'ubuntu-1',
  externalName: 'ubuntu-1',
};

function upload(id: number, version: number, state: UploadState, extra: Partial<CatalogUpload> = {}): CatalogUpload {
  return { ...base, id, version, state, stateSince: 1000, ...extra };
}

function report(id: number, state: UploadState, at: number, extra: Partial<UploadReport> = {}): UploadReport {
  return { ...base, id, version: 100, state, at, ...extra };
}

test('a first report adds the upload, dated by the report', () => {
  const { uploads, changed } = applyUploadReport([], report(7, 'uploading', 5000));
  assert.equal(changed, true);
  assert.deepEqual(uploads, [{ ...base, id: 7, version: 100, state: 'uploading', stateSince: 5000 }]);
});

test('reports move an upload forward and never back; a repeat changes nothing', () => {
  let u = applyUploadReport([], report(7, 'uploading', 1)).uploads;
  u = applyUploadReport(u, report(7, 'ready', 2, { externalId: 'img-1' })).uploads;
  assert.equal(u[0]?.state, 'ready');
  assert.equal(u[0]?.stateSince, 2);
  const late = applyUploadReport(u, report(7, 'uploading', 3));
  assert.equal(late.changed, false, 'a late uploading report after ready is ignored');
  const again = applyUploadReport(u, report(7, 'ready', 9, { externalId: 'img-1' }));
  assert.equal(again.changed, false);
  assert.equal(again.uploads[0]?.stateSince, 2, 'a repeated report keeps the original date');
});

test('a late report still teaches the cloud id it learnt', () => {
  const u = [upload(7, 100, 'ready')];
  const r = applyUploadReport(u, report(7, 'uploading', 5, { externalId: 'img-9' }));
  assert.equal(r.uploads[0]?.state, 'ready');
  assert.equal(r.uploads[0]?.externalId, 'img-9');
});

test('deleting and deleted are the catalog’s own: builds cannot revive them', () => {
  for (const state of ['deleting', 'deleted'] as const) {
    const u = [upload(7, 100, state)];
    for (const s of ['uploading', 'ready', 'failed', 'validating'] as const)
      assert.equal(applyUploadReport(u, report(7, s, 5)).changed, false, `${state} ← ${s}`);
  }
  assert.equal(applyUploadReport([upload(7, 100, 'deleting')], report(7, 'deleted', 5)).uploads[0]?.state, 'deleted');
});

test('a retried build uploads a failed upload again; its old reason goes once it is no longer failed', () => {
  const u = [upload(7, 100, 'failed', { reason: 'HTTP 500' })];
  const r = applyUploadReport(u, report(7, 'uploading', 5));
  assert.equal(r.uploads[0]?.state, 'uploading');
  assert.equal(r.uploads[0]?.reason, undefined);
});

test('property: any sequence of reports leaves each upload in the highest state reported (deleting aside)', () => {
  const order: UploadState[] = ['building', 'uploading', 'validating', 'ready'];
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...order), { minLength: 1, maxLength: 12 }), (states) => {
      let u: CatalogUpload[] = [];
      states.forEach((s, i) => (u = applyUploadReport(u, report(1, s, i)).uploads));
      const highest = states.reduce((a, b) => (order.indexOf(b) > order.indexOf(a) ? b : a));
      assert.equal(u[0]?.state, highest);
      assert.equal(u.length, 1);
    }),
  );
});

test('operators may delete READY, failed and validating uploads; never one still uploading; unknown IDs refused', () => {
  const u = [upload(1, 100, 'ready'), upload(2, 200, 'ready'), upload(3, 300, 'uploading'), upload(4, 50, 'failed')];
  assert.deepEqual(checkOperatorDelete(u, 9, 'east', false), {
    refused: "image upload 9 is not in provider east's catalog",
  });
  assert.match((checkOperatorDelete(u, 3, 'east', false) as { refused: string }).refused, /still uploading/);
  assert.equal((checkOperatorDelete(u, 2, 'east', false) as { ok: CatalogUpload }).ok.id, 2);
  assert.equal((checkOperatorDelete(u, 4, 'east', false) as { ok: CatalogUpload }).ok.id, 4);
  const deleting = [upload(5, 10, 'deleting')];
  assert.match((checkOperatorDelete(deleting, 5, 'east', true) as { refused: string }).refused, /already deleting/);
});

test('the only READY upload of an image needs --force; another image’s READY upload does not count', () => {
  const u = [
    upload(1, 100, 'ready'),
    upload(2, 200, 'ready', { image: 'debian' }),
    upload(3, 90, 'ready', { withdrawn: true }),
  ];
  const refused = checkOperatorDelete(u, 1, 'east', false) as { refused: string };
  assert.match(refused.refused, /only READY ubuntu image in east.*--force/);
  assert.equal((checkOperatorDelete(u, 1, 'east', true) as { ok: CatalogUpload }).ok.id, 1);
});

test('current per image: the newest READY not withdrawn', () => {
  const u = [
    upload(1, 100, 'ready'),
    upload(2, 200, 'ready', { withdrawn: true }),
    upload(3, 300, 'uploading'),
    upload(4, 150, 'ready', { image: 'debian' }),
  ];
  const c = currentByImage(u);
  assert.equal(c.ubuntu?.id, 1);
  assert.equal(c.debian?.id, 4);
});

test('leaks: an unknown image of ours is deleted on its second sighting; known ones and uploads in progress never', () => {
  const uploads = [
    upload(1, 100, 'ready', { externalId: 'img-1' }),
    upload(2, 200, 'uploading'), // no cloud id yet
    upload(3, 50, 'deleted', { externalId: 'img-3' }),
  ];
  const images = [
    { id: 'img-1', name: 'ubuntu-100', uploadId: '1' },
    { id: 'img-2', name: 'ubuntu-200', uploadId: '2' },
    { id: 'img-3', name: 'ubuntu-50', uploadId: '3' }, // deleted upload still in the cloud
    { id: 'img-x', name: 'stray', uploadId: '99' },
    { id: 'img-y', name: 'untagged-id' },
  ];
  const first = findLeakedImages(images, uploads, {});
  assert.deepEqual(first.leaked, []);
  assert.deepEqual(first.suspects, { 'img-3': 1, 'img-x': 1, 'img-y': 1 });
  const second = findLeakedImages(images, uploads, first.suspects);
  assert.deepEqual(second.leaked.map((i) => i.id).sort(), ['img-3', 'img-x', 'img-y']);
  // A suspect that is gone by the next pass is forgotten.
  assert.deepEqual(findLeakedImages([], uploads, first.suspects).suspects, {});
});

test('leaks: a second image carrying the tag of an upload that knows its own image is a leak', () => {
  const uploads = [upload(1, 100, 'ready', { externalId: 'img-1' })];
  const images = [
    { id: 'img-1', name: 'ubuntu-100', uploadId: '1' },
    { id: 'img-dup', name: 'ubuntu-100', uploadId: '1' },
  ];
  const once = findLeakedImages(images, uploads, {});
  assert.deepEqual(
    findLeakedImages(images, uploads, once.suspects).leaked.map((i) => i.id),
    ['img-dup'],
  );
});

test('property: leaks are only images unknown to the catalog, and only after two passes', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 1, max: 40 }), { maxLength: 15 }),
      fc.uniqueArray(fc.integer({ min: 1, max: 40 }), { maxLength: 15 }),
      (knownIds, cloudIds) => {
        const uploads = knownIds.map((id) => upload(id, id, 'ready', { externalId: `img-${id}` }));
        const images = cloudIds.map((id) => ({ id: `img-${id}`, name: `n${id}`, uploadId: String(id) }));
        const first = findLeakedImages(images, uploads, {});
        assert.deepEqual(first.leaked, [], 'never on the first pass');
        const second = findLeakedImages(images, uploads, first.suspects);
        const expected = cloudIds.filter((id) => !knownIds.includes(id)).map((id) => `img-${id}`);
        assert.deepEqual(second.leaked.map((i) => i.id).sort(), expected.sort());
      },
    ),
  );
});
