/**
 * The stack core over a recording Datapath (fake-datapath.ts), on a ManualClock and a
 * SeededRng: what it publishes to the lanes, how it answers punted packets, and what it
 * injects. Input packets are built with the wire codecs; output is decoded with them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIpv6, linkLocalFromMac, multicastMac, solicitedNodeMulticast, UNSPECIFIED } from '../../src/lib/addr.js';
import { ManualClock } from '../../src/lib/clock.js';
import { SeededRng } from '../../src/lib/rng.js';
import { Stack, type StackLogger } from '../../src/stack/stack.js';
import { defaultRaConfig } from '../../src/stack/ra.js';
import { EchoResponder } from '../../src/protocols/echo/echo.js';
import type { ReceivedUdp, StackApi } from '../../src/stack/stack-api.js';
import type { MetricLabels, ModuleContext, ModuleLogger } from '../../src/protocols/module.js';
import { INJECT_RAW, INJECT_ROUTE, PUNT_LOCAL, PUNT_MULTICAST, PUNT_RESOLVE } from '../../src/shm/punt.js';
import { NH_CONNECTED, NH_GATEWAY, NH_LOCAL, type FibView } from '../../src/shm/fib.js';
import { NBR_REACHABLE, NBR_STALE } from '../../src/shm/neighbors.js';
import { decodeEthernetHeader, ETH_HEADER_LEN } from '../../src/wire/ethernet.js';
import { decodeIpv6Header, encodeIpv6Header, IPPROTO, IPV6_HEADER_LEN, type Ipv6Header } from '../../src/wire/ipv6.js';
import { verifyIcmpv6Checksum } from '../../src/wire/icmpv6.js';
import { decodeIcmpv6Message, encodeIcmpv6Message, icmpv6MessageLength, type AnyIcmpv6Message } from '../../src/wire/icmpv6-message.js';
import { encodeUdpDatagram } from '../../src/wire/udp.js';
import { FakeDatapath, type Injected } from './fake-datapath.js';
import { HOST, HOST_MAC, HOST_MAC_2, ROUTER_GLOBAL, ROUTER_MAC, ip, mac } from './fixtures.js';

const ROUTER_LL = linkLocalFromMac(ROUTER_MAC);
const HOST_2 = ip('2001:db8:1::77');
const FAR = ip('2001:db8:2::5');
const HOST_PORT = 7;

const quietLog: StackLogger = { info() {}, warn() {}, debug() {} };
const quietModuleLog: ModuleLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** A ModuleContext around `api` whose metrics can be read back by name. */
function moduleContext(api: StackApi): { ctx: ModuleContext; metric(name: string): number } {
  const collectors = new Map<string, (emit: (labels: MetricLabels, value: number) => void) => void>();
  const register = (spec: { name: string }, collect: (emit: (labels: MetricLabels, value: number) => void) => void) => void collectors.set(spec.name, collect);
  const ctx: ModuleContext = {
    api,
    log: quietModuleLog,
    limited: () => quietModuleLog,
    metrics: { gauge: register, counter: register },
    commands: { register() {} },
    stateDir: '',
  };
  const metric = (name: string) => {
    let total = 0;
    const collect = collectors.get(name);
    if (collect === undefined) throw new Error(`no metric ${name} registered`);
    collect((_labels, value) => (total += value));
    return total;
  };
  return { ctx, metric };
}

function setup(opts: { hostPort?: number; maxIncomplete?: number } = {}) {
  const clock = new ManualClock(0);
  const datapath = new FakeDatapath();
  const nd = opts.maxIncomplete === undefined ? {} : { nd: { maxIncomplete: opts.maxIncomplete } };
  const stack = new Stack({ clock, rng: new SeededRng(42), datapath, log: quietLog, ...nd, ...(opts.hostPort === undefined ? {} : { hostPort: opts.hostPort }) });
  stack.addInterface({ name: 'lan0', port: 0, kind: 'tap', mac: ROUTER_MAC, mtu: 1500, addresses: [{ addr: ROUTER_GLOBAL, prefixLen: 64 }], ra: null });
  stack.publishTables();
  return { clock, datapath, stack };
}

