#!/usr/bin/env node
/**
 * RIPng at scale: BIRD (B1) originates N static /64s (default 10,000) into RIP, and the time
 * until a far BIRD (B2) holds all N is measured, with peak memory, for three chains built in
 * the same run on the same machine (test/interop/bird/scale.ts):
 *
 *   none     BIRD ⇄ BIRD                 the floor: two BIRDs directly
 *   bird     BIRD ⇄ BIRD ⇄ BIRD          BIRD doing the middle router's job
 *   turtle6  BIRD ⇄ turtle6 ⇄ BIRD       turtle6 doing it
 *
 * Rounds alternate over the chains (none, bird, turtle6, none, …) so drift on a shared VM
 * hits all alike; the median of each is reported. Timers are the same everywhere (update
 * 10 s, timeout 120 s, garbage 60 s): convergence rides on triggered updates, not on them.
 *
 *   node dist/bench/ripng-scale.js [--routes 10000] [--rounds 3] [--out FILE.json]
 *
 * Needs root and bird2. Numbers are reported, never judged (docs/ripng.md quotes a run).
 */
import { writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { Command } from 'commander';
import { requireCommand, TestBed } from '../test/helpers/netns.js';
import { runScaleChain, SCALE_TIMERS, type Middle, type ScaleResult } from '../test/interop/bird/scale.js';
import { median, textTable } from './lib/stats.js';

const MIDDLES: readonly Middle[] = ['none', 'bird', 'turtle6'];
const LABELS: Record<Middle, string> = { none: 'BIRD ⇄ BIRD', bird: 'BIRD ⇄ BIRD ⇄ BIRD', turtle6: 'BIRD ⇄ turtle6 ⇄ BIRD' };

async function once(middle: Middle, routes: number): Promise<ScaleResult> {
  const bed = new TestBed(`ripbench-${middle}`);
  try {
    return await runScaleChain(bed, { middle, routes, timeoutMs: 600_000 });
  } finally {
    await bed.cleanup();
  }
}

async function main(): Promise<void> {
  const o = new Command()
    .option('--routes <n>', 'static routes B1 originates', '10000')
    .option('--rounds <n>', 'runs of each chain', '3')
    .option('--out <file>', 'write every sample as JSON')
    .parse()
    .opts<{ routes: string; rounds: string; out?: string }>();
  requireCommand('bird', 'bird2');
  const routes = Number(o.routes);
  const rounds = Number(o.rounds);
  const samples: ScaleResult[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const middle of MIDDLES) {
      const r = await once(middle, routes);
      samples.push(r);
      process.stderr.write(`round ${round} ${LABELS[middle]}: ${r.convergeMs} ms, middle peak ${r.middlePeakKiB ?? '-'} KiB\n`);
    }
  }
  const mib = (k: number | null) => (k === null ? '-' : (k / 1024).toFixed(1));
  const rows = MIDDLES.map((middle) => {
    const mine = samples.filter((s) => s.middle === middle);
    const m = (f: (s: ScaleResult) => number | null) => {
      const values = mine.map(f).filter((v): v is number => v !== null);
      return values.length === 0 ? null : median(values);
    };
    return [
      LABELS[middle],
      `${((m((s) => s.convergeMs) ?? 0) / 1000).toFixed(2)}`,
      mib(m((s) => s.middleIdleKiB)),
      mib(m((s) => s.middlePeakKiB)),
      mib(m((s) => s.b2PeakKiB)),
      String(m((s) => s.middleRoutes) ?? '-'),
    ];
  });
  process.stdout.write(
    `RIPng scale: ${routes} routes, ${rounds} rounds, medians; ${cpus().length} CPUs, Linux ${release()}; timers ${SCALE_TIMERS.update}/${SCALE_TIMERS.timeout}/${SCALE_TIMERS.garbage} s\n` +
      `${textTable([['chain', 'converge s', 'middle idle MiB', 'middle peak MiB', 'far BIRD peak MiB', 'middle RIP routes'], ...rows])}\n`,
  );
  if (o.out) writeFileSync(o.out, `${JSON.stringify({ routes, rounds, samples }, null, 2)}\n`);
}

await main();
