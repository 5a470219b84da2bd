// Tables as nodepool prints them (the seed's image-list): plain ASCII borders, so they paste into bug reports
// and grep well.
import Table from 'cli-table3';

const ASCII = {
  top: '-',
  'top-mid': '+',
  'top-left': '+',
  'top-right': '+',
  bottom: '-',
  'bottom-mid': '+',
  'bottom-left': '+',
  'bottom-right': '+',
  left: '|',
  // No rule between rows, as in the seed's table.
  'left-mid': '',
  mid: '',
  'mid-mid': '',
  right: '|',
  'right-mid': '',
  middle: '|',
};

export function renderTable(head: string[], rows: (string | number)[][]): string {
  const t = new Table({ head, chars: ASCII, style: { head: [], border: [] } });
  t.push(...rows);
  // cli-table3 draws the header rule and row rules with the same characters; nodepool rules off only the
  // header, so the top border is repeated under the (single-line) header row.
  const lines = t.toString().split('\n');
  if (rows.length > 0) lines.splice(2, 0, lines[0] as string);
  return lines.join('\n');
}
