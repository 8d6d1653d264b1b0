/**
 * The lane's multicast stage (multicast.ts) in-process: the group filter, the MFC lookup,
 * replication into the lane's own pool, and the counter identity (every received multicast
 * frame is forwarded to k ports, punted, or dropped for one reason).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { multicastMac } from '../../src/lib/addr.js';
import { decodeIcmpv6, ICMP6, verifyIcmpv6Checksum } from '../../src/wire/icmpv6.js';
import { IPV6_OPTION } from '../../src/wire/ext-headers.js';
import { IPV6_HEADER_LEN } from '../../src/wire/ipv6.js';
import { PUNT_MULTICAST } from '../../src/shm/punt.js';
import { MFC_BYTES, MFC_PACKETS, MFC_WRONG_PORT, type MfcEntry } from '../../src/shm/mfc.js';
import { mfcCounter } from '../../src/dataplane/counters.js';
import { armTrace } from '../../src/dataplane/trace.js';
import { H1, H1_LL, H1_MAC, H2, H2_MAC, LISTENED_GROUPS, LaneHarness, PORTS, R1_MAC, TAP0, TAP1, TUN2, TUN2_MTU, ethFrame, ip, ipv6Packet, type HarnessOptions } from './harness.js';

function harness(t: { after(fn: () => void): void }, opts: HarnessOptions = {}): LaneHarness {
  const h = new LaneHarness(opts);
  t.after(() => h.close());
  return h;
}

const G = ip('ff0e::db8:7');
const G_STAR = ip('ff05::db8:9');
/** H1's (S,G) from port 0 to port 1 (TAP) and port 2 (TUN), counter slot 3. */
const SG: MfcEntry = { source: H1, group: G, inPort: TAP0, outPorts: [TAP1, TUN2], counter: 3 };
/** (*,G) from port 0 to port 1, counter slot 5. */
const STAR: MfcEntry = { source: null, group: G_STAR, inPort: TAP0, outPorts: [TAP1], counter: 5 };

function toGroup(pkt: Uint8Array, group = G, from = H1_MAC): Uint8Array {
  return ethFrame(multicastMac(group), from, pkt);
}

function decremented(pkt: Uint8Array): Uint8Array {
  const out = pkt.slice();
  out[7]!--;
  return out;
}

/** An MLD message (RFC 2710 §3, RFC 3810 §5) with its Router Alert (RFC 2711, value 0: MLD). */
function mld(type: number, dst: Uint8Array): Uint8Array {
  return ipv6Packet({ src: H1_LL, dst, hopLimit: 1, ext: [{ kind: 'hopByHop', options: [{ type: IPV6_OPTION.ROUTER_ALERT, data: Uint8Array.of(0, 0) }] }], raw: { nextHeader: 58, bytes: Uint8Array.of(type, 0, 0, 0, 0, 0, 0, 0, ...G) } });
}

test('group filter: link-scope groups the router listens to are punted; others are dropped in the lane, nothing copied', (t) => {
  const h = harness(t);
  const allNodes = ipv6Packet({ src: H1_LL, dst: ip('ff02::1'), hopLimit: 255 });
  const solicited = ipv6Packet({ src: H1_LL, dst: LISTENED_GROUPS.find((g) => g.port === TAP0 && g.group[12] === 0xff)!.group, hopLimit: 255 });
  const unjoined = ipv6Packet({ src: H1_LL, dst: ip('ff02::1234'), hopLimit: 255 });
  // Another host's solicited-node group: its DAD and resolution are not the router's business.
  const otherSolicited = ipv6Packet({ src: H1_LL, dst: ip('ff02::1:ff99:9999'), hopLimit: 255 });
  const before = h.snapshot();
  assert.deepEqual(h.run(TAP0, toGroup(allNodes, ip('ff02::1')), toGroup(solicited), toGroup(unjoined), toGroup(otherSolicited)), []);
  assert.deepEqual(h.punted().map((p) => p.packet), [allNodes, solicited]);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 4, '0:punted': 2, '0:multicast_no_listener': 2 });
});

