#!/usr/bin/env node
/**
 * The lane's own CPU cost, before and after a change, without the kernel: this build's lane
 * and the lane of another built checkout (--baseline DIR) run in one process over a stub
 * engine that hands them 64-byte frames to forward TAP→TAP (the unit-test topology,
 * test/dataplane/harness.ts) and takes what they transmit. They alternate in slices of
 * 2,000 batches of 32, in swapped order every other slice, and each slice's CPU time is
 * read, so whatever else the machine does hits both alike.
 *
 *   node dist/bench/lane-ab.js --baseline DIR [--slices 40]
 *
 * Prints each lane's frames per CPU-second and the median over slices of after/before.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { stubEngine } from './lib/stub-engine.js';

const BATCH = 32;
const BATCHES_PER_SLICE = 2000;

interface Stage {
  runOnce(timeoutMs: number): number;
}

/** A lane of checkout `root` (its dist/), fed and drained by a stub engine. */
async function laneOf(root: string): Promise<Stage> {
  const h = await import(resolve(root, 'dist/test/dataplane/harness.js'));
  const { HEADROOM } = await import(resolve(root, 'dist/src/shm/pool.js'));
  const harness = new h.LaneHarness({ batch: BATCH, poolSlots: 256 });
  const frame: Uint8Array = h.fromH1(h.ipv6Packet({ src: h.H1, dst: h.H2, echoData: 2 }));
  stubEngine(harness, frame, 0, HEADROOM);
  return harness.lane as Stage;
}

function slice(lane: Stage): number {
  const c0 = process.cpuUsage();
  for (let k = 0; k < BATCHES_PER_SLICE; k++) lane.runOnce(0);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}

async function main(): Promise<void> {
  const o = new Command('lane-ab')
    .requiredOption('--baseline <dir>', 'another built checkout of turtle6')
    .option('--slices <n>', 'measured slices per lane', '40')
    .parse(process.argv)
    .opts<{ baseline: string; slices: string }>();
  const here = fileURLToPath(new URL('../../', import.meta.url));
  const lanes = [await laneOf(o.baseline), await laneOf(here)] as const;
  // Warm-up: both lanes through the JIT's tiers.
  for (let w = 0; w < 5; w++) for (const lane of lanes) slice(lane);
  const cpu = [0, 0];
  const ratios: number[] = [];
  const slices = Number(o.slices);
  for (let s = 0; s < slices; s++) {
    const t = [0, 0];
    for (const j of s % 2 === 0 ? [0, 1] : [1, 0]) {
      t[j] = slice(lanes[j]!);
      cpu[j] += t[j]!;
    }
    ratios.push(t[0]! / t[1]!);
  }
  ratios.sort((a, b) => a - b);
  const frames = slices * BATCHES_PER_SLICE * BATCH;
  const mpps = (seconds: number) => (frames / seconds / 1e6).toFixed(3);
  process.stdout.write(`baseline ${o.baseline}: ${mpps(cpu[0]!)} Mpps per CPU-s\n`);
  process.stdout.write(`this build: ${mpps(cpu[1]!)} Mpps per CPU-s\n`);
  process.stdout.write(`after/before, median over ${slices} slices: ${ratios[Math.floor(slices / 2)]!.toFixed(3)}×\n`);
}

await main();
