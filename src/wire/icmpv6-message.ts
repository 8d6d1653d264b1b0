/**
 * Every ICMPv6 message turtle6 speaks as one Repr: RFC 4443 basics (icmpv6.ts), ND (nd.ts)
 * and MLD (mld.ts). The control plane decodes punted ICMPv6 here and encodes what it sends
 * with the checksum filled in for the pseudo-header addresses (RFC 4443 §2.3).
 */
import { ICMP6, decodeIcmpv6, encodeIcmpv6, encodingLengthIcmpv6, fillIcmpv6Checksum, type Icmpv6Message } from './icmpv6.js';
import { decodeMldMessage, encodeMldMessage, mldMessageLength, type MldMessage } from './mld.js';
import { decodeNdMessage, encodeNdMessage, ndMessageLength, type NdMessage } from './nd.js';
import { type Decoded, fail } from './result.js';

export type AnyIcmpv6Message = Icmpv6Message | NdMessage | MldMessage;

function isNd(msg: AnyIcmpv6Message): msg is NdMessage {
  return (
    msg.type === 'routerSolicitation' ||
    msg.type === 'routerAdvertisement' ||
    msg.type === 'neighborSolicitation' ||
    msg.type === 'neighborAdvertisement' ||
    msg.type === 'redirect'
  );
}

function isMld(msg: AnyIcmpv6Message): msg is MldMessage {
  return (
    msg.type === 'mldv1Query' ||
    msg.type === 'mldv2Query' ||
    msg.type === 'mldv1Report' ||
    msg.type === 'mldv1Done' ||
    msg.type === 'mldv2Report'
  );
}

/** Decodes any ICMPv6 message (checksum not verified: see verifyIcmpv6Checksum). */
export function decodeIcmpv6Message(
  buf: Uint8Array,
  off: number,
  length = buf.length - off,
): Decoded<AnyIcmpv6Message> {
  if (off < 0 || length < 4 || off + length > buf.length) return fail('truncated');
  const type = buf[off]!;
  if (type >= ICMP6.ROUTER_SOLICIT && type <= ICMP6.REDIRECT) return decodeNdMessage(buf, off, length);
  if ((type >= ICMP6.MLD_QUERY && type <= ICMP6.MLD_DONE) || type === ICMP6.MLDV2_REPORT) {
    return decodeMldMessage(buf, off, length);
  }
  return decodeIcmpv6(buf, off, length);
}

export function icmpv6MessageLength(msg: AnyIcmpv6Message): number {
  if (isNd(msg)) return ndMessageLength(msg);
  if (isMld(msg)) return mldMessageLength(msg);
  return encodingLengthIcmpv6(msg);
}

/**
 * Encodes `msg` at `off` and fills in its checksum for the pseudo-header (src, dst): the
 * IPv6 source and the final destination, both 16 bytes. Returns the message length.
 */
export function encodeIcmpv6Message(
  msg: AnyIcmpv6Message,
  src: Uint8Array,
  dst: Uint8Array,
  buf: Uint8Array,
  off: number,
): number {
  const len = isNd(msg) ? encodeNdMessage(msg, buf, off) : isMld(msg) ? encodeMldMessage(msg, buf, off) : encodeIcmpv6(msg, buf, off);
  fillIcmpv6Checksum(buf, off, len, src, 0, dst, 0);
  return len;
}
