/**
 * Every fuzz target (fuzz.ts runs them): each codec of src/wire, the lane's parse path (a
 * whole Lane over the MemoryEngine, TAP and TUN ports, routes, neighbours and an ESP SA),
 * and the control plane's receive path (Stack.handlePunt with the echo, RIPng and DHCPv6
 * server modules bound). Corpora are the golden packets: scapy's (goldens.json), BIRD's
 * RIPng captures, wide-dhcpv6's and Kea's DHCPv6 messages, BIND's and Unbound's DNS replies,
 * scapy's ESP packets, and ESP packets sealed here with the lane's peer SA.
 *
 * A target fails on an escaped exception, and on a broken invariant it checks: decoders
 * claim no more bytes than they were given; the lane balances its books per port
 * (rx_packets = forwarded + punted + Σ drops) and keeps its pool's free list whole.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../src/lib/clock.js';
import { SeededRng } from '../../src/lib/rng.js';
import { HEADROOM, type PacketPool } from '../../src/shm/pool.js';
import { dhcpv6Section, type Dhcpv6Config } from '../../src/config/sections/dhcpv6.js';
import { C, DROPS, TRAFFIC } from '../../src/dataplane/counters.js';
import { armTrace, disarmTrace } from '../../src/dataplane/trace.js';
import { INJECT_RAW, INJECT_ROUTE, PUNT_LOCAL, PUNT_MULTICAST, PUNT_RESOLVE, PUNT_ROUTER_ALERT } from '../../src/shm/punt.js';
import { Stack } from '../../src/stack/stack.js';
import type { StackApi } from '../../src/stack/stack-api.js';
import type { ModuleContext, ModuleLogger } from '../../src/protocols/module.js';
import { EchoResponder } from '../../src/protocols/echo/echo.js';
import { RipngModule } from '../../src/protocols/ripng/ripng.js';
import { Dhcpv6Module } from '../../src/protocols/dhcpv6/dhcpv6.js';
import type { Decoded } from '../../src/wire/result.js';
import { decodeEthernetHeader, encodeEthernetHeader, encodingLengthEthernetHeader, ethType, ETH_HEADER_LEN } from '../../src/wire/ethernet.js';
import { decodeIpv6Header, encodeIpv6Header, encodingLengthIpv6Header, IPPROTO, IPV6_HEADER_LEN, setIp6PayloadLength } from '../../src/wire/ipv6.js';
import {
  decodeExtensionHeaderChain,
  encodeExtensionHeaderChain,
  encodingLengthExtensionHeaderChain,
  validateDestinationHeaders,
  validateOptionsTlv,
  walkExtensionHeaders,
  WALK_OK,
  WALK_OUT_SIZE,
  WALK_UPPER_OFFSET,
  WALK_UPPER_PROTOCOL,
} from '../../src/wire/ext-headers.js';
import { decodeIcmpv6, fillIcmpv6Checksum, ICMP6, mayGenerateErrorAbout, verifyIcmpv6Checksum } from '../../src/wire/icmpv6.js';
import { decodeIcmpv6Message, encodeIcmpv6Message, icmpv6MessageLength } from '../../src/wire/icmpv6-message.js';
import { flowHash, flowLabel } from '../../src/wire/flow-hash.js';
import { decodeNdMessage, encodeNdMessage, ndMessageLength } from '../../src/wire/nd.js';
import { decodeMldMessage, encodeMldMessage, mldMessageLength } from '../../src/wire/mld.js';
import { decodeUdpHeader, encodeUdpDatagram, fillUdpChecksum, verifyUdpChecksum } from '../../src/wire/udp.js';
import { decodeRipng, encodeRipng, encodingLengthRipng, RIPNG_PORT } from '../../src/wire/ripng.js';
import { authOptionOffset, decodeDhcp6, encodeDhcp6, encodingLengthDhcp6, DHCP6_CLIENT_PORT, DHCP6_SERVER_PORT, filterOptions, parseDuid } from '../../src/wire/dhcpv6.js';
import { authMacOffset, decodeDelayedAuthInfo, decodeReconfigureKeyInfo, decodeSecret } from '../../src/wire/dhcpv6-auth.js';
import { checkEspTrailer, decodeEspHeader, decodeEspPlaintext, encodeEspHeader, encodeEspPlaintext, encodingLengthEspHeader, encodingLengthEspPlaintext, espPadLength, writeEspTrailer, ESP_NEXT_HEADER_IPV6 } from '../../src/wire/esp.js';
import { decodeDns, encodeDns, encodingLengthDns, parseDnsName, parseDnsType, parseIp6ArpaName } from '../../src/wire/dns.js';
import { goldenFile } from '../wire/goldens.js';
import { dnsMessages } from './dns-fixtures.js';
import { config as ripngConfig } from '../protocols/ripng/harness.js';
import {
  BLACKHOLED,
  GATEWAY,
  H1,
  H1_MAC,
  H2,
  H2_MAC,
  H3,
  INCOMPLETE_HOST,
  LaneHarness,
  NO_ROUTE,
  R0_GLOBAL,
  R0_LL,
  R0_MAC,
  R1_GLOBAL,
  R1_MAC,
  REJECTED,
  REMOTE,
  TAP0,
  TAP1,
  TUN2,
  UNKNOWN_HOST,
  ethFrame,
  ip,
  mac,
} from '../dataplane/harness.js';
import { espStage, h1h3Tunnel } from './esp-stage.js';
import { pcapFrames, type FuzzTarget } from './fuzz.js';
import { PacketContext } from '../../src/dataplane/packet-context.js';

/** Where the ESP stage leaves what it found out about a packet (its position after encapsulation or decapsulation). */
const pc = new PacketContext();

