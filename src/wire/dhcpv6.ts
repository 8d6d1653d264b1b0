/**
 * DHCPv6 (RFC 8415) messages and options, as plain immutable Reprs.
 *
 * - Client/server messages (§8): msg-type, 3-byte transaction-id, options.
 * - Relay messages (§9): msg-type, hop-count, link-address, peer-address, options.
 * - Options (§21) are TLVs; encapsulated options (IA_NA, IA_PD, IAADDR, IAPREFIX, Relay
 *   Message) are decoded recursively. An option this codec does not know survives a round
 *   trip as `{ kind: 'unknown', code, data }`; a known option whose body does not fit its
 *   format makes the whole message fail with a reason (§16: "discard" is the caller's call).
 *
 * Trio per the style guide: encodingLengthDhcp6(msg), encodeDhcp6(msg, buf, off) → bytes
 * written, decodeDhcp6(buf, off, len) → Decoded. Decoders never throw on untrusted bytes.
 */
import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { type Decoded, fail, ok } from './result.js';

export const DHCP6_CLIENT_PORT = 546;
export const DHCP6_SERVER_PORT = 547;

/** §7.3 message types. */
export const DHCP6_MSG = {
  SOLICIT: 1,
  ADVERTISE: 2,
  REQUEST: 3,
  CONFIRM: 4,
  RENEW: 5,
  REBIND: 6,
  REPLY: 7,
  RELEASE: 8,
  DECLINE: 9,
  RECONFIGURE: 10,
  INFORMATION_REQUEST: 11,
  RELAY_FORW: 12,
  RELAY_REPL: 13,
} as const;

export const DHCP6_MSG_NAMES: Readonly<Record<number, string>> = {
  1: 'solicit',
  2: 'advertise',
  3: 'request',
  4: 'confirm',
  5: 'renew',
  6: 'rebind',
  7: 'reply',
  8: 'release',
  9: 'decline',
  10: 'reconfigure',
  11: 'information-request',
  12: 'relay-forw',
  13: 'relay-repl',
};

/** §21 option codes (IANA "DHCPv6 Option Codes"). */
export const DHCP6_OPT = {
  CLIENTID: 1,
  SERVERID: 2,
  IA_NA: 3,
  IA_TA: 4,
  IAADDR: 5,
  ORO: 6,
  PREFERENCE: 7,
  ELAPSED_TIME: 8,
  RELAY_MSG: 9,
  AUTH: 11,
  UNICAST: 12,
  STATUS_CODE: 13,
  RAPID_COMMIT: 14,
  USER_CLASS: 15,
  VENDOR_CLASS: 16,
  VENDOR_OPTS: 17,
  INTERFACE_ID: 18,
  RECONF_MSG: 19,
  RECONF_ACCEPT: 20,
  DNS_SERVERS: 23,
  DOMAIN_LIST: 24,
  IA_PD: 25,
  IAPREFIX: 26,
  INFORMATION_REFRESH_TIME: 32,
  SOL_MAX_RT: 82,
  INF_MAX_RT: 83,
} as const;

/** §21.13 status codes. */
export const DHCP6_STATUS = {
  SUCCESS: 0,
  UNSPEC_FAIL: 1,
  NO_ADDRS_AVAIL: 2,
  NO_BINDING: 3,
  NOT_ON_LINK: 4,
  USE_MULTICAST: 5,
  NO_PREFIX_AVAIL: 6,
} as const;

/** §11: DUID types. Unknown types are kept as raw bytes. */
export const DUID_TYPE = { LLT: 1, EN: 2, LL: 3, UUID: 4 } as const;

export type Duid =
  | { readonly type: 1; readonly hwType: number; readonly time: number; readonly linkLayer: Uint8Array }
  | { readonly type: 2; readonly enterprise: number; readonly identifier: Uint8Array }
  | { readonly type: 3; readonly hwType: number; readonly linkLayer: Uint8Array }
  | { readonly type: 4; readonly uuid: Uint8Array }
  | { readonly type: number; readonly raw: Uint8Array };

