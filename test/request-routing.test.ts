import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from './support/fast-check.ts';
import { routeRequest, type ProviderOffer } from '../core/request-routing.ts';

const offer = (provider: string, more: Partial<ProviderOffer> = {}): ProviderOffer => ({
  provider,
  poolLabels: [['small', 'large']],
  ready: {},
  capacity: 10,
  pending: 0,
  missingImages: [],
  ...more,
});

test('only providers with one pool offering every label are candidates', () => {
  const offers = [
    offer('east', { poolLabels: [['small'], ['large']], ready: { small: 5, large: 5 } }),
    offer('west', { poolLabels: [['small', 'large']], capacity: 0, pending: 9 }),
  ];
  assert.equal((routeRequest(['small', 'large'], offers) as { provider: string }).provider, 'west');
});

test('no candidate: fail naming each label and where it is offered', () => {
  const offers = [offer('west', { poolLabels: [['bar']] }), offer('east', { poolLabels: [['bar'], ['baz']] })];
  assert.deepEqual(routeRequest(['foo', 'bar'], offers), {
    fail: 'no provider offers label foo; label bar is offered by east, west but never together with foo',
  });
  assert.deepEqual(routeRequest(['bar', 'baz'], offers), {
    fail: 'label bar is offered by east, west but never together with baz; label baz is offered by east but never together with bar',
  });
});

test('no candidate although every pair of labels meets in some pool: says no pool has them all', () => {
  const offers = [
    offer('east', {
      poolLabels: [
        ['a', 'b'],
        ['b', 'c'],
        ['a', 'c'],
      ],
    }),
  ];
  assert.deepEqual(routeRequest(['a', 'b', 'c'], offers), {
    fail: 'label a is offered by east; label b is offered by east; label c is offered by east; no pool offers a, b, c together',
  });
});

test('a request with no labels fails', () => {
  assert.deepEqual(routeRequest([], [offer('east')]), { fail: 'the request names no labels' });
});

test('a provider whose READY nodes cover the whole request wins, even over more capacity and fewer pending', () => {
  const offers = [
    offer('east', { ready: { small: 1 }, capacity: 100, pending: 0 }),
    offer('west', { ready: { small: 2 }, capacity: 0, pending: 50 }),
  ];
  assert.deepEqual(routeRequest(['small', 'small'], offers), {
    provider: 'west',
    reason: 'west has READY nodes for the whole request (2 READY of the labels asked for)',
  });
});

test('among fully-READY providers: most READY, then fewest pending, then name', () => {
  const offers = [
    offer('c', { ready: { small: 3 }, pending: 1 }),
    offer('b', { ready: { small: 3 }, pending: 0 }),
    offer('a', { ready: { small: 2 }, pending: 0 }),
    offer('d', { ready: { small: 3 }, pending: 0 }),
  ];
  assert.equal((routeRequest(['small'], offers) as { provider: string }).provider, 'b');
});

test('otherwise a provider that can launch everything missing, fewest pending first', () => {
  const offers = [
    offer('east', { ready: { small: 1 }, capacity: 1, pending: 0 }), // needs 2 more, room for 1
    offer('west', { capacity: 3, pending: 4 }),
    offer('north', { capacity: 3, pending: 2, missingImages: ['small'] }), // cannot boot small
    offer('south', { capacity: null, pending: 3 }), // capacity unknown: assumed able
  ];
  assert.deepEqual(routeRequest(['small', 'small', 'small'], offers), {
    provider: 'south',
    reason: 'south can launch the 3 missing nodes (capacity not known yet, 3 pending)',
  });
  assert.deepEqual(routeRequest(['small', 'small', 'small'], offers.slice(0, 3)), {
    provider: 'west',
    reason: 'west can launch the 3 missing nodes (room for 3, 4 pending)',
  });
});

test('a missing image only matters for labels that must be launched', () => {
  const offers = [
    offer('east', { ready: { large: 1 }, missingImages: ['large'], pending: 0 }),
    offer('west', { pending: 1 }),
  ];
  assert.equal((routeRequest(['small', 'large'], offers) as { provider: string }).provider, 'east');
});

test('a paused provider does not launch: it is passed over for launching and queued last', () => {
  const offers = [offer('east', { paused: true, pending: 0 }), offer('west', { pending: 5 })];
  assert.equal((routeRequest(['small'], offers) as { provider: string }).provider, 'west');
  const stuck = [offer('east', { paused: true, pending: 0 }), offer('west', { pending: 5, capacity: 0 })];
  assert.deepEqual(routeRequest(['small'], stuck), {
    provider: 'west',
    reason: 'no provider can serve it now; west has the fewest pending requests (5) and will queue it',
  });
  // ...but its READY nodes still serve.
  const ready = [offer('east', { paused: true, ready: { small: 1 } }), offer('west')];
  assert.equal((routeRequest(['small'], ready) as { provider: string }).provider, 'east');
});