/** Lets the stack's coalesced (microtask) publishes run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function ipv6(src: Uint8Array, dst: Uint8Array, nextHeader: number, hopLimit: number, upper: Uint8Array): Uint8Array {
  const pkt = new Uint8Array(IPV6_HEADER_LEN + upper.length);
  encodeIpv6Header({ trafficClass: 0, flowLabel: 0, payloadLength: upper.length, nextHeader, hopLimit, src, dst }, pkt, 0);
  pkt.set(upper, IPV6_HEADER_LEN);
  return pkt;
}

function icmpv6(src: Uint8Array, dst: Uint8Array, hopLimit: number, msg: AnyIcmpv6Message): Uint8Array {
  const upper = new Uint8Array(icmpv6MessageLength(msg));
  encodeIcmpv6Message(msg, src, dst, upper, 0);
  return ipv6(src, dst, IPPROTO.ICMPV6, hopLimit, upper);
}

function udp(src: Uint8Array, dst: Uint8Array, srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  const upper = new Uint8Array(8 + payload.length);
  encodeUdpDatagram({ srcPort, dstPort, payload }, src, dst, upper, 0);
  return ipv6(src, dst, IPPROTO.UDP, 64, upper);
}

interface SentPacket {
  readonly ethDst: Uint8Array | null;
  readonly ethSrc: Uint8Array | null;
  readonly ip: Ipv6Header;
  readonly packet: Uint8Array;
}

/** Splits an injected frame (INJECT_RAW on the TAP: Ethernet; INJECT_ROUTE, and anything into the host TUN: bare IPv6). */
function sent(i: Injected): SentPacket {
  let off = 0;
  let ethDst: Uint8Array | null = null;
  let ethSrc: Uint8Array | null = null;
  if (i.flags === INJECT_RAW && i.port !== HOST_PORT) {
    const eth = decodeEthernetHeader(i.data, 0);
    assert.ok(eth.ok);
    assert.equal(eth.value.etherType, 0x86dd);
    [ethDst, ethSrc, off] = [eth.value.dst, eth.value.src, ETH_HEADER_LEN];
  }
  const h = decodeIpv6Header(i.data, off);
  assert.ok(h.ok);
  assert.equal(h.value.payloadLength, i.data.length - off - IPV6_HEADER_LEN);
  return { ethDst, ethSrc, ip: h.value, packet: i.data.subarray(off) };
}

/** The ICMPv6 message of a sent packet, its checksum verified. */
function icmpOf(p: SentPacket): AnyIcmpv6Message {
  assert.equal(p.ip.nextHeader, IPPROTO.ICMPV6);
  assert.ok(verifyIcmpv6Checksum(p.packet, 0, IPV6_HEADER_LEN, p.packet.length - IPV6_HEADER_LEN), 'ICMPv6 checksum');
  const m = decodeIcmpv6Message(p.packet, IPV6_HEADER_LEN);
  assert.ok(m.ok, 'the ICMPv6 message decodes');
  return m.value;
}

function only<T>(list: readonly T[]): T {
  assert.equal(list.length, 1, `expected exactly one, got ${list.length}`);
  return list[0]!;
}

/** What the lane would do with `addr`: kind/port/mtu of the FIB nexthop, or null. */
function route(view: FibView, addr: Uint8Array): { kind: number; port: number; mtu: number } | null {
  const nh = view.lookup(addr, 0);
  return nh < 0 ? null : { kind: view.nexthopKind(nh), port: view.nexthopPort(nh), mtu: view.nexthopMtu(nh) };
}

test('publishTables publishes the port, the FIB (connected, local and static routes) and the neighbour table', async () => {
  const clock = new ManualClock(0);
  const datapath = new FakeDatapath();
  const stack = new Stack({ clock, rng: new SeededRng(42), datapath, log: quietLog });
  stack.addInterface({ name: 'lan0', port: 0, kind: 'tap', mac: ROUTER_MAC, mtu: 1500, addresses: [{ addr: ROUTER_GLOBAL, prefixLen: 64 }], ra: null });
  stack.addRoute({ prefix: ip('2001:db8:100::'), prefixLen: 48, origin: 'static', preference: 10, metric: 0, kind: 'unicast', nexthops: [{ port: 0, gateway: ip('fe80::2') }] });
  assert.deepEqual([datapath.fibs.length, datapath.portTables.length, datapath.neighborTables.length], [0, 0, 0], 'nothing before publishTables');
  stack.publishTables();

  assert.deepEqual(datapath.lastPorts(), [
    { port: 0, kind: 'tap', up: true, mtu: 1500, mac: ROUTER_MAC, host: false, redirects: true, linkLocal: ROUTER_LL, errorSource: ROUTER_GLOBAL },
  ]);
  const fib = datapath.lastFib();
  const described = fib.routes.map((r) => {
    const nh = fib.nexthops[r.nexthop]!;
    return `${formatIpv6(r.prefix)}/${r.len} kind=${nh.kind} port=${nh.port} mtu=${nh.mtu ?? 0} gw=${nh.gateway ? formatIpv6(nh.gateway) : '-'}`;
  });
  assert.deepEqual(described.sort(), [
    `2001:db8:100::/48 kind=${NH_GATEWAY} port=0 mtu=1500 gw=fe80::2`,
    `2001:db8:1::/64 kind=${NH_CONNECTED} port=0 mtu=1500 gw=-`,
    `2001:db8:1::1/128 kind=${NH_LOCAL} port=0 mtu=0 gw=-`,
    `2001:db8:1::/128 kind=${NH_LOCAL} port=0 mtu=0 gw=-`,
    `${formatIpv6(ROUTER_LL)}/128 kind=${NH_LOCAL} port=0 mtu=0 gw=-`,
  ].sort());
  const view = datapath.fibView();
  assert.deepEqual(route(view, HOST), { kind: NH_CONNECTED, port: 0, mtu: 1500 });
  assert.deepEqual(route(view, ROUTER_GLOBAL), { kind: NH_LOCAL, port: 0, mtu: 0 });
  assert.equal(route(view, FAR), null);
  assert.deepEqual(datapath.lastNeighbors(), []);

  // A neighbour learnt from an NS's source link-layer address is STALE (RFC 4861 §7.2.3) and published.
  datapath.punt(icmpv6(HOST, solicitedNodeMulticast(ROUTER_GLOBAL), 255, { type: 'neighborSolicitation', target: ROUTER_GLOBAL, options: [{ type: 'sourceLinkLayerAddress', mac: HOST_MAC }] }), 0, PUNT_MULTICAST);
  await settle();
  assert.deepEqual(datapath.lastNeighbors(), [{ port: 0, addr: HOST, mac: HOST_MAC, state: NBR_STALE }]);
  stack.stop();
});

