/**
 * The IPv6 fixed header (RFC 8200 §3).
 * Fast-path accessors over (bytes, offset) with named offsets, and a Repr codec.
 */
import { type Decoded, fail, ok } from './result.js';

export const IPV6_HEADER_LEN = 40;
/** Every link carries at least this much (RFC 8200 §5); ICMPv6 errors never exceed it. */
export const IPV6_MIN_MTU = 1280;
export const IP6_OFF_VERSION_CLASS_FLOW = 0;
export const IP6_OFF_PAYLOAD_LEN = 4;
export const IP6_OFF_NEXT_HEADER = 6;
export const IP6_OFF_HOP_LIMIT = 7;
export const IP6_OFF_SRC = 8;
export const IP6_OFF_DST = 24;

/** Next Header codepoints (IANA "Assigned Internet Protocol Numbers") that turtle6 names. */
export const IPPROTO = {
  HOPOPTS: 0,
  TCP: 6,
  UDP: 17,
  ROUTING: 43,
  FRAGMENT: 44,
  ESP: 50,
  AH: 51,
  ICMPV6: 58,
  NONE: 59,
  DSTOPTS: 60,
  MH: 135,
  SCTP: 132,
} as const;

export function ip6Version(b: Uint8Array, off: number): number {
  return b[off]! >>> 4;
}

export function ip6TrafficClass(b: Uint8Array, off: number): number {
  return ((b[off]! & 0x0f) << 4) | (b[off + 1]! >>> 4);
}

export function ip6FlowLabel(b: Uint8Array, off: number): number {
  return ((b[off + 1]! & 0x0f) << 16) | (b[off + 2]! << 8) | b[off + 3]!;
}

export function ip6PayloadLength(b: Uint8Array, off: number): number {
  return (b[off + IP6_OFF_PAYLOAD_LEN]! << 8) | b[off + IP6_OFF_PAYLOAD_LEN + 1]!;
}

export function setIp6PayloadLength(b: Uint8Array, off: number, length: number): void {
  b[off + IP6_OFF_PAYLOAD_LEN] = length >>> 8;
  b[off + IP6_OFF_PAYLOAD_LEN + 1] = length & 0xff;
}

export function ip6NextHeader(b: Uint8Array, off: number): number {
  return b[off + IP6_OFF_NEXT_HEADER]!;
}

export function ip6HopLimit(b: Uint8Array, off: number): number {
  return b[off + IP6_OFF_HOP_LIMIT]!;
}

export function setIp6HopLimit(b: Uint8Array, off: number, hopLimit: number): void {
  b[off + IP6_OFF_HOP_LIMIT] = hopLimit;
}

/**
 * Writes a whole fixed header in place. Addresses are copied byte by byte from
 * (src, srcOff) and (dst, dstOff), which may be the same buffer as `b` but must not
 * overlap the header being written.
 */
export function writeIpv6Header(
  b: Uint8Array,
  off: number,
  trafficClass: number,
  flowLabel: number,
  payloadLength: number,
  nextHeader: number,
  hopLimit: number,
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
): void {
  b[off] = 0x60 | (trafficClass >>> 4);
  b[off + 1] = ((trafficClass & 0x0f) << 4) | ((flowLabel >>> 16) & 0x0f);
  b[off + 2] = (flowLabel >>> 8) & 0xff;
  b[off + 3] = flowLabel & 0xff;
  setIp6PayloadLength(b, off, payloadLength);
  b[off + IP6_OFF_NEXT_HEADER] = nextHeader;
  b[off + IP6_OFF_HOP_LIMIT] = hopLimit;
  for (let i = 0; i < 16; i++) {
    b[off + IP6_OFF_SRC + i] = src[srcOff + i]!;
    b[off + IP6_OFF_DST + i] = dst[dstOff + i]!;
  }
}

export interface Ipv6Header {
  readonly trafficClass: number;
  readonly flowLabel: number;
  readonly payloadLength: number;
  readonly nextHeader: number;
  readonly hopLimit: number;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
}

/**
 * Decodes the 40-byte fixed header only; whether the payload is all there is the caller's
 * check (ICMPv6 errors carry truncated invoking packets whose headers still decode).
 */
export function decodeIpv6Header(buf: Uint8Array, off: number, length = buf.length - off): Decoded<Ipv6Header> {
  if (off < 0 || length < IPV6_HEADER_LEN || off + IPV6_HEADER_LEN > buf.length) return fail('truncated');
  if (ip6Version(buf, off) !== 6) return fail('bad_version');
  return ok(
    {
      trafficClass: ip6TrafficClass(buf, off),
      flowLabel: ip6FlowLabel(buf, off),
      payloadLength: ip6PayloadLength(buf, off),
      nextHeader: ip6NextHeader(buf, off),
      hopLimit: ip6HopLimit(buf, off),
      src: buf.slice(off + IP6_OFF_SRC, off + IP6_OFF_SRC + 16),
      dst: buf.slice(off + IP6_OFF_DST, off + IP6_OFF_DST + 16),
    },
    IPV6_HEADER_LEN,
  );
}

export function encodeIpv6Header(value: Ipv6Header, buf: Uint8Array, off: number): number {
  writeIpv6Header(
    buf, off, value.trafficClass, value.flowLabel, value.payloadLength,
    value.nextHeader, value.hopLimit, value.src, 0, value.dst, 0,
  );
  return IPV6_HEADER_LEN;
}

export function encodingLengthIpv6Header(_value: Ipv6Header): number {
  return IPV6_HEADER_LEN;
}