/** §20: the Authentication option. `info` depends on the protocol and is parsed in dhcpv6-auth.ts. */
export interface AuthOption {
  readonly kind: 'auth';
  readonly protocol: number;
  readonly algorithm: number;
  readonly rdm: number;
  /** 64-bit replay detection field. */
  readonly replayDetection: bigint;
  readonly info: Uint8Array;
}

export type Dhcp6Option =
  | { readonly kind: 'clientId'; readonly duid: Duid }
  | { readonly kind: 'serverId'; readonly duid: Duid }
  | { readonly kind: 'iaNa'; readonly iaid: number; readonly t1: number; readonly t2: number; readonly options: readonly Dhcp6Option[] }
  | { readonly kind: 'iaTa'; readonly iaid: number; readonly options: readonly Dhcp6Option[] }
  | { readonly kind: 'iaPd'; readonly iaid: number; readonly t1: number; readonly t2: number; readonly options: readonly Dhcp6Option[] }
  | { readonly kind: 'iaAddr'; readonly address: Uint8Array; readonly preferred: number; readonly valid: number; readonly options: readonly Dhcp6Option[] }
  | {
      readonly kind: 'iaPrefix';
      readonly preferred: number;
      readonly valid: number;
      readonly prefixLen: number;
      readonly prefix: Uint8Array;
      readonly options: readonly Dhcp6Option[];
    }
  | { readonly kind: 'oro'; readonly codes: readonly number[] }
  | { readonly kind: 'preference'; readonly value: number }
  /** Hundredths of a second (§21.9). */
  | { readonly kind: 'elapsedTime'; readonly centiseconds: number }
  | { readonly kind: 'relayMessage'; readonly message: Dhcp6Message }
  | AuthOption
  | { readonly kind: 'unicast'; readonly address: Uint8Array }
  | { readonly kind: 'statusCode'; readonly status: number; readonly message: string }
  | { readonly kind: 'rapidCommit' }
  | { readonly kind: 'userClass'; readonly data: readonly Uint8Array[] }
  | { readonly kind: 'vendorClass'; readonly enterprise: number; readonly data: readonly Uint8Array[] }
  /** §21.17: the sub-options' meaning belongs to the vendor; they are kept as bytes. */
  | { readonly kind: 'vendorOpts'; readonly enterprise: number; readonly data: Uint8Array }
  | { readonly kind: 'interfaceId'; readonly id: Uint8Array }
  | { readonly kind: 'reconfMsg'; readonly msgType: number }
  | { readonly kind: 'reconfAccept' }
  | { readonly kind: 'dnsServers'; readonly servers: readonly Uint8Array[] }
  /** Fully qualified names without the trailing dot (RFC 8415 §10, RFC 1035 §3.1 uncompressed). */
  | { readonly kind: 'domainList'; readonly domains: readonly string[] }
  | { readonly kind: 'solMaxRt'; readonly value: number }
  | { readonly kind: 'infMaxRt'; readonly value: number }
  | { readonly kind: 'infoRefreshTime'; readonly value: number }
  | { readonly kind: 'unknown'; readonly code: number; readonly data: Uint8Array };

export interface Dhcp6ClientMessage {
  readonly type: 'client';
  /** 1–11 (or any non-relay value, preserved). */
  readonly msgType: number;
  readonly transactionId: number;
  readonly options: readonly Dhcp6Option[];
}

export interface Dhcp6RelayMessage {
  readonly type: 'relay';
  readonly msgType: 12 | 13;
  readonly hopCount: number;
  readonly linkAddress: Uint8Array;
  readonly peerAddress: Uint8Array;
  readonly options: readonly Dhcp6Option[];
}

export type Dhcp6Message = Dhcp6ClientMessage | Dhcp6RelayMessage;

/**
 * Relay-forw nesting deeper than this is refused. §19.1.1 limits relays to HOP_COUNT_LIMIT
 * (8) hops; 32 leaves room and still bounds the decoder's recursion on hostile input.
 */
export const MAX_RELAY_NESTING = 32;
/** §19.1.1 HOP_COUNT_LIMIT. */
export const HOP_COUNT_LIMIT = 8;

// ---------------------------------------------------------------- decoding

