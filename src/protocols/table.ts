/** A plain text table for `turtle6ctl show …` of the protocol modules (dhcpv6, multicast): columns padded to their widest cell. */
export function formatRows(columns: readonly string[], rows: ReadonlyArray<Record<string, unknown>>): string {
  if (rows.length === 0) return '(none)';
  const cells = [columns.map((c) => c.toUpperCase()), ...rows.map((r) => columns.map((c) => String(r[c] ?? '-')))];
  const widths = columns.map((_, i) => Math.max(...cells.map((row) => row[i]!.length)));
  return cells.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n');
}
