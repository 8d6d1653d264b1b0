/**
 * ICMPv6 (RFC 4443): codepoint tables, checksum helpers, Repr codecs for echo and the four
 * error messages, and the fast-path error writer the lanes use.
 *
 * ND (nd.ts) and MLD (mld.ts) have their own codecs; icmpv6-message.ts dispatches over all
 * of them and fills in the checksum.
 */
import { isMulticast, isUnspecified } from '../lib/addr.js';
import { onesComplementSum, upperLayerChecksum } from './checksum.js';
import {
  PARAM_PROBLEM_CODE,
  WALK_OK,
  WALK_OUT_SIZE,
  WALK_UPPER_OFFSET,
  WALK_UPPER_PROTOCOL,
  walkExtensionHeaders,
} from './ext-headers.js';
import { IPPROTO, IPV6_HEADER_LEN, IPV6_MIN_MTU, IP6_OFF_DST, IP6_OFF_SRC, writeIpv6Header } from './ipv6.js';
import { readU32, writeU32 } from './bytes.js';
import { type Decoded, fail, ok } from './result.js';

export { PARAM_PROBLEM_CODE };

/** ICMPv6 types (IANA "ICMPv6 Parameters"). Types below 128 are errors (RFC 4443 §2.1). */
export const ICMP6 = {
  DST_UNREACH: 1,
  PACKET_TOO_BIG: 2,
  TIME_EXCEEDED: 3,
  PARAM_PROBLEM: 4,
  ECHO_REQUEST: 128,
  ECHO_REPLY: 129,
  MLD_QUERY: 130, // RFC 2710 §3, RFC 3810 §5.1
  MLD_REPORT: 131, // MLDv1
  MLD_DONE: 132, // MLDv1
  ROUTER_SOLICIT: 133, // RFC 4861 §4
  ROUTER_ADVERT: 134,
  NEIGHBOR_SOLICIT: 135,
  NEIGHBOR_ADVERT: 136,
  REDIRECT: 137,
  MLDV2_REPORT: 143, // RFC 3810 §5.2
} as const;

/** Destination Unreachable codes (RFC 4443 §3.1; 7 RFC 6554, 8 RFC 8883). */
export const DST_UNREACH_CODE = {
  NO_ROUTE: 0,
  ADMIN_PROHIBITED: 1,
  BEYOND_SCOPE: 2,
  ADDRESS_UNREACHABLE: 3,
  PORT_UNREACHABLE: 4,
  SOURCE_POLICY_FAILED: 5,
  REJECT_ROUTE: 6,
  SOURCE_ROUTING_HEADER_ERROR: 7,
  HEADERS_TOO_LONG: 8,
} as const;

/** Time Exceeded codes (RFC 4443 §3.3). */
export const TIME_EXCEEDED_CODE = {
  HOP_LIMIT: 0,
  FRAGMENT_REASSEMBLY: 1,
} as const;

export const ICMP6_OFF_TYPE = 0;
export const ICMP6_OFF_CODE = 1;
export const ICMP6_OFF_CHECKSUM = 2;
/** Errors and echo messages carry a 32-bit field after the checksum (RFC 4443 §2.1). */
export const ICMP6_OFF_PARAM = 4;
export const ICMP6_HEADER_LEN = 8;
/** Hop limit of the errors the router originates: any sensible default works (RFC 4443 §2.2). */
export const ICMP6_ERROR_HOP_LIMIT = 64;

export function isIcmpv6Error(type: number): boolean {
  return type < 128;
}

/**
 * Sets the checksum of the ICMPv6 message at [icmpOff, icmpOff+icmpLen) for the pseudo-header
 * (src, dst) (RFC 4443 §2.3). The checksum field is zeroed first. No allocation.
 */
export function fillIcmpv6Checksum(
  buf: Uint8Array,
  icmpOff: number,
  icmpLen: number,
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
): void {
  buf[icmpOff + ICMP6_OFF_CHECKSUM] = 0;
  buf[icmpOff + ICMP6_OFF_CHECKSUM + 1] = 0;
  let sum = onesComplementSum(src, srcOff, 16);
  sum = onesComplementSum(dst, dstOff, 16, sum);
  sum += Math.floor(icmpLen / 0x10000) + (icmpLen & 0xffff) + IPPROTO.ICMPV6;
  const checksum = ~onesComplementSum(buf, icmpOff, icmpLen, sum) & 0xffff;
  buf[icmpOff + ICMP6_OFF_CHECKSUM] = checksum >>> 8;
  buf[icmpOff + ICMP6_OFF_CHECKSUM + 1] = checksum & 0xff;
}

/**
 * True when the ICMPv6 message at icmpOff has a correct checksum for the addresses of the
 * IPv6 header at ipOff (without a Routing header: its final destination is not read here).
 */
