/**
 * Human tables for `turtle6ctl show …`, in the style of `ip -br` and birdc: a header row,
 * columns padded to their widest cell, numbers right-aligned so magnitudes line up.
 */

export type Cell = string | number | bigint | boolean | null | undefined;

export interface Column {
  readonly header: string;
  /** Defaults to right for columns whose every cell is a number, left otherwise. */
  readonly align?: 'left' | 'right';
}

/** Renders rows under headers; `null`/`undefined` cells print as `-`. No trailing spaces. */
export function formatTable(columns: ReadonlyArray<Column | string>, rows: ReadonlyArray<ReadonlyArray<Cell>>): string {
  const cols = columns.map((c) => (typeof c === 'string' ? { header: c } : c));
  const text = rows.map((row) => cols.map((_, i) => cellText(row[i])));
  const widths = cols.map((c, i) => Math.max(c.header.length, ...text.map((r) => r[i]!.length)));
  const align = cols.map(
    (c, i) => c.align ?? (rows.length > 0 && rows.every((r) => typeof r[i] === 'number' || typeof r[i] === 'bigint') ? 'right' : 'left'),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) => (align[i] === 'right' ? cell.padStart(widths[i]!) : i === cells.length - 1 ? cell : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(cols.map((c) => c.header)), ...text.map(line)].join('\n');
}

function cellText(cell: Cell): string {
  if (cell === null || cell === undefined) return '-';
  if (typeof cell === 'boolean') return cell ? 'yes' : 'no';
  return String(cell);
}

/** `key: value` lines with the values aligned, for single objects (`show lanes` detail). */
export function formatFields(fields: ReadonlyArray<readonly [string, Cell]>): string {
  const width = Math.max(0, ...fields.map(([k]) => k.length));
  return fields.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${cellText(v)}`.trimEnd()).join('\n');
}