test('an Echo Request punted to the router gets an Echo Reply injected when the echo module runs', () => {
  const { datapath, stack } = setup();
  const request = icmpv6(HOST, ROUTER_GLOBAL, 64, { type: 'echoRequest', identifier: 0x4242, sequence: 9, data: Uint8Array.of(1, 2, 3, 4, 5) });
  datapath.punt(request, 0, PUNT_LOCAL);
  assert.deepEqual(datapath.take(), [], 'no responder yet');
  assert.equal(stack.drops.no_listener, 1);

  const echo = new EchoResponder();
  const { ctx, metric } = moduleContext(stack.api('echo'));
  echo.start(ctx, { enabled: true });
  datapath.punt(request, 0, PUNT_LOCAL);
  const out = only(datapath.take());
  assert.deepEqual([out.port, out.flags], [0, INJECT_ROUTE]);
  const reply = sent(out);
  assert.deepEqual([reply.ip.src, reply.ip.dst], [ROUTER_GLOBAL, HOST]);
  assert.deepEqual(icmpOf(reply), { type: 'echoReply', identifier: 0x4242, sequence: 9, data: Uint8Array.of(1, 2, 3, 4, 5) });
  assert.deepEqual([metric('echo_requests_total'), metric('echo_replies_total')], [1, 1]);
  echo.stop();
  stack.stop();
});

test('an NS for the router\'s address gets a solicited NA with its MAC, sent to the solicitor\'s MAC', () => {
  const { datapath, stack } = setup();
  const ns = icmpv6(HOST, solicitedNodeMulticast(ROUTER_GLOBAL), 255, { type: 'neighborSolicitation', target: ROUTER_GLOBAL, options: [{ type: 'sourceLinkLayerAddress', mac: HOST_MAC }] });
  datapath.punt(ns, 0, PUNT_MULTICAST);
  const out = only(datapath.take());
  assert.deepEqual([out.port, out.flags], [0, INJECT_RAW]);
  const na = sent(out);
  assert.deepEqual([na.ethDst, na.ethSrc], [HOST_MAC, ROUTER_MAC]);
  assert.deepEqual([na.ip.src, na.ip.dst, na.ip.hopLimit], [ROUTER_GLOBAL, HOST, 255]);
  assert.deepEqual(icmpOf(na), {
    type: 'neighborAdvertisement', router: true, solicited: true, override: true, target: ROUTER_GLOBAL,
    options: [{ type: 'targetLinkLayerAddress', mac: ROUTER_MAC }],
  });
  stack.stop();
});