export function verifyIcmpv6Checksum(bytes: Uint8Array, ipOff: number, icmpOff: number, icmpLen: number): boolean {
  return upperLayerChecksum(bytes, ipOff, icmpOff, icmpLen, IPPROTO.ICMPV6) === 0;
}

/**
 * Writes a complete IPv6 + ICMPv6 error at outOff and returns its length: source
 * (srcAddr, srcOff), destination (dstAddr, dstOff), hop limit 64, and as much of the
 * invoking packet as fits without the error exceeding min(1280, mtu) bytes (RFC 4443
 * §2.4(c)); `param32` is the MTU, pointer or unused field. Returns 0 when mtu leaves no room
 * for the headers. No allocation.
 *
 * The invoking packet may be in `out` itself, either outside the bytes written or exactly at
 * outOff + 48 (built in place in the slot's headroom, no copy); the addresses must not lie in
 * the bytes written unless they are inside an in-place invoking packet.
 */
export function writeIcmpv6Error(
  out: Uint8Array,
  outOff: number,
  type: number,
  code: number,
  param32: number,
  srcAddr: Uint8Array,
  srcOff: number,
  dstAddr: Uint8Array,
  dstOff: number,
  invokingPacket: Uint8Array,
  invOff: number,
  invLen: number,
  mtu: number,
): number {
  const limit = mtu < IPV6_MIN_MTU ? mtu : IPV6_MIN_MTU;
  const headersLen = IPV6_HEADER_LEN + ICMP6_HEADER_LEN;
  if (limit < headersLen) return 0;
  const carried = invLen < limit - headersLen ? invLen : limit - headersLen;
  const bodyOff = outOff + headersLen;
  if (invokingPacket === out) {
    if (invOff !== bodyOff) out.copyWithin(bodyOff, invOff, invOff + carried);
  } else {
    for (let i = 0; i < carried; i++) out[bodyOff + i] = invokingPacket[invOff + i]!;
  }
  const icmpLen = ICMP6_HEADER_LEN + carried;
  writeIpv6Header(out, outOff, 0, 0, icmpLen, IPPROTO.ICMPV6, ICMP6_ERROR_HOP_LIMIT, srcAddr, srcOff, dstAddr, dstOff);
  const icmpOff = outOff + IPV6_HEADER_LEN;
  out[icmpOff + ICMP6_OFF_TYPE] = type;
  out[icmpOff + ICMP6_OFF_CODE] = code;
  out[icmpOff + ICMP6_OFF_CHECKSUM] = 0;
  out[icmpOff + ICMP6_OFF_CHECKSUM + 1] = 0;
  out[icmpOff + ICMP6_OFF_PARAM] = param32 >>> 24;
  out[icmpOff + ICMP6_OFF_PARAM + 1] = (param32 >>> 16) & 0xff;
  out[icmpOff + ICMP6_OFF_PARAM + 2] = (param32 >>> 8) & 0xff;
  out[icmpOff + ICMP6_OFF_PARAM + 3] = param32 & 0xff;
  const checksum = upperLayerChecksum(out, outOff, icmpOff, icmpLen, IPPROTO.ICMPV6);
  out[icmpOff + ICMP6_OFF_CHECKSUM] = checksum >>> 8;
  out[icmpOff + ICMP6_OFF_CHECKSUM + 1] = checksum & 0xff;
  return IPV6_HEADER_LEN + icmpLen;
}

// One scratch array per module instance (one per worker thread): the predicate below runs on
// the lane, where allocating per packet is not allowed.
const walkScratch = new Int32Array(WALK_OUT_SIZE);

/**
 * RFC 4443 §2.4(e): may an error of (errorType, errorCode) be sent about the IPv6 packet at
 * ipOff (packetLen bytes)? Never about
 * - (e.1, e.2) an ICMPv6 error or a Redirect;
 * - (e.3) a packet to a multicast address, except Packet Too Big and Parameter Problem
 *   code 2 (which walkExtensionHeaders only reports for option action 10 to multicast);
 * - (e.4) a packet whose source is unspecified or multicast.
 * Link-layer multicast/broadcast (also e.3) is the caller's to check: this sees IPv6 only.
 * No allocation.
 */
export function mayGenerateErrorAbout(
  bytes: Uint8Array,
  ipOff: number,
  packetLen: number,
  errorType: number,
  errorCode: number,
): boolean {
  if (isUnspecified(bytes, ipOff + IP6_OFF_SRC) || isMulticast(bytes, ipOff + IP6_OFF_SRC)) return false;
  if (
    isMulticast(bytes, ipOff + IP6_OFF_DST) &&
    errorType !== ICMP6.PACKET_TOO_BIG &&
    !(errorType === ICMP6.PARAM_PROBLEM && errorCode === PARAM_PROBLEM_CODE.UNRECOGNIZED_OPTION)
  ) {
    return false;
  }
  if (walkExtensionHeaders(bytes, ipOff, packetLen, walkScratch) !== WALK_OK) return true;
  const upperOff = walkScratch[WALK_UPPER_OFFSET]!;
  if (walkScratch[WALK_UPPER_PROTOCOL] !== IPPROTO.ICMPV6 || upperOff < 0 || upperOff >= ipOff + packetLen) {
    return true;
  }
  const invokingType = bytes[upperOff]!;
  return !isIcmpv6Error(invokingType) && invokingType !== ICMP6.REDIRECT;
}

