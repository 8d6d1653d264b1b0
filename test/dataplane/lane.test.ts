/**
 * The lane pipeline in-process (harness.ts): each case feeds frames through a Lane over a
 * MemoryEngine and checks the exact bytes that leave, what was punted, and exactly which
 * counters moved.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { multicastMac, parseIpv6 } from '../../src/lib/addr.js';
import { decodeEthernetHeader, ETH_HEADER_LEN, type EthernetHeader } from '../../src/wire/ethernet.js';
import { decodeIpv6Header, IPV6_HEADER_LEN, IPV6_MIN_MTU, type Ipv6Header } from '../../src/wire/ipv6.js';
import { decodeIcmpv6, ICMP6, ICMP6_ERROR_HOP_LIMIT, mayGenerateErrorAbout, verifyIcmpv6Checksum, type Icmpv6Message } from '../../src/wire/icmpv6.js';
import { encodeIcmpv6Message } from '../../src/wire/icmpv6-message.js';
import { IPV6_OPTION } from '../../src/wire/ext-headers.js';
import { INJECT_RAW, INJECT_ROUTE, PUNT_LOCAL, PUNT_MULTICAST, PUNT_RESOLVE, PUNT_ROUTER_ALERT } from '../../src/shm/punt.js';
import { C } from '../../src/dataplane/counters.js';
import { RESOLVE_BURST } from '../../src/dataplane/resolve-throttle.js';
import { armTrace, TR_REMAINING } from '../../src/dataplane/trace.js';
import { slotBytesForMtu } from '../../src/shm/pool.js';
import {
  BLACKHOLED,
  ethFrame,
  fromH1,
  GATEWAY_MAC,
  H1,
  H1_LL,
  H1_MAC,
  H2,
  H2_MAC,
  H3,
  HOST3,
  INCOMPLETE_HOST,
  ip,
  ipv6Packet,
  LaneHarness,
  mac,
  NO_ROUTE,
  PORTS,
  R0_GLOBAL,
  R0_LL,
  R0_MAC,
  R1_GLOBAL,
  R1_LL,
  R1_MAC,
  R2_GLOBAL,
  REJECTED,
  REMOTE,
  TAP0,
  TAP1,
  TUN2,
  TUN2_MTU,
  UNKNOWN_HOST,
  type HarnessOptions,
} from './harness.js';

function harness(t: { after(fn: () => void): void }, opts: HarnessOptions = {}): LaneHarness {
  const h = new LaneHarness(opts);
  t.after(() => h.close());
  return h;
}

/** The packet with its hop limit decremented, as a forwarding router leaves it. */
function decremented(pkt: Uint8Array): Uint8Array {
  const out = pkt.slice();
  out[7] = out[7]! - 1;
  return out;
}

interface DecodedError {
  readonly eth: EthernetHeader | null;
  readonly ip: Ipv6Header;
  readonly msg: Icmpv6Message;
  /** Length of the IPv6 packet (without the link header). */
  readonly ipLength: number;
}

/** Decodes an ICMPv6 error frame the lane sent, checking its lengths and checksum on the way. */
function decodeErrorFrame(frame: Uint8Array, ethernet: boolean): DecodedError {
  let off = 0;
  let eth: EthernetHeader | null = null;
  if (ethernet) {
    const e = decodeEthernetHeader(frame, 0);
    assert.ok(e.ok);
    eth = e.value;
    assert.equal(eth.etherType, 0x86dd);
    off = ETH_HEADER_LEN;
  }
  const h = decodeIpv6Header(frame, off);
  assert.ok(h.ok, 'the error has a valid IPv6 header');
  const ipLength = frame.length - off;
  assert.equal(h.value.payloadLength, ipLength - IPV6_HEADER_LEN);
  assert.equal(h.value.nextHeader, 58);
  assert.equal(h.value.hopLimit, ICMP6_ERROR_HOP_LIMIT);
  assert.ok(ipLength <= IPV6_MIN_MTU, `an ICMPv6 error never exceeds 1280 bytes (RFC 4443 §2.4(c)), got ${ipLength}`);
  assert.ok(verifyIcmpv6Checksum(frame, off, off + IPV6_HEADER_LEN, ipLength - IPV6_HEADER_LEN), 'ICMPv6 checksum');
  const m = decodeIcmpv6(frame, off + IPV6_HEADER_LEN);
  assert.ok(m.ok);
  return { eth, ip: h.value, msg: m.value, ipLength };
}

function only<T>(list: readonly T[]): T {
  assert.equal(list.length, 1, `expected exactly one, got ${list.length}`);
  return list[0]!;
}

// ---- forwarding ------------------------------------------------------------------------

test('TAP→TAP: Ethernet rewritten to the neighbour and the egress MAC, hop limit −1, all else byte-identical', (t) => {
  const h = harness(t);
  const pkt = ipv6Packet({ src: H1, dst: H2, hopLimit: 64, trafficClass: 0xb8, flowLabel: 0x12345, echoData: 100 });
  const frame = fromH1(pkt);
  const before = h.snapshot();
  const out = only(h.run(TAP0, frame));
  assert.equal(out.port, TAP1);
  assert.deepEqual(out.frame, ethFrame(H2_MAC, R1_MAC, decremented(pkt)));
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:forwarded': 1, '1:tx_packets': 1 });
  assert.equal(h.counter(TAP0, C.rx_bytes), frame.length);
  assert.equal(h.counter(TAP1, C.tx_bytes), frame.length);
  assert.deepEqual(h.punted(), []);
  assert.equal(h.pool.available(), h.pool.slots, 'every slot went back to the pool');
});

