/**
 * RIPng messages (RFC 2080 §2.1): a 4-byte header (command, version, must-be-zero) and
 * 20-byte Route Table Entries (prefix, route tag, prefix length, metric). A next-hop RTE
 * (§2.1.1) is an RTE whose metric is 0xFF; its prefix field is the next hop.
 *
 * RFC 2091 (triggered RIP on demand circuits) adds three commands, Update Request (9),
 * Update Response (10) and Update Acknowledge (11), whose 4-byte header is followed by a
 * 4-byte update header (§3: version 1, flush flag, sequence number) before the RTEs. BIRD
 * 2 frames RIPng this way (test/fixtures/wire/ripng-demand-goldens.json); RFC 2091 defines
 * it for RIPv2 and RIPng alike.
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

export const RIPNG_COMMAND = { REQUEST: 1, RESPONSE: 2, UPDATE_REQUEST: 9, UPDATE_RESPONSE: 10, UPDATE_ACK: 11 } as const;
/** RFC 2091 §3: the update header's own version. */
export const RIPNG_UPDATE_VERSION = 1;
export const RIPNG_UPDATE_HEADER_LEN = 4;

/** RFC 2091 §3: the header that follows the RIPng header in commands 9, 10 and 11. */
export interface RipngUpdateHeader {
  readonly version: number;
  /** 1: the receiver drops every route it learned from the sender before using this message. Kept as received (other values included). */
  readonly flush: number;
  /** Matches an Update Response with its Update Acknowledge. */
  readonly seq: number;
}

/** Whether `command` carries an RFC 2091 update header. */
export function hasUpdateHeader(command: number): boolean {
  return command >= RIPNG_COMMAND.UPDATE_REQUEST && command <= RIPNG_COMMAND.UPDATE_ACK;
}

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
  /** Present exactly when hasUpdateHeader(command). */
  readonly update?: RipngUpdateHeader;
  readonly rtes: readonly RipngRte[];
}

/**
 * Decodes `length` bytes at `off` (the whole UDP payload). Fails on a short header or a
 * body that is not a whole number of RTEs (§2.4.2 drops such a message outright).
 */
export function decodeRipng(buf: Uint8Array, off = 0, length = buf.length - off): Decoded<RipngPacket> {
  if (off < 0 || length < 0 || off + length > buf.length) return fail('truncated');
  if (length < RIPNG_HEADER_LEN) return fail('truncated');
  const command = buf[off]!;
  const demand = hasUpdateHeader(command);
  const headerLen = RIPNG_HEADER_LEN + (demand ? RIPNG_UPDATE_HEADER_LEN : 0);
  if (length < headerLen) return fail('truncated');
  const body = length - headerLen;
  if (body % RIPNG_RTE_LEN !== 0) return fail('bad_length', off + headerLen + body - (body % RIPNG_RTE_LEN));
  const rtes: RipngRte[] = [];
  for (let at = off + headerLen; at < off + length; at += RIPNG_RTE_LEN) {
    rtes.push({ prefix: buf.slice(at, at + 16), tag: readU16(buf, at + 16), prefixLen: buf[at + 18]!, metric: buf[at + 19]! });
  }
  const header = { command, version: buf[off + 1]!, reserved: readU16(buf, off + 2) };
  if (!demand) return ok({ ...header, rtes }, length);
  const at = off + RIPNG_HEADER_LEN;
  return ok({ ...header, update: { version: buf[at]!, flush: buf[at + 1]!, seq: readU16(buf, at + 2) }, rtes }, length);
}

export function encodingLengthRipng(value: RipngPacket): number {
  return RIPNG_HEADER_LEN + (hasUpdateHeader(value.command) ? RIPNG_UPDATE_HEADER_LEN : 0) + RIPNG_RTE_LEN * value.rtes.length;
}

/**
 * Writes the message at `off`; returns the bytes written. The caller sizes `buf` with
 * encodingLengthRipng. Commands 9–11 without `update` get an all-zero version-1 update header.
 */
export function encodeRipng(value: RipngPacket, buf: Uint8Array, off = 0): number {
  buf[off] = value.command;
  buf[off + 1] = value.version;
  writeU16(buf, off + 2, value.reserved);
  let at = off + RIPNG_HEADER_LEN;
  if (hasUpdateHeader(value.command)) {
    const u = value.update ?? { version: RIPNG_UPDATE_VERSION, flush: 0, seq: 0 };
    buf[at] = u.version;
    buf[at + 1] = u.flush;
    writeU16(buf, at + 2, u.seq);
    at += RIPNG_UPDATE_HEADER_LEN;
  }
  for (const rte of value.rtes) {
    buf.set(rte.prefix.subarray(0, 16), at);
    writeU16(buf, at + 16, rte.tag);
    buf[at + 18] = rte.prefixLen;
    buf[at + 19] = rte.metric;
    at += RIPNG_RTE_LEN;
  }
  return at - off;
}

/**
 * How many RTEs fit in one message on a link of `mtu` (§2.1: IPv6 40 + UDP 8 + header 4;
 * `demand`: plus RFC 2091's update header).
 */
export function maxRtesForMtu(mtu: number, demand = false): number {
  return Math.max(1, Math.floor((mtu - 40 - 8 - RIPNG_HEADER_LEN - (demand ? RIPNG_UPDATE_HEADER_LEN : 0)) / RIPNG_RTE_LEN));
}

/** §2.4.1: the whole-table request is exactly one RTE: ::/0, metric 16. */
export function isWholeTableRequest(p: RipngPacket): boolean {
  if (p.rtes.length !== 1) return false;
  const r = p.rtes[0]!;
  return r.prefixLen === 0 && r.metric === RIPNG_INFINITY && r.prefix.every((b) => b === 0);
}