test('a group a module joined on a port is punted there, and only there', (t) => {
  const h = harness(t);
  const ripng = ip('ff02::9');
  h.publishGroups([...LISTENED_GROUPS, { port: TAP1, group: ripng }]);
  const pkt = ipv6Packet({ src: H1_LL, dst: ripng, hopLimit: 255 });
  const before = h.snapshot();
  h.run(TAP0, toGroup(pkt, ripng));
  h.run(TAP1, toGroup(pkt, ripng, H2_MAC));
  assert.deepEqual(h.punted().map((p) => p.port), [TAP1]);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:multicast_no_listener': 1, '1:rx_packets': 1, '1:punted': 1 });
});

test('MLD to any group is punted (policed as multicast), so a querier sees every Report; other traffic to that group is not', (t) => {
  const h = harness(t);
  const v1Report = mld(ICMP6.MLD_REPORT, G);
  const v2Report = mld(ICMP6.MLDV2_REPORT, ip('ff02::16'));
  const done = mld(ICMP6.MLD_DONE, ip('ff02::2'));
  const data = ipv6Packet({ src: H1, dst: G });
  const before = h.snapshot();
  h.run(TAP0, toGroup(v1Report), toGroup(v2Report, ip('ff02::16')), toGroup(done, ip('ff02::2')), toGroup(data));
  assert.deepEqual(h.punted(), [v1Report, v2Report, done].map((packet) => ({ packet, port: TAP0, flags: PUNT_MULTICAST, aux: -1 })));
  assert.deepEqual(h.moved(before), { '0:rx_packets': 4, '0:punted': 3, '0:multicast_no_route': 1 });
});

test('(S,G): one copy per outgoing port, hop limit decremented in each, to the group MAC on a TAP; the entry counts', (t) => {
  const h = harness(t);
  h.publishMfc([SG, STAR]);
  const pkt = ipv6Packet({ src: H1, dst: G, hopLimit: 9, echoData: 100 });
  const before = h.snapshot();
  const out = h.run(TAP0, toGroup(pkt));
  const copy = decremented(pkt);
  assert.deepEqual(
    out.sort((a, b) => a.port - b.port),
    [
      { port: TAP1, frame: ethFrame(multicastMac(G), R1_MAC, copy) },
      { port: TUN2, frame: copy },
    ],
  );
  assert.deepEqual(h.punted(), []);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:forwarded': 1, '0:multicast_copies': 2, '1:tx_packets': 1, '2:tx_packets': 1 });
  assert.equal(h.counters[mfcCounter(3, MFC_PACKETS)], 1);
  assert.equal(h.counters[mfcCounter(3, MFC_BYTES)], pkt.length);
  assert.equal(h.counters[mfcCounter(5, MFC_PACKETS)], 0);
});

test('(*,G) serves any source; (S,G) wins over (*,G) for its source', (t) => {
  const h = harness(t);
  const sgOnStar: MfcEntry = { source: H1, group: G_STAR, inPort: TAP0, outPorts: [TUN2], counter: 7 };
  h.publishMfc([STAR, sgOnStar]);
  const other = ipv6Packet({ src: ip('2001:db8:1::99'), dst: G_STAR });
  const fromH1 = ipv6Packet({ src: H1, dst: G_STAR });
  assert.deepEqual(h.run(TAP0, toGroup(other, G_STAR)).map((o) => o.port), [TAP1]);
  assert.deepEqual(h.run(TAP0, toGroup(fromH1, G_STAR)).map((o) => o.port), [TUN2]);
  assert.equal(h.counters[mfcCounter(5, MFC_PACKETS)], 1);
  assert.equal(h.counters[mfcCounter(7, MFC_PACKETS)], 1);
});

test('arrival on another port than the entry\'s incoming one: counted on the entry (WRONGMIF) and dropped', (t) => {
  const h = harness(t);
  h.publishMfc([SG]);
  const pkt = ipv6Packet({ src: H1, dst: G });
  const before = h.snapshot();
  assert.deepEqual(h.run(TAP1, toGroup(pkt, G, H2_MAC)), []);
  assert.deepEqual(h.moved(before), { '1:rx_packets': 1, '1:multicast_wrong_port': 1 });
  assert.equal(h.counters[mfcCounter(3, MFC_WRONG_PORT)], 1);
  assert.equal(h.counters[mfcCounter(3, MFC_PACKETS)], 0);
});