test('a gateway route resolves the gateway, not the destination', (t) => {
  const h = harness(t);
  const pkt = ipv6Packet({ src: H1, dst: REMOTE, hopLimit: 9 });
  const before = h.snapshot();
  const out = only(h.run(TAP0, fromH1(pkt)));
  assert.equal(out.port, TAP1);
  assert.deepEqual(out.frame, ethFrame(GATEWAY_MAC, R1_MAC, decremented(pkt)));
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:forwarded': 1, '1:tx_packets': 1 });
});

test('TAP→TUN strips the Ethernet header; TUN→TAP adds one', (t) => {
  const h = harness(t);
  const toTun = ipv6Packet({ src: H1, dst: H3, hopLimit: 64 });
  let before = h.snapshot();
  let out = only(h.run(TAP0, fromH1(toTun)));
  assert.equal(out.port, TUN2);
  assert.deepEqual(out.frame, decremented(toTun));
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:forwarded': 1, '2:tx_packets': 1 });

  const fromTun = ipv6Packet({ src: H3, dst: H1, hopLimit: 2 });
  before = h.snapshot();
  out = only(h.run(TUN2, fromTun));
  assert.equal(out.port, TAP0);
  assert.deepEqual(out.frame, ethFrame(H1_MAC, R0_MAC, decremented(fromTun)));
  assert.deepEqual(h.moved(before), { '2:rx_packets': 1, '2:forwarded': 1, '0:tx_packets': 1 });
});

// ---- ICMPv6 errors -----------------------------------------------------------------------

test('hop limit 1: Time Exceeded back to the source from the ingress port\'s error address, carrying the packet', (t) => {
  const h = harness(t);
  const pkt = ipv6Packet({ src: H1, dst: H2, hopLimit: 1 });
  const before = h.snapshot();
  const out = only(h.run(TAP0, fromH1(pkt)));
  assert.equal(out.port, TAP0);
  const e = decodeErrorFrame(out.frame, true);
  assert.deepEqual([e.eth!.dst, e.eth!.src], [H1_MAC, R0_MAC]);
  assert.deepEqual([e.ip.src, e.ip.dst], [R0_GLOBAL, H1]);
  assert.deepEqual(e.msg, { type: 'timeExceeded', code: 0, invoking: pkt });
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:hop_limit_exceeded': 1, '0:icmp_errors_sent': 1, '0:tx_packets': 1 });
});

test('an error about a large packet is cut to 1280 bytes; a TUN ingress gets its error without Ethernet', (t) => {
  const h = harness(t);
  const big = ipv6Packet({ src: H1, dst: H2, hopLimit: 1, echoData: 1400 });
  const out = only(h.run(TAP0, fromH1(big)));
  const e = decodeErrorFrame(out.frame, true);
  assert.equal(e.ipLength, IPV6_MIN_MTU);
  assert.deepEqual(e.msg, { type: 'timeExceeded', code: 0, invoking: big.subarray(0, IPV6_MIN_MTU - 48) });

  const fromTun = ipv6Packet({ src: H3, dst: H2, hopLimit: 0 });
  const before = h.snapshot();
  const back = only(h.run(TUN2, fromTun));
  assert.equal(back.port, TUN2);
  const e2 = decodeErrorFrame(back.frame, false);
  assert.deepEqual([e2.ip.src, e2.ip.dst], [R2_GLOBAL, H3]);
  assert.deepEqual(e2.msg, { type: 'timeExceeded', code: 0, invoking: fromTun });
  assert.deepEqual(h.moved(before), { '2:rx_packets': 1, '2:hop_limit_exceeded': 1, '2:icmp_errors_sent': 1, '2:tx_packets': 1 });
});

test('no route: Destination Unreachable code 0', (t) => {
  const h = harness(t);
  const pkt = ipv6Packet({ src: H1, dst: NO_ROUTE });
  const before = h.snapshot();
  const e = decodeErrorFrame(only(h.run(TAP0, fromH1(pkt))).frame, true);
  assert.deepEqual([e.ip.src, e.ip.dst], [R0_GLOBAL, H1]);
  assert.deepEqual(e.msg, { type: 'destinationUnreachable', code: 0, invoking: pkt });
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:no_route': 1, '0:icmp_errors_sent': 1, '0:tx_packets': 1 });
});

test('reject route: Destination Unreachable code 6, "reject route to destination" (RFC 4443 §3.1)', (t) => {
  const h = harness(t);
  const pkt = ipv6Packet({ src: H1, dst: REJECTED });
  const before = h.snapshot();
  const e = decodeErrorFrame(only(h.run(TAP0, fromH1(pkt))).frame, true);
  assert.deepEqual(e.msg, { type: 'destinationUnreachable', code: 6, invoking: pkt });
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:reject_route': 1, '0:icmp_errors_sent': 1, '0:tx_packets': 1 });
});

test('blackhole route: dropped silently', (t) => {
  const h = harness(t);
  const before = h.snapshot();
  assert.deepEqual(h.run(TAP0, fromH1(ipv6Packet({ src: H1, dst: BLACKHOLED }))), []);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:blackhole': 1 });
  assert.deepEqual(h.punted(), []);
});