// ---------------------------------------------------------------------------------------
// Control-plane Repr

export type Icmpv6Message =
  | { readonly type: 'echoRequest'; readonly identifier: number; readonly sequence: number; readonly data: Uint8Array }
  | { readonly type: 'echoReply'; readonly identifier: number; readonly sequence: number; readonly data: Uint8Array }
  | { readonly type: 'destinationUnreachable'; readonly code: number; readonly invoking: Uint8Array }
  | { readonly type: 'packetTooBig'; readonly mtu: number; readonly invoking: Uint8Array }
  | { readonly type: 'timeExceeded'; readonly code: number; readonly invoking: Uint8Array }
  | {
      readonly type: 'parameterProblem';
      readonly code: number;
      readonly pointer: number;
      readonly invoking: Uint8Array;
    }
  /** Any other type, kept whole so it survives a round trip: `body` follows the checksum. */
  | { readonly type: 'otherIcmpv6'; readonly icmpType: number; readonly code: number; readonly body: Uint8Array };

/**
 * Decodes echo, error and unknown ICMPv6 messages; `length` is the whole message. Does not
 * verify the checksum (verifyIcmpv6Checksum needs the IPv6 header). ND and MLD types decode
 * here only as 'otherIcmpv6'; decodeIcmpv6Message in icmpv6-message.ts handles them all.
 */
export function decodeIcmpv6(buf: Uint8Array, off: number, length = buf.length - off): Decoded<Icmpv6Message> {
  if (off < 0 || length < 4 || off + length > buf.length) return fail('truncated');
  const type = buf[off]!;
  const code = buf[off + 1]!;
  const end = off + length;
  const known =
    type === ICMP6.ECHO_REQUEST ||
    type === ICMP6.ECHO_REPLY ||
    type === ICMP6.DST_UNREACH ||
    type === ICMP6.PACKET_TOO_BIG ||
    type === ICMP6.TIME_EXCEEDED ||
    type === ICMP6.PARAM_PROBLEM;
  if (!known) return ok({ type: 'otherIcmpv6', icmpType: type, code, body: buf.slice(off + 4, end) }, length);
  if (length < ICMP6_HEADER_LEN) return fail('truncated');
  const param = readU32(buf, off + ICMP6_OFF_PARAM);
  const rest = buf.slice(off + ICMP6_HEADER_LEN, end);
  switch (type) {
    case ICMP6.ECHO_REQUEST:
    case ICMP6.ECHO_REPLY:
      // RFC 4443 §4.1/§4.2 define code 0 only.
      if (code !== 0) return fail('bad_code');
      return ok(
        {
          type: type === ICMP6.ECHO_REQUEST ? 'echoRequest' : 'echoReply',
          identifier: param >>> 16,
          sequence: param & 0xffff,
          data: rest,
        },
        length,
      );
    case ICMP6.DST_UNREACH:
      return ok({ type: 'destinationUnreachable', code, invoking: rest }, length);
    case ICMP6.PACKET_TOO_BIG:
      // RFC 4443 §3.2: the code is "set to 0 by the originator and ignored by the receiver".
      return ok({ type: 'packetTooBig', mtu: param, invoking: rest }, length);
    case ICMP6.TIME_EXCEEDED:
      return ok({ type: 'timeExceeded', code, invoking: rest }, length);
    default:
      return ok({ type: 'parameterProblem', code, pointer: param, invoking: rest }, length);
  }
}

export function encodingLengthIcmpv6(msg: Icmpv6Message): number {
  switch (msg.type) {
    case 'echoRequest':
    case 'echoReply':
      return ICMP6_HEADER_LEN + msg.data.length;
    case 'otherIcmpv6':
      return 4 + msg.body.length;
    default:
      return ICMP6_HEADER_LEN + msg.invoking.length;
  }
}