export function decodeDhcp6(buf: Uint8Array, off = 0, len = buf.length - off): Decoded<Dhcp6Message> {
  if (off < 0 || len < 0 || off + len > buf.length) return fail('range outside the buffer');
  return decodeMessage(buf, off, off + len, 0);
}

function decodeMessage(buf: Uint8Array, start: number, end: number, depth: number): Decoded<Dhcp6Message> {
  if (end - start < 1) return fail('empty message', start);
  const msgType = buf[start]!;
  if (msgType === DHCP6_MSG.RELAY_FORW || msgType === DHCP6_MSG.RELAY_REPL) {
    if (end - start < 34) return fail(`relay message of ${end - start} bytes, shorter than its 34-byte header`, start);
    if (depth >= MAX_RELAY_NESTING) return fail(`relay messages nested more than ${MAX_RELAY_NESTING} deep`, start);
    const options = decodeOptions(buf, start + 34, end, depth + 1);
    if (!options.ok) return options;
    return ok(
      {
        type: 'relay',
        msgType,
        hopCount: buf[start + 1]!,
        linkAddress: buf.slice(start + 2, start + 18),
        peerAddress: buf.slice(start + 18, start + 34),
        options: options.value,
      },
      end - start,
    );
  }
  if (end - start < 4) return fail(`message of ${end - start} bytes, shorter than its 4-byte header`, start);
  const options = decodeOptions(buf, start + 4, end, depth);
  if (!options.ok) return options;
  const transactionId = (buf[start + 1]! << 16) | (buf[start + 2]! << 8) | buf[start + 3]!;
  return ok({ type: 'client', msgType, transactionId, options: options.value }, end - start);
}

function decodeOptions(buf: Uint8Array, start: number, end: number, depth: number): Decoded<Dhcp6Option[]> {
  const out: Dhcp6Option[] = [];
  let at = start;
  while (at < end) {
    if (end - at < 4) return fail(`option header truncated: ${end - at} bytes left`, at);
    const code = readU16(buf, at);
    const len = readU16(buf, at + 2);
    if (at + 4 + len > end) return fail(`option ${code} length ${len} overruns its container by ${at + 4 + len - end} bytes`, at);
    const option = decodeOption(buf, code, at + 4, at + 4 + len, depth);
    if (!option.ok) return option;
    out.push(option.value);
    at += 4 + len;
  }
  return ok(out, end - start);
}

