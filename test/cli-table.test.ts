import { test } from 'node:test';
import assert from 'node:assert/strict';
import Table from 'cli-table3';
import fc from 'fast-check';
import { renderTable, type Cell } from '../cli/table.ts';

test("tables look like the seed's image-list: ASCII rules around the header and the whole table only", () => {
  const out = renderTable(
    ['ID', 'Provider', 'Version', 'State', 'Age (hours)'],
    [
      [168655, 'hpcloud-az2', 1394417686, 'ready', '26.83'],
      [168696, 'hpcloud-az2', 1394514268, 'ready', '0.75'],
    ],
  );
  const rule = '+--------+-------------+------------+-------+-------------+';
  assert.equal(
    out,
    [
      rule,
      '| ID     | Provider    | Version    | State | Age (hours) |',
      rule,
      '| 168655 | hpcloud-az2 | 1394417686 | ready | 26.83       |',
      '| 168696 | hpcloud-az2 | 1394514268 | ready | 0.75        |',
      rule,
    ].join('\n'),
  );
});

test('an empty table is the header between rules', () => {
  assert.equal(renderTable(['ID', 'Name'], []), ['+----+------+', '| ID | Name |', '+----+------+'].join('\n'));
});

// The old renderer, on cli-table3: the layout operators know, kept here as the reference.
function withCliTable3(head: string[], rows: Cell[][]): string {
  const chars = {
    top: '-',
    'top-mid': '+',
    'top-left': '+',
    'top-right': '+',
    bottom: '-',
    'bottom-mid': '+',
    'bottom-left': '+',
    'bottom-right': '+',
    left: '|',
    'left-mid': '',
    mid: '',
    'mid-mid': '',
    right: '|',
    'right-mid': '',
    middle: '|',
  };
  const t = new Table({ head, chars, style: { head: [], border: [] } });
  t.push(...rows.map((r) => r.map((c) => c ?? '')));
  const lines = t.toString().split('\n');
  if (rows.length > 0) lines.splice(2, 0, lines[0] as string);
  return lines.join('\n');
}

test('the same table as cli-table3 draws, for any cells: wide characters, emoji, numbers, empty and multi-line', () => {
  const text = fc.oneof(
    fc.string({ unit: fc.constantFrom('a', 'Z', '0', '-', ' ', '.', '/', '|', '漢', '字', 'é', '😀', '\n') }),
    fc.string({ maxLength: 12 }),
  );
  const cell = fc.oneof(text, fc.integer({ min: -1e9, max: 1e12 }), fc.constant(''));
  const table = fc
    .integer({ min: 1, max: 6 })
    .chain((n) =>
      fc.tuple(
        fc.array(fc.string({ minLength: 1, maxLength: 10 }), { minLength: n, maxLength: n }),
        fc.array(fc.array(cell, { minLength: n, maxLength: n }), { maxLength: 8 }),
      ),
    );
  fc.assert(
    fc.property(table, ([head, rows]) => {
      assert.equal(renderTable(head, rows), withCliTable3(head, rows));
    }),
    { numRuns: 500 },
  );
});

test('a table of 2,000 rows (a pool of nodes) keeps every row once, in order', () => {
  const rows = Array.from({ length: 2000 }, (_, i) => [i, `node-${i}`, 'ready']);
  const out = renderTable(['ID', 'Hostname', 'State'], rows).split('\n');
  assert.equal(out.length, 2000 + 4);
  assert.equal(out[3], '| 0    | node-0    | ready |');
  assert.equal(out[2002], '| 1999 | node-1999 | ready |');
});