test('too big for the egress MTU: Packet Too Big carrying that MTU; a packet of exactly the MTU passes', (t) => {
  const h = harness(t);
  const pkt = ipv6Packet({ src: H1, dst: H3, echoData: TUN2_MTU - 48 + 1 });
  assert.equal(pkt.length, TUN2_MTU + 1);
  const before = h.snapshot();
  const out = only(h.run(TAP0, fromH1(pkt)));
  assert.equal(out.port, TAP0);
  const e = decodeErrorFrame(out.frame, true);
  assert.deepEqual([e.ip.src, e.ip.dst], [R0_GLOBAL, H1]);
  assert.deepEqual(e.msg, { type: 'packetTooBig', mtu: TUN2_MTU, invoking: pkt.subarray(0, IPV6_MIN_MTU - 48) });
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:too_big': 1, '0:icmp_errors_sent': 1, '0:tx_packets': 1 });

  const fits = ipv6Packet({ src: H1, dst: H3, echoData: TUN2_MTU - 48 });
  assert.deepEqual(only(h.run(TAP0, fromH1(fits))), { port: TUN2, frame: decremented(fits) });
});

test('the host port: the kernel\'s packets keep their hop limit; an error about one goes back into the host port, to the router\'s address it owns', (t) => {
  const h = harness(t);
  const fits = ipv6Packet({ src: R0_GLOBAL, dst: H3, echoData: TUN2_MTU - 48 });
  assert.deepEqual(only(h.run(HOST3, fits)), { port: TUN2, frame: fits });

  // RFC 8201 §4: the kernel's TCP learns the path MTU only from this Packet Too Big.
  const big = ipv6Packet({ src: R0_GLOBAL, dst: H3, echoData: TUN2_MTU - 48 + 1 });
  const before = h.snapshot();
  const out = only(h.run(HOST3, big));
  assert.equal(out.port, HOST3);
  const e = decodeErrorFrame(out.frame, false);
  assert.deepEqual([e.ip.src, e.ip.dst], [R0_GLOBAL, R0_GLOBAL]);
  assert.deepEqual(e.msg, { type: 'packetTooBig', mtu: TUN2_MTU, invoking: big.subarray(0, IPV6_MIN_MTU - 48) });
  assert.deepEqual(h.moved(before), { '3:rx_packets': 1, '3:too_big': 1, '3:icmp_errors_sent': 1, '3:tx_packets': 1 });

  const lost = ipv6Packet({ src: R1_GLOBAL, dst: NO_ROUTE });
  const back = only(h.run(HOST3, lost));
  assert.equal(back.port, HOST3);
  assert.deepEqual(decodeErrorFrame(back.frame, false).msg, { type: 'destinationUnreachable', code: 0, invoking: lost });
  assert.equal(h.counter(HOST3, C.originated_dropped), 0);
});

test('a link-local source bound for another port: Destination Unreachable code 2 from the link-local address, and `scope`', (t) => {
  const h = harness(t);
  const pkt = ipv6Packet({ src: H1_LL, dst: H2 });
  const before = h.snapshot();
  const out = only(h.run(TAP0, fromH1(pkt)));
  assert.equal(out.port, TAP0);
  const e = decodeErrorFrame(out.frame, true);
  assert.deepEqual([e.eth!.dst, e.ip.src, e.ip.dst], [H1_MAC, R0_LL, H1_LL]);
  assert.deepEqual(e.msg, { type: 'destinationUnreachable', code: 2, invoking: pkt });
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:scope': 1, '0:icmp_errors_sent': 1, '0:tx_packets': 1 });
});

test('a link-local destination that is not ours (or is ours on another port) is dropped as `scope`, ours is punted', (t) => {
  const h = harness(t);
  let before = h.snapshot();
  assert.deepEqual(h.run(TAP0, fromH1(ipv6Packet({ src: H1_LL, dst: ip('fe80::99') }))), []);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:scope': 1 });
  // RFC 4007 §6: port 1's link-local address means nothing on port 0's link.
  before = h.snapshot();
  assert.deepEqual(h.run(TAP0, fromH1(ipv6Packet({ src: H1_LL, dst: R1_LL }))), []);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:scope': 1 });
  assert.deepEqual(h.punted(), []);

  const ours = ipv6Packet({ src: H1_LL, dst: R0_LL });
  before = h.snapshot();
  assert.deepEqual(h.run(TAP0, fromH1(ours)), []);
  assert.deepEqual(h.punted(), [{ packet: ours, port: TAP0, flags: PUNT_LOCAL, aux: -1 }]);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:punted': 1 });
});

// ---- RFC 4443 §2.4(e) and (f) --------------------------------------------------------------

test('§2.4(e.1, e.2): no error about an ICMPv6 error message or a Redirect', (t) => {
  const h = harness(t);
  const invoking = ipv6Packet({ src: H2, dst: H1 });
  const messages: Uint8Array[] = [];
  for (const type of [ICMP6.DST_UNREACH, ICMP6.PACKET_TOO_BIG, ICMP6.TIME_EXCEEDED, ICMP6.PARAM_PROBLEM]) {
    const body = new Uint8Array(8 + invoking.length);
    body[0] = type;
    body.set(invoking, 8);
    messages.push(body);
  }
  const redirect = new Uint8Array(40);
  encodeIcmpv6Message({ type: 'redirect', target: H2, destination: H2, options: [] }, H1, H2, redirect, 0);
  messages.push(redirect);
  const frames = messages.map((bytes) => fromH1(ipv6Packet({ src: H1, dst: H2, hopLimit: 1, raw: { nextHeader: 58, bytes } })));
  const before = h.snapshot();
  assert.deepEqual(h.run(TAP0, ...frames), []);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 5, '0:hop_limit_exceeded': 5, '0:icmp_not_allowed': 5 });
});