function decodeOption(buf: Uint8Array, code: number, s: number, e: number, depth: number): Decoded<Dhcp6Option> {
  const len = e - s;
  const bad = (what: string): Decoded<Dhcp6Option> => fail(`option ${code}: ${what} (length ${len})`, s - 4);
  const exact = (n: number): boolean => len === n;
  switch (code) {
    case DHCP6_OPT.CLIENTID:
    case DHCP6_OPT.SERVERID: {
      const duid = decodeDuid(buf, s, e);
      if (!duid.ok) return bad(duid.reason);
      return ok(code === DHCP6_OPT.CLIENTID ? { kind: 'clientId', duid: duid.value } : { kind: 'serverId', duid: duid.value }, len);
    }
    case DHCP6_OPT.IA_NA:
    case DHCP6_OPT.IA_PD: {
      if (len < 12) return bad('shorter than IAID, T1 and T2');
      const options = decodeOptions(buf, s + 12, e, depth);
      if (!options.ok) return options;
      const ia = { iaid: readU32(buf, s), t1: readU32(buf, s + 4), t2: readU32(buf, s + 8), options: options.value };
      return ok(code === DHCP6_OPT.IA_NA ? { kind: 'iaNa', ...ia } : { kind: 'iaPd', ...ia }, len);
    }
    case DHCP6_OPT.IA_TA: {
      if (len < 4) return bad('shorter than IAID');
      const options = decodeOptions(buf, s + 4, e, depth);
      if (!options.ok) return options;
      return ok({ kind: 'iaTa', iaid: readU32(buf, s), options: options.value }, len);
    }
    case DHCP6_OPT.IAADDR: {
      if (len < 24) return bad('shorter than address and lifetimes');
      const options = decodeOptions(buf, s + 24, e, depth);
      if (!options.ok) return options;
      return ok({ kind: 'iaAddr', address: buf.slice(s, s + 16), preferred: readU32(buf, s + 16), valid: readU32(buf, s + 20), options: options.value }, len);
    }
    case DHCP6_OPT.IAPREFIX: {
      if (len < 25) return bad('shorter than lifetimes, length and prefix');
      const prefixLen = buf[s + 8]!;
      if (prefixLen > 128) return bad(`prefix length ${prefixLen} above 128`);
      const options = decodeOptions(buf, s + 25, e, depth);
      if (!options.ok) return options;
      return ok(
        { kind: 'iaPrefix', preferred: readU32(buf, s), valid: readU32(buf, s + 4), prefixLen, prefix: buf.slice(s + 9, s + 25), options: options.value },
        len,
      );
    }
    case DHCP6_OPT.ORO: {
      if (len % 2 !== 0) return bad('not a whole number of 2-byte codes');
      const codes: number[] = [];
      for (let i = s; i < e; i += 2) codes.push(readU16(buf, i));
      return ok({ kind: 'oro', codes }, len);
    }
    case DHCP6_OPT.PREFERENCE:
      return exact(1) ? ok({ kind: 'preference', value: buf[s]! }, len) : bad('expected 1 byte');
    case DHCP6_OPT.ELAPSED_TIME:
      return exact(2) ? ok({ kind: 'elapsedTime', centiseconds: readU16(buf, s) }, len) : bad('expected 2 bytes');
    case DHCP6_OPT.RELAY_MSG: {
      const inner = decodeMessage(buf, s, e, depth);
      if (!inner.ok) return inner;
      return ok({ kind: 'relayMessage', message: inner.value }, len);
    }
    case DHCP6_OPT.AUTH: {
      if (len < 11) return bad('shorter than protocol, algorithm, RDM and replay detection');
      const replayDetection = (BigInt(readU32(buf, s + 3)) << 32n) | BigInt(readU32(buf, s + 7));
      return ok({ kind: 'auth', protocol: buf[s]!, algorithm: buf[s + 1]!, rdm: buf[s + 2]!, replayDetection, info: buf.slice(s + 11, e) }, len);
    }
    case DHCP6_OPT.UNICAST:
      return exact(16) ? ok({ kind: 'unicast', address: buf.slice(s, e) }, len) : bad('expected a 16-byte address');
    case DHCP6_OPT.STATUS_CODE: {
      if (len < 2) return bad('shorter than the status code');
      const message = new TextDecoder('utf-8', { fatal: false }).decode(buf.subarray(s + 2, e));
      return ok({ kind: 'statusCode', status: readU16(buf, s), message }, len);
    }
    case DHCP6_OPT.RAPID_COMMIT:
      return exact(0) ? ok({ kind: 'rapidCommit' }, len) : bad('expected no data');
    case DHCP6_OPT.RECONF_ACCEPT:
      return exact(0) ? ok({ kind: 'reconfAccept' }, len) : bad('expected no data');
    case DHCP6_OPT.USER_CLASS: {
      const data = decodeOpaqueList(buf, s, e);
      return data === null ? bad('class data overruns the option') : ok({ kind: 'userClass', data }, len);
    }
    case DHCP6_OPT.VENDOR_CLASS: {
      if (len < 4) return bad('shorter than the enterprise number');
      const data = decodeOpaqueList(buf, s + 4, e);
      return data === null ? bad('class data overruns the option') : ok({ kind: 'vendorClass', enterprise: readU32(buf, s), data }, len);
    }
    case DHCP6_OPT.VENDOR_OPTS:
      return len < 4 ? bad('shorter than the enterprise number') : ok({ kind: 'vendorOpts', enterprise: readU32(buf, s), data: buf.slice(s + 4, e) }, len);
    case DHCP6_OPT.INTERFACE_ID:
      return ok({ kind: 'interfaceId', id: buf.slice(s, e) }, len);
    case DHCP6_OPT.RECONF_MSG:
      return exact(1) ? ok({ kind: 'reconfMsg', msgType: buf[s]! }, len) : bad('expected 1 byte');
    case DHCP6_OPT.DNS_SERVERS: {
      if (len % 16 !== 0) return bad('not a whole number of 16-byte addresses');
      const servers: Uint8Array[] = [];
      for (let i = s; i < e; i += 16) servers.push(buf.slice(i, i + 16));
      return ok({ kind: 'dnsServers', servers }, len);
    }
    case DHCP6_OPT.DOMAIN_LIST: {
      const domains = decodeDomainList(buf, s, e);
      return typeof domains === 'string' ? bad(domains) : ok({ kind: 'domainList', domains }, len);
    }
    case DHCP6_OPT.SOL_MAX_RT:
    case DHCP6_OPT.INF_MAX_RT:
    case DHCP6_OPT.INFORMATION_REFRESH_TIME: {
      if (!exact(4)) return bad('expected 4 bytes');
      const value = readU32(buf, s);
      const kind = code === DHCP6_OPT.SOL_MAX_RT ? 'solMaxRt' : code === DHCP6_OPT.INF_MAX_RT ? 'infMaxRt' : 'infoRefreshTime';
      return ok({ kind, value }, len);
    }
    default:
      return ok({ kind: 'unknown', code, data: buf.slice(s, e) }, len);
  }
}