test('the Subnet-Router anycast address is the router\'s: local in the FIB, NA with Override clear, echo answered from a unicast address', () => {
  const { datapath, stack } = setup();
  const anycast = ip('2001:db8:1::');
  // RFC 4291 §2.6.1: the prefix with an all-zero interface identifier.
  assert.deepEqual(route(datapath.fibView(), anycast), { kind: NH_LOCAL, port: 0, mtu: 0 });

  // RFC 4861 §7.2.4, §7.2.7: solicited, Override clear, from a unicast address of the port.
  datapath.punt(icmpv6(HOST, solicitedNodeMulticast(anycast), 255, { type: 'neighborSolicitation', target: anycast, options: [{ type: 'sourceLinkLayerAddress', mac: HOST_MAC }] }), 0, PUNT_MULTICAST);
  const na = sent(only(datapath.take()));
  assert.deepEqual([na.ethDst, na.ip.src, na.ip.dst], [HOST_MAC, ROUTER_GLOBAL, HOST]);
  assert.deepEqual(icmpOf(na), {
    type: 'neighborAdvertisement', router: true, solicited: true, override: false, target: anycast,
    options: [{ type: 'targetLinkLayerAddress', mac: ROUTER_MAC }],
  });

  // RFC 4443 §4.2: a reply to an anycast request comes from a unicast address of the interface.
  new EchoResponder().start(moduleContext(stack.api('echo')).ctx, { enabled: true });
  datapath.punt(icmpv6(HOST, anycast, 64, { type: 'echoRequest', identifier: 1, sequence: 1, data: Uint8Array.of(9) }), 0, PUNT_LOCAL);
  const reply = sent(only(datapath.take()));
  assert.deepEqual([reply.ip.src, reply.ip.dst], [ROUTER_GLOBAL, HOST]);
  assert.deepEqual(icmpOf(reply), { type: 'echoReply', identifier: 1, sequence: 1, data: Uint8Array.of(9) });
  stack.stop();

  // The kernel behind the host port holds the router's /128s, not the anycast address: UDP
  // to it that no module takes is refused here (RFC 4443 §3.1 code 4), not handed over.
  const withHost = setup({ hostPort: HOST_PORT });
  const toAnycast = udp(HOST, anycast, 40000, 5001, Uint8Array.of(1));
  withHost.datapath.punt(toAnycast, 0, PUNT_LOCAL);
  const refused = sent(only(withHost.datapath.take()));
  assert.deepEqual([refused.ip.src, refused.ip.dst], [ROUTER_GLOBAL, HOST]);
  assert.deepEqual(icmpOf(refused), { type: 'destinationUnreachable', code: 4, invoking: toAnycast });
  withHost.stack.stop();

  // RFC 6164 §6: a /127 has no Subnet-Router anycast address; both of its addresses are usable.
  const p2p = setup();
  p2p.stack.addInterface({ name: 'p2p', port: 1, kind: 'tap', mac: HOST_MAC_2, mtu: 1500, addresses: [{ addr: ip('2001:db8:9::1'), prefixLen: 127 }], ra: null });
  p2p.stack.publishTables();
  assert.deepEqual(route(p2p.datapath.fibView(), ip('2001:db8:9::')), { kind: NH_CONNECTED, port: 1, mtu: 1500 });
  p2p.stack.stop();
});

/** An Echo Request to the router behind a Routing header of `routingType` with `segmentsLeft`. */
function echoBehindRouting(routingType: number, segmentsLeft: number): Uint8Array {
  const echo = icmpv6(HOST, ROUTER_GLOBAL, 64, { type: 'echoRequest', identifier: 5, sequence: 1, data: Uint8Array.of(7) });
  const icmp = echo.subarray(IPV6_HEADER_LEN);
  // Next Header ICMPv6, Hdr Ext Len 2 (24 octets: 8 + one address), type, segments left, reserved.
  const routing = new Uint8Array(24);
  routing.set([IPPROTO.ICMPV6, 2, routingType, segmentsLeft]);
  routing.set(FAR, 8);
  // The ICMPv6 checksum covers the final destination, unchanged here.
  return ipv6(HOST, ROUTER_GLOBAL, IPPROTO.ROUTING, 64, Uint8Array.from([...routing, ...icmp]));
}

test('Routing headers to the router: ignored with no segments left, else Parameter Problem code 0 at the Routing Type (RFC 8200 §4.4, RFC 5095 §3)', () => {
  const { datapath, stack } = setup();
  new EchoResponder().start(moduleContext(stack.api('echo')).ctx, { enabled: true });
  // Segments Left 0: the header is ignored and the Echo Request answered, whatever the type
  // (0: deprecated, 4: SRH, 253: experimental).
  for (const type of [0, 4, 253]) {
    datapath.punt(echoBehindRouting(type, 0), 0, PUNT_LOCAL);
    assert.deepEqual(icmpOf(sent(only(datapath.take()))), { type: 'echoReply', identifier: 5, sequence: 1, data: Uint8Array.of(7) }, `type ${type}`);
  }
  // Segments Left > 0: no type is one the router acts on, so the packet is discarded with a
  // Parameter Problem whose pointer is the Routing Type field: 40 (IPv6 header) + 2.
  for (const type of [0, 4, 253]) {
    const bad = echoBehindRouting(type, 1);
    datapath.punt(bad, 0, PUNT_LOCAL);
    const error = sent(only(datapath.take()));
    assert.deepEqual([error.ip.src, error.ip.dst], [ROUTER_GLOBAL, HOST]);
    // Golden: type 4, code 0, (checksum), pointer 0x0000002a, then the invoking packet.
    const icmp = error.packet.subarray(IPV6_HEADER_LEN);
    assert.deepEqual([...icmp.subarray(0, 2), ...icmp.subarray(4, 8)], [4, 0, 0, 0, 0, 0x2a], `type ${type}`);
    assert.deepEqual(icmpOf(error), { type: 'parameterProblem', code: 0, pointer: 42, invoking: bad });
  }
  assert.equal(stack.drops.routing_header, 3);
  assert.equal(stack.drops.destination_options, 0);
  stack.stop();
});

