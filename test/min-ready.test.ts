import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from './support/fast-check.ts';
import { minReadyShare } from '../core/min-ready.ts';

test('min-ready is split among the providers offering the label, the first taking the remainder', () => {
  const offering = ['east', 'west', 'rax'];
  assert.deepEqual(
    offering.map((p) => minReadyShare(5, offering, p)),
    [2, 2, 1],
  );
  assert.deepEqual(
    offering.map((p) => minReadyShare(1, offering, p)),
    [1, 0, 0],
  );
  assert.equal(minReadyShare(4, offering, 'elsewhere'), 0, 'a provider not offering the label keeps none');
  assert.equal(minReadyShare(0, offering, 'east'), 0);
});

test('property: the shares add up to min-ready and differ by at most one', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 1, max: 12 }), (minReady, n) => {
      const offering = Array.from({ length: n }, (_, i) => `p${i}`);
      const shares = offering.map((p) => minReadyShare(minReady, offering, p));
      assert.equal(
        shares.reduce((a, b) => a + b, 0),
        minReady,
      );
      assert.ok(Math.max(...shares) - Math.min(...shares) <= 1);
    }),
  );
});