test('never forwarded: hop limit ≤ 1, an unspecified or link-local source (RFC 4007 §9), a link-scope group even with an entry', (t) => {
  const h = harness(t);
  const linkScope = ip('ff02::db8:7');
  h.publishMfc([SG, { source: null, group: linkScope, inPort: TAP0, outPorts: [TAP1], counter: 1 }, { source: null, group: G, inPort: TAP0, outPorts: [TAP1], counter: 2 }]);
  const before = h.snapshot();
  const out = h.run(
    TAP0,
    toGroup(ipv6Packet({ src: H1, dst: G, hopLimit: 1 })),
    toGroup(ipv6Packet({ src: H1, dst: G, hopLimit: 0 })),
    toGroup(ipv6Packet({ src: ip('::'), dst: G })),
    toGroup(ipv6Packet({ src: H1_LL, dst: G })),
    toGroup(ipv6Packet({ src: H1, dst: linkScope }), linkScope),
  );
  assert.deepEqual(out, []);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 5, '0:hop_limit_exceeded': 2, '0:bad_source': 1, '0:scope': 1, '0:multicast_no_listener': 1 });
});

test('§2.4(e.3): larger than an outgoing port\'s MTU: no copy there, Packet Too Big to the sender, the other ports served', (t) => {
  const h = harness(t);
  h.publishMfc([SG]);
  const pkt = ipv6Packet({ src: H1, dst: G, echoData: TUN2_MTU - IPV6_HEADER_LEN - 8 + 1 });
  assert.equal(pkt.length, TUN2_MTU + 1);
  const before = h.snapshot();
  const out = h.run(TAP0, toGroup(pkt));
  const copies = out.filter((o) => o.port === TAP1);
  assert.equal(copies.length, 1);
  const errors = out.filter((o) => o.port === TAP0);
  assert.equal(errors.length, 1);
  const err = errors[0]!.frame.subarray(14);
  assert.ok(verifyIcmpv6Checksum(err, 0, IPV6_HEADER_LEN, err.length - IPV6_HEADER_LEN));
  const msg = decodeIcmpv6(err, IPV6_HEADER_LEN);
  assert.equal(msg.ok && msg.value.type, 'packetTooBig');
  assert.equal(msg.ok && 'mtu' in msg.value ? msg.value.mtu : -1, TUN2_MTU);
  assert.deepEqual(err.subarray(24, 40), H1);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:forwarded': 1, '0:multicast_copies': 1, '0:icmp_errors_sent': 1, '0:tx_packets': 1, '1:tx_packets': 1 });
});

test('a local copy when the router listens to the group too: the control plane gets it as received, the ports get theirs', (t) => {
  const h = harness(t);
  h.publishMfc([SG]);
  h.publishGroups([...LISTENED_GROUPS, { port: TAP0, group: G }]);
  const pkt = ipv6Packet({ src: H1, dst: G, hopLimit: 4 });
  const before = h.snapshot();
  assert.equal(h.run(TAP0, toGroup(pkt)).length, 2);
  assert.deepEqual(h.punted(), [{ packet: pkt, port: TAP0, flags: PUNT_MULTICAST, aux: -1 }]);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:forwarded': 1, '0:multicast_copies': 2, '0:multicast_local_copies': 1, '1:tx_packets': 1, '2:tx_packets': 1 });
});