test('§2.4(e.3): a multicast destination is never answered with an error; only PTB may be sent about one', (t) => {
  const h = harness(t);
  h.publishMfc([{ source: H1, group: ip('ff0e::1:2'), inPort: TAP0, outPorts: [TAP1], counter: 0 }]);
  const pkt = ipv6Packet({ src: H1, dst: ip('ff0e::1:2'), hopLimit: 1 });
  const before = h.snapshot();
  assert.deepEqual(h.run(TAP0, ethFrame(multicastMac(ip('ff0e::1:2')), H1_MAC, pkt)), []);
  assert.deepEqual(h.punted(), []);
  // No Time Exceeded is even attempted: the hop limit ends the multicast packet silently.
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:hop_limit_exceeded': 1 });
  // The lane's predicate, for when multicast is forwarded: PTB is the exception (RFC 4443 §2.4(e.3)).
  assert.equal(mayGenerateErrorAbout(pkt, 0, pkt.length, ICMP6.TIME_EXCEEDED, 0), false);
  assert.equal(mayGenerateErrorAbout(pkt, 0, pkt.length, ICMP6.PACKET_TOO_BIG, 0), true);
});

test('§2.4(e.4): no error about a unicast packet that arrived as a link-layer multicast', (t) => {
  const h = harness(t);
  const pkt = ipv6Packet({ src: H1, dst: H2, hopLimit: 1 });
  const before = h.snapshot();
  assert.deepEqual(h.run(TAP0, ethFrame(mac('33:33:00:00:00:01'), H1_MAC, pkt)), []);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:hop_limit_exceeded': 1, '0:icmp_not_allowed': 1 });
});

test('§2.4(e.4) exceptions: Packet Too Big, and Parameter Problem code 2 for an option of type 10xxxxxx, about a link-layer multicast frame', (t) => {
  const h = harness(t);
  const linkMulticast = mac('33:33:00:00:00:01');
  const big = ipv6Packet({ src: H1, dst: H3, echoData: TUN2_MTU });
  const option = (type: number) => ipv6Packet({ src: H1, dst: H2, ext: [{ kind: 'hopByHop', options: [{ type, data: new Uint8Array(4) }] }] });
  const before = h.snapshot();
  const out = h.run(TAP0, ethFrame(linkMulticast, H1_MAC, big), ethFrame(linkMulticast, H1_MAC, option(0x82)), ethFrame(linkMulticast, H1_MAC, option(0xc2)));
  assert.deepEqual(out.map((o) => decodeErrorFrame(o.frame, true).msg.type), ['packetTooBig', 'parameterProblem']);
  assert.deepEqual(decodeErrorFrame(out[1]!.frame, true).msg, { type: 'parameterProblem', code: 2, pointer: 42, invoking: option(0x82) });
  // Type 11xxxxxx is not among the exceptions.
  assert.deepEqual(h.moved(before), {
    '0:rx_packets': 3, '0:too_big': 1, '0:parameter_problem': 2, '0:icmp_errors_sent': 2, '0:icmp_not_allowed': 1, '0:tx_packets': 2,
  });
});

test('§2.4(e.6): no error to an unspecified source; a multicast source is dropped before any error', (t) => {
  const h = harness(t);
  const unspecified = ip('::');
  let before = h.snapshot();
  assert.deepEqual(h.run(TAP0, fromH1(ipv6Packet({ src: unspecified, dst: NO_ROUTE }))), []);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:no_route': 1, '0:icmp_not_allowed': 1 });
  before = h.snapshot();
  assert.deepEqual(h.run(TAP0, fromH1(ipv6Packet({ src: unspecified, dst: REJECTED }))), []);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:reject_route': 1, '0:icmp_not_allowed': 1 });
  // An unspecified source is never forwarded (RFC 4291 §2.5.2).
  before = h.snapshot();
  assert.deepEqual(h.run(TAP0, fromH1(ipv6Packet({ src: unspecified, dst: H2, hopLimit: 1 }))), []);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:bad_source': 1 });
  before = h.snapshot();
  assert.deepEqual(h.run(TAP0, fromH1(ipv6Packet({ src: ip('ff02::1'), dst: NO_ROUTE }))), []);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:bad_source': 1 });
});

test('§2.4(f): the token bucket sends the burst, suppresses the rest, and refills with time', (t) => {
  const h = harness(t, { icmpRate: 1, icmpBurst: 2 });
  const frame = () => fromH1(ipv6Packet({ src: H1, dst: NO_ROUTE }));
  let before = h.snapshot();
  assert.equal(h.run(TAP0, frame(), frame(), frame(), frame()).length, 2);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 4, '0:no_route': 4, '0:icmp_errors_sent': 2, '0:icmp_rate_limited': 2, '0:tx_packets': 2 });
  h.now += 999;
  before = h.snapshot();
  assert.equal(h.run(TAP0, frame()).length, 0);
  h.now += 1;
  assert.equal(h.run(TAP0, frame(), frame()).length, 1, 'one token a second at rate 1');
  assert.deepEqual(h.moved(before), { '0:rx_packets': 3, '0:no_route': 3, '0:icmp_errors_sent': 1, '0:icmp_rate_limited': 2, '0:tx_packets': 1 });
});

