/**
 * Turns a scenario's samples into the tables people read: medians per forwarder, ratios of
 * medians, and the targets beside them (reported, never judged).
 */
import { BASELINE, type Sample, type ScenarioResult } from '../forwarding.js';
import { median, mpps, ratio } from './stats.js';

export interface Table {
  readonly title: string;
  readonly rows: string[][];
  readonly notes?: string[];
}

/** Size 0: the packets came from an external generator (--no-namespaces), whose size we do not know. */
function sizeLabel(size: number): string {
  return size === 0 ? 'external' : `${size} B`;
}

function medianOf(samples: readonly Sample[], forwarder: string, pick: (s: Sample) => number, filter: (s: Sample) => boolean = () => true): number {
  return median(samples.filter((s) => s.forwarder === forwarder && filter(s)).map(pick).filter(Number.isFinite));
}

/** Where a forwarder's CPU seconds come from: its process, the kernel's softirq time, or both (real NICs). */
const CPU_SOURCE_LABELS: Readonly<Record<string, string>> = {
  process: 'process',
  softirq: 'kernel softirq',
  'process+softirq': 'process + softirq',
};

function mediansTable(r: ScenarioResult, sizes: readonly number[]): Table {
  const rows = [['forwarder', 'size', 'runs', 'Mpps (wall)', 'Mpps per CPU-s', 'CPU from']];
  for (const size of sizes) {
    for (const f of r.forwarders) {
      const runs = r.samples.filter((s) => s.forwarder === f.id && s.size === size);
      if (runs.length === 0) continue;
      const bySize = (s: Sample) => s.size === size;
      rows.push([
        f.id,
        sizeLabel(size),
        String(runs.length),
        mpps(medianOf(r.samples, f.id, (s) => s.pps, bySize)),
        mpps(medianOf(r.samples, f.id, (s) => s.ppsPerCpuSecond, bySize)),
        CPU_SOURCE_LABELS[f.cpuSource] ?? f.cpuSource,
      ]);
    }
  }
  return { title: `${r.title}: medians`, rows };
}

function ratioRow(r: ScenarioResult, size: number, a: string, b: string, target: string): string[] {
  const bySize = (s: Sample) => s.size === size;
  const cpu = medianOf(r.samples, a, (s) => s.ppsPerCpuSecond, bySize) / medianOf(r.samples, b, (s) => s.ppsPerCpuSecond, bySize);
  const wall = medianOf(r.samples, a, (s) => s.pps, bySize) / medianOf(r.samples, b, (s) => s.pps, bySize);
  return [`${a} / ${b}`, sizeLabel(size), ratio(cpu), ratio(wall), target];
}

function forwardingTables(r: ScenarioResult): Table[] {
  const sizes = [...new Set(r.samples.map((s) => s.size))];
  const ids = new Set(r.forwarders.map((f) => f.id));
  const rows = [['ratio of medians', 'size', 'per CPU-s', 'wall', 'target (per CPU-s)']];
  for (const size of sizes) {
    for (const t of ['turtle6-1', 'turtle6-2']) {
      rows.push(ratioRow(r, size, t, 'tapfwd', '≥ 3×'));
      rows.push(ratioRow(r, size, t, 'tapfwd-uring', '≥ 0.8×'));
      rows.push(ratioRow(r, size, t, 'kernel', '–'));
    }
  }
  const tables = [mediansTable(r, sizes), { title: `${r.title}: ratios`, rows }];
  if (ids.has(`turtle6-1${BASELINE}`)) tables.push(baselineTable(r, sizes));
  return tables;
}

/**
 * --baseline: each build's ratio against the io_uring C forwarder, measured in the same
 * rounds, and the current build against the baseline directly.
 */
