/**
 * Seeded fast-check properties: any bytes decode without throwing, and every valid Repr
 * survives encode → decode, encoded at a non-zero offset into a 0xa5-filled buffer whose
 * other bytes must stay untouched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeEthernetHeader, encodeEthernetHeader, encodingLengthEthernetHeader, type EthernetHeader } from '../../src/wire/ethernet.js';
import {
  decodeExtensionHeaderChain,
  encodeExtensionHeaderChain,
  encodingLengthExtensionHeaderChain,
  walkExtensionHeaders,
  validateOptionsTlv,
  WALK_OUT_SIZE,
  WALK_PARAM_POINTER,
  WALK_PARAM_PROBLEM,
  WALK_OK,
  WALK_UPPER_OFFSET,
  type ExtensionHeader,
  type ExtensionHeaderChain,
  type Ipv6Option,
} from '../../src/wire/ext-headers.js';
import { decodeIcmpv6, mayGenerateErrorAbout, verifyIcmpv6Checksum, type Icmpv6Message } from '../../src/wire/icmpv6.js';
import { decodeIcmpv6Message, encodeIcmpv6Message, icmpv6MessageLength, type AnyIcmpv6Message } from '../../src/wire/icmpv6-message.js';
import { decodeIpv6Header, encodeIpv6Header, encodingLengthIpv6Header, type Ipv6Header } from '../../src/wire/ipv6.js';
import { decodeMldMessage, type MldAddressRecord, type MldMessage } from '../../src/wire/mld.js';
import { decodeNdMessage, type NdMessage, type NdOption } from '../../src/wire/nd.js';
import { decodeUdpHeader, encodeUdpHeader, encodingLengthUdpHeader, type UdpHeader } from '../../src/wire/udp.js';
import type { Decoded } from '../../src/wire/result.js';

const RUNS = { seed: 42, numRuns: 300 };

/** fc.record with ordinary prototypes, so deepStrictEqual compares it with decoded values. */
function record<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true }) as fc.Arbitrary<T>;
}

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (minLength: number, maxLength: number) => fc.uint8Array({ minLength, maxLength });
const address = bytes(16, 16);
const unicast = address.filter((a) => a[0] !== 0xff);
const multicast = address.map((a) => Uint8Array.from([0xff, ...a.subarray(1)]));
/** Lengths ≡ r (mod m), so that encoders need no padding the decoder would keep. */
const alignedBytes = (m: number, r: number, maxBlocks: number) =>
  fc.integer({ min: 0, max: maxBlocks }).chain((k) => bytes(m * k + r, m * k + r));

/** Encodes at offset 5 of a junk-filled buffer, checks bounds, and decodes back. */
function roundTrip<T>(
  value: T,
  length: number,
  encode: (v: T, buf: Uint8Array, off: number) => number,
  decode: (buf: Uint8Array, off: number, len: number) => Decoded<unknown>,
): void {
  const off = 5;
  const buf = new Uint8Array(off + length + 7).fill(0xa5);
  assert.equal(encode(value, buf, off), length, 'encoder returns the encoding length');
  assert.ok(buf.subarray(0, off).every((x) => x === 0xa5), 'nothing written before the offset');
  assert.ok(buf.subarray(off + length).every((x) => x === 0xa5), 'nothing written past the end');
  const decoded = decode(buf, off, length);
  assert.ok(decoded.ok, `decodes: ${decoded.ok ? '' : decoded.reason}`);
  assert.equal(decoded.length, length);
  assert.deepStrictEqual(decoded.value, value);
}

// --- Arbitraries -------------------------------------------------------------------------

const ipv6Header: fc.Arbitrary<Ipv6Header> = record({
  trafficClass: u8,
  flowLabel: fc.integer({ min: 0, max: 0xfffff }),
  payloadLength: u16,
  nextHeader: u8,
  hopLimit: u8,
  src: address,
  dst: address,
});

const ethernetHeader: fc.Arbitrary<EthernetHeader> = record({ dst: bytes(6, 6), src: bytes(6, 6), etherType: u16 });

const udpHeader: fc.Arbitrary<UdpHeader> = record({
  srcPort: u16,
  dstPort: u16,
  length: fc.integer({ min: 8, max: 0xffff }),
  checksum: u16,
});