function decodeDuid(buf: Uint8Array, s: number, e: number): Decoded<Duid> {
  const len = e - s;
  // §11.1: a DUID is at least the 2-byte type plus one byte, and at most 128 bytes of identifier.
  if (len < 3) return fail('DUID shorter than 3 bytes');
  if (len > 130) return fail('DUID longer than 130 bytes');
  const type = readU16(buf, s);
  switch (type) {
    case DUID_TYPE.LLT:
      if (len < 8) return fail('DUID-LLT shorter than type, hardware type and time');
      return ok({ type: 1, hwType: readU16(buf, s + 2), time: readU32(buf, s + 4), linkLayer: buf.slice(s + 8, e) }, len);
    case DUID_TYPE.EN:
      if (len < 6) return fail('DUID-EN shorter than type and enterprise number');
      return ok({ type: 2, enterprise: readU32(buf, s + 2), identifier: buf.slice(s + 6, e) }, len);
    case DUID_TYPE.LL:
      if (len < 4) return fail('DUID-LL shorter than type and hardware type');
      return ok({ type: 3, hwType: readU16(buf, s + 2), linkLayer: buf.slice(s + 4, e) }, len);
    case DUID_TYPE.UUID:
      if (len !== 18) return fail('DUID-UUID is not 2 + 16 bytes');
      return ok({ type: 4, uuid: buf.slice(s + 2, e) }, len);
    default:
      return ok({ type, raw: buf.slice(s + 2, e) }, len);
  }
}

function decodeOpaqueList(buf: Uint8Array, s: number, e: number): Uint8Array[] | null {
  const out: Uint8Array[] = [];
  let at = s;
  while (at < e) {
    if (e - at < 2) return null;
    const n = readU16(buf, at);
    if (at + 2 + n > e) return null;
    out.push(buf.slice(at + 2, at + 2 + n));
    at += 2 + n;
  }
  return out;
}

/** RFC 1035 §3.1 names, uncompressed; returns the names or a reason. */
function decodeDomainList(buf: Uint8Array, s: number, e: number): string[] | string {
  const out: string[] = [];
  let at = s;
  while (at < e) {
    const labels: string[] = [];
    for (;;) {
      if (at >= e) return 'domain name without its terminating root label';
      const n = buf[at]!;
      if (n === 0) {
        at++;
        break;
      }
      // Compression pointers (0xc0) are not allowed in DHCPv6 (RFC 8415 §10).
      if (n > 63) return `label length ${n} above 63`;
      if (at + 1 + n > e) return 'label overruns the option';
      let label = '';
      for (let i = at + 1; i < at + 1 + n; i++) label += String.fromCharCode(buf[i]!);
      if (label.includes('.')) return 'label containing a dot';
      labels.push(label);
      at += 1 + n;
    }
    out.push(labels.join('.'));
  }
  return out;
}

// ---------------------------------------------------------------- encoding

export function encodingLengthDhcp6(msg: Dhcp6Message): number {
  return (msg.type === 'relay' ? 34 : 4) + optionsLength(msg.options);
}

