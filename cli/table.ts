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
  'left-mid': '+',
  mid: '-',
  'mid-mid': '+',
  right: '|',
  'right-mid': '+',
  middle: '|',
};

export function renderTable(head: string[], rows: (string | number)[][]): string {
  const t = new Table({ head, chars: ASCII, style: { head: [], border: [] } });
  t.push(...rows);
  return t.toString();
}