// ---- corpora -----------------------------------------------------------------------------

// Compiled helpers run from dist/test/helpers; the fixtures stay in the source tree.
const fixture = (path: string) => readFileSync(new URL(`../../../test/${path}`, import.meta.url));
const fromHex = (hex: string) => Uint8Array.from(Buffer.from(hex, 'hex'));

function jsonFixture<T>(path: string): T {
  return JSON.parse(fixture(path).toString('utf8')) as T;
}

/** RIPng payloads captured from BIRD (plain and demand-circuit, RFC 2080 and RFC 2091). */
function ripngMessages(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const f of ['ripng-goldens.json', 'ripng-demand-goldens.json']) {
    for (const p of Object.values(jsonFixture<{ packets: Record<string, { hex: string }> }>(`fixtures/wire/${f}`).packets)) out.push(fromHex(p.hex));
  }
  return out;
}

/** DHCPv6 messages captured from wide-dhcpv6 (with delayed authentication) and Kea. */
function dhcpv6Messages(): Uint8Array[] {
  return Object.values(jsonFixture<{ messages: Record<string, string> }>('fixtures/wire/dhcpv6-goldens.json').messages).map(fromHex);
}

/** scapy's ESP packets (IPv6 + ESP, tunnel and transport, several ciphers). */
function scapyEspPackets(): Uint8Array[] {
  return jsonFixture<{ cases: Array<{ packet: string }> }>('interop/scapy-esp/goldens.json').cases.map((c) => fromHex(c.packet));
}

/** The Ethernet frames of the BIRD captures (the pcaps are kept beside the goldens). */
function capturedFrames(): Uint8Array[] {
  return ['ripng-bird.pcap', 'ripng-demand-bird.pcap'].flatMap((f) => pcapFrames(fixture(`fixtures/wire/${f}`)));
}

/** An IPv6 packet with `upper` as its payload (checksums as the caller left them). */
function ipv6With(src: Uint8Array, dst: Uint8Array, nextHeader: number, hopLimit: number, upper: Uint8Array): Uint8Array {
  const pkt = new Uint8Array(IPV6_HEADER_LEN + upper.length);
  encodeIpv6Header({ trafficClass: 0, flowLabel: 0, payloadLength: upper.length, nextHeader, hopLimit, src, dst }, pkt, 0);
  pkt.set(upper, IPV6_HEADER_LEN);
  return pkt;
}

function udpPacket(src: Uint8Array, dst: Uint8Array, srcPort: number, dstPort: number, payload: Uint8Array): Uint8Array {
  const upper = new Uint8Array(8 + payload.length);
  encodeUdpDatagram({ srcPort, dstPort, payload }, src, dst, upper, 0);
  return ipv6With(src, dst, IPPROTO.UDP, 255, upper);
}

const LL_PEER = ip('fe80::99');
const ALL_RIP_ROUTERS = ip('ff02::9');
const ALL_DHCP_AGENTS = ip('ff02::1:2');

/**
 * Whole IPv6 packets: scapy's goldens (ICMPv6 errors, ND, MLDv2 behind Hop-by-Hop, a
 * fragment chain, UDP), scapy's ESP, the captured frames without their Ethernet header,
 * and the RIPng and DHCPv6 messages in UDP.
 */