test('nobody can serve it now: queue it at the candidate with the fewest pending requests', () => {
  const offers = [offer('east', { capacity: 0, pending: 3 }), offer('west', { capacity: 0, pending: 2 })];
  assert.deepEqual(routeRequest(['large'], offers), {
    provider: 'west',
    reason: 'no provider can serve it now; west has the fewest pending requests (2) and will queue it',
  });
});

// ---------------------------------------------------------------------------------------------------------

const LABELS = ['a', 'b', 'c', 'd'];
const arbOffer = (provider: string): fc.Arbitrary<ProviderOffer> =>
  fc.record({
    provider: fc.constant(provider),
    poolLabels: fc.array(fc.subarray(LABELS), { maxLength: 3 }),
    ready: fc.record({ a: fc.nat(3), b: fc.nat(3), c: fc.nat(3), d: fc.nat(3) }, { requiredKeys: [] }) as fc.Arbitrary<
      Record<string, number>
    >,
    capacity: fc.option(fc.nat(5), { nil: null }),
    pending: fc.nat(5),
    missingImages: fc.subarray(LABELS),
    paused: fc.option(fc.boolean(), { nil: undefined }),
  });
const offersArb = fc
  .subarray(['p1', 'p2', 'p3', 'p4', 'p5'])
  .chain((names) => fc.tuple(...names.map(arbOffer)))
  .chain((offers) => fc.shuffledSubarray(offers, { minLength: offers.length, maxLength: offers.length }));
const labelsArb = fc.array(fc.constantFrom(...LABELS), { minLength: 1, maxLength: 4 });

const canOffer = (o: ProviderOffer, labels: string[]) => o.poolLabels.some((p) => labels.every((l) => p.includes(l)));
const fullyReady = (o: ProviderOffer, labels: string[]) =>
  labels.every((l) => (o.ready[l] ?? 0) >= labels.filter((x) => x === l).length);

test('property: routes only to a provider offering all labels in one pool, and fails iff there is none', () => {
  fc.assert(
    fc.property(labelsArb, offersArb, (labels, offers) => {
      const d = routeRequest(labels, offers);
      const anyCandidate = offers.some((o) => canOffer(o, labels));
      if ('fail' in d) {
        assert.ok(!anyCandidate);
        assert.ok(d.fail.length > 0);
      } else {
        const chosen = offers.find((o) => o.provider === d.provider);
        assert.ok(chosen && canOffer(chosen, labels));
        assert.ok(d.reason.includes(d.provider));
      }
    }),
    { numRuns: 3000 },
  );
});

test('property: a fully-READY provider is always chosen when one exists', () => {
  fc.assert(
    fc.property(labelsArb, offersArb, (labels, offers) => {
      const d = routeRequest(labels, offers);
      const ready = offers.filter((o) => canOffer(o, labels) && fullyReady(o, labels));
      if (ready.length > 0) {
        assert.ok('provider' in d);
        assert.ok(ready.some((o) => o.provider === d.provider));
      }
    }),
    { numRuns: 3000 },
  );
});

test('property: routing is deterministic and ignores the order of the offers', () => {
  fc.assert(
    fc.property(labelsArb, offersArb, (labels, offers) => {
      assert.deepEqual(routeRequest(labels, offers), routeRequest(labels, [...offers].reverse()));
    }),
    { numRuns: 1000 },
  );
});

test('property: without a fully-READY provider, one that can launch everything beats one that would queue', () => {
  fc.assert(
    fc.property(labelsArb, offersArb, (labels, offers) => {
      const d = routeRequest(labels, offers);
      const candidates = offers.filter((o) => canOffer(o, labels));
      if (candidates.some((o) => fullyReady(o, labels)) || !('provider' in d)) return;
      const missing = (o: ProviderOffer) =>
        [...new Set(labels)].filter((l) => labels.filter((x) => x === l).length > (o.ready[l] ?? 0));
      const able = (o: ProviderOffer) =>
        !o.paused &&
        !missing(o).some((l) => o.missingImages.includes(l)) &&
        (o.capacity === null ||
          o.capacity >= missing(o).reduce((s, l) => s + labels.filter((x) => x === l).length - (o.ready[l] ?? 0), 0));
      const chosen = candidates.find((o) => o.provider === d.provider) as ProviderOffer;
      if (candidates.some(able)) {
        assert.ok(able(chosen));
        assert.equal(chosen.pending, Math.min(...candidates.filter(able).map((o) => o.pending)));
        return;
      }
      // It queues: at an unpaused candidate if there is one, with the fewest pending among those.
      const unpaused = candidates.filter((o) => !o.paused);
      const line = unpaused.length > 0 ? unpaused : candidates;
      assert.ok(line.includes(chosen));
      assert.equal(chosen.pending, Math.min(...line.map((o) => o.pending)));
    }),
    { numRuns: 3000 },
  );
});