// ---- malformed input ---------------------------------------------------------------------

test('malformed frames land in their drop counters', (t) => {
  const h = harness(t);
  const good = ipv6Packet({ src: H1, dst: H2 });
  const cases: Array<[string, number, Uint8Array, string]> = [
    ['runt', TAP0, fromH1(good).subarray(0, 13), 'runt'],
    ['EtherType IPv4', TAP0, ethFrame(R0_MAC, H1_MAC, good, 0x0800), 'not_ipv6'],
    ['version 4 on a TAP', TAP0, fromH1(Uint8Array.of(0x45, ...good.subarray(1))), 'not_ipv6'],
    ['version 4 on a TUN', TUN2, Uint8Array.of(0x45, ...good.subarray(1)), 'not_ipv6'],
    ['shorter than the IPv6 header', TAP0, fromH1(good).subarray(0, ETH_HEADER_LEN + 39), 'truncated'],
    ['Payload Length past the frame', TAP0, fromH1(withPayloadLength(good, good.length - 40 + 1)), 'bad_length'],
    ['unicast MAC of another station', TAP0, ethFrame(mac('02:00:00:00:00:99'), H1_MAC, good), 'other_host'],
    ['unicast MAC of the router\'s other port', TAP0, ethFrame(R1_MAC, H1_MAC, good), 'other_host'],
    ['loopback destination', TAP0, fromH1(ipv6Packet({ src: H1, dst: ip('::1') })), 'bad_destination'],
    ['loopback source', TAP0, fromH1(ipv6Packet({ src: ip('::1'), dst: H2 })), 'bad_source'],
  ];
  for (const [what, port, frame, reason] of cases) {
    const before = h.snapshot();
    assert.deepEqual(h.run(port, frame), [], what);
    assert.deepEqual(h.moved(before), { [`${port}:rx_packets`]: 1, [`${port}:${reason}`]: 1 }, what);
  }
  assert.deepEqual(h.punted(), []);
});

function withPayloadLength(pkt: Uint8Array, length: number): Uint8Array {
  const out = pkt.slice();
  out[4] = length >> 8;
  out[5] = length & 0xff;
  return out;
}

test('trailing bytes past the Payload Length (Ethernet padding) are trimmed from what is forwarded and punted', (t) => {
  const h = harness(t);
  const pkt = ipv6Packet({ src: H1, dst: H2, echoData: 0 });
  const padded = Uint8Array.from([...pkt, ...new Uint8Array(20).fill(0xee)]);
  const before = h.snapshot();
  const out = only(h.run(TAP0, fromH1(padded)));
  assert.deepEqual(out.frame, ethFrame(H2_MAC, R1_MAC, decremented(pkt)));
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:forwarded': 1, '1:tx_packets': 1 });
  const local = ipv6Packet({ src: H1, dst: R0_GLOBAL, echoData: 0 });
  h.run(TAP0, fromH1(Uint8Array.from([...local, 0, 0, 0])));
  assert.deepEqual(h.punted(), [{ packet: local, port: TAP0, flags: PUNT_LOCAL, aux: -1 }]);
});

test('a Hop-by-Hop option running past its header: Parameter Problem code 0 pointing at its length', (t) => {
  const h = harness(t);
  const pkt = ipv6Packet({ src: H1, dst: H2, ext: [{ kind: 'hopByHop', options: [{ type: IPV6_OPTION.PADN, data: new Uint8Array(4) }] }] });
  // The PadN (at byte 42 of the packet) now claims 10 data bytes; its header has 4 left.
  assert.equal(pkt[42], IPV6_OPTION.PADN);
  pkt[43] = 10;
  const before = h.snapshot();
  const out = only(h.run(TAP0, fromH1(pkt)));
  const e = decodeErrorFrame(out.frame, true);
  assert.deepEqual([e.ip.src, e.ip.dst], [R0_GLOBAL, H1]);
  assert.deepEqual(e.msg, { type: 'parameterProblem', code: 0, pointer: 43, invoking: pkt });
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:parameter_problem': 1, '0:icmp_errors_sent': 1, '0:tx_packets': 1 });
});

test('an unknown Hop-by-Hop option of action 01 is discarded silently (RFC 8200 §4.2)', (t) => {
  const h = harness(t);
  const pkt = ipv6Packet({ src: H1, dst: H2, ext: [{ kind: 'hopByHop', options: [{ type: 0x7e, data: new Uint8Array(2) }] }] });
  const before = h.snapshot();
  assert.deepEqual(h.run(TAP0, fromH1(pkt)), []);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:parameter_problem': 1 });
});

test('Hop-by-Hop Router Alert: punted with PUNT_ROUTER_ALERT before the hop limit is touched', (t) => {
  const h = harness(t);
  const pkt = ipv6Packet({ src: H1, dst: H2, hopLimit: 5, ext: [{ kind: 'hopByHop', options: [{ type: IPV6_OPTION.ROUTER_ALERT, data: Uint8Array.of(0, 0) }] }] });
  const before = h.snapshot();
  assert.deepEqual(h.run(TAP0, fromH1(pkt)), []);
  assert.deepEqual(h.punted(), [{ packet: pkt, port: TAP0, flags: PUNT_ROUTER_ALERT, aux: -1 }]);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 1, '0:punted': 1 });
});