/** Encodes with the checksum field zero; encodeIcmpv6Message in icmpv6-message.ts fills it. */
export function encodeIcmpv6(msg: Icmpv6Message, buf: Uint8Array, off: number): number {
  buf[off + ICMP6_OFF_CHECKSUM] = 0;
  buf[off + ICMP6_OFF_CHECKSUM + 1] = 0;
  if (msg.type === 'otherIcmpv6') {
    buf[off] = msg.icmpType;
    buf[off + 1] = msg.code;
    buf.set(msg.body, off + 4);
    return 4 + msg.body.length;
  }
  let type: number;
  let code = 0;
  let param: number;
  let rest: Uint8Array;
  switch (msg.type) {
    case 'echoRequest':
    case 'echoReply':
      type = msg.type === 'echoRequest' ? ICMP6.ECHO_REQUEST : ICMP6.ECHO_REPLY;
      param = ((msg.identifier << 16) | msg.sequence) >>> 0;
      rest = msg.data;
      break;
    case 'destinationUnreachable':
      [type, code, param, rest] = [ICMP6.DST_UNREACH, msg.code, 0, msg.invoking];
      break;
    case 'packetTooBig':
      [type, param, rest] = [ICMP6.PACKET_TOO_BIG, msg.mtu, msg.invoking];
      break;
    case 'timeExceeded':
      [type, code, param, rest] = [ICMP6.TIME_EXCEEDED, msg.code, 0, msg.invoking];
      break;
    case 'parameterProblem':
      [type, code, param, rest] = [ICMP6.PARAM_PROBLEM, msg.code, msg.pointer, msg.invoking];
      break;
  }
  buf[off] = type;
  buf[off + 1] = code;
  writeU32(buf, off + ICMP6_OFF_PARAM, param);
  buf.set(rest, off + ICMP6_HEADER_LEN);
  return ICMP6_HEADER_LEN + rest.length;
}

/** Hop limit of every Neighbor Discovery message, Redirect included (RFC 4861 §4.5). */
const ND_HOP_LIMIT = 255;
/** Type, code, checksum, reserved, Target Address, Destination Address (RFC 4861 §4.5). */
const REDIRECT_FIXED_LEN = 40;

/**
 * Writes a whole Redirect (RFC 4861 §4.5) at out[outOff]: an IPv6 header from `src` (the
 * router's link-local address on the link, §8.2) to `dst` (the redirected packet's source),
 * hop limit 255; Target and Destination Address; a Target Link-Layer Address option when
 * `mac` is given (macOff ≥ 0); and a Redirected Header option carrying as much of the packet
 * as keeps the Redirect within 1280 bytes (§4.5, §8.2), padded with zeros to 8 octets.
 * Returns the bytes written. Nothing is allocated: the lanes call it per redirected packet.
 * The packet must not lie in the bytes written.
 */
export function writeRedirect(
  out: Uint8Array,
  outOff: number,
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  target: Uint8Array,
  targetOff: number,
  destination: Uint8Array,
  destinationOff: number,
  mac: Uint8Array,
  macOff: number,
  packet: Uint8Array,
  packetOff: number,
  packetLen: number,
): number {
  const icmpOff = outOff + IPV6_HEADER_LEN;
  let at = icmpOff + REDIRECT_FIXED_LEN;
  if (macOff >= 0) {
    out[at] = 2; // Target Link-Layer Address (RFC 4861 §4.6.1), one 8-octet unit
    out[at + 1] = 1;
    for (let k = 0; k < 6; k++) out[at + 2 + k] = mac[macOff + k]!;
    at += 8;
  }
  // Redirected Header (§4.6.3): type, length in 8-octet units, 6 reserved bytes, the packet.
  const room = outOff + IPV6_MIN_MTU - (at + 8);
  const carried = packetLen < room ? packetLen : room;
  const padded = (carried + 7) & ~7;
  out[at] = 4;
  out[at + 1] = 1 + padded / 8;
  for (let k = 2; k < 8; k++) out[at + k] = 0;
  for (let k = 0; k < carried; k++) out[at + 8 + k] = packet[packetOff + k]!;
  for (let k = carried; k < padded; k++) out[at + 8 + k] = 0;
  at += 8 + padded;
  const icmpLen = at - icmpOff;
  writeIpv6Header(out, outOff, 0, 0, icmpLen, IPPROTO.ICMPV6, ND_HOP_LIMIT, src, srcOff, dst, dstOff);
  out[icmpOff] = ICMP6.REDIRECT;
  out[icmpOff + 1] = 0;
  for (let k = 2; k < 8; k++) out[icmpOff + k] = 0;
  for (let k = 0; k < 16; k++) out[icmpOff + 8 + k] = target[targetOff + k]!;
  for (let k = 0; k < 16; k++) out[icmpOff + 24 + k] = destination[destinationOff + k]!;
  const checksum = upperLayerChecksum(out, outOff, icmpOff, icmpLen, IPPROTO.ICMPV6);
  out[icmpOff + ICMP6_OFF_CHECKSUM] = checksum >>> 8;
  out[icmpOff + ICMP6_OFF_CHECKSUM + 1] = checksum & 0xff;
  return at - outOff;
}
