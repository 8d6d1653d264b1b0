/**
 * RIPng messages (RFC 2080 §2.1): a 4-byte header (command, version, must-be-zero) and
 * 20-byte Route Table Entries (prefix, route tag, prefix length, metric). A next-hop RTE
 * (§2.1.1) is an RTE whose metric is 0xFF; its prefix field is the next hop.
 *
 * The codec is structural: it checks lengths only. Unknown commands, versions, a non-zero
 * reserved field, prefix lengths over 128 and metrics out of range all decode and re-encode
 * unchanged, so the protocol engine can count each by its own reason (§2.4.2 lists them).
 */
import { readU16, writeU16 } from './bytes.js';
import { type Decoded, fail, ok } from './result.js';

export const RIPNG_PORT = 521;
export const RIPNG_VERSION = 1;
export const RIPNG_HEADER_LEN = 4;
export const RIPNG_RTE_LEN = 20;
/** §2.1: 16 is infinity (unreachable). */
export const RIPNG_INFINITY = 16;
/** §2.1.1: an RTE with this metric carries a next hop, not a route. */
export const RIPNG_NEXT_HOP_METRIC = 0xff;

export const RIPNG_COMMAND = { REQUEST: 1, RESPONSE: 2 } as const;

export interface RipngRte {
  /** 16 bytes: the destination prefix, or the next hop in a next-hop RTE. */
  readonly prefix: Uint8Array;
  readonly tag: number;
  readonly prefixLen: number;
  readonly metric: number;
}

export interface RipngPacket {
  readonly command: number;
  readonly version: number;
  /** §2.1 "must be zero"; kept as received. */
  readonly reserved: number;
  readonly rtes: readonly RipngRte[];
}

/**
 * Decodes `length` bytes at `off` (the whole UDP payload). Fails on a short header or a
 * body that is not a whole number of RTEs (§2.4.2 drops such a message outright).
 */
export function decodeRipng(buf: Uint8Array, off = 0, length = buf.length - off): Decoded<RipngPacket> {
  if (off < 0 || length < 0 || off + length > buf.length) return fail('truncated');
  if (length < RIPNG_HEADER_LEN) return fail('truncated');
  const body = length - RIPNG_HEADER_LEN;
  if (body % RIPNG_RTE_LEN !== 0) return fail('bad_length', off + RIPNG_HEADER_LEN + body - (body % RIPNG_RTE_LEN));
  const rtes: RipngRte[] = [];
  for (let at = off + RIPNG_HEADER_LEN; at < off + length; at += RIPNG_RTE_LEN) {
    rtes.push({ prefix: buf.slice(at, at + 16), tag: readU16(buf, at + 16), prefixLen: buf[at + 18]!, metric: buf[at + 19]! });
  }
  return ok({ command: buf[off]!, version: buf[off + 1]!, reserved: readU16(buf, off + 2), rtes }, length);
}

export function encodingLengthRipng(value: RipngPacket): number {
  return RIPNG_HEADER_LEN + RIPNG_RTE_LEN * value.rtes.length;
}

/** Writes the message at `off`; returns the bytes written. The caller sizes `buf` with encodingLengthRipng. */
export function encodeRipng(value: RipngPacket, buf: Uint8Array, off = 0): number {
  buf[off] = value.command;
  buf[off + 1] = value.version;
  writeU16(buf, off + 2, value.reserved);
  let at = off + RIPNG_HEADER_LEN;
  for (const rte of value.rtes) {
    buf.set(rte.prefix.subarray(0, 16), at);
    writeU16(buf, at + 16, rte.tag);
    buf[at + 18] = rte.prefixLen;
    buf[at + 19] = rte.metric;
    at += RIPNG_RTE_LEN;
  }
  return at - off;
}

/** How many RTEs fit in one message on a link of `mtu` (§2.1: IPv6 40 + UDP 8 + header 4). */
export function maxRtesForMtu(mtu: number): number {
  return Math.max(1, Math.floor((mtu - 40 - 8 - RIPNG_HEADER_LEN) / RIPNG_RTE_LEN));
}

/** §2.4.1: the whole-table request is exactly one RTE: ::/0, metric 16. */
export function isWholeTableRequest(p: RipngPacket): boolean {
  if (p.rtes.length !== 1) return false;
  const r = p.rtes[0]!;
  return r.prefixLen === 0 && r.metric === RIPNG_INFINITY && r.prefix.every((b) => b === 0);
}