/** Writes `msg` at `off`; returns the number of bytes written. `buf` must have encodingLengthDhcp6(msg) bytes free. */
export function encodeDhcp6(msg: Dhcp6Message, buf: Uint8Array, off = 0): number {
  buf[off] = msg.msgType;
  let at: number;
  if (msg.type === 'relay') {
    buf[off + 1] = msg.hopCount;
    buf.set(msg.linkAddress, off + 2);
    buf.set(msg.peerAddress, off + 18);
    at = off + 34;
  } else {
    buf[off + 1] = (msg.transactionId >>> 16) & 0xff;
    buf[off + 2] = (msg.transactionId >>> 8) & 0xff;
    buf[off + 3] = msg.transactionId & 0xff;
    at = off + 4;
  }
  at = encodeOptions(msg.options, buf, at);
  return at - off;
}

/** Allocates and encodes: for the control plane, where one message is one allocation. */
export function encodeDhcp6ToBytes(msg: Dhcp6Message): Uint8Array {
  const buf = new Uint8Array(encodingLengthDhcp6(msg));
  encodeDhcp6(msg, buf, 0);
  return buf;
}

function optionsLength(options: readonly Dhcp6Option[]): number {
  let n = 0;
  for (const o of options) n += 4 + optionBodyLength(o);
  return n;
}

function optionCode(o: Dhcp6Option): number {
  switch (o.kind) {
    case 'clientId': return DHCP6_OPT.CLIENTID;
    case 'serverId': return DHCP6_OPT.SERVERID;
    case 'iaNa': return DHCP6_OPT.IA_NA;
    case 'iaTa': return DHCP6_OPT.IA_TA;
    case 'iaPd': return DHCP6_OPT.IA_PD;
    case 'iaAddr': return DHCP6_OPT.IAADDR;
    case 'iaPrefix': return DHCP6_OPT.IAPREFIX;
    case 'oro': return DHCP6_OPT.ORO;
    case 'preference': return DHCP6_OPT.PREFERENCE;
    case 'elapsedTime': return DHCP6_OPT.ELAPSED_TIME;
    case 'relayMessage': return DHCP6_OPT.RELAY_MSG;
    case 'auth': return DHCP6_OPT.AUTH;
    case 'unicast': return DHCP6_OPT.UNICAST;
    case 'statusCode': return DHCP6_OPT.STATUS_CODE;
    case 'rapidCommit': return DHCP6_OPT.RAPID_COMMIT;
    case 'userClass': return DHCP6_OPT.USER_CLASS;
    case 'vendorClass': return DHCP6_OPT.VENDOR_CLASS;
    case 'vendorOpts': return DHCP6_OPT.VENDOR_OPTS;
    case 'interfaceId': return DHCP6_OPT.INTERFACE_ID;
    case 'reconfMsg': return DHCP6_OPT.RECONF_MSG;
    case 'reconfAccept': return DHCP6_OPT.RECONF_ACCEPT;
    case 'dnsServers': return DHCP6_OPT.DNS_SERVERS;
    case 'domainList': return DHCP6_OPT.DOMAIN_LIST;
    case 'solMaxRt': return DHCP6_OPT.SOL_MAX_RT;
    case 'infMaxRt': return DHCP6_OPT.INF_MAX_RT;
    case 'infoRefreshTime': return DHCP6_OPT.INFORMATION_REFRESH_TIME;
    case 'unknown': return o.code;
  }
}

export function duidLength(d: Duid): number {
  if ('raw' in d) return 2 + d.raw.length;
  switch (d.type) {
    case DUID_TYPE.LLT: return 8 + (d as { linkLayer: Uint8Array }).linkLayer.length;
    case DUID_TYPE.EN: return 6 + (d as { identifier: Uint8Array }).identifier.length;
    case DUID_TYPE.LL: return 4 + (d as { linkLayer: Uint8Array }).linkLayer.length;
    default: return 18;
  }
}

function domainLength(name: string): number {
  return name === '' ? 1 : name.length + 2;
}

