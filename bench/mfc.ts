#!/usr/bin/env node
/**
 * Multicast replication in the lane, without the kernel: one (S,G) entry forwarding to 1, 2
 * and 4 ports, beside plain unicast forwarding of the same frames, in one process over a stub
 * engine (as bench/lane-ab.ts does: the unit-test topology of test/dataplane/harness.ts with
 * three more TAP ports). The cases alternate in slices of 2,000 batches of 32 frames, and each
 * slice's CPU time is read.
 *
 *   node dist/bench/mfc.js [--slices 20] [--size 64]
 *
 * Prints received frames and sent copies per CPU-second for each case. The kernel's ip6mr
 * with smcroute belongs beside it, on a kernel built with CONFIG_IPV6_MROUTE (docs/multicast.md).
 */
import { Command } from 'commander';
import { stubEngine } from './lib/stub-engine.js';
import { HEADROOM } from '../src/shm/pool.js';
import { multicastMac } from '../src/lib/addr.js';
import { C } from '../src/dataplane/counters.js';
import { ethFrame, fromH1, H1, H1_MAC, H2, ip, ipv6Packet, LaneHarness, mac, PORTS, TAP0, TAP1, TUN2 } from '../test/dataplane/harness.js';

const BATCH = 32;
const BATCHES_PER_SLICE = 2000;
const G = ip('ff0e::db8:7');
/** Three more TAP ports, so an entry can name four outgoing ports besides its incoming one. */
const EXTRA = [4, 5, 6];

interface Case {
  readonly name: string;
  readonly copies: number;
  readonly harness: LaneHarness;
}

function makeCase(name: string, outPorts: number[] | null, size: number): Case {
  const harness = new LaneHarness({ batch: BATCH, poolSlots: 1024 });
  harness.publishPorts([...PORTS, ...EXTRA.map((port) => ({ port, kind: 'tap' as const, up: true, mtu: 1500, mac: mac(`02:00:00:00:01:0${port}`), linkLocal: ip(`fe80::1:${port}`), errorSource: ip(`2001:db8:${port}::1`) }))]);
  const frame = outPorts === null ? fromH1(ipv6Packet({ src: H1, dst: H2, echoData: size })) : ethFrame(multicastMac(G), H1_MAC, ipv6Packet({ src: H1, dst: G, echoData: size }));
  if (outPorts !== null) harness.publishMfc([{ source: H1, group: G, inPort: TAP0, outPorts, counter: 0 }]);
  stubEngine(harness, frame, TAP0, HEADROOM);
  return { name, copies: outPorts?.length ?? 1, harness };
}

function slice(c: Case): number {
  const c0 = process.cpuUsage();
  for (let k = 0; k < BATCHES_PER_SLICE; k++) c.harness.lane.runOnce(0);
  const used = process.cpuUsage(c0);
  return (used.user + used.system) / 1e6;
}

function main(): void {
  const o = new Command('mfc')
    .option('--slices <n>', 'measured slices per case', '20')
    .option('--size <bytes>', 'ICMPv6 Echo data bytes per packet', '64')
    .parse(process.argv)
    .opts<{ slices: string; size: string }>();
  const size = Number(o.size);
  const cases = [
    makeCase('unicast', null, size),
    makeCase('(S,G) to 1 port', [TAP1], size),
    makeCase('(S,G) to 2 ports', [TAP1, TUN2], size),
    makeCase('(S,G) to 4 ports', [TAP1, ...EXTRA], size),
  ];
  for (let w = 0; w < 3; w++) for (const c of cases) slice(c);
  const cpu = cases.map(() => 0);
  const slices = Number(o.slices);
  for (let s = 0; s < slices; s++) {
    const order = s % 2 === 0 ? cases.map((_, i) => i) : cases.map((_, i) => cases.length - 1 - i);
    for (const i of order) cpu[i] += slice(cases[i]!);
  }
  const frames = slices * BATCHES_PER_SLICE * BATCH;
  // Every frame must have left whole: a copy not made would flatter the rates.
  for (const c of cases) {
    const failed = c.harness.counter(TAP0, C.multicast_copy_failed);
    if (failed > 0) throw new Error(`${c.name}: ${failed} copies not made`);
  }
  for (const [i, c] of cases.entries()) {
    const fps = frames / cpu[i]!;
    process.stdout.write(`${c.name.padEnd(18)} ${(fps / 1e6).toFixed(3)} Mpps received, ${((fps * c.copies) / 1e6).toFixed(3)} Mpps sent, per CPU-second\n`);
  }
}

main();