const KNOWN_ICMP_TYPES = new Set([1, 2, 3, 4, 128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 143]);
const icmpv6Basic: fc.Arbitrary<Icmpv6Message> = fc.oneof(
  record({ type: fc.constantFrom('echoRequest' as const, 'echoReply' as const), identifier: u16, sequence: u16, data: bytes(0, 40) }),
  record({ type: fc.constant('destinationUnreachable' as const), code: u8, invoking: bytes(0, 80) }),
  record({ type: fc.constant('packetTooBig' as const), mtu: u32, invoking: bytes(0, 80) }),
  record({ type: fc.constant('timeExceeded' as const), code: u8, invoking: bytes(0, 80) }),
  record({ type: fc.constant('parameterProblem' as const), code: u8, pointer: u32, invoking: bytes(0, 80) }),
  record({
    type: fc.constant('otherIcmpv6' as const),
    icmpType: u8.filter((t) => !KNOWN_ICMP_TYPES.has(t)),
    code: u8,
    body: bytes(0, 40),
  }),
);

const label = fc.stringMatching(/^[a-z0-9-]{1,12}$/);
const domain = fc.array(label, { minLength: 1, maxLength: 4 }).map((ls) => ls.join('.'));
const KNOWN_ND_OPTIONS = new Set([1, 2, 3, 4, 5, 25, 31]);
const ndOption: fc.Arbitrary<NdOption> = fc.oneof(
  record({ type: fc.constantFrom('sourceLinkLayerAddress' as const, 'targetLinkLayerAddress' as const), mac: bytes(6, 6) }),
  record({
    type: fc.constant('prefixInformation' as const),
    prefixLength: fc.integer({ min: 0, max: 128 }),
    onLink: fc.boolean(),
    autonomous: fc.boolean(),
    validLifetime: u32,
    preferredLifetime: u32,
    prefix: address,
  }),
  record({ type: fc.constant('mtu' as const), mtu: u32 }),
  record({ type: fc.constant('rdnss' as const), lifetime: u32, servers: fc.array(address, { minLength: 1, maxLength: 3 }) }),
  record({ type: fc.constant('dnssl' as const), lifetime: u32, domains: fc.array(domain, { minLength: 1, maxLength: 3 }) }),
  record({ type: fc.constant('redirectedHeader' as const), data: alignedBytes(8, 0, 6) }),
  record({ type: fc.constant('unknown' as const), code: u8.filter((c) => !KNOWN_ND_OPTIONS.has(c)), data: alignedBytes(8, 6, 3) }),
);
const ndOptions = fc.array(ndOption, { maxLength: 5 });
const ndMessage: fc.Arbitrary<NdMessage> = fc.oneof(
  record({ type: fc.constant('routerSolicitation' as const), options: ndOptions }),
  record({
    type: fc.constant('routerAdvertisement' as const),
    curHopLimit: u8,
    managed: fc.boolean(),
    other: fc.boolean(),
    routerLifetime: u16,
    reachableTime: u32,
    retransTimer: u32,
    options: ndOptions,
  }),
  record({ type: fc.constant('neighborSolicitation' as const), target: unicast, options: ndOptions }),
  record({
    type: fc.constant('neighborAdvertisement' as const),
    router: fc.boolean(),
    solicited: fc.boolean(),
    override: fc.boolean(),
    target: unicast,
    options: ndOptions,
  }),
  record({ type: fc.constant('redirect' as const), target: address, destination: unicast, options: ndOptions }),
);

const mldRecord: fc.Arbitrary<MldAddressRecord> = record({
  recordType: u8,
  group: multicast,
  sources: fc.array(address, { maxLength: 3 }),
  auxData: alignedBytes(4, 0, 2),
});
const mldMessage: fc.Arbitrary<MldMessage> = fc.oneof(
  record({ type: fc.constant('mldv1Query' as const), maxResponseDelay: u16, group: address }),
  record({
    type: fc.constant('mldv2Query' as const),
    maxResponseCode: u16,
    group: fc.oneof(multicast, fc.constant(new Uint8Array(16))),
    suppressRouterProcessing: fc.boolean(),
    robustness: fc.integer({ min: 0, max: 7 }),
    queryIntervalCode: u8,
    sources: fc.array(address, { maxLength: 3 }),
  }),
  record({ type: fc.constantFrom('mldv1Report' as const, 'mldv1Done' as const), group: multicast }),
  record({ type: fc.constant('mldv2Report' as const), records: fc.array(mldRecord, { maxLength: 3 }) }),
);