function ipPackets(): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const [name, p] of Object.entries(goldenFile.packets)) {
    const bytes = fromHex(p.hex);
    out.push(name.startsWith('ethernet_') ? bytes.subarray(ETH_HEADER_LEN) : bytes);
  }
  out.push(...scapyEspPackets());
  for (const f of capturedFrames()) if (ethType(f, 0) === 0x86dd) out.push(f.subarray(ETH_HEADER_LEN));
  for (const m of ripngMessages()) out.push(udpPacket(LL_PEER, ALL_RIP_ROUTERS, RIPNG_PORT, RIPNG_PORT, m));
  for (const m of dhcpv6Messages()) out.push(udpPacket(LL_PEER, ALL_DHCP_AGENTS, DHCP6_CLIENT_PORT, DHCP6_SERVER_PORT, m));
  return out;
}

const walkOut = new Int32Array(WALK_OUT_SIZE);

/** The upper-layer bytes of the packets in `packets` that carry protocol `proto`. */
function upperLayers(packets: readonly Uint8Array[], proto: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const p of packets) {
    if (walkExtensionHeaders(p, 0, p.length, walkOut) === WALK_OK && walkOut[WALK_UPPER_PROTOCOL] === proto) out.push(p.slice(walkOut[WALK_UPPER_OFFSET]!));
  }
  return out;
}

/** ESP payloads (after the IPv6 header) and plaintexts with a valid trailer (RFC 4303 §2.4). */
function espCorpus(): Uint8Array[] {
  const out = scapyEspPackets().map((p) => p.slice(IPV6_HEADER_LEN));
  for (const inner of ipPackets().slice(0, 8)) {
    const pad = espPadLength(inner.length, 16);
    const pt = new Uint8Array(inner.length + pad + 2);
    pt.set(inner, 0);
    writeEspTrailer(pt, inner.length, pad, ESP_NEXT_HEADER_IPV6);
    out.push(pt);
  }
  return out;
}

// ---- invariants ----------------------------------------------------------------------------

/** A decoder's answer: a value that claims at most the bytes it was given, or a reason. */
function sane(d: Decoded<unknown>, available: number): void {
  if (d.ok) {
    if (!(d.length >= 0 && d.length <= available)) throw new Error(`decoder claims ${d.length} bytes of ${available}`);
  } else if (typeof d.reason !== 'string') {
    throw new Error('decoder failed without a reason');
  }
}

/**
 * A decoded value must encode again (the control plane re-encodes what it decoded: relayed
 * DHCPv6 messages, for one) into bytes the decoder accepts.
 */
function reencodes<T>(
  d: Decoded<T>,
  length: (v: T) => number,
  encode: (v: T, buf: Uint8Array, off: number) => number,
  decode: (buf: Uint8Array, off: number, len: number) => Decoded<unknown>,
): void {
  if (!d.ok) return;
  const len = length(d.value);
  const buf = new Uint8Array(len);
  const written = encode(d.value, buf, 0);
  if (written !== len) throw new Error(`encoder wrote ${written} bytes, its length said ${len}`);
  const again = decode(buf, 0, len);
  if (!again.ok) throw new Error(`a decoded value re-encodes to bytes the decoder refuses: ${again.reason}`);
}

// ---- codec targets -------------------------------------------------------------------------

const IP_MAX = 4096;

/** The codec targets, one per src/wire module with a decoder; `module` names the file. */
export interface WireTarget extends FuzzTarget {
  readonly module: string;
}

function wire(module: string, covers: Function[], corpus: () => Uint8Array[], run: (b: Uint8Array) => void): WireTarget {
  return { name: module, module, covers, corpus, open: () => ({ run, maxLength: IP_MAX }) };
}

const ERROR_TYPES = [ICMP6.DST_UNREACH, ICMP6.PACKET_TOO_BIG, ICMP6.TIME_EXCEEDED, ICMP6.PARAM_PROBLEM];

