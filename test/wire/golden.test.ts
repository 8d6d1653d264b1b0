/**
 * Golden bytes from scapy (an independent implementation): decoding them gives the expected
 * fields, and encoding those fields reproduces them exactly, checksums included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIpv6, formatMac, parseIpv6 } from '../../src/lib/addr.js';
import { decodeEthernetHeader, encodeEthernetHeader, ethType, ETHERTYPE_IPV6, ETH_HEADER_LEN } from '../../src/wire/ethernet.js';
import {
  decodeExtensionHeaderChain,
  encodeExtensionHeaderChain,
  walkExtensionHeaders,
  WALK_FRAGMENT_HEADER,
  WALK_HOP_BY_HOP,
  WALK_OK,
  WALK_OUT_SIZE,
  WALK_PARAM_CODE,
  WALK_PARAM_POINTER,
  WALK_PARAM_PROBLEM,
  WALK_ROUTER_ALERT,
  WALK_ROUTING_HEADER,
  WALK_UPPER_OFFSET,
  WALK_UPPER_PROTOCOL,
  type ExtensionHeaderChain,
} from '../../src/wire/ext-headers.js';
import { verifyIcmpv6Checksum } from '../../src/wire/icmpv6.js';
import { decodeIcmpv6Message, encodeIcmpv6Message, type AnyIcmpv6Message } from '../../src/wire/icmpv6-message.js';
import { decodeIpv6Header, encodeIpv6Header, IPPROTO, IPV6_HEADER_LEN, type Ipv6Header } from '../../src/wire/ipv6.js';
import { findOption } from '../../src/wire/nd.js';
import { decodeUdpHeader, encodeUdpDatagram, verifyUdpChecksum } from '../../src/wire/udp.js';
import { golden, goldenFile } from './goldens.js';

const text = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

interface IcmpPacket {
  readonly ip: Ipv6Header;
  readonly chain: ExtensionHeaderChain;
  readonly upperOffset: number;
  readonly msg: AnyIcmpv6Message;
}

/** Decodes IPv6 header, extension headers and ICMPv6 message, checking the checksum. */
function decodeIcmpPacket(pkt: Uint8Array): IcmpPacket {
  const ip = decodeIpv6Header(pkt, 0);
  assert.ok(ip.ok, 'IPv6 header decodes');
  assert.equal(ip.value.payloadLength, pkt.length - IPV6_HEADER_LEN);
  const chain = decodeExtensionHeaderChain(pkt, IPV6_HEADER_LEN, ip.value.nextHeader, ip.value.payloadLength);
  assert.ok(chain.ok, 'extension headers decode');
  assert.equal(chain.value.upperProtocol, IPPROTO.ICMPV6);
  const upperOffset = IPV6_HEADER_LEN + chain.length;
  assert.ok(verifyIcmpv6Checksum(pkt, 0, upperOffset, pkt.length - upperOffset), 'scapy checksum verifies');
  const msg = decodeIcmpv6Message(pkt, upperOffset, pkt.length - upperOffset);
  assert.ok(msg.ok, `ICMPv6 decodes: ${msg.ok ? '' : msg.reason}`);
  assert.equal(msg.length, pkt.length - upperOffset);
  return { ip: ip.value, chain: chain.value, upperOffset, msg: msg.value };
}

/** Encodes the decoded parts into a fresh buffer and compares with the golden. */
function assertReencodes(pkt: Uint8Array, p: IcmpPacket): void {
  const out = new Uint8Array(pkt.length).fill(0xa5);
  encodeIpv6Header(p.ip, out, 0);
  const chainLen = encodeExtensionHeaderChain(p.chain, out, IPV6_HEADER_LEN);
  assert.equal(IPV6_HEADER_LEN + chainLen, p.upperOffset);
  const len = encodeIcmpv6Message(p.msg, p.ip.src, p.ip.dst, out, p.upperOffset);
  assert.equal(p.upperOffset + len, pkt.length);
  assert.deepEqual(out, pkt);
}

