/**
 * Multicast Listener Discovery: MLDv1 (RFC 2710) and MLDv2 (RFC 3810) messages.
 * `buf` is positioned at the ICMPv6 header; the checksum is filled by encodeIcmpv6Message
 * (icmpv6-message.ts) and checked by verifyIcmpv6Checksum, and the IP-level rules (link-local
 * source, hop limit 1, Router Alert; RFC 3810 §5) are the receiver's.
 */
import { isMulticast, isUnspecified } from '../lib/addr.js';
import { readU16, writeU16 } from './bytes.js';
import { ICMP6 } from './icmpv6.js';
import { type Decoded, fail, ok } from './result.js';

/** Multicast Address Record types (RFC 3810 §5.2.12). */
export const MLD_RECORD_TYPE = {
  MODE_IS_INCLUDE: 1,
  MODE_IS_EXCLUDE: 2,
  CHANGE_TO_INCLUDE_MODE: 3,
  CHANGE_TO_EXCLUDE_MODE: 4,
  ALLOW_NEW_SOURCES: 5,
  BLOCK_OLD_SOURCES: 6,
} as const;

export interface MldAddressRecord {
  readonly recordType: number;
  readonly group: Uint8Array;
  readonly sources: readonly Uint8Array[];
  /** Auxiliary data, a multiple of 4 octets (RFC 3810 §5.2.6; none is defined yet). */
  readonly auxData: Uint8Array;
}

export type MldMessage =
  /** RFC 2710 §3.4: 24 octets; group unspecified for a General Query. */
  | { readonly type: 'mldv1Query'; readonly maxResponseDelay: number; readonly group: Uint8Array }
  | {
      readonly type: 'mldv2Query';
      /** Encoded per RFC 3810 §5.1.3; see mldv2MaxResponseDelayMs. */
      readonly maxResponseCode: number;
      readonly group: Uint8Array;
      readonly suppressRouterProcessing: boolean;
      /** QRV, 0..7 (RFC 3810 §5.1.8). */
      readonly robustness: number;
      /** QQIC, encoded per RFC 3810 §5.1.9; see mldv2QueryIntervalSeconds. */
      readonly queryIntervalCode: number;
      readonly sources: readonly Uint8Array[];
    }
  /** RFC 2710 §3.4: Maximum Response Delay is zero in reports and done messages. */
  | { readonly type: 'mldv1Report'; readonly group: Uint8Array }
  | { readonly type: 'mldv1Done'; readonly group: Uint8Array }
  | { readonly type: 'mldv2Report'; readonly records: readonly MldAddressRecord[] };

const MLDV1_LENGTH = 24;
const MLDV2_QUERY_MIN_LENGTH = 28;
const MLDV2_REPORT_HEADER_LENGTH = 8;
const RECORD_HEADER_LENGTH = 20;
const QUERY_FLAG_S = 0x08;

/** The ICMPv6 types of MLD: Query, v1 Report and Done (RFC 2710 §3), v2 Report (RFC 3810 §5.2). */
export function isMldType(type: number): boolean {
  return type === ICMP6.MLD_QUERY || type === ICMP6.MLD_REPORT || type === ICMP6.MLD_DONE || type === ICMP6.MLDV2_REPORT;
}

/** Maximum Response Delay in ms from the MLDv2 code (RFC 3810 §5.1.3). */
export function mldv2MaxResponseDelayMs(code: number): number {
  if (code < 0x8000) return code;
  return ((code & 0x0fff) | 0x1000) * 2 ** (((code >>> 12) & 0x7) + 3);
}

/** Querier's Query Interval in seconds from QQIC (RFC 3810 §5.1.9). */
export function mldv2QueryIntervalSeconds(code: number): number {
  if (code < 0x80) return code;
  return ((code & 0x0f) | 0x10) * 2 ** (((code >>> 4) & 0x7) + 3);
}

/**
 * The Maximum Response Code for a delay in ms (RFC 3810 §5.1.3): exact below 32768, else the
 * floating-point form, rounded down; delays beyond the largest code (8387584 ms) get it.
 */
export function mldv2MaxResponseCode(ms: number): number {
  return floatCode(Math.floor(ms), 0x8000, 12);
}

/** QQIC for a Query Interval in seconds (RFC 3810 §5.1.9), the same way. */
export function mldv2QueryIntervalCode(seconds: number): number {
  return floatCode(Math.floor(seconds), 0x80, 4);
}

/** The codes of §5.1.3 and §5.1.9: `value` itself below `limit`, else 1|exp(3)|mant(`mantBits`) with value = (mant|1<<mantBits) << (exp+3). */
function floatCode(value: number, limit: number, mantBits: number): number {
  if (value < limit) return Math.max(0, value);
  for (let exp = 0; exp < 8; exp++) {
    // Division, not >>>: a value past 2^32 must not wrap.
    const mant = Math.floor(value / 2 ** (exp + 3));
    if (mant < 2 << mantBits) return limit | (exp << mantBits) | (mant & ((1 << mantBits) - 1));
  }
  return limit | (7 << mantBits) | ((1 << mantBits) - 1);
}

function readAddresses(buf: Uint8Array, at: number, count: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) out.push(buf.slice(at + 16 * i, at + 16 * i + 16));
  return out;
}

