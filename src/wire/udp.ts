/**
 * UDP (RFC 768) over IPv6. The checksum is mandatory over IPv6 (RFC 8200 §8.1): a computed
 * zero is sent as 0xffff, and a received zero checksum is invalid.
 */
import { onesComplementSum, upperLayerChecksum } from './checksum.js';
import { readU16, writeU16 } from './bytes.js';
import { IPPROTO } from './ipv6.js';
import { type Decoded, fail, ok } from './result.js';

export const UDP_HEADER_LEN = 8;
export const UDP_OFF_SRC_PORT = 0;
export const UDP_OFF_DST_PORT = 2;
export const UDP_OFF_LENGTH = 4;
export const UDP_OFF_CHECKSUM = 6;

export function udpSrcPort(b: Uint8Array, off: number): number {
  return readU16(b, off + UDP_OFF_SRC_PORT);
}

export function udpDstPort(b: Uint8Array, off: number): number {
  return readU16(b, off + UDP_OFF_DST_PORT);
}

export function udpLength(b: Uint8Array, off: number): number {
  return readU16(b, off + UDP_OFF_LENGTH);
}

/**
 * True when the datagram at udpOff (udpLen bytes, inside the IPv6 packet at ipOff without a
 * Routing header) carries a non-zero, correct checksum.
 */
export function verifyUdpChecksum(bytes: Uint8Array, ipOff: number, udpOff: number, udpLen: number): boolean {
  if (readU16(bytes, udpOff + UDP_OFF_CHECKSUM) === 0) return false;
  return upperLayerChecksum(bytes, ipOff, udpOff, udpLen, IPPROTO.UDP) === 0;
}

/** Computes and writes the checksum for the pseudo-header (src, dst). No allocation. */
export function fillUdpChecksum(
  buf: Uint8Array,
  udpOff: number,
  udpLen: number,
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
): void {
  writeU16(buf, udpOff + UDP_OFF_CHECKSUM, 0);
  let sum = onesComplementSum(src, srcOff, 16);
  sum = onesComplementSum(dst, dstOff, 16, sum);
  sum += Math.floor(udpLen / 0x10000) + (udpLen & 0xffff) + IPPROTO.UDP;
  const checksum = ~onesComplementSum(buf, udpOff, udpLen, sum) & 0xffff;
  writeU16(buf, udpOff + UDP_OFF_CHECKSUM, checksum === 0 ? 0xffff : checksum);
}

export interface UdpHeader {
  readonly srcPort: number;
  readonly dstPort: number;
  /** Header plus payload, in octets. */
  readonly length: number;
  readonly checksum: number;
}

/**
 * Decodes the header; `length` is what the IPv6 payload leaves for UDP. The Length field
 * must cover the header and fit in it.
 */
export function decodeUdpHeader(buf: Uint8Array, off: number, length = buf.length - off): Decoded<UdpHeader> {
  if (off < 0 || length < UDP_HEADER_LEN || off + UDP_HEADER_LEN > buf.length) return fail('truncated');
  const udpLen = udpLength(buf, off);
  if (udpLen < UDP_HEADER_LEN || udpLen > length) return fail('bad_length');
  return ok(
    {
      srcPort: udpSrcPort(buf, off),
      dstPort: udpDstPort(buf, off),
      length: udpLen,
      checksum: readU16(buf, off + UDP_OFF_CHECKSUM),
    },
    UDP_HEADER_LEN,
  );
}

export function encodeUdpHeader(value: UdpHeader, buf: Uint8Array, off: number): number {
  writeU16(buf, off + UDP_OFF_SRC_PORT, value.srcPort);
  writeU16(buf, off + UDP_OFF_DST_PORT, value.dstPort);
  writeU16(buf, off + UDP_OFF_LENGTH, value.length);
  writeU16(buf, off + UDP_OFF_CHECKSUM, value.checksum);
  return UDP_HEADER_LEN;
}

export function encodingLengthUdpHeader(_value: UdpHeader): number {
  return UDP_HEADER_LEN;
}

/** A datagram as the control plane sends it: the length and checksum are derived. */
export interface UdpDatagram {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly payload: Uint8Array;
}

/** Encodes header and payload with the checksum for the pseudo-header (src, dst). */
export function encodeUdpDatagram(
  d: UdpDatagram,
  src: Uint8Array,
  dst: Uint8Array,
  buf: Uint8Array,
  off: number,
): number {
  const len = UDP_HEADER_LEN + d.payload.length;
  encodeUdpHeader({ srcPort: d.srcPort, dstPort: d.dstPort, length: len, checksum: 0 }, buf, off);
  buf.set(d.payload, off + UDP_HEADER_LEN);
  fillUdpChecksum(buf, off, len, src, 0, dst, 0);
  return len;
}