test('PUNT_RESOLVE: an NS to the solicited-node group, then the queued packet goes out to the MAC the NA gave', async () => {
  const { datapath, stack } = setup();
  const forwarded = udp(FAR, HOST_2, 4000, 53, Uint8Array.of(9, 9, 9));
  forwarded[7] = 63;
  datapath.punt(forwarded, 1, PUNT_RESOLVE, 0);

  const nsOut = only(datapath.take());
  assert.deepEqual([nsOut.port, nsOut.flags], [0, INJECT_RAW]);
  const ns = sent(nsOut);
  const group = solicitedNodeMulticast(HOST_2);
  assert.deepEqual([ns.ethDst, ns.ethSrc], [multicastMac(group), ROUTER_MAC]);
  assert.deepEqual([ns.ip.src, ns.ip.dst, ns.ip.hopLimit], [ROUTER_GLOBAL, group, 255]);
  assert.deepEqual(icmpOf(ns), { type: 'neighborSolicitation', target: HOST_2, options: [{ type: 'sourceLinkLayerAddress', mac: ROUTER_MAC }] });

  const na = icmpv6(HOST_2, ROUTER_GLOBAL, 255, {
    type: 'neighborAdvertisement', router: false, solicited: true, override: true, target: HOST_2,
    options: [{ type: 'targetLinkLayerAddress', mac: HOST_MAC_2 }],
  });
  datapath.punt(na, 0, PUNT_LOCAL);
  const out = only(datapath.take());
  assert.deepEqual([out.port, out.flags], [0, INJECT_RAW]);
  const released = sent(out);
  assert.deepEqual([released.ethDst, released.ethSrc], [HOST_MAC_2, ROUTER_MAC]);
  assert.deepEqual(released.packet, forwarded, 'the queued packet, unchanged');
  await settle();
  assert.deepEqual(datapath.lastNeighbors(), [{ port: 0, addr: HOST_2, mac: HOST_MAC_2, state: NBR_REACHABLE }]);
  stack.stop();
});

test('PUNT_RESOLVE past nd.maxIncomplete: the packet is dropped as `nd_incomplete_limit`, with no solicitation', () => {
  const { datapath, stack } = setup({ maxIncomplete: 1 });
  datapath.punt(udp(FAR, HOST_2, 4000, 53, Uint8Array.of(1)), 1, PUNT_RESOLVE, 0);
  assert.equal(datapath.take().length, 1, 'the NS for the first');
  datapath.punt(udp(FAR, ip('2001:db8:1::78'), 4000, 53, Uint8Array.of(2)), 1, PUNT_RESOLVE, 0);
  assert.deepEqual(datapath.take(), []);
  assert.equal(stack.drops.nd_incomplete_limit, 1);
  stack.stop();
});

test('UDP to a bound port reaches the handler; to an unbound one it goes to the host port, or is refused with port unreachable', () => {
  const withHost = setup({ hostPort: HOST_PORT });
  const got: ReceivedUdp[] = [];
  const unbind = withHost.stack.api('test').bindUdp(5000, (d) => got.push(d));
  withHost.datapath.punt(udp(HOST, ROUTER_GLOBAL, 40000, 5000, Uint8Array.of(0xca, 0xfe)), 0, PUNT_LOCAL);
  assert.deepEqual(got, [{ port: 0, src: HOST, dst: ROUTER_GLOBAL, srcPort: 40000, dstPort: 5000, hopLimit: 64, payload: Uint8Array.of(0xca, 0xfe) }]);
  assert.deepEqual(withHost.datapath.take(), []);

  const unbound = udp(HOST, ROUTER_GLOBAL, 40000, 5001, Uint8Array.of(1));
  withHost.datapath.punt(unbound, 0, PUNT_LOCAL);
  assert.deepEqual(withHost.datapath.take(), [{ port: HOST_PORT, flags: INJECT_RAW, data: unbound }]);
  assert.equal(withHost.stack.drops.no_listener, 0);
  unbind();
  withHost.datapath.punt(udp(HOST, ROUTER_GLOBAL, 40000, 5000, Uint8Array.of(2)), 0, PUNT_LOCAL);
  assert.equal(got.length, 1, 'no delivery after unbinding');
  assert.equal(withHost.datapath.take().length, 1, 'it went to the host port instead');
  withHost.stack.stop();

  noHost(unbound);
});

/** Without a host port nothing owns unbound UDP: it is refused, within the error rate limit. */
function noHost(unbound: Uint8Array): void {
  const { clock, datapath, stack } = setup();
  datapath.punt(unbound, 0, PUNT_LOCAL);
  const out = only(datapath.take());
  assert.deepEqual([out.port, out.flags], [0, INJECT_ROUTE]);
  const error = sent(out);
  assert.deepEqual([error.ip.src, error.ip.dst], [ROUTER_GLOBAL, HOST]);
  // RFC 4443 §3.1: Destination Unreachable, code 4 (port unreachable).
  assert.deepEqual(icmpOf(error), { type: 'destinationUnreachable', code: 4, invoking: unbound });
  assert.equal(stack.drops.no_listener, 1);

  // The burst (20) is spent, then nothing until the bucket refills (RFC 4443 §2.4(f)).
  for (let i = 0; i < 30; i++) datapath.punt(unbound, 0, PUNT_LOCAL);
  assert.equal(datapath.take().length, 19);
  clock.advance(1000);
  datapath.punt(unbound, 0, PUNT_LOCAL);
  assert.equal(datapath.take().length, 1, 'the bucket refilled');
  // Never about multicast: a group we listen to without a module bound is silence.
  datapath.punt(udp(HOST, ip('ff02::1'), 40000, 5001, Uint8Array.of(1)), 0, PUNT_MULTICAST);
  assert.deepEqual(datapath.take(), []);
  assert.equal(stack.drops.no_listener, 33);
  stack.stop();
}