/** Options followed by the Pad1/PadN the encoder would add, so the decoder gives them back. */
function padded(options: Ipv6Option[]): Ipv6Option[] {
  let len = 2;
  for (const o of options) len += o.type === 0 ? 1 : 2 + o.data.length;
  const pad = ((len + 7) & ~7) - len;
  if (pad === 0) return options;
  if (pad === 1) return [...options, { type: 0, data: new Uint8Array(0) }];
  return [...options, { type: 1, data: new Uint8Array(pad - 2) }];
}
const ipv6Option: fc.Arbitrary<Ipv6Option> = fc.oneof(
  fc.constant({ type: 0, data: new Uint8Array(0) }),
  record({ type: fc.integer({ min: 1, max: 0xff }), data: bytes(0, 12) }),
);
const optionsHeader = (kind: 'hopByHop' | 'destinationOptions') =>
  fc.array(ipv6Option, { maxLength: 5 }).map((options): ExtensionHeader => ({ kind, options: padded(options) }));
const middleHeader: fc.Arbitrary<ExtensionHeader> = fc.oneof(
  optionsHeader('destinationOptions'),
  record({ kind: fc.constant('routing' as const), routingType: u8, segmentsLeft: u8, data: alignedBytes(8, 4, 3) }),
  record({ kind: fc.constant('fragment' as const), fragmentOffset: fc.constant(0), more: fc.boolean(), identification: u32 }),
  record({ kind: fc.constant('authentication' as const), data: alignedBytes(8, 6, 3) }),
);
const WALKED = new Set([0, 43, 44, 51, 60]);
const extensionChain: fc.Arbitrary<ExtensionHeaderChain> = fc
  .record({
    hopByHop: fc.option(optionsHeader('hopByHop'), { nil: undefined }),
    middle: fc.array(middleHeader, { maxLength: 4 }),
    laterFragment: fc.option(
      record({
        kind: fc.constant('fragment' as const),
        fragmentOffset: fc.integer({ min: 1, max: 0x1fff }).map((n) => n * 8),
        more: fc.boolean(),
        identification: u32,
      }),
      { nil: undefined },
    ),
    upperProtocol: u8.filter((p) => !WALKED.has(p)),
  })
  .map(({ hopByHop, middle, laterFragment, upperProtocol }) => ({
    headers: [...(hopByHop ? [hopByHop] : []), ...middle, ...(laterFragment ? [laterFragment] : [])],
    upperProtocol,
  }));

// --- Round trips -------------------------------------------------------------------------

test('Repr round trips at a non-zero offset', () => {
  fc.assert(fc.property(ipv6Header, (h) => roundTrip(h, encodingLengthIpv6Header(h), encodeIpv6Header, decodeIpv6Header)), RUNS);
  fc.assert(
    fc.property(ethernetHeader, (h) => roundTrip(h, encodingLengthEthernetHeader(h), encodeEthernetHeader, decodeEthernetHeader)),
    RUNS,
  );
  // The UDP decoder checks Length against what is available, so give it exactly that.
  fc.assert(
    fc.property(udpHeader, (h) =>
      roundTrip(h, encodingLengthUdpHeader(h), encodeUdpHeader, (b, o) => decodeUdpHeader(b, o, h.length)),
    ),
    RUNS,
  );
  fc.assert(
    fc.property(extensionChain, (chain) => {
      const first = chain.headers[0];
      const firstCode = first === undefined ? chain.upperProtocol : { hopByHop: 0, destinationOptions: 60, routing: 43, fragment: 44, authentication: 51 }[first.kind];
      roundTrip(chain, encodingLengthExtensionHeaderChain(chain), encodeExtensionHeaderChain, (b, o, l) =>
        decodeExtensionHeaderChain(b, o, firstCode, l),
      );
    }),
    RUNS,
  );
});