// ---- punts -------------------------------------------------------------------------------

test('multicast and the router\'s own addresses are punted with their flags and exact bytes', (t) => {
  const h = harness(t);
  const mcast = ipv6Packet({ src: H1_LL, dst: ip('ff02::1'), hopLimit: 255 });
  const ours = ipv6Packet({ src: H1, dst: R0_GLOBAL });
  // The router's address on another port is still the router's (RFC 4291 §2.1: addresses belong to interfaces, the node answers for all).
  const otherPort = ipv6Packet({ src: H1, dst: R1_GLOBAL });
  const before = h.snapshot();
  assert.deepEqual(h.run(TAP0, ethFrame(multicastMac(ip('ff02::1')), H1_MAC, mcast), fromH1(ours), fromH1(otherPort)), []);
  assert.deepEqual(h.punted(), [
    { packet: mcast, port: TAP0, flags: PUNT_MULTICAST, aux: -1 },
    { packet: ours, port: TAP0, flags: PUNT_LOCAL, aux: -1 },
    { packet: otherPort, port: TAP0, flags: PUNT_LOCAL, aux: -1 },
  ]);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 3, '0:punted': 3 });
});

test('a missing or INCOMPLETE neighbour: punted with PUNT_RESOLVE, aux = egress port, hop limit already decremented', (t) => {
  const h = harness(t);
  const unknown = ipv6Packet({ src: H1, dst: UNKNOWN_HOST, hopLimit: 10 });
  const incomplete = ipv6Packet({ src: H1, dst: INCOMPLETE_HOST, hopLimit: 10 });
  const before = h.snapshot();
  assert.deepEqual(h.run(TAP0, fromH1(unknown), fromH1(incomplete)), []);
  assert.deepEqual(h.punted(), [
    { packet: decremented(unknown), port: TAP0, flags: PUNT_RESOLVE, aux: TAP1 },
    { packet: decremented(incomplete), port: TAP0, flags: PUNT_RESOLVE, aux: TAP1 },
  ]);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 2, '0:punted': 2 });
});

test('a flood towards an unresolved neighbour: only RESOLVE_BURST packets per window are punted, the rest counted `neighbor_unresolved`', (t) => {
  const h = harness(t);
  const frame = fromH1(ipv6Packet({ src: H1, dst: UNKNOWN_HOST, hopLimit: 10 }));
  const before = h.snapshot();
  h.run(TAP0, ...new Array(RESOLVE_BURST + 5).fill(frame));
  assert.equal(h.punted().length, RESOLVE_BURST);
  assert.deepEqual(h.moved(before), { '0:rx_packets': RESOLVE_BURST + 5, '0:punted': RESOLVE_BURST, '0:neighbor_unresolved': 5 });
});

test('a full punt ring drops with `punt_ring_full`', (t) => {
  const h = harness(t, { ringCapacity: 2 });
  const frame = fromH1(ipv6Packet({ src: H1, dst: R0_GLOBAL }));
  const before = h.snapshot();
  h.run(TAP0, frame, frame, frame);
  assert.equal(h.punted().length, 2);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 3, '0:punted': 2, '0:punt_ring_full': 1 });
});

// ---- the inject ring -------------------------------------------------------------------

test('INJECT_RAW goes out as it is', (t) => {
  const h = harness(t);
  const frame = ethFrame(H2_MAC, R1_MAC, ipv6Packet({ src: R1_LL, dst: ip('fe80::1234'), hopLimit: 255 }));
  assert.ok(h.inject(TAP1, INJECT_RAW, frame));
  const before = h.snapshot();
  assert.deepEqual(h.run(TAP1), [{ port: TAP1, frame }]);
  assert.deepEqual(h.moved(before), { '1:injected': 1, '1:tx_packets': 1 });
});

test('INJECT_ROUTE is routed through the FIB and the neighbour table with its hop limit untouched', (t) => {
  const h = harness(t);
  const direct = ipv6Packet({ src: R0_GLOBAL, dst: H2, hopLimit: 64 });
  const viaGateway = ipv6Packet({ src: R0_GLOBAL, dst: REMOTE, hopLimit: 64 });
  const toTun = ipv6Packet({ src: R0_GLOBAL, dst: H3, hopLimit: 1 });
  for (const p of [direct, viaGateway, toTun]) assert.ok(h.inject(TAP0, INJECT_ROUTE, p));
  const before = h.snapshot();
  assert.deepEqual(h.run(TAP0), [
    { port: TAP1, frame: ethFrame(H2_MAC, R1_MAC, direct) },
    { port: TAP1, frame: ethFrame(GATEWAY_MAC, R1_MAC, viaGateway) },
    { port: TUN2, frame: toTun },
  ]);
  assert.deepEqual(h.moved(before), { '0:injected': 3, '1:tx_packets': 2, '2:tx_packets': 1 });
});