test('ICMPv6 to the router that no module claims goes to the host port; ND, MLD and claimed types stay in the control plane', () => {
  const { datapath, stack } = setup({ hostPort: HOST_PORT });
  const echo = new EchoResponder();
  echo.start(moduleContext(stack.api('echo')).ctx, { enabled: true });
  // The replies to the kernel's pings, and errors about what it sent (RFC 8201 §4: PMTUD).
  const reply = icmpv6(HOST, ROUTER_GLOBAL, 64, { type: 'echoReply', identifier: 7, sequence: 1, data: Uint8Array.of(1) });
  const tooBig = icmpv6(FAR, ROUTER_GLOBAL, 64, { type: 'packetTooBig', mtu: 1280, invoking: udp(ROUTER_GLOBAL, HOST, 8080, 40000, new Uint8Array(64)) });
  const unreachable = icmpv6(FAR, ROUTER_GLOBAL, 64, { type: 'destinationUnreachable', code: 4, invoking: udp(ROUTER_GLOBAL, HOST, 5353, 40000, new Uint8Array(8)) });
  for (const p of [reply, tooBig, unreachable]) datapath.punt(p, 0, PUNT_LOCAL);
  assert.deepEqual(datapath.take(), [reply, tooBig, unreachable].map((data) => ({ port: HOST_PORT, flags: INJECT_RAW, data })));

  // The echo module answers pings itself; an MLD query is the router's, not the kernel's.
  datapath.punt(icmpv6(HOST, ROUTER_GLOBAL, 64, { type: 'echoRequest', identifier: 7, sequence: 2, data: Uint8Array.of(2) }), 0, PUNT_LOCAL);
  assert.deepEqual(only(datapath.take()).flags, INJECT_ROUTE);
  datapath.punt(icmpv6(HOST, ROUTER_GLOBAL, 1, { type: 'mldv1Query', maxResponseDelay: 1000, group: UNSPECIFIED }), 0, PUNT_LOCAL);
  assert.deepEqual(datapath.take(), []);
  assert.equal(stack.drops.no_listener, 1);
  echo.stop();
  stack.stop();

  const noHost = setup();
  noHost.datapath.punt(tooBig, 0, PUNT_LOCAL);
  assert.deepEqual(noHost.datapath.take(), []);
  assert.equal(noHost.stack.drops.no_listener, 1);
  noHost.stack.stop();
});

test('address unreachable about a packet the kernel sent from the router\'s address goes back to it on the host port', () => {
  const { clock, datapath, stack } = setup({ hostPort: HOST_PORT });
  const fromKernel = udp(ROUTER_GLOBAL, HOST_2, 40000, 53, Uint8Array.of(1));
  datapath.punt(fromKernel, HOST_PORT, PUNT_RESOLVE, 0);
  clock.advance(10_000);
  const errors = datapath.take().filter((i) => i.port === HOST_PORT);
  const out = sent(only(errors));
  assert.deepEqual([out.ip.src, out.ip.dst], [ROUTER_GLOBAL, ROUTER_GLOBAL]);
  assert.deepEqual(icmpOf(out), { type: 'destinationUnreachable', code: 3, invoking: fromKernel });
  stack.stop();
});

test('a bad or zero UDP checksum is counted bad_checksum and delivered nowhere (RFC 8200 §8.1)', () => {
  const { datapath, stack } = setup({ hostPort: HOST_PORT });
  const got: ReceivedUdp[] = [];
  stack.api('test').bindUdp(5000, (d) => got.push(d));
  const corrupted = udp(HOST, ROUTER_GLOBAL, 40000, 5000, Uint8Array.of(1, 2, 3, 4));
  corrupted[IPV6_HEADER_LEN + 8] ^= 0xff;
  const zero = udp(HOST, ROUTER_GLOBAL, 40000, 5000, Uint8Array.of(1, 2, 3, 4));
  zero[IPV6_HEADER_LEN + 6] = 0;
  zero[IPV6_HEADER_LEN + 7] = 0;
  datapath.punt(corrupted, 0, PUNT_LOCAL);
  datapath.punt(zero, 0, PUNT_LOCAL);
  assert.equal(stack.drops.bad_checksum, 2);
  assert.deepEqual(got, []);
  assert.deepEqual(datapath.take(), []);
  stack.stop();
});