function icmpGolden(name: string): IcmpPacket {
  const pkt = golden(name);
  const p = decodeIcmpPacket(pkt);
  assertReencodes(pkt, p);
  return p;
}

test('goldens record their provenance', () => {
  assert.equal(goldenFile.provenance.tool, 'scapy');
  assert.match(goldenFile.provenance.version, /^\d+\.\d+/);
  for (const entry of Object.values(goldenFile.packets)) assert.ok(entry.expression.length > 0);
});

test('echo request and reply', () => {
  for (const [name, type] of [['echo_request', 'echoRequest'], ['echo_reply', 'echoReply']] as const) {
    const { ip, msg } = icmpGolden(name);
    assert.equal(ip.hopLimit, 64);
    assert.equal(ip.nextHeader, IPPROTO.ICMPV6);
    assert.equal(msg.type, type);
    assert.ok(msg.type === 'echoRequest' || msg.type === 'echoReply');
    assert.equal(msg.identifier, 0x1234);
    assert.equal(msg.sequence, 7);
    assert.equal(text(msg.data), 'turtle6-ping');
  }
  const { ip } = icmpGolden('echo_request');
  assert.equal(formatIpv6(ip.src), '2001:db8::1');
  assert.equal(formatIpv6(ip.dst), '2001:db8::2');
});

test('destination unreachable carries the invoking packet', () => {
  const { msg } = icmpGolden('dest_unreach');
  assert.ok(msg.type === 'destinationUnreachable');
  assert.equal(msg.code, 3);
  const inner = decodeIpv6Header(msg.invoking, 0);
  assert.ok(inner.ok);
  assert.equal(formatIpv6(inner.value.dst), '2001:db8:99::5');
  const udp = decodeUdpHeader(msg.invoking, IPV6_HEADER_LEN);
  assert.ok(udp.ok);
  assert.equal(udp.value.dstPort, 53);
});

test('packet too big', () => {
  const { msg } = icmpGolden('packet_too_big');
  assert.ok(msg.type === 'packetTooBig');
  assert.equal(msg.mtu, 1400);
  assert.equal(msg.invoking.length, 40 + 8 + 40);
});

test('time exceeded', () => {
  const { msg } = icmpGolden('time_exceeded');
  assert.ok(msg.type === 'timeExceeded');
  assert.equal(msg.code, 0);
  const inner = decodeIpv6Header(msg.invoking, 0);
  assert.ok(inner.ok);
  assert.equal(inner.value.hopLimit, 0);
});

test('parameter problem: scapy pointer matches what the walker reports for the invoking packet', () => {
  const { msg } = icmpGolden('param_problem');
  assert.ok(msg.type === 'parameterProblem');
  assert.equal(msg.code, 2);
  assert.equal(msg.pointer, 42);
  const out = new Int32Array(WALK_OUT_SIZE);
  assert.equal(walkExtensionHeaders(msg.invoking, 0, msg.invoking.length, out), WALK_PARAM_PROBLEM);
  assert.equal(out[WALK_PARAM_CODE], 2);
  assert.equal(out[WALK_PARAM_POINTER], 42);
});

test('neighbor solicitation', () => {
  const { ip, msg } = icmpGolden('nd_ns');
  assert.equal(ip.hopLimit, 255);
  assert.equal(formatIpv6(ip.dst), 'ff02::1:ff00:2');
  assert.ok(msg.type === 'neighborSolicitation');
  assert.equal(formatIpv6(msg.target), '2001:db8::2');
  const slla = findOption(msg.options, 'sourceLinkLayerAddress');
  assert.ok(slla);
  assert.equal(formatMac(slla.mac), '02:00:00:00:00:01');
});

test('neighbor advertisement', () => {
  const { msg } = icmpGolden('nd_na');
  assert.ok(msg.type === 'neighborAdvertisement');
  assert.deepEqual([msg.router, msg.solicited, msg.override], [true, true, true]);
  assert.equal(formatIpv6(msg.target), '2001:db8::2');
  assert.equal(formatMac(findOption(msg.options, 'targetLinkLayerAddress')!.mac), '02:00:00:00:00:02');
});