test('INJECT_ROUTE without a neighbour is punted for resolution; without a route it is counted as originated_dropped', (t) => {
  const h = harness(t);
  const unresolved = ipv6Packet({ src: R0_GLOBAL, dst: UNKNOWN_HOST });
  assert.ok(h.inject(TAP0, INJECT_ROUTE, unresolved));
  assert.ok(h.inject(TAP0, INJECT_ROUTE, ipv6Packet({ src: R0_GLOBAL, dst: NO_ROUTE })));
  const before = h.snapshot();
  assert.deepEqual(h.run(TAP0), []);
  assert.deepEqual(h.punted(), [{ packet: unresolved, port: TAP0, flags: PUNT_RESOLVE, aux: TAP1 }]);
  // Neither is a received frame: `punted` and the drop reasons stay put.
  assert.deepEqual(h.moved(before), { '0:injected': 2, '0:originated_dropped': 1 });
});

// ---- the books balance -----------------------------------------------------------------

test('rx_packets = forwarded + punted + Σ drops on every port, for any mutation of valid frames; the lane never throws or leaks a slot', (t) => {
  const h = harness(t, { batch: 16, poolSlots: 64, ringCapacity: 8 });
  const templates: Array<{ port: number; frame: Uint8Array }> = [
    { port: TAP0, frame: fromH1(ipv6Packet({ src: H1, dst: H2 })) },
    { port: TAP0, frame: fromH1(ipv6Packet({ src: H1, dst: REMOTE, hopLimit: 1 })) },
    { port: TAP0, frame: fromH1(ipv6Packet({ src: H1, dst: H3, echoData: 1380 })) },
    { port: TAP0, frame: fromH1(ipv6Packet({ src: H1, dst: R0_GLOBAL })) },
    { port: TAP0, frame: fromH1(ipv6Packet({ src: H1, dst: UNKNOWN_HOST })) },
    { port: TAP0, frame: ethFrame(multicastMac(ip('ff02::1')), H1_MAC, ipv6Packet({ src: H1_LL, dst: ip('ff02::1') })) },
    { port: TAP0, frame: fromH1(ipv6Packet({ src: H1, dst: H2, ext: [{ kind: 'hopByHop', options: [{ type: IPV6_OPTION.ROUTER_ALERT, data: Uint8Array.of(0, 0) }] }] })) },
    { port: TAP0, frame: fromH1(ipv6Packet({ src: H1, dst: H2, ext: [{ kind: 'hopByHop', options: [{ type: 0xc2, data: new Uint8Array(4) }] }, { kind: 'fragment', fragmentOffset: 0, more: true, identification: 1 }] })) },
    { port: TAP1, frame: ethFrame(R1_MAC, H2_MAC, ipv6Packet({ src: H2, dst: REJECTED })) },
    { port: TAP1, frame: ethFrame(R1_MAC, H2_MAC, ipv6Packet({ src: H2, dst: BLACKHOLED })) },
    { port: TUN2, frame: ipv6Packet({ src: H3, dst: H1 }) },
    { port: TUN2, frame: ipv6Packet({ src: H3, dst: NO_ROUTE }) },
    { port: HOST3, frame: ipv6Packet({ src: R0_GLOBAL, dst: H3, echoData: 1380 }) },
  ];
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('grow' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  );
  const frameArb = fc.record({
    template: fc.nat({ max: templates.length - 1 }),
    // Biased to the headers, where the decisions are.
    mutations: fc.array(mutation, { maxLength: 4 }),
    headerHits: fc.array(fc.tuple(fc.nat({ max: 14 + 48 }), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
  });
  fc.assert(
    fc.property(fc.array(frameArb, { minLength: 1, maxLength: 24 }), (specs) => {
      for (const spec of specs) {
        const { port, frame: base } = templates[spec.template]!;
        let frame = base.slice();
        for (const [at, value] of spec.headerHits) if (at < frame.length) frame[at] = value;
        for (const m of spec.mutations) {
          if (m.kind === 'set') frame[m.at % frame.length] = m.value;
          else if (m.kind === 'cut') frame = frame.subarray(0, 1 + (m.at % frame.length));
          else if (frame.length + m.bytes.length <= 1900) frame = Uint8Array.from([...frame, ...m.bytes]);
        }
        h.engine.inject(port, frame);
      }
      while (h.engine.pending() > 0) h.lane.runOnce(0);
      h.punted();
      for (const { port } of PORTS) {
        const rx = h.counter(port, C.rx_packets);
        const accounted = h.counter(port, C.forwarded) + h.counter(port, C.punted) + h.drops(port);
        assert.equal(accounted, rx, `port ${port}: forwarded + punted + drops = ${accounted}, rx_packets = ${rx}`);
      }
      h.pool.checkFreeList();
      assert.equal(h.pool.available(), h.pool.slots);
    }),
    { seed: 42, numRuns: 300 },
  );
  assert.ok(h.counter(TAP0, C.rx_packets) > 1000, 'the property saw traffic');
  assert.ok(h.counter(TAP0, C.forwarded) > 0 && h.counter(TAP0, C.punted) > 0 && h.drops(TAP0) > 0, 'every fate was reached');
});

// ---- packet trace ------------------------------------------------------------------------

test('trace armed for 2 records with a destination filter records exactly the 2 matching frames with their verdicts', (t) => {
  const h = harness(t);
  armTrace(h.traceControl, 2, { port: null, proto: null, src: null, dst: { addr: parseIpv6('2001:db8:2::')!, len: 64 } });
  const other = fromH1(ipv6Packet({ src: H1, dst: H3 }));
  const forwarded = fromH1(ipv6Packet({ src: H1, dst: H2 }));
  const expired = fromH1(ipv6Packet({ src: H1, dst: UNKNOWN_HOST, hopLimit: 1 }));
  const third = fromH1(ipv6Packet({ src: H1, dst: H2, echoData: 3 }));
  h.run(TAP0, other, forwarded, other, expired, third);
  const records = h.traced();
  assert.equal(records.length, 2);
  const [a, b] = records as [(typeof records)[0], (typeof records)[0]];
  assert.deepEqual([a.ingress, a.verdict, a.reason, a.egress, a.frame], [TAP0, 'forwarded', null, TAP1, forwarded]);
  assert.deepEqual([b.ingress, b.verdict, b.reason, b.egress, b.frame], [TAP0, 'dropped', 'hop_limit_exceeded', null, expired]);
  assert.equal(a.length, forwarded.length);
  assert.equal(Atomics.load(h.traceControl, TR_REMAINING), 0);
  assert.deepEqual(h.traced(), [], 'nothing more once the count is used up');
});

// ---- bounds: frames longer than a slot, copies into rings and slots ------------------------

test('a frame that fills a slot\'s frame area (the kernel cut it short) is dropped as `frame_too_long`; the next frame forwards intact', (t) => {
  const h = harness(t);
  const cap = h.pool.frameCapacity;
  h.pool.bytes.fill(0x5a);
  const jumbo = new Uint8Array(cap + 3000).fill(0xee);
  jumbo.set(fromH1(ipv6Packet({ src: H1, dst: H2, echoData: 100 })).subarray(0, 54));
  const exact = new Uint8Array(cap).fill(0xee);
  exact.set(jumbo.subarray(0, 54));
  const pkt = ipv6Packet({ src: H1, dst: H2, echoData: 200 });
  const before = h.snapshot();
  const out = h.run(TAP0, jumbo, exact, fromH1(pkt));
  assert.deepEqual(out, [{ port: TAP1, frame: ethFrame(H2_MAC, R1_MAC, decremented(pkt)) }]);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 3, '0:frame_too_long': 2, '0:forwarded': 1, '1:tx_packets': 1 });
  assert.equal(h.pool.available(), h.pool.slots);
  h.pool.checkFreeList();
});

