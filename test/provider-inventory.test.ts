import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from './support/fast-check.ts';
import { PROVIDER_TAG, inventory } from '../core/provider-inventory.ts';

const resource = fc.record({
  id: fc.uuid(),
  name: fc.string({ maxLength: 8 }),
  state: fc.constantFrom('active', 'building', 'error'),
  metadata: fc.oneof(
    fc.constant({}),
    fc.record({ [PROVIDER_TAG]: fc.constantFrom('sim', 'other', 'SIM', 'sim ') }),
    fc.dictionary(fc.constantFrom('owner', 'nodepool_node_id'), fc.string({ maxLength: 4 })),
  ) as fc.Arbitrary<Record<string, string>>,
});

test('property: only resources tagged with exactly this provider are ours; the rest are counted, never listed', () => {
  fc.assert(
    fc.property(fc.array(resource, { maxLength: 30 }), (resources) => {
      const inv = inventory(resources, 'sim');
      assert.ok(inv.ours.every((r) => r.metadata[PROVIDER_TAG] === 'sim'));
      assert.equal(inv.ours.length + inv.foreignCount, resources.length);
      assert.equal(inv.ours.length, resources.filter((r) => r.metadata[PROVIDER_TAG] === 'sim').length);
      assert.equal(
        Object.values(inv.byState).reduce((a, b) => a + b, 0),
        inv.ours.length,
      );
    }),
  );
});

test('near-misses of the tag value are foreign: case and whitespace matter', () => {
  const inv = inventory(
    [
      { id: '1', name: 'a', state: 'active', metadata: { [PROVIDER_TAG]: 'sim' } },
      { id: '2', name: 'b', state: 'active', metadata: { [PROVIDER_TAG]: 'SIM' } },
      { id: '3', name: 'c', state: 'active', metadata: { [PROVIDER_TAG]: 'sim ' } },
      { id: '4', name: 'd', state: 'error', metadata: {} },
    ],
    'sim',
  );
  assert.deepEqual(
    inv.ours.map((r) => r.id),
    ['1'],
  );
  assert.equal(inv.foreignCount, 3);
  assert.deepEqual(inv.byState, { active: 1 });
});