export const WIRE_TARGETS: readonly WireTarget[] = [
  wire('ethernet', [decodeEthernetHeader], () => [...capturedFrames(), ...ipPackets().map((p) => ethFrame(R0_MAC, H1_MAC, p))], (b) => {
    const d = decodeEthernetHeader(b, 0);
    sane(d, b.length);
    reencodes(d, encodingLengthEthernetHeader, encodeEthernetHeader, decodeEthernetHeader);
  }),
  wire('ipv6', [decodeIpv6Header], ipPackets, (b) => {
    const d = decodeIpv6Header(b, 0);
    sane(d, b.length);
    reencodes(d, encodingLengthIpv6Header, encodeIpv6Header, decodeIpv6Header);
  }),
  wire('ext-headers', [walkExtensionHeaders, validateDestinationHeaders, validateOptionsTlv, decodeExtensionHeaderChain], ipPackets, (b) => {
    const out = walkOut;
    const verdict = walkExtensionHeaders(b, 0, b.length, out);
    if (verdict === WALK_OK && out[WALK_UPPER_OFFSET]! > b.length) throw new Error(`walk puts the upper layer at ${out[WALK_UPPER_OFFSET]} of ${b.length}`);
    // Local delivery validates Destination Options only after a successful walk (Stack.handlePunt).
    if (verdict === WALK_OK) validateDestinationHeaders(b, 0, b.length, out);
    if (b.length >= IPV6_HEADER_LEN + 2) {
      const end = Math.min(b.length, IPV6_HEADER_LEN + 8 * (b[IPV6_HEADER_LEN + 1]! + 1));
      validateOptionsTlv(b, 0, IPV6_HEADER_LEN + 2, end, b[6] === 0, out);
      const d = decodeExtensionHeaderChain(b, IPV6_HEADER_LEN, b[6]!);
      sane(d, b.length - IPV6_HEADER_LEN);
      reencodes(d, encodingLengthExtensionHeaderChain, encodeExtensionHeaderChain, (buf, off, len) => decodeExtensionHeaderChain(buf, off, b[6]!, len));
    }
  }),
  wire('icmpv6', [decodeIcmpv6, mayGenerateErrorAbout, verifyIcmpv6Checksum], () => ipPackets(), (b) => {
    sane(decodeIcmpv6(b, 0), b.length);
    if (b.length < IPV6_HEADER_LEN) return;
    sane(decodeIcmpv6(b, IPV6_HEADER_LEN), b.length - IPV6_HEADER_LEN);
    verifyIcmpv6Checksum(b, 0, IPV6_HEADER_LEN, b.length - IPV6_HEADER_LEN);
    for (const t of ERROR_TYPES) mayGenerateErrorAbout(b, 0, b.length, t, b[IPV6_HEADER_LEN - 1]! & 3);
  }),
  wire('flow-hash', [flowHash, flowLabel], ipPackets, (b) => {
    if (b.length < IPV6_HEADER_LEN) return;
    const h = flowHash(b, 0, b.length, 0x5eed);
    if (!Number.isInteger(h) || h < 0 || h > 0xffff_ffff) throw new Error(`hash ${h} is not a 32-bit unsigned integer`);
    // Nothing past the packet is read: bytes after it change nothing.
    const padded = new Uint8Array(b.length + 64).fill(0xa5);
    padded.set(b);
    if (flowHash(padded, 0, b.length, 0x5eed) !== h) throw new Error('the hash read past the packet');
    if (flowLabel(b, 0) > 0xfffff) throw new Error('flow label wider than 20 bits');
  }),
  wire('icmpv6-message', [decodeIcmpv6Message], () => upperLayers(ipPackets(), IPPROTO.ICMPV6), (b) => {
    const d = decodeIcmpv6Message(b, 0);
    sane(d, b.length);
    reencodes(d, icmpv6MessageLength, (m, buf, off) => encodeIcmpv6Message(m, H1, H2, buf, off), decodeIcmpv6Message);
  }),
  wire('nd', [decodeNdMessage], () => upperLayers(ipPackets(), IPPROTO.ICMPV6).filter((m) => m[0]! >= 133 && m[0]! <= 137), (b) => {
    const d = decodeNdMessage(b, 0);
    sane(d, b.length);
    reencodes(d, ndMessageLength, encodeNdMessage, decodeNdMessage);
  }),
  wire('mld', [decodeMldMessage], () => upperLayers(ipPackets(), IPPROTO.ICMPV6).filter((m) => m[0] === 130 || m[0] === 131 || m[0] === 132 || m[0] === 143), (b) => {
    const d = decodeMldMessage(b, 0);
    sane(d, b.length);
    reencodes(d, mldMessageLength, encodeMldMessage, decodeMldMessage);
  }),
  wire('udp', [decodeUdpHeader, verifyUdpChecksum], () => ipPackets().filter((p) => p[6] === IPPROTO.UDP), (b) => {
    sane(decodeUdpHeader(b, 0), b.length);
    if (b.length < IPV6_HEADER_LEN) return;
    sane(decodeUdpHeader(b, IPV6_HEADER_LEN), b.length - IPV6_HEADER_LEN);
    verifyUdpChecksum(b, 0, IPV6_HEADER_LEN, b.length - IPV6_HEADER_LEN);
  }),
  wire('ripng', [decodeRipng], ripngMessages, (b) => {
    const d = decodeRipng(b);
    sane(d, b.length);
    reencodes(d, encodingLengthRipng, encodeRipng, decodeRipng);
  }),
  wire('dhcpv6', [decodeDhcp6, authOptionOffset, parseDuid], dhcpv6Messages, (b) => {
    const d = decodeDhcp6(b);
    sane(d, b.length);
    reencodes(d, encodingLengthDhcp6, encodeDhcp6, decodeDhcp6);
    const at = authOptionOffset(b, 0, b.length);
    if (at > b.length) throw new Error(`Authentication option body at ${at} of ${b.length}`);
    // DUIDs in the config are colon hex: the input's bytes written that way, and as text.
    parseDuid([...b.subarray(0, 130)].map((x) => x.toString(16).padStart(2, '0')).join(':'));
    parseDuid(Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1'));
  }),
  wire('dhcpv6-auth', [decodeDelayedAuthInfo, decodeReconfigureKeyInfo, authMacOffset, decodeSecret], dhcpv6Messages, (b) => {
    const at = authMacOffset(b, 0, b.length);
    if (at > b.length) throw new Error(`HMAC at ${at} of ${b.length}`);
    // The info field of every Authentication option, as the module reads it (RFC 8415 §20).
    const d = decodeDhcp6(b);
    if (d.ok) {
      for (const a of filterOptions(d.value.options, 'auth')) {
        sane(decodeDelayedAuthInfo(a.info), a.info.length);
        sane(decodeReconfigureKeyInfo(a.info), a.info.length);
      }
    }
    sane(decodeDelayedAuthInfo(b), b.length);
    sane(decodeReconfigureKeyInfo(b), b.length);
    // Secrets come from key files: any text, read as base64.
    decodeSecret(Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1'));
  }),
  wire('dns', [decodeDns, parseDnsName, parseDnsType, parseIp6ArpaName], dnsMessages, (b) => {
    const d = decodeDns(b);
    sane(d, b.length);
    reencodes(d, encodingLengthDns, encodeDns, decodeDns);
    // Names and types also come as text (turtle6ctl resolve, config): the input as Latin-1.
    const text = Buffer.from(b.buffer, b.byteOffset, Math.min(b.length, 300)).toString('latin1');
    parseDnsName(text);
    parseDnsType(text);
    parseIp6ArpaName(text);
  }),
  wire('esp', [decodeEspHeader, decodeEspPlaintext, checkEspTrailer], espCorpus, (b) => {
    const h = decodeEspHeader(b, 0);
    sane(h, b.length);
    reencodes(h, encodingLengthEspHeader, encodeEspHeader, decodeEspHeader);
    const pt = decodeEspPlaintext(b, 0);
    sane(pt, b.length);
    reencodes(pt, encodingLengthEspPlaintext, encodeEspPlaintext, decodeEspPlaintext);
    if (checkEspTrailer(b, 0, b.length) > b.length) throw new Error('ESP payload longer than the plaintext');
  }),
];

// ---- the lane ------------------------------------------------------------------------------

/** `pkt` with its addresses replaced (checksums are the lane's business only when it answers). */
function readdressed(pkt: Uint8Array, src: Uint8Array, dst: Uint8Array): Uint8Array {
  const p = pkt.slice();
  if (p.length >= IPV6_HEADER_LEN) {
    p.set(src, 8);
    p.set(dst, 24);
  }
  return p;
}

/** One lane input: the ingress port's byte, then the frame (TAP: Ethernet; TUN: IPv6). */
const onPort = (port: number, frame: Uint8Array) => Uint8Array.of(port, ...frame);

/**
 * The lane corpus: every corpus packet from each port's hosts to every kind of destination
 * the tables know (forwarded, local, link-local, multicast, via the gateway, unresolved,
 * without a route, rejected, blackholed, into the ESP policy), and ESP from the peer sealed
 * with the inbound SA.
 */
function laneCorpus(): Uint8Array[] {
  const packets = ipPackets();
  const dests = [H2, H3, REMOTE, R0_GLOBAL, R1_GLOBAL, R0_LL, ip('ff02::1'), ip('ff02::9'), INCOMPLETE_HOST, UNKNOWN_HOST, NO_ROUTE, REJECTED, BLACKHOLED, GATEWAY];
  const out: Uint8Array[] = [];
  packets.forEach((p, i) => {
    const dst = dests[i % dests.length]!;
    const fix = i % 2 === 0 ? 0 : 0x10;
    out.push(onPort(TAP0 | fix, ethFrame(R0_MAC, H1_MAC, readdressed(p, H1, dst))));
    out.push(onPort(TAP0 | fix, ethFrame(mac('33:33:00:00:00:01'), H1_MAC, readdressed(p, H1, ip('ff02::1')))));
    out.push(onPort(TAP1 | fix, ethFrame(R1_MAC, H2_MAC, readdressed(p, H2, dests[(i + 5) % dests.length]!))));
    out.push(onPort(TUN2 | fix, readdressed(p, H3, i % 2 === 0 ? H1 : H2)));
  });
  // Inbound ESP: H3's LAN to H1's, sealed by the peer; each decrypts once (the replay window
  // refuses repeats), mutations of it exercise the checks before and after the ICV.
  const peer = espStage(h1h3Tunnel('peer'));
  packets.slice(0, 12).forEach((p, i) => {
    const inner = readdressed(p, H3, H1);
    const b = new Uint8Array(2048);
    b.set(inner, HEADROOM);
    const sa = peer.outbound(b, HEADROOM, inner.length);
    const at = peer.encapsulate(b, HEADROOM, inner.length, sa, pc);
    // Some twice in one batch, some traced.
    out.push(onPort(TAP1 | [0, 4, 0x20, 0x24][i % 4]!, ethFrame(R1_MAC, H2_MAC, b.slice(at, at + pc.len))));
  });
  return out;
}

/** The largest frame a slot of `pool` holds: a slot less its headroom. */
export function frameCapacity(pool: PacketPool): number {
  return pool.offsetOf(1) - pool.offsetOf(0) - HEADROOM;
}

const PORTS = [TAP0, TAP1, TUN2];
const CANARY = 0xa5;

export const LANE_TARGET: FuzzTarget = {
  name: 'lane',
  covers: [],
  corpus: laneCorpus,
  open() {
    const h = new LaneHarness();
    h.lane.setEsp(espStage(h1h3Tunnel('router')));
    // A slot's frame may grow into its own headroom (Ethernet rewrite, ESP), never into the
    // next slot: the headroom of a slot the batch did not use must keep its canary.
    const used = new Set<number>();
    const alloc = h.pool.alloc.bind(h.pool);
    h.pool.alloc = () => {
      const slot = alloc();
      if (slot >= 0) used.add(slot);
      return slot;
    };
    h.pool.bytes.fill(CANARY);
    let sealed = 0;
    let opened = 0;
    let records = 0;
    return {
      maxLength: 1 + frameCapacity(h.pool),
      run(input) {
        if (input.length < 2) return;
        // Bits 0-1 pick the port; bits 2-3 how many copies share the batch (two copies of
        // one ESP packet pass the replay check before either is decrypted); bits 5-7 now and
        // then send the frame down the inject ring instead, as the control plane does.
        // Bit 4 makes the Payload Length match the frame again, so inputs that grew or
        // shrank get past validation into the later stages.
        const selector = input[0]!;
        const port = PORTS[(selector & 3) % PORTS.length]!;
        let frame = input.subarray(1);
        const ipAt = port === TUN2 ? 0 : ETH_HEADER_LEN;
        if ((selector & 0x10) !== 0 && frame.length >= ipAt + IPV6_HEADER_LEN) {
          frame = frame.slice();
          setIp6PayloadLength(frame, ipAt, (frame.length - ipAt - IPV6_HEADER_LEN) & 0xffff);
        }
        h.now += 1;
        // Bit 5 without 6-7: trace the batch (`turtle6ctl debug trace`), which opens ESP
        // without deferring it and writes a record per packet.
        const traced = (selector & 0xe0) === 0x20;
        if (traced) armTrace(h.traceControl, 4, { port: null, proto: null, src: null, dst: null });
        for (let copies = 1 + ((selector >> 2) & 3); copies > 0; copies--) {
          if ((selector & 0xc0) === 0xc0) h.inject(port, (selector & 0x20) !== 0 ? INJECT_RAW : INJECT_ROUTE, frame);
          else h.engine.inject(port, frame);
        }
        h.run(port);
        h.punted();
        if (traced) {
          records += h.traced().length;
          disarmTrace(h.traceControl);
        }
        for (const p of PORTS) {
          let fates = h.counter(p, C.forwarded) + h.counter(p, C.punted);
          for (let i = 0; i < DROPS.length; i++) fates += h.counter(p, TRAFFIC.length + i);
          assert.equal(h.counter(p, C.rx_packets), fates, `port ${p}: rx_packets = forwarded + punted + Σ drops`);
        }
        assert.equal(h.pool.available(), h.pool.slots, 'every slot back in the pool after the batch');
        h.pool.checkFreeList();
        const overrun = [...used].filter((slot) => {
          const next = slot + 1;
          const at = h.pool.offsetOf(next);
          return next < h.pool.slots && !used.has(next) && h.pool.bytes.subarray(at, at + HEADROOM).some((x) => x !== CANARY);
        });
        // Fresh canaries for the next input, also where this one overran.
        for (const slot of [...used, ...overrun.map((s) => s + 1)]) h.pool.bytes.fill(CANARY, h.pool.offsetOf(slot), h.pool.offsetOf(slot) + HEADROOM);
        used.clear();
        if (overrun.length > 0) throw new Error(`slot ${overrun[0]} overran into slot ${overrun[0]! + 1}`);
        for (const t of h.engine.transmitted()) {
          const at = t.port === TUN2 ? 0 : ETH_HEADER_LEN;
          if (t.frame[at + 6] === IPPROTO.ESP) sealed++;
          // Only a decrypted packet gets from the peer's port to H1 with a source on H3's LAN:
          // the inbound policy refuses that flow in cleartext (RFC 4301 §5.2).
          if (port === TAP1 && t.port === TAP0 && t.frame.subarray(at + 8, at + 14).every((x, i) => x === H3[i])) opened++;
        }
      },
      stats() {
        const out: Record<string, number> = { esp_sealed: sealed, esp_opened: opened, trace_records: records };
        for (const [name, index] of Object.entries(C)) {
          const total = PORTS.reduce((sum, p) => sum + h.counter(p, index), 0);
          if (total > 0) out[name] = total;
        }
        return out;
      },
      close: () => h.close(),
    };
  },
};

// ---- the control plane ---------------------------------------------------------------------

const quiet: ModuleLogger = { trace() {}, debug() {}, info() {}, warn() {}, error() {} };

function moduleContext(api: StackApi, stateDir: string): ModuleContext {
  return { api, log: quiet, limited: () => quiet, metrics: { gauge() {}, counter() {} }, commands: { register() {} }, stateDir };
}

const STACK_MAC = mac('02:00:00:00:00:01');
const STACK_GLOBAL = ip('2001:db8:1::1');
const ETH1_LL = ip('fe80::ff:fe00:2');
const PUNT_FLAGS = [PUNT_LOCAL, PUNT_MULTICAST, PUNT_RESOLVE, PUNT_LOCAL | PUNT_ROUTER_ALERT];

/**
 * Makes the IPv6 Payload Length and the ICMPv6 or UDP length and checksum right again, so a
 * mutated packet gets past the checks that guard the control plane's decoders.
 */
function fixLengths(p: Uint8Array): void {
  if (p.length < IPV6_HEADER_LEN || p.length - IPV6_HEADER_LEN > 0xffff) return;
  setIp6PayloadLength(p, 0, p.length - IPV6_HEADER_LEN);
  if (walkExtensionHeaders(p, 0, p.length, walkOut) !== WALK_OK) return;
  const off = walkOut[WALK_UPPER_OFFSET]!;
  const len = p.length - off;
  if (off < 0) return;
  if (walkOut[WALK_UPPER_PROTOCOL] === IPPROTO.ICMPV6 && len >= 4) fillIcmpv6Checksum(p, off, len, p, 8, p, 24);
  if (walkOut[WALK_UPPER_PROTOCOL] === IPPROTO.UDP && len >= 8) {
    p[off + 4] = len >> 8;
    p[off + 5] = len & 0xff;
    fillUdpChecksum(p, off, len, p, 8, p, 24);
  }
}

/** Control-plane inputs: a selector byte (punt flags, port, fix lengths?), then the packet. */
function stackCorpus(): Uint8Array[] {
  const dests = [STACK_GLOBAL, ip('fe80::1'), ip('ff02::1'), ip('ff02::2'), ALL_RIP_ROUTERS, ALL_DHCP_AGENTS, ip('ff02::1:ff00:1')];
  const out: Uint8Array[] = [];
  ipPackets().forEach((p, i) => {
    const q = readdressed(p, i % 3 === 0 ? LL_PEER : ip('2001:db8:1::99'), dests[i % dests.length]!);
    q[7] = 255;
    fixLengths(q);
    out.push(Uint8Array.of(0x80 | (i % 2), ...q));
  });
  // The RIPng and DHCPv6 messages to the addresses their modules listen on.
  for (const m of ripngMessages()) out.push(Uint8Array.of(0x80, ...udpPacket(LL_PEER, ALL_RIP_ROUTERS, RIPNG_PORT, RIPNG_PORT, m)));
  for (const m of dhcpv6Messages()) {
    out.push(Uint8Array.of(0x80, ...udpPacket(LL_PEER, ALL_DHCP_AGENTS, DHCP6_CLIENT_PORT, DHCP6_SERVER_PORT, m)));
    out.push(Uint8Array.of(0x81, ...udpPacket(LL_PEER, ETH1_LL, DHCP6_SERVER_PORT, DHCP6_CLIENT_PORT, m)));
  }
  return out;
}

export const STACK_TARGET: FuzzTarget = {
  name: 'stack',
  covers: [],
  corpus: stackCorpus,
  open() {
    const clock = new ManualClock(1_000_000);
    let handler: ((pkt: Uint8Array, port: number, flags: number, aux: number) => void) | null = null;
    // A Datapath that keeps nothing: what the stack sends is not under test here.
    const datapath = {
      inject: () => true,
      publishFib() {},
      publishNeighbors() {},
      publishPorts() {},
      publishGroups() {},
      onPunt: (fn: typeof handler) => void (handler = fn),
    };
    const stack = new Stack({ clock, rng: new SeededRng(7), datapath, log: { info() {}, warn() {}, debug() {} } });
    // eth0: the DHCPv6 server and plain RIPng; eth1: the DHCPv6 client and RIPng as an RFC
    // 2091 demand circuit. The selector's port bit picks one.
    stack.addInterface({ name: 'eth0', port: 0, kind: 'tap', mac: STACK_MAC, mtu: 1500, addresses: [{ addr: STACK_GLOBAL, prefixLen: 64 }], ra: null });
    stack.addInterface({ name: 'eth1', port: 1, kind: 'tap', mac: mac('02:00:00:00:00:02'), mtu: 1500, addresses: [], ra: null });
    stack.publishTables();
    const stateDir = mkdtempSync(join(tmpdir(), 't6-fuzz-'));
    // Counts what reaches each module's socket.
    const delivered: Record<string, number> = {};
    const counted = (api: StackApi): StackApi => {
      const c = Object.create(api) as StackApi;
      c.bindUdp = (port, fn) => api.bindUdp(port, (d) => {
        delivered[`udp_${port}`] = (delivered[`udp_${port}`] ?? 0) + 1;
        fn(d);
      });
      return c;
    };
    const echo = new EchoResponder();
    echo.start(moduleContext(stack.api('static'), stateDir), { enabled: true });
    const ripng = new RipngModule();
    const rip = ripngConfig(2);
    ripng.start(moduleContext(counted(stack.api('ripng')), stateDir), { ...rip, interfaces: [rip.interfaces[0]!, { ...rip.interfaces[1]!, demand: { retransmit: 5, retries: 3 } }] });
    const dhcpv6 = new Dhcpv6Module();
    const dhcpConfig = dhcpv6Section.schema.parse({
      server: { interfaces: [{ name: 'eth0', addressPool: { start: '2001:db8:1::1000', end: '2001:db8:1::10ff' }, prefixPool: { prefix: '2001:db8:100::/48', delegatedLength: 56 }, rapidCommit: true }] },
      client: { interface: 'eth1', acceptReconfigure: true },
    }) as Dhcpv6Config;
    dhcpv6.start(moduleContext(counted(stack.api('dhcpv6')), stateDir), dhcpConfig);
    return {
      maxLength: 1 + IP_MAX,
      run(input) {
        if (input.length < 2) return;
        const selector = input[0]!;
        const pkt = input.slice(1);
        if ((selector & 0x80) !== 0) fixLengths(pkt);
        // Time moves on, so neighbour, RIPng and lease timers fire between packets.
        if ((selector & 0x40) !== 0) clock.advance(1000);
        handler!(pkt, selector & 1, PUNT_FLAGS[(selector >> 1) & 3]!, selector & 1);
      },
      stats() {
        const drops = Object.fromEntries(Object.entries(stack.drops).filter(([, n]) => n > 0).map(([k, n]) => [`drop_${k}`, n]));
        const answered = (m: ReadonlyMap<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
        return { ...delivered, ...drops, dhcpv6_sent: answered(dhcpv6.sent), ...Object.fromEntries([...dhcpv6.drops].filter(([, n]) => n > 0).map(([k, n]) => [`dhcpv6_${k}`, n])) };
      },
      close() {
        dhcpv6.stop();
        ripng.stop();
        echo.stop();
        rmSync(stateDir, { recursive: true, force: true });
      },
    };
  },
};

export const FUZZ_TARGETS: readonly FuzzTarget[] = [...WIRE_TARGETS, LANE_TARGET, STACK_TARGET];