test('ND with hop limit 254 is dropped as nd_hop_limit (RFC 4861 §7.1.1) and answered by nothing', () => {
  const { datapath, stack } = setup();
  const ns = icmpv6(HOST, solicitedNodeMulticast(ROUTER_GLOBAL), 254, { type: 'neighborSolicitation', target: ROUTER_GLOBAL, options: [{ type: 'sourceLinkLayerAddress', mac: HOST_MAC }] });
  datapath.punt(ns, 0, PUNT_MULTICAST);
  assert.equal(stack.drops.nd_hop_limit, 1);
  assert.deepEqual(datapath.take(), []);
  assert.equal(stack.neighbors.lookup(0, HOST), undefined, 'nothing learnt from it');
  stack.stop();
});

test('updateInterface adds an address: its connected and local routes are in the next FIB, and DAD probes it', async () => {
  const { datapath, stack } = setup();
  const added = ip('2001:db8:9::1');
  const fibsBefore = datapath.fibs.length;
  assert.equal(route(datapath.fibView(), ip('2001:db8:9::5')), null);
  stack.updateInterface(0, { addresses: [{ addr: ROUTER_GLOBAL, prefixLen: 64 }, { addr: added, prefixLen: 64 }], mtu: 1500, ra: null });
  await settle();
  assert.equal(datapath.fibs.length, fibsBefore + 1, 'one coalesced FIB publish');
  const view = datapath.fibView();
  assert.deepEqual(route(view, ip('2001:db8:9::5')), { kind: NH_CONNECTED, port: 0, mtu: 1500 });
  assert.deepEqual(route(view, added), { kind: NH_LOCAL, port: 0, mtu: 0 });
  assert.deepEqual(route(view, HOST), { kind: NH_CONNECTED, port: 0, mtu: 1500 }, 'the old prefix stays');
  // RFC 4862 §5.4.2: the new address is probed from :: to its solicited-node group.
  const dad = sent(only(datapath.take()));
  assert.deepEqual([dad.ip.src, dad.ip.dst, dad.ip.hopLimit], [UNSPECIFIED, solicitedNodeMulticast(added), 255]);
  assert.deepEqual(icmpOf(dad), { type: 'neighborSolicitation', target: added, options: [] });
  stack.stop();
});

test('ra.accept: a punted RA on an accepting port gives the FIB a default route via its sender; turning accept off withdraws it', async () => {
  const clock = new ManualClock(0);
  const datapath = new FakeDatapath();
  const stack = new Stack({ clock, rng: new SeededRng(42), datapath, log: quietLog });
  stack.addInterface({ name: 'wan0', port: 0, kind: 'tap', mac: ROUTER_MAC, mtu: 1500, addresses: [], ra: null, acceptRa: true });
  stack.publishTables();
  stack.start();
  const upstream = ip('fe80::1');
  const ra: AnyIcmpv6Message = {
    type: 'routerAdvertisement', curHopLimit: 64, managed: true, other: false, routerLifetime: 1800, reachableTime: 0, retransTimer: 0,
    options: [{ type: 'sourceLinkLayerAddress', mac: HOST_MAC }],
  };
  datapath.punt(icmpv6(upstream, ip('ff02::1'), 255, ra), 0, PUNT_MULTICAST);
  await settle();
  assert.equal(stack.rib.best(UNSPECIFIED, 0)?.origin, 'ra');
  assert.deepEqual(route(datapath.fibView(), FAR), { kind: NH_GATEWAY, port: 0, mtu: 1500 });
  stack.updateInterface(0, { addresses: [], mtu: 1500, ra: null, acceptRa: false });
  await settle();
  assert.equal(route(datapath.fibView(), FAR), null);
  stack.stop();
});

