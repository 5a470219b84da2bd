import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderTable } from '../cli/table.ts';

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
