import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pickFlavor } from '../core/flavor.ts';

const flavors = [
  { name: 'm1.tiny', ramMB: 512, vcpus: 1 },
  { name: 'm1.small', ramMB: 2048, vcpus: 1 },
  { name: 'performance1-8', ramMB: 8192, vcpus: 8 },
  { name: 'performance1-4', ramMB: 4096, vcpus: 4 },
  { name: 'general1-8', ramMB: 8192, vcpus: 8 },
];

test('flavor-name alone names the flavor exactly', () => {
  assert.equal(pickFlavor(flavors, 'm1.small')?.name, 'm1.small');
  assert.equal(pickFlavor(flavors, 'm1'), undefined, 'no partial match without min-ram');
});

test('with min-ram: the smallest flavor containing flavor-name with at least that much RAM', () => {
  assert.equal(pickFlavor(flavors, 'performance', 4000)?.name, 'performance1-4');
  assert.equal(pickFlavor(flavors, 'performance', 8000)?.name, 'performance1-8');
  assert.equal(pickFlavor(flavors, 'm1', 1024)?.name, 'm1.small');
  assert.equal(pickFlavor(flavors, 'performance', 16_000), undefined);
});