/** Decodes an MLD message; `length` is the whole ICMPv6 message. */
export function decodeMldMessage(buf: Uint8Array, off: number, length = buf.length - off): Decoded<MldMessage> {
  if (off < 0 || length < 4 || off + length > buf.length) return fail('truncated');
  const end = off + length;
  switch (buf[off]) {
    case ICMP6.MLD_QUERY: {
      // RFC 3810 §8.1: 24 octets is MLDv1, at least 28 MLDv2, anything else is ignored.
      if (length === MLDV1_LENGTH) {
        return ok(
          { type: 'mldv1Query', maxResponseDelay: readU16(buf, off + 4), group: buf.slice(off + 8, off + 24) },
          length,
        );
      }
      if (length < MLDV2_QUERY_MIN_LENGTH) return fail('bad_length');
      const count = readU16(buf, off + 26);
      if (off + MLDV2_QUERY_MIN_LENGTH + 16 * count > end) return fail('truncated_sources');
      const group = buf.slice(off + 8, off + 24);
      if (!isUnspecified(group) && !isMulticast(group)) return fail('bad_group');
      return ok(
        {
          type: 'mldv2Query',
          maxResponseCode: readU16(buf, off + 4),
          group,
          suppressRouterProcessing: (buf[off + 24]! & QUERY_FLAG_S) !== 0,
          robustness: buf[off + 24]! & 0x07,
          queryIntervalCode: buf[off + 25]!,
          sources: readAddresses(buf, off + 28, count),
        },
        length,
      );
    }
    case ICMP6.MLD_REPORT:
    case ICMP6.MLD_DONE: {
      if (length < MLDV1_LENGTH) return fail('truncated');
      const group = buf.slice(off + 8, off + 24);
      if (!isMulticast(group)) return fail('bad_group');
      return ok({ type: buf[off] === ICMP6.MLD_REPORT ? 'mldv1Report' : 'mldv1Done', group }, length);
    }
    case ICMP6.MLDV2_REPORT: {
      if (length < MLDV2_REPORT_HEADER_LENGTH) return fail('truncated');
      const count = readU16(buf, off + 6);
      const records: MldAddressRecord[] = [];
      let at = off + MLDV2_REPORT_HEADER_LENGTH;
      for (let r = 0; r < count; r++) {
        if (at + RECORD_HEADER_LENGTH > end) return fail('truncated_record', at - off);
        const auxLen = buf[at + 1]! * 4;
        const sourceCount = readU16(buf, at + 2);
        const recordLen = RECORD_HEADER_LENGTH + 16 * sourceCount + auxLen;
        if (at + recordLen > end) return fail('truncated_record', at - off);
        const group = buf.slice(at + 4, at + 20);
        if (!isMulticast(group)) return fail('bad_group', at - off);
        records.push({
          recordType: buf[at]!,
          group,
          sources: readAddresses(buf, at + RECORD_HEADER_LENGTH, sourceCount),
          auxData: buf.slice(at + RECORD_HEADER_LENGTH + 16 * sourceCount, at + recordLen),
        });
        at += recordLen;
      }
      return ok({ type: 'mldv2Report', records }, length);
    }
    default:
      return fail('not_mld');
  }
}

export function mldMessageLength(msg: MldMessage): number {
  switch (msg.type) {
    case 'mldv1Query':
    case 'mldv1Report':
    case 'mldv1Done':
      return MLDV1_LENGTH;
    case 'mldv2Query':
      return MLDV2_QUERY_MIN_LENGTH + 16 * msg.sources.length;
    case 'mldv2Report': {
      let n = MLDV2_REPORT_HEADER_LENGTH;
      for (const r of msg.records) n += RECORD_HEADER_LENGTH + 16 * r.sources.length + r.auxData.length;
      return n;
    }
  }
}

/** Encodes at `off` with the checksum field zero; reserved fields are written as zero. */
export function encodeMldMessage(msg: MldMessage, buf: Uint8Array, off: number): number {
  const len = mldMessageLength(msg);
  buf.fill(0, off, off + len);
  switch (msg.type) {
    case 'mldv1Query':
      buf[off] = ICMP6.MLD_QUERY;
      writeU16(buf, off + 4, msg.maxResponseDelay);
      buf.set(msg.group, off + 8);
      break;
    case 'mldv1Report':
    case 'mldv1Done':
      buf[off] = msg.type === 'mldv1Report' ? ICMP6.MLD_REPORT : ICMP6.MLD_DONE;
      buf.set(msg.group, off + 8);
      break;
    case 'mldv2Query':
      buf[off] = ICMP6.MLD_QUERY;
      writeU16(buf, off + 4, msg.maxResponseCode);
      buf.set(msg.group, off + 8);
      buf[off + 24] = (msg.suppressRouterProcessing ? QUERY_FLAG_S : 0) | (msg.robustness & 0x07);
      buf[off + 25] = msg.queryIntervalCode;
      writeU16(buf, off + 26, msg.sources.length);
      msg.sources.forEach((s, i) => buf.set(s, off + 28 + 16 * i));
      break;
    case 'mldv2Report': {
      buf[off] = ICMP6.MLDV2_REPORT;
      writeU16(buf, off + 6, msg.records.length);
      let at = off + MLDV2_REPORT_HEADER_LENGTH;
      for (const r of msg.records) {
        buf[at] = r.recordType;
        buf[at + 1] = r.auxData.length / 4;
        writeU16(buf, at + 2, r.sources.length);
        buf.set(r.group, at + 4);
        r.sources.forEach((s, i) => buf.set(s, at + RECORD_HEADER_LENGTH + 16 * i));
        buf.set(r.auxData, at + RECORD_HEADER_LENGTH + 16 * r.sources.length);
        at += RECORD_HEADER_LENGTH + 16 * r.sources.length + r.auxData.length;
      }
      break;
    }
  }
  return len;
}