function optionBodyLength(o: Dhcp6Option): number {
  switch (o.kind) {
    case 'clientId':
    case 'serverId': return duidLength(o.duid);
    case 'iaNa':
    case 'iaPd': return 12 + optionsLength(o.options);
    case 'iaTa': return 4 + optionsLength(o.options);
    case 'iaAddr': return 24 + optionsLength(o.options);
    case 'iaPrefix': return 25 + optionsLength(o.options);
    case 'oro': return 2 * o.codes.length;
    case 'preference':
    case 'reconfMsg': return 1;
    case 'elapsedTime': return 2;
    case 'relayMessage': return encodingLengthDhcp6(o.message);
    case 'auth': return 11 + o.info.length;
    case 'unicast': return 16;
    case 'statusCode': return 2 + new TextEncoder().encode(o.message).length;
    case 'rapidCommit':
    case 'reconfAccept': return 0;
    case 'userClass': return o.data.reduce((n, d) => n + 2 + d.length, 0);
    case 'vendorClass': return 4 + o.data.reduce((n, d) => n + 2 + d.length, 0);
    case 'vendorOpts': return 4 + o.data.length;
    case 'interfaceId': return o.id.length;
    case 'dnsServers': return 16 * o.servers.length;
    case 'domainList': return o.domains.reduce((n, d) => n + domainLength(d), 0);
    case 'solMaxRt':
    case 'infMaxRt':
    case 'infoRefreshTime': return 4;
    case 'unknown': return o.data.length;
  }
}

function encodeOptions(options: readonly Dhcp6Option[], buf: Uint8Array, at: number): number {
  for (const o of options) {
    const len = optionBodyLength(o);
    writeU16(buf, at, optionCode(o));
    writeU16(buf, at + 2, len);
    encodeOptionBody(o, buf, at + 4);
    at += 4 + len;
  }
  return at;
}

function encodeDuid(d: Duid, buf: Uint8Array, at: number): void {
  writeU16(buf, at, d.type);
  if ('raw' in d) {
    buf.set(d.raw, at + 2);
    return;
  }
  if ('time' in d) {
    writeU16(buf, at + 2, d.hwType);
    writeU32(buf, at + 4, d.time);
    buf.set(d.linkLayer, at + 8);
  } else if ('enterprise' in d) {
    writeU32(buf, at + 2, d.enterprise);
    buf.set(d.identifier, at + 6);
  } else if ('hwType' in d) {
    writeU16(buf, at + 2, d.hwType);
    buf.set(d.linkLayer, at + 4);
  } else if ('uuid' in d) {
    buf.set(d.uuid, at + 2);
  }
}

function encodeOpaqueList(data: readonly Uint8Array[], buf: Uint8Array, at: number): void {
  for (const d of data) {
    writeU16(buf, at, d.length);
    buf.set(d, at + 2);
    at += 2 + d.length;
  }
}

