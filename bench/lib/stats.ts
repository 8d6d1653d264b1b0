/** Medians and the table/Markdown renderings of benchmark results. */

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A fixed-width text table: the first row is the header. */
export function textTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** A GitHub-flavoured Markdown table: the first row is the header. */
export function markdownTable(rows: readonly (readonly string[])[]): string {
  const line = (r: readonly string[]) => `| ${r.join(' | ')} |`;
  return [line(rows[0]!), `|${rows[0]!.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

/** Packets per second in Mpps with three decimals, or "–" when there is nothing to show. */
export function mpps(x: number): string {
  return Number.isFinite(x) ? (x / 1e6).toFixed(3) : '–';
}

export function ratio(x: number): string {
  return Number.isFinite(x) ? `${x.toFixed(2)}×` : '–';
}