test('jumbo slots: a 9000-byte packet forwards TAP→TAP byte for byte, and the ring entries hold it too', (t) => {
  const h = harness(t, { slotBytes: slotBytesForMtu(9000), tapMtu: 9000 });
  const pkt = ipv6Packet({ src: H1, dst: H2, echoData: 9000 - 40 - 8 });
  assert.equal(pkt.length, 9000);
  const out = only(h.run(TAP0, fromH1(pkt)));
  assert.deepEqual(out.frame, ethFrame(H2_MAC, R1_MAC, decremented(pkt)));
  // Punted whole (the router's own address): the punt ring's entries are as large as a slot's frame area.
  const mine = ipv6Packet({ src: H1, dst: R0_GLOBAL, echoData: 9000 - 40 - 8 });
  assert.deepEqual(h.run(TAP0, fromH1(mine)), []);
  assert.deepEqual(h.punted().map((p) => p.packet), [mine]);
  // Injected whole, to be routed.
  assert.ok(h.inject(TAP0, INJECT_ROUTE, pkt));
  assert.deepEqual(h.run(TAP0).map((o) => o.frame), [ethFrame(H2_MAC, R1_MAC, pkt)]);
});

test('an injection whose length does not fit a slot is counted `originated_dropped`, never copied', (t) => {
  const h = harness(t);
  h.pool.bytes.fill(0x5a);
  const ring = h.injectRing();
  const e = ring.tryReserve();
  // A producer bug: a length past the entry and the slot (LaneSet.inject refuses these).
  ring.setMeta(e, -1, h.pool.frameCapacity + 500, TAP1, INJECT_RAW);
  ring.publish();
  const before = h.snapshot();
  assert.deepEqual(h.run(TAP0), []);
  assert.deepEqual(h.moved(before), { '1:originated_dropped': 1 });
  assert.ok(h.pool.bytes.every((b) => b === 0x5a), 'no slot was written');
});

test('tx counters follow what each write did: a refused frame in the middle of a batch is counted on its own port', (t) => {
  const h = harness(t);
  h.engine.refuseWrites(TAP1, true);
  const toTap1 = fromH1(ipv6Packet({ src: H1, dst: H2 }));
  const toTun2 = fromH1(ipv6Packet({ src: H1, dst: ip('2001:db8:3::5') }));
  const before = h.snapshot();
  const out = h.run(TAP0, toTun2, toTap1, toTun2);
  assert.deepEqual(out.map((o) => o.port), [TUN2, TUN2]);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 3, '0:forwarded': 3, '1:tx_failed': 1, '2:tx_packets': 2 });
});

test('trace: a packet whose ICMPv6 error is rate-limited shows its own verdict (`no_route`), not the suppression', (t) => {
  const h = harness(t, { icmpRate: 1, icmpBurst: 1 });
  armTrace(h.traceControl, 2, { port: null, proto: null, src: null, dst: null });
  h.run(TAP0, fromH1(ipv6Packet({ src: H1, dst: NO_ROUTE })), fromH1(ipv6Packet({ src: H1, dst: NO_ROUTE })));
  const records = h.traced();
  assert.deepEqual(records.map((r) => [r.verdict, r.reason]), [['dropped', 'no_route'], ['dropped', 'no_route']]);
  assert.equal(h.counter(TAP0, C.icmp_rate_limited), 1);
});