function encodeOptionBody(o: Dhcp6Option, buf: Uint8Array, at: number): void {
  switch (o.kind) {
    case 'clientId':
    case 'serverId':
      encodeDuid(o.duid, buf, at);
      return;
    case 'iaNa':
    case 'iaPd':
      writeU32(buf, at, o.iaid);
      writeU32(buf, at + 4, o.t1);
      writeU32(buf, at + 8, o.t2);
      encodeOptions(o.options, buf, at + 12);
      return;
    case 'iaTa':
      writeU32(buf, at, o.iaid);
      encodeOptions(o.options, buf, at + 4);
      return;
    case 'iaAddr':
      buf.set(o.address, at);
      writeU32(buf, at + 16, o.preferred);
      writeU32(buf, at + 20, o.valid);
      encodeOptions(o.options, buf, at + 24);
      return;
    case 'iaPrefix':
      writeU32(buf, at, o.preferred);
      writeU32(buf, at + 4, o.valid);
      buf[at + 8] = o.prefixLen;
      buf.set(o.prefix, at + 9);
      encodeOptions(o.options, buf, at + 25);
      return;
    case 'oro':
      o.codes.forEach((c, i) => writeU16(buf, at + 2 * i, c));
      return;
    case 'preference':
      buf[at] = o.value;
      return;
    case 'reconfMsg':
      buf[at] = o.msgType;
      return;
    case 'elapsedTime':
      writeU16(buf, at, o.centiseconds);
      return;
    case 'relayMessage':
      encodeDhcp6(o.message, buf, at);
      return;
    case 'auth':
      buf[at] = o.protocol;
      buf[at + 1] = o.algorithm;
      buf[at + 2] = o.rdm;
      writeU32(buf, at + 3, Number((o.replayDetection >> 32n) & 0xffffffffn));
      writeU32(buf, at + 7, Number(o.replayDetection & 0xffffffffn));
      buf.set(o.info, at + 11);
      return;
    case 'unicast':
      buf.set(o.address, at);
      return;
    case 'statusCode':
      writeU16(buf, at, o.status);
      buf.set(new TextEncoder().encode(o.message), at + 2);
      return;
    case 'rapidCommit':
    case 'reconfAccept':
      return;
    case 'userClass':
      encodeOpaqueList(o.data, buf, at);
      return;
    case 'vendorClass':
      writeU32(buf, at, o.enterprise);
      encodeOpaqueList(o.data, buf, at + 4);
      return;
    case 'vendorOpts':
      writeU32(buf, at, o.enterprise);
      buf.set(o.data, at + 4);
      return;
    case 'interfaceId':
      buf.set(o.id, at);
      return;
    case 'dnsServers':
      o.servers.forEach((s, i) => buf.set(s, at + 16 * i));
      return;
    case 'domainList':
      for (const name of o.domains) {
        if (name !== '') {
          for (const label of name.split('.')) {
            buf[at++] = label.length;
            for (let i = 0; i < label.length; i++) buf[at++] = label.charCodeAt(i);
          }
        }
        buf[at++] = 0;
      }
      return;
    case 'solMaxRt':
    case 'infMaxRt':
    case 'infoRefreshTime':
      writeU32(buf, at, o.value);
      return;
    case 'unknown':
      buf.set(o.data, at);
      return;
  }
}

// ---------------------------------------------------------------- helpers

/** The first top-level option of `kind`, typed. */
export function findOption<K extends Dhcp6Option['kind']>(options: readonly Dhcp6Option[], kind: K): Extract<Dhcp6Option, { kind: K }> | undefined {
  for (const o of options) if (o.kind === kind) return o as Extract<Dhcp6Option, { kind: K }>;
  return undefined;
}

export function filterOptions<K extends Dhcp6Option['kind']>(options: readonly Dhcp6Option[], kind: K): Extract<Dhcp6Option, { kind: K }>[] {
  return options.filter((o): o is Extract<Dhcp6Option, { kind: K }> => o.kind === kind);
}

/** The DUID's wire bytes as lowercase hex with colons (the form WIDE and Kea print and configs use). */
export function formatDuid(d: Duid): string {
  const buf = new Uint8Array(duidLength(d));
  encodeDuid(d, buf, 0);
  return [...buf].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Parses "00:01:00:01:…" (or plain hex) into a DUID; null when it is not a valid DUID. */
export function parseDuid(text: string): Duid | null {
  const hex = text.replace(/[:\s-]/g, '');
  if (!/^([0-9a-fA-F]{2})+$/.test(hex)) return null;
  const bytes = Uint8Array.from(Buffer.from(hex, 'hex'));
  const d = decodeDuid(bytes, 0, bytes.length);
  return d.ok ? d.value : null;
}

export function duidBytes(d: Duid): Uint8Array {
  const buf = new Uint8Array(duidLength(d));
  encodeDuid(d, buf, 0);
  return buf;
}

/**
 * Offset of the first top-level Authentication option's body inside an encoded client/server
 * message at `off`, or -1: HMAC computation (§20.4) needs the exact bytes of the message.
 */
export function authOptionOffset(buf: Uint8Array, off: number, len: number): number {
  let at = off + 4;
  const end = off + len;
  while (end - at >= 4) {
    const code = readU16(buf, at);
    const n = readU16(buf, at + 2);
    if (at + 4 + n > end) return -1;
    if (code === DHCP6_OPT.AUTH) return at + 4;
    at += 4 + n;
  }
  return -1;
}