test('router solicitation', () => {
  const { msg } = icmpGolden('nd_rs');
  assert.ok(msg.type === 'routerSolicitation');
  assert.equal(msg.options.length, 1);
  assert.equal(formatMac(findOption(msg.options, 'sourceLinkLayerAddress')!.mac), '02:00:00:00:00:02');
});

test('router advertisement with SLLA, MTU, prefix, RDNSS and DNSSL', () => {
  const { msg } = icmpGolden('nd_ra');
  assert.ok(msg.type === 'routerAdvertisement');
  assert.equal(msg.curHopLimit, 64);
  assert.equal(msg.managed, false);
  assert.equal(msg.other, true);
  assert.equal(msg.routerLifetime, 1800);
  assert.equal(msg.reachableTime, 30000);
  assert.equal(msg.retransTimer, 1000);
  assert.deepEqual(
    msg.options.map((o) => o.type),
    ['sourceLinkLayerAddress', 'mtu', 'prefixInformation', 'rdnss', 'dnssl'],
  );
  assert.equal(findOption(msg.options, 'mtu')!.mtu, 1500);
  const pio = findOption(msg.options, 'prefixInformation')!;
  assert.equal(pio.prefixLength, 64);
  assert.equal(pio.onLink, true);
  assert.equal(pio.autonomous, true);
  assert.equal(pio.validLifetime, 86400);
  assert.equal(pio.preferredLifetime, 14400);
  assert.equal(formatIpv6(pio.prefix), '2001:db8:1::');
  const rdnss = findOption(msg.options, 'rdnss')!;
  assert.equal(rdnss.lifetime, 600);
  assert.deepEqual(rdnss.servers.map((s) => formatIpv6(s)), ['2001:db8::53', '2001:db8::54']);
  const dnssl = findOption(msg.options, 'dnssl')!;
  assert.equal(dnssl.lifetime, 600);
  assert.deepEqual(dnssl.domains, ['lab.turtle6.example', 'example.org']);
});

test('MLDv2 report behind a Hop-by-Hop Router Alert', () => {
  const pkt = golden('hbh_router_alert_mldv2_report');
  const { ip, chain, msg } = decodeIcmpPacket(pkt);
  assertReencodes(pkt, { ip, chain, upperOffset: 48, msg });
  assert.equal(ip.hopLimit, 1);
  assert.equal(ip.nextHeader, IPPROTO.HOPOPTS);
  assert.equal(chain.headers.length, 1);
  const hbh = chain.headers[0]!;
  assert.ok(hbh.kind === 'hopByHop');
  assert.deepEqual(hbh.options[0], { type: 5, data: Uint8Array.of(0, 0) });
  assert.ok(msg.type === 'mldv2Report');
  assert.equal(msg.records.length, 2);
  assert.equal(msg.records[0]!.recordType, 4);
  assert.equal(formatIpv6(msg.records[0]!.group), 'ff05::1:3');
  assert.deepEqual(msg.records[1]!.sources.map((s) => formatIpv6(s)), ['2001:db8::7', '2001:db8::8']);

  const out = new Int32Array(WALK_OUT_SIZE);
  assert.equal(walkExtensionHeaders(pkt, 0, pkt.length, out), WALK_OK);
  assert.equal(out[WALK_HOP_BY_HOP], 1);
  assert.equal(out[WALK_ROUTER_ALERT], 0, 'Router Alert value 0 means MLD (RFC 2711)');
  assert.equal(out[WALK_UPPER_PROTOCOL], IPPROTO.ICMPV6);
  assert.equal(out[WALK_UPPER_OFFSET], 48);
});

test('MLDv2 general query', () => {
  const { msg } = icmpGolden('mldv2_query');
  assert.ok(msg.type === 'mldv2Query');
  assert.equal(msg.maxResponseCode, 10000);
  assert.equal(formatIpv6(msg.group), '::');
  assert.equal(msg.robustness, 2);
  assert.equal(msg.queryIntervalCode, 125);
  assert.equal(msg.suppressRouterProcessing, false);
  assert.equal(msg.sources.length, 0);
});

