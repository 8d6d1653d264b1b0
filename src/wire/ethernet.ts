/**
 * Ethernet II framing (IEEE 802.3, RFC 2464 for IPv6 over Ethernet).
 * Fast-path accessors over (bytes, offset) plus a Repr codec for the control plane.
 */
import { type Decoded, fail, ok } from './result.js';

export const ETH_HEADER_LEN = 14;
export const ETH_OFF_DST = 0;
export const ETH_OFF_SRC = 6;
export const ETH_OFF_TYPE = 12;
export const ETHERTYPE_IPV6 = 0x86dd;

/** EtherType of the frame at `off`; the caller has checked that 14 bytes are present. */
export function ethType(b: Uint8Array, off: number): number {
  return (b[off + ETH_OFF_TYPE]! << 8) | b[off + ETH_OFF_TYPE + 1]!;
}

/** Writes a 14-byte header in place (used in a slot's headroom), copying both MACs byte by byte. */
export function writeEthHeader(
  b: Uint8Array,
  off: number,
  dstMac: Uint8Array,
  dstOff: number,
  srcMac: Uint8Array,
  srcOff: number,
  type: number,
): void {
  for (let i = 0; i < 6; i++) {
    b[off + ETH_OFF_DST + i] = dstMac[dstOff + i]!;
    b[off + ETH_OFF_SRC + i] = srcMac[srcOff + i]!;
  }
  b[off + ETH_OFF_TYPE] = type >>> 8;
  b[off + ETH_OFF_TYPE + 1] = type & 0xff;
}

export interface EthernetHeader {
  readonly dst: Uint8Array;
  readonly src: Uint8Array;
  readonly etherType: number;
}

export function decodeEthernetHeader(
  buf: Uint8Array,
  off: number,
  length = buf.length - off,
): Decoded<EthernetHeader> {
  if (off < 0 || length < ETH_HEADER_LEN || off + ETH_HEADER_LEN > buf.length) return fail('truncated');
  return ok(
    {
      dst: buf.slice(off + ETH_OFF_DST, off + ETH_OFF_DST + 6),
      src: buf.slice(off + ETH_OFF_SRC, off + ETH_OFF_SRC + 6),
      etherType: ethType(buf, off),
    },
    ETH_HEADER_LEN,
  );
}

export function encodeEthernetHeader(value: EthernetHeader, buf: Uint8Array, off: number): number {
  writeEthHeader(buf, off, value.dst, 0, value.src, 0, value.etherType);
  return ETH_HEADER_LEN;
}

export function encodingLengthEthernetHeader(_value: EthernetHeader): number {
  return ETH_HEADER_LEN;
}