function baselineTable(r: ScenarioResult, sizes: readonly number[]): Table {
  const rows = [['ratio of medians', 'size', 'per CPU-s', 'wall', 'target (per CPU-s)']];
  for (const size of sizes) {
    for (const t of ['turtle6-1', 'turtle6-2']) {
      rows.push(ratioRow(r, size, `${t}${BASELINE}`, 'tapfwd-uring', '≥ 0.8×'));
      rows.push(ratioRow(r, size, t, 'tapfwd-uring', '≥ 0.8×'));
      rows.push(ratioRow(r, size, t, `${t}${BASELINE}`, '≥ 1× (no fall)'));
    }
  }
  const base = r.forwarders.find((f) => f.id === `turtle6-1${BASELINE}`)!;
  return {
    title: `${r.title}: this build against the baseline`,
    rows,
    notes: [`baseline: ${base.description}; each round runs the two builds back to back, in alternating order`],
  };
}

function fullTableTables(r: ScenarioResult): Table[] {
  const rows = [['ratio of medians', 'size', 'per CPU-s', 'wall', 'target (per CPU-s)']];
  rows.push(ratioRow(r, 64, 'turtle6-1-full', 'turtle6-1', '–'));
  rows.push(ratioRow(r, 64, 'kernel-full', 'kernel', '–'));
  const notes: string[] = [];
  const rss = r.extra['turtle6RssKiB'] as { oneRoute: number; fullTable: number; increase: number } | undefined;
  const startup = r.extra['turtle6StartupSeconds'] as { oneRoute: number; fullTable: number } | undefined;
  const kernelLoad = r.extra['kernelRouteLoadSeconds'] as number | undefined;
  if (rss) notes.push(`turtle6 VmRSS: ${(rss.oneRoute / 1024).toFixed(1)} MiB with one route, ${(rss.fullTable / 1024).toFixed(1)} MiB with the full table (+${(rss.increase / 1024).toFixed(1)} MiB)`);
  if (startup) notes.push(`turtle6 start to "up": ${startup.oneRoute.toFixed(1)} s with one route, ${startup.fullTable.toFixed(1)} s with the full table in its config`);
  if (kernelLoad !== undefined) notes.push(`kernel: \`ip -6 -batch\` of the full table took ${kernelLoad.toFixed(1)} s`);
  return [mediansTable(r, [64]), { title: `${r.title}: ratios`, rows, notes }];
}

function latencyTables(r: ScenarioResult): Table[] {
  const rows = [['forwarder', 'load', 'runs', 'rate (pps)', 'p50 µs', 'p99 µs', 'added p50 µs', 'added p99 µs']];
  const fractions = [...new Set(r.samples.map((s) => s.fraction ?? 1))];
  const us = (ns: number) => (Number.isFinite(ns) ? (ns / 1000).toFixed(1) : '–');
  for (const fraction of fractions) {
    const at = (s: Sample) => s.fraction === fraction && (s.latency?.n ?? 0) > 0;
    const base50 = medianOf(r.samples, 'direct', (s) => s.latency!.p50, at);
    const base99 = medianOf(r.samples, 'direct', (s) => s.latency!.p99, at);
    for (const f of r.forwarders) {
      const p50 = medianOf(r.samples, f.id, (s) => s.latency!.p50, at);
      const p99 = medianOf(r.samples, f.id, (s) => s.latency!.p99, at);
      const runs = r.samples.filter((s) => s.forwarder === f.id && at(s));
      rows.push([
        f.id,
        `${Math.round(fraction * 100)} %`,
        String(runs.length),
        String(Math.round(median(runs.map((s) => s.rate ?? NaN)))),
        us(p50),
        us(p99),
        f.id === 'direct' ? '–' : us(p50 - base50),
        f.id === 'direct' ? '–' : us(p99 - base99),
      ]);
    }
  }
  return [
    {
      title: r.title,
      rows,
      notes: ['added = the forwarder’s median percentile minus the control’s (generator → sink, no router) at the same fraction of its own maximum'],
    },
  ];
}

export function tablesFor(r: ScenarioResult): Table[] {
  switch (r.id) {
    case 'forwarding':
      return forwardingTables(r);
    case 'full-table':
      return fullTableTables(r);
    case 'latency':
      return latencyTables(r);
  }
}
