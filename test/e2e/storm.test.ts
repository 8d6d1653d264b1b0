/**
 * A malformed-packet storm into lan0 from its host (scapy, test/e2e/scapy/storm.py):
 * turtle6 survives it, keeps forwarding, and accounts for every frame. Each received frame
 * ends in exactly one of forwarded, punted or a drop reason (src/dataplane/counters.ts), so
 * per port rx_packets = forwarded + punted + Σ drops, and the hand-made malformations land
 * in the counters the RFCs give them, one for one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { DROPS } from '../../src/dataplane/counters.js';
import { formatIpv6, formatMac, linkLocalFromMac, parseMac } from '../../src/lib/addr.js';
import { pollUntil, requireCommand, TestBed, type Netns } from '../helpers/netns.js';
import type { RunningRouter } from '../helpers/router.js';
import { ping, twoHosts } from './topology.js';

requireCommand('ping', 'iputils-ping');
requireCommand('/usr/bin/python3', 'python3-scapy');

const STORM = resolve('test/e2e/scapy/storm.py');
const FUZZ_SEED = 42;
const FUZZ_COUNT = 2000;

interface StormReport {
  sent: number;
  refused: Record<string, number>;
  lane: Record<string, number>;
  control: Record<string, number>;
}

interface CounterSnapshot {
  port: Record<string, number>;
  controlPlane: Record<string, number>;
}

async function snapshot(router: RunningRouter, ifname: string): Promise<CounterSnapshot> {
  const data = (await router.ctl(['show', 'counters'])) as {
    interfaces: Array<{ interface: string; counters: Record<string, number> }>;
    controlPlane: Record<string, number>;
  };
  const entry = data.interfaces.find((i) => i.interface === ifname);
  assert.ok(entry, `no ${ifname} in show counters`);
  return { port: entry.counters, controlPlane: data.controlPlane };
}

/** rx_packets minus everything a frame can end as: 0 when the port's books balance. */
function imbalance(c: Record<string, number>): number {
  return c.rx_packets! - c.forwarded! - c.punted! - DROPS.reduce((sum, d) => sum + c[d.name]!, 0);
}

async function waitForBalancedBooks(router: RunningRouter, ifname: string): Promise<CounterSnapshot> {
  let last: CounterSnapshot | undefined;
  try {
    // Counters are read while a lane may be between a frame's rx_packets and its fate.
    await pollUntil(`the counters of ${ifname} to add up`, async () => imbalance((last = await snapshot(router, ifname)).port) === 0, 10_000, 100);
  } catch (e) {
    throw new Error(`${String(e)}\n${JSON.stringify(last, null, 1)}`);
  }
  return last!;
}

/** Frames the host's kernel handed to turtle6 through the TAP, and those its queue dropped. */
function tapStats(h: Netns, ifname: string): { txPackets: number; txDropped: number } {
  const [link] = JSON.parse(h.runOk('ip', ['-j', '-s', 'link', 'show', 'dev', ifname])) as Array<{ stats64: { tx: { packets: number; dropped: number } } }>;
  return { txPackets: link!.stats64.tx.packets, txDropped: link!.stats64.tx.dropped };
}

/** storm.py's addressing for port `if1` of the twoHosts topology, host h1 at a1, h2 at a2. */
async function stormArgs(router: RunningRouter, h1: Netns, if1: string, a1: string, a2: string): Promise<string[]> {
  const ifaces = (await router.ctl(['show', 'interfaces'])) as Array<{ name: string; mac: string }>;
  const routerMac = parseMac(ifaces.find((i) => i.name === if1)!.mac)!;
  const [link] = JSON.parse(h1.runOk('ip', ['-j', 'link', 'show', 'dev', if1])) as Array<{ address: string }>;
  const hostMac = parseMac(link!.address)!;
  return [
    '--iface', if1,
    '--router-mac', formatMac(routerMac),
    '--host-mac', formatMac(hostMac),
    '--router-addr', '2001:db8:1::1',
    '--router-ll', formatIpv6(linkLocalFromMac(routerMac)),
    '--host-ll', formatIpv6(linkLocalFromMac(hostMac)),
    '--src', a1,
    '--dst', a2,
  ];
}