test('a port added while the stack runs advertises at once; removed, it sends a final RA and takes its routes, neighbours and table entry with it', async () => {
  const { clock, datapath, stack } = setup();
  stack.start();
  await settle();
  datapath.take();
  const lan1Mac = mac('02:00:00:00:00:02');
  stack.addInterface({ name: 'lan1', port: 3, kind: 'tap', mac: lan1Mac, mtu: 1500, addresses: [{ addr: ip('2001:db8:3::1'), prefixLen: 64 }], ra: defaultRaConfig({ maxInterval: 600 }) });
  assert.deepEqual(datapath.portTables.at(-1)!.map((e) => e.port), [0, 3], 'the lanes see the new port in the next port table');
  stack.startInterface(3);
  await settle();
  const first = datapath.take().filter((i) => i.port === 3).map((i) => icmpOf(sent(i)).type);
  assert.ok(first.includes('routerAdvertisement'), `an initial RA on the new port (RFC 4861 §6.2.4): ${first.join(', ')}`);
  // A route through the new port, and a neighbour learnt on it.
  stack.addRoute({ prefix: ip('2001:db8:30::'), prefixLen: 48, origin: 'static', preference: 1, metric: 0, kind: 'unicast', nexthops: [{ port: 3, gateway: ip('2001:db8:3::2') }] });
  stack.addRoute({ prefix: ip('2001:db8:40::'), prefixLen: 48, origin: 'static', preference: 1, metric: 0, kind: 'unicast', nexthops: [{ port: 3, gateway: ip('2001:db8:3::2') }, { port: 0, gateway: HOST }] });
  const na: AnyIcmpv6Message = { type: 'neighborAdvertisement', router: false, solicited: false, override: true, target: ip('2001:db8:3::2'), options: [{ type: 'targetLinkLayerAddress', mac: HOST_MAC_2 }] };
  datapath.punt(icmpv6(ip('2001:db8:3::2'), ip('ff02::1'), 255, na), 3, PUNT_MULTICAST);
  await settle();
  assert.deepEqual(route(datapath.fibView(), ip('2001:db8:30::5')), { kind: NH_GATEWAY, port: 3, mtu: 1500 });

  clock.advance(1000);
  stack.removeInterface(3);
  await settle();
  const last = datapath.take().filter((i) => i.port === 3).map((i) => icmpOf(sent(i)));
  assert.ok(last.some((m) => m.type === 'routerAdvertisement' && m.routerLifetime === 0), 'a final RA with router lifetime 0 (RFC 4861 §6.2.5)');
  assert.equal(stack.interfaces.byName('lan1'), undefined);
  assert.deepEqual(datapath.portTables.at(-1)!.map((e) => e.port), [0], 'the port is out of the lanes\' port table');
  assert.equal(stack.neighbors.lookup(3, ip('2001:db8:3::2')), undefined, 'its neighbours are gone');
  assert.equal(route(datapath.fibView(), ip('2001:db8:30::5')), null, 'a route only through it is withdrawn');
  assert.equal(route(datapath.fibView(), ip('2001:db8:3::5')), null, 'its connected prefix is withdrawn');
  assert.deepEqual(stack.rib.best(ip('2001:db8:40::'), 48)?.nexthops.map((n) => n.port), [0], 'an ECMP route keeps its other next hop');
  // Nothing more is sent on the port: its RA timers are gone.
  clock.advance(3_600_000);
  await settle();
  assert.deepEqual(datapath.take().filter((i) => i.port === 3), []);
  // The index can serve another port.
  stack.addInterface({ name: 'lan2', port: 3, kind: 'tun', mac: null, mtu: 1400, addresses: [], ra: null });
  assert.equal(stack.interfaces.byPort(3)?.name, 'lan2');
  stack.stop();
});

test('interfaces[].redirects reaches the port table: off at start, on again by updateInterface; never on a tun port', () => {
  const datapath = new FakeDatapath();
  const stack = new Stack({ clock: new ManualClock(0), rng: new SeededRng(42), datapath, log: quietLog });
  const addresses = [{ addr: ROUTER_GLOBAL, prefixLen: 64 }];
  stack.addInterface({ name: 'lan0', port: 0, kind: 'tap', mac: ROUTER_MAC, mtu: 1500, addresses, ra: null, redirects: false });
  stack.addInterface({ name: 'tun0', port: 1, kind: 'tun', mac: null, mtu: 1500, addresses: [], ra: null });
  stack.publishTables();
  assert.deepEqual(datapath.lastPorts().map((p) => p.redirects), [false, false]);
  stack.updateInterface(0, { addresses, mtu: 1500, ra: null, redirects: true });
  assert.deepEqual(datapath.lastPorts().map((p) => p.redirects), [true, false]);
});

test('PUNT_RESOLVE under ECMP: with two gateways on the port, the one with no link-layer address yet is solicited', async () => {
  const { datapath, stack } = setup();
  const gwA = ip('fe80::a');
  const gwB = ip('fe80::b');
  stack.addRoute({ prefix: ip('2001:db8:99::'), prefixLen: 64, origin: 'ripng', preference: 120, metric: 2, kind: 'unicast', nexthops: [{ port: 0, gateway: gwA }, { port: 0, gateway: gwB }] });
  const solicited = () => {
    const ns = icmpOf(sent(only(datapath.take())));
    assert.equal(ns.type, 'neighborSolicitation');
    return ns.type === 'neighborSolicitation' ? formatIpv6(ns.target) : '';
  };
  datapath.punt(udp(FAR, ip('2001:db8:99::5'), 4000, 53, Uint8Array.of(1)), 1, PUNT_RESOLVE, 0);
  assert.equal(solicited(), 'fe80::a', 'neither known: the first');
  const na = icmpv6(gwA, ROUTER_GLOBAL, 255, { type: 'neighborAdvertisement', router: true, solicited: true, override: true, target: gwA, options: [{ type: 'targetLinkLayerAddress', mac: HOST_MAC_2 }] });
  datapath.punt(na, 0, PUNT_LOCAL);
  datapath.take();
  // The lane punts again for a flow hashed to the other member: that one is solicited.
  datapath.punt(udp(FAR, ip('2001:db8:99::6'), 4001, 53, Uint8Array.of(1)), 1, PUNT_RESOLVE, 0);
  assert.equal(solicited(), 'fe80::b');
  stack.stop();
});
