// Tables as nodepool prints them (the seed's image-list): plain ASCII borders, so they paste into bug reports
// and grep well. The layout is cli-table3's with ASCII characters and no rules between rows; the tests hold the
// two to the same output. cli-table3 itself checks every cell against every other for row and column spans,
// which made `nodepool list` of 2,000 nodes take a second and image-list's 130 rows 45 ms; this is linear.
import stringWidth from 'string-width';

export type Cell = string | number | null | undefined;

// Most cells are ASCII, whose width is their length.
const width = (s: string): number => (/^[\x20-\x7e]*$/.test(s) ? s.length : stringWidth(s));

function lines(cell: Cell): string[] {
  return (cell === null || cell === undefined ? '' : String(cell)).split('\n');
}

export function renderTable(head: string[], rows: Cell[][]): string {
  const table = [head, ...rows].map((row) => row.map(lines));
  const columns = Math.max(...table.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, c) =>
    Math.max(0, ...table.map((r) => Math.max(0, ...(r[c] ?? ['']).map(width)))),
  );
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const render = (row: string[][]): string[] => {
    const height = Math.max(1, ...row.map((c) => c.length));
    return Array.from({ length: height }, (_, i) => {
      const cells = widths.map((w, c) => {
        const text = row[c]?.[i] ?? '';
        return ` ${text}${' '.repeat(w - width(text))} `;
      });
      return `|${cells.join('|')}|`;
    });
  };
  const [header = [], ...body] = table;
  // nodepool rules off the header only; a table without rows is its header between two rules.
  const out = [rule, ...render(header), rule];
  if (body.length > 0) out.push(...body.flatMap(render), rule);
  return out.join('\n');
}