test('extension header chain with a first fragment', () => {
  const pkt = golden('fragment_chain');
  const out = new Int32Array(WALK_OUT_SIZE);
  assert.equal(walkExtensionHeaders(pkt, 0, pkt.length, out), WALK_OK);
  assert.equal(out[WALK_ROUTER_ALERT], 2);
  assert.equal(out[WALK_ROUTING_HEADER], 48);
  assert.equal(out[WALK_FRAGMENT_HEADER], 64);
  assert.equal(out[WALK_UPPER_PROTOCOL], IPPROTO.UDP);
  assert.equal(out[WALK_UPPER_OFFSET], 72);

  const chain = decodeExtensionHeaderChain(pkt, IPV6_HEADER_LEN, IPPROTO.HOPOPTS, pkt.length - IPV6_HEADER_LEN);
  assert.ok(chain.ok);
  assert.equal(chain.length, 32);
  assert.deepEqual(chain.value, {
    upperProtocol: IPPROTO.UDP,
    headers: [
      { kind: 'hopByHop', options: [{ type: 5, data: Uint8Array.of(0, 2) }, { type: 1, data: new Uint8Array(0) }] },
      { kind: 'routing', routingType: 0, segmentsLeft: 0, data: new Uint8Array(4) },
      { kind: 'destinationOptions', options: [{ type: 1, data: new Uint8Array(4) }] },
      { kind: 'fragment', fragmentOffset: 0, more: true, identification: 0xdeadbeef },
    ],
  });
  const re = new Uint8Array(32).fill(0xa5);
  assert.equal(encodeExtensionHeaderChain(chain.value, re, 0), 32);
  assert.deepEqual(re, pkt.subarray(40, 72));
  const udp = decodeUdpHeader(pkt, 72, pkt.length - 72);
  assert.ok(udp.ok);
  assert.deepEqual([udp.value.srcPort, udp.value.dstPort, udp.value.length], [5000, 6000, 24]);
});

test('UDP datagram with traffic class and flow label', () => {
  const pkt = golden('udp');
  const ip = decodeIpv6Header(pkt, 0);
  assert.ok(ip.ok);
  assert.equal(ip.value.trafficClass, 0x28);
  assert.equal(ip.value.flowLabel, 0x12345);
  assert.equal(ip.value.nextHeader, IPPROTO.UDP);
  const udp = decodeUdpHeader(pkt, 40, ip.value.payloadLength);
  assert.ok(udp.ok);
  assert.deepEqual(
    { srcPort: udp.value.srcPort, dstPort: udp.value.dstPort, length: udp.value.length },
    { srcPort: 546, dstPort: 547, length: pkt.length - 40 },
  );
  assert.ok(verifyUdpChecksum(pkt, 0, 40, pkt.length - 40));

  const out = new Uint8Array(pkt.length).fill(0xa5);
  encodeIpv6Header(ip.value, out, 0);
  encodeUdpDatagram({ srcPort: 546, dstPort: 547, payload: pkt.slice(48) }, ip.value.src, ip.value.dst, out, 40);
  assert.deepEqual(out, pkt);
});

test('Ethernet header in front of an NS', () => {
  const frame = golden('ethernet_ns');
  assert.equal(ethType(frame, 0), ETHERTYPE_IPV6);
  const eth = decodeEthernetHeader(frame, 0);
  assert.ok(eth.ok);
  assert.equal(formatMac(eth.value.dst), '33:33:ff:00:00:02');
  assert.equal(formatMac(eth.value.src), '02:00:00:00:00:01');
  const re = new Uint8Array(ETH_HEADER_LEN).fill(0xa5);
  encodeEthernetHeader(eth.value, re, 0);
  assert.deepEqual(re, frame.subarray(0, ETH_HEADER_LEN));
  assert.deepEqual(frame.subarray(ETH_HEADER_LEN), golden('nd_ns'));
  assert.deepEqual(parseIpv6('ff02::1:ff00:2'), frame.slice(ETH_HEADER_LEN + 24, ETH_HEADER_LEN + 40));
});