test('counter identity over a mixed burst: rx = forwarded + punted + Σ drops, and copies = Σ tx', (t) => {
  const h = harness(t, { batch: 64, poolSlots: 256, ringCapacity: 64 });
  h.publishMfc([SG, STAR]);
  const frames: Uint8Array[] = [];
  // Seeded: a fixed mix of every outcome.
  let seed = 12345;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % 6;
  for (let i = 0; i < 60; i++) {
    switch (next()) {
      case 0: frames.push(toGroup(ipv6Packet({ src: H1, dst: G }))); break;
      case 1: frames.push(toGroup(ipv6Packet({ src: H2, dst: G_STAR }), G_STAR)); break;
      case 2: frames.push(toGroup(ipv6Packet({ src: H1_LL, dst: ip('ff02::1') }), ip('ff02::1'))); break;
      case 3: frames.push(toGroup(ipv6Packet({ src: H1_LL, dst: ip('ff02::77') }), ip('ff02::77'))); break;
      case 4: frames.push(toGroup(ipv6Packet({ src: H1, dst: ip('ff0e::dead') }), ip('ff0e::dead'))); break;
      default: frames.push(toGroup(ipv6Packet({ src: H1, dst: G, hopLimit: 1 }))); break;
    }
  }
  const before = h.snapshot();
  const out = h.run(TAP0, ...frames);
  h.punted();
  const moved = h.moved(before);
  const drops = h.drops(TAP0);
  assert.equal(moved['0:rx_packets'], 60);
  assert.equal((moved['0:forwarded'] ?? 0) + (moved['0:punted'] ?? 0) + drops, 60);
  assert.equal(moved['0:multicast_copies'], out.length);
  assert.ok((moved['0:forwarded'] ?? 0) > 0 && (moved['0:multicast_no_route'] ?? 0) > 0 && (moved['0:multicast_no_listener'] ?? 0) > 0);
});

test('replication is bounded by the batch\'s copy budget and the pool: a copy not made is counted, the packet still forwarded', (t) => {
  // 3 slots: the batch's two received frames take 2, leaving one for the two extra copies.
  const h = harness(t, { batch: 2, poolSlots: 3 });
  h.publishMfc([SG]);
  const pkt = ipv6Packet({ src: H1, dst: G });
  const before = h.snapshot();
  const out = h.run(TAP0, toGroup(pkt), toGroup(pkt));
  const moved = h.moved(before);
  // Two frames, each to two ports: each needs one extra slot, and there is one.
  assert.equal(moved['0:forwarded'], 2);
  assert.equal(moved['0:multicast_copies'], out.length);
  assert.equal(moved['0:multicast_copy_failed'], 1);
  assert.equal(out.length, 3);
});

test('the packet trace says why a multicast packet was not forwarded, and where a forwarded one went', (t) => {
  const h = harness(t);
  h.publishMfc([SG]);
  armTrace(h.traceControl, 5, { port: null, proto: null, src: null, dst: null });
  const forwarded = toGroup(ipv6Packet({ src: H1, dst: G }));
  const noRoute = toGroup(ipv6Packet({ src: H1, dst: ip('ff0e::dead') }), ip('ff0e::dead'));
  const noListener = toGroup(ipv6Packet({ src: H1_LL, dst: ip('ff02::dead') }), ip('ff02::dead'));
  const expired = toGroup(ipv6Packet({ src: H1, dst: G, hopLimit: 1 }));
  h.run(TAP0, forwarded, noRoute, noListener, expired);
  const wrong = toGroup(ipv6Packet({ src: H1, dst: G }), G, H2_MAC);
  h.run(TAP1, wrong);
  assert.deepEqual(
    h.traced().map((r) => [r.ingress, r.verdict, r.reason, r.frame]),
    [
      [TAP0, 'forwarded', null, forwarded],
      [TAP0, 'dropped', 'multicast_no_route', noRoute],
      [TAP0, 'dropped', 'multicast_no_listener', noListener],
      [TAP0, 'dropped', 'hop_limit_exceeded', expired],
      [TAP1, 'dropped', 'multicast_wrong_port', wrong],
    ],
  );
});

test('nothing to send: every outgoing port down is port_down; only the incoming port left (RPF) is multicast_no_route', (t) => {
  const h = harness(t);
  h.publishMfc([{ source: H1, group: G, inPort: TAP0, outPorts: [TAP0], counter: 0 }, { source: H1, group: G_STAR, inPort: TAP0, outPorts: [TAP1], counter: 1 }]);
  h.publishPorts(PORTS.map((p) => (p.port === TAP1 ? { ...p, up: false } : p)));
  const before = h.snapshot();
  assert.deepEqual(h.run(TAP0, toGroup(ipv6Packet({ src: H1, dst: G })), toGroup(ipv6Packet({ src: H1, dst: G_STAR }), G_STAR)), []);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 2, '0:multicast_no_route': 1, '0:port_down': 1 });
});