test('ICMPv6, ND and MLD messages round trip with a valid checksum', () => {
  const any: fc.Arbitrary<AnyIcmpv6Message> = fc.oneof(icmpv6Basic, ndMessage, mldMessage);
  fc.assert(
    fc.property(any, address, address, (msg, src, dst) => {
      const length = icmpv6MessageLength(msg);
      roundTrip(msg, length, (m, b, o) => encodeIcmpv6Message(m, src, dst, b, o), decodeIcmpv6Message);
      // The checksum covers the pseudo-header: rebuild the IPv6 packet and verify it.
      const pkt = new Uint8Array(40 + length);
      encodeIpv6Header({ trafficClass: 0, flowLabel: 0, payloadLength: length, nextHeader: 58, hopLimit: 255, src, dst }, pkt, 0);
      encodeIcmpv6Message(msg, src, dst, pkt, 40);
      assert.ok(verifyIcmpv6Checksum(pkt, 0, 40, length));
    }),
    RUNS,
  );
});

// --- Any bytes ---------------------------------------------------------------------------

const INTERESTING_FIRST = [0, 1, 2, 3, 4, 17, 43, 44, 51, 58, 59, 60, 128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 143];
/** Random bytes, often starting with a codepoint the decoders branch on. */
const fuzzBytes = fc
  .tuple(fc.constantFrom(...INTERESTING_FIRST), bytes(0, 200), fc.boolean())
  .map(([first, rest, steer]) => (steer && rest.length > 0 ? Uint8Array.from([first, ...rest.subarray(1)]) : rest));

function assertSane(d: Decoded<unknown>, available: number): void {
  if (d.ok) assert.ok(d.length >= 0 && d.length <= available, 'never claims more bytes than given');
  else assert.match(d.reason, /^[a-z0-9_]+$/);
}

test('any bytes: every decoder returns a value or a reason, never throws', () => {
  fc.assert(
    fc.property(fuzzBytes, fc.nat(8), u8, (buf, offRaw, nextHeader) => {
      const off = Math.min(offRaw, buf.length);
      const len = buf.length - off;
      assertSane(decodeEthernetHeader(buf, off), len);
      assertSane(decodeIpv6Header(buf, off), len);
      assertSane(decodeUdpHeader(buf, off), len);
      assertSane(decodeExtensionHeaderChain(buf, off, nextHeader), len);
      assertSane(decodeIcmpv6(buf, off), len);
      assertSane(decodeIcmpv6Message(buf, off), len);
      assertSane(decodeNdMessage(buf, off), len);
      assertSane(decodeMldMessage(buf, off), len);
      // Lengths beyond the buffer are refused, not read.
      assertSane(decodeIcmpv6Message(buf, off, len + 8), len + 8);
      assert.equal(decodeNdMessage(buf, off, len + 1).ok, false);
    }),
    { seed: 42, numRuns: 3000 },
  );
});

test('any bytes: the header walker and the error predicate never throw and stay in bounds', () => {
  // Build an IPv6 header in front of random bytes so the walk goes past the fixed header.
  const walkInput = fc.tuple(u8, fuzzBytes, fc.integer({ min: -2, max: 260 }), fc.boolean());
  const out = new Int32Array(WALK_OUT_SIZE);
  fc.assert(
    fc.property(walkInput, ([first, rest, lenDelta, multicastDst]) => {
      const pkt = new Uint8Array(40 + rest.length);
      encodeIpv6Header(
        { trafficClass: 0, flowLabel: 0, payloadLength: rest.length, nextHeader: first, hopLimit: 64, src: new Uint8Array(16).fill(0x20), dst: new Uint8Array(16).fill(multicastDst ? 0xff : 0x20) },
        pkt,
        0,
      );
      pkt.set(rest, 40);
      const packetLen = Math.min(40 + lenDelta + rest.length, pkt.length + 4);
      const verdict = walkExtensionHeaders(pkt, 0, packetLen, out);
      assert.ok(verdict >= 0 && verdict <= 4);
      if (verdict === WALK_OK && out[WALK_UPPER_OFFSET]! >= 0) assert.ok(out[WALK_UPPER_OFFSET]! <= packetLen);
      if (verdict === WALK_PARAM_PROBLEM) assert.ok(out[WALK_PARAM_POINTER]! >= 0 && out[WALK_PARAM_POINTER]! < packetLen);
      if (packetLen >= 40 && packetLen <= pkt.length) {
        assert.equal(typeof mayGenerateErrorAbout(pkt, 0, packetLen, 1, 0), 'boolean');
        assert.equal(typeof validateOptionsTlv(pkt, 0, 40, packetLen, true, out), 'number');
      }
    }),
    { seed: 42, numRuns: 3000 },
  );
});
