import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from './support/fast-check.ts';
import { planConversions, type ConversionTarget } from '../core/conversion-plan.ts';

test('providers sharing a format share one conversion; vhd converters split only vhd', () => {
  const plan = planConversions('ubuntu', 1394514268, [
    { provider: 'east', format: 'qcow2', vhdConverter: 'vhd-util' },
    { provider: 'west', format: 'qcow2' },
    { provider: 'rax-dfw', format: 'vhd', vhdConverter: 'builtin' },
    { provider: 'rax-ord', format: 'vhd' },
    { provider: 'rax-iad', format: 'vhd', vhdConverter: 'builtin' },
  ]);
  assert.deepEqual(plan, [
    { format: 'qcow2', converter: 'auto', fileName: 'ubuntu-1394514268.qcow2', providers: ['east', 'west'] },
    {
      format: 'vhd',
      converter: 'builtin',
      fileName: 'ubuntu-1394514268.builtin.vhd',
      providers: ['rax-dfw', 'rax-iad'],
    },
    { format: 'vhd', converter: 'auto', fileName: 'ubuntu-1394514268.vhd', providers: ['rax-ord'] },
  ]);
});

const target = fc.record({
  provider: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
  format: fc.constantFrom('qcow2', 'raw', 'vhd') as fc.Arbitrary<ConversionTarget['format']>,
  vhdConverter: fc.option(fc.constantFrom('auto', 'builtin', 'vhd-util'), { nil: undefined }) as fc.Arbitrary<
    ConversionTarget['vhdConverter']
  >,
});

test('property: every target is served by exactly one planned file of its format, and file names are unique', () => {
  fc.assert(
    fc.property(fc.array(target, { maxLength: 12 }), (targets) => {
      const plan = planConversions('img', 7, targets);
      assert.equal(new Set(plan.map((p) => p.fileName)).size, plan.length);
      for (const t of targets) {
        const serving = plan.filter((p) => p.providers.includes(t.provider) && p.format === t.format);
        const wanted = t.format === 'vhd' ? (t.vhdConverter ?? 'auto') : 'auto';
        assert.ok(serving.some((p) => p.converter === wanted));
      }
      // Nothing planned that no target asked for.
      for (const p of plan) assert.ok(p.providers.length > 0);
      assert.ok(plan.length <= targets.length);
    }),
  );
});