function runStorm(h1: Netns, phase: 'crafted' | 'fuzz' | 'dstopts', args: string[]): StormReport {
  const r = h1.run('/usr/bin/python3', [STORM, phase, ...args]);
  assert.equal(r.code, 0, `storm.py ${phase} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout) as StormReport;
}

// Both I/O engines. With two lanes the host's frames spread over both queues of the
// multi-queue TAP; the books must still balance.
for (const [lanes, io] of [
  [1, 'uring'],
  [2, 'syscall'],
] as const) {
  test(`a malformed-packet storm (${lanes} lane(s), ${io} I/O): turtle6 survives, keeps forwarding, and counts every frame by reason`, async (t) => {
    const bed = new TestBed(`storm${lanes}`);
    t.after(() => bed.cleanup());
    const { h1, h2, if1, if2, a1, a2, router } = await twoHosts(bed, { io, lanes });
    const warm = ping(h1, a2);
    assert.equal(warm.code, 0, warm.out);

    const args = await stormArgs(router, h1, if1, a1, a2);

    // Phase 1: hand-made malformations, each with the fate the RFCs give it.
    const before = await waitForBalancedBooks(router, if1);
    const crafted = runStorm(h1, 'crafted', args);
    // A TAP only carries what the kernel will transmit, and the kernel refuses frames shorter
    // than an Ethernet header (dev_validate_header); those runts never reach turtle6.
    assert.deepEqual(Object.keys(crafted.refused), crafted.lane.runt ? [] : ['runt: Invalid argument'], JSON.stringify(crafted.refused));

    const expectedControl = Object.entries(crafted.control);
    await pollUntil('the control plane to judge the punted junk', async () => {
      const now = await snapshot(router, if1);
      return expectedControl.every(([reason, n]) => now.controlPlane[reason]! - before.controlPlane[reason]! >= n);
    });
    const after = await waitForBalancedBooks(router, if1);
    const delta = (reason: string) => after.port[reason]! - before.port[reason]!;
    // Every drop reason moved by exactly the number of frames made for it (the host itself sends
    // only well-formed traffic, which is forwarded or punted).
    for (const { name } of DROPS) {
      assert.equal(delta(name), crafted.lane[name] ?? 0, `${name}: ${JSON.stringify({ before: before.port, after: after.port, crafted })}`);
    }
    assert.ok(delta('forwarded') >= crafted.lane.forwarded!, 'forwarded');
    assert.ok(delta('punted') >= crafted.lane.punted!, 'punted');
    for (const reason of ['truncated', 'bad_length', 'not_ipv6', 'other_host', 'parameter_problem', 'ext_header_chain', 'bad_source', 'bad_destination', 'scope']) {
      assert.ok(delta(reason) > 0, `${reason} stayed 0`);
    }
    // The control plane's verdicts on the punted junk: exactly the predicted ones.
    for (const reason of ['malformed', 'bad_checksum', 'nd_hop_limit', 'nd_invalid']) {
      const rose = after.controlPlane[reason]! - before.controlPlane[reason]!;
      assert.ok(crafted.control[reason]! > 0, `storm.py made no ${reason} frames`);
      assert.equal(rose, crafted.control[reason], `control plane ${reason}: ${JSON.stringify({ before: before.controlPlane, after: after.controlPlane })}`);
    }
    // ICMPv6 errors went back for the ones that earn one (RFC 4443 §3.1, §3.3, §3.4).
    assert.ok(delta('icmp_errors_sent') >= 4, `icmp_errors_sent ${delta('icmp_errors_sent')}`);

    // Phase 2: seeded random mutations of a valid Echo Request.
    const queued = tapStats(h1, if1);
    const fuzz = runStorm(h1, 'fuzz', [...args, '--count', String(FUZZ_COUNT), '--seed', String(FUZZ_SEED)]);
    assert.equal(fuzz.sent, FUZZ_COUNT, JSON.stringify(fuzz.refused));
    // What turtle6 read is what the host's kernel counts as transmitted on its side of the TAP
    // (storm.py keeps the queue from overflowing, so nothing was dropped there).
    let kernel = tapStats(h1, if1);
    await pollUntil('turtle6 to have read every frame the kernel queued', async () => {
      kernel = tapStats(h1, if1);
      return (await router.counter(if1, 'rx_packets')) === kernel.txPackets;
    });
    assert.equal(kernel.txDropped, queued.txDropped, 'the TAP queue overflowed');
    const end = await waitForBalancedBooks(router, if1);
    assert.equal(end.port.rx_packets, kernel.txPackets);
    assert.ok(end.port.rx_packets! - after.port.rx_packets! >= FUZZ_COUNT, 'every fuzzed frame reached the lane');
    await waitForBalancedBooks(router, if2);

    // Still alive, no lane ever died, and still forwarding both ways.
    assert.equal(router.process.exitCode, null, router.output().slice(-3000));
    const shownLanes = (await router.ctl(['show', 'lanes'])) as Array<{ running: boolean; starts: number }>;
    assert.equal(shownLanes.length, lanes);
    assert.ok(shownLanes.every((l) => l.running && l.starts === 1), JSON.stringify(shownLanes));
    const there = ping(h1, a2);
    assert.equal(there.code, 0, there.out);
    const back = ping(h2, a1);
    assert.equal(back.code, 0, back.out);
  });
}

test('Destination Options for the router: unknown options are handled by their action bits (RFC 8200 §4.2)', async (t) => {
  const bed = new TestBed('dstopt');
  t.after(() => bed.cleanup());
  const { h1, if1, a1, a2, router } = await twoHosts(bed);
  // The router learns h1's address first, so no reply waits on neighbour resolution.
  const warm = ping(h1, '2001:db8:1::1');
  assert.equal(warm.code, 0, warm.out);
  const capture = bed.spawnIn(h1, 'tcpdump', ['-i', if1, '-n', '-l', '-U', '--immediate-mode', 'icmp6 and ip6 src 2001:db8:1::1']);
  let captured = '';
  let listening = false;
  capture.stdout?.on('data', (d: Buffer) => (captured += d.toString()));
  capture.stderr?.on('data', (d: Buffer) => (listening ||= d.toString().includes('listening on')));
  await pollUntil('tcpdump to listen', () => listening);

  // Sequence numbers are the option types: 0x5e (01), 0x9e (10), 0xde (11), then 0x1e (00).
  runStorm(h1, 'dstopts', await stormArgs(router, h1, if1, a1, a2));
  const replied = (seq: number) => new RegExp(`echo reply, id \\d+, seq ${seq}\\b`).test(captured);
  // 00: skip the option and process the packet; its reply comes after any the others earned.
  await pollUntil('the echo reply to the request with a skippable option', () => replied(0x1e), 5000);
  for (const seq of [0x5e, 0x9e, 0xde]) {
    assert.ok(!replied(seq), `turtle6 answered an Echo Request whose Destination Options hold option 0x${seq.toString(16)}, which RFC 8200 §4.2 says to discard:\n${captured}`);
  }
  // 10 and 11 (to a unicast destination): Parameter Problem code 2 pointing at the option type,
  // octet 42 (40-byte header + Next Header + Hdr Ext Len).
  await pollUntil('two Parameter Problems (unrecognized option, octet 42)', () => (captured.match(/parameter problem.*option.*42/gi) ?? []).length === 2, 5000);
});
