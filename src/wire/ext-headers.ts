/**
 * IPv6 extension headers (RFC 8200 §4).
 *
 * Two flavours:
 * - `walkExtensionHeaders` for the lanes: allocation-free, it validates the chain once at
 *   input and reports through a caller-owned Int32Array (indices `WALK_*`) and a result code.
 * - `decodeExtensionHeaderChain` / `encodeExtensionHeaderChain` for the control plane.
 *
 * Headers walked: Hop-by-Hop Options, Routing, Fragment, Destination Options and
 * Authentication (whose length is in 4-octet units, RFC 4302 §2.2). Anything else, ESP and
 * Mobility included, ends the chain as the upper-layer protocol: ESP hides what follows, and
 * MH is consumed by the mip6 module as a message.
 */
import { IPPROTO, IPV6_HEADER_LEN, IP6_OFF_DST, IP6_OFF_NEXT_HEADER } from './ipv6.js';
import { type Decoded, fail, ok } from './result.js';

/** Extension headers walked before giving up on a packet (RFC 8504 §5.3 lets nodes cap the chain). */
export const MAX_EXTENSION_HEADERS = 16;

// Result codes of walkExtensionHeaders.
/** The chain is valid; `out` holds the upper-layer protocol and offsets. */
export const WALK_OK = 0;
/** A header runs past the end of the packet: drop. */
export const WALK_TRUNCATED = 1;
/** Drop silently: an unrecognized option with action 01, or 11 towards a multicast destination. */
export const WALK_DISCARD = 2;
/** Drop and answer with Parameter Problem, code and pointer in out[WALK_PARAM_CODE/POINTER]. */
export const WALK_PARAM_PROBLEM = 3;
/** More than MAX_EXTENSION_HEADERS headers: drop. */
export const WALK_TOO_MANY_HEADERS = 4;

// Indices into the `out` array (length WALK_OUT_SIZE).
/** The Next Header value that ended the chain (for a later fragment: the fragment's Next Header). */
export const WALK_UPPER_PROTOCOL = 0;
/** Absolute offset of the upper-layer header, or -1 when it is not in this packet (later fragment). */
export const WALK_UPPER_OFFSET = 1;
/**
 * Pointer (from the IPv6 header) to the Next Header field that names the upper-layer
 * protocol: the Parameter Problem code 1 pointer when local delivery finds the protocol
 * unrecognized (RFC 8200 §4). A forwarding router must not judge the upper layer.
 */
export const WALK_UPPER_NEXT_HEADER_POINTER = 2;
export const WALK_PARAM_CODE = 3;
export const WALK_PARAM_POINTER = 4;
/** Router Alert value (RFC 2711 §2.1: 0 MLD, 1 RSVP, 2 Active Networks) or -1 when absent. */
export const WALK_ROUTER_ALERT = 5;
/** 1 when a Hop-by-Hop Options header is present. */
export const WALK_HOP_BY_HOP = 6;
/** Absolute offset of the Fragment header, or -1. */
export const WALK_FRAGMENT_HEADER = 7;
/** 1 when the Fragment Offset is non-zero: the rest of the packet is fragment data. */
export const WALK_LATER_FRAGMENT = 8;
/**
 * Absolute offset of the (first) Routing header, or -1; after validateDestinationHeaders()
 * finds a Parameter Problem in a Routing header, the offset of that one.
 */
export const WALK_ROUTING_HEADER = 9;
/** Number of extension headers walked. */
export const WALK_HEADER_COUNT = 10;
export const WALK_OUT_SIZE = 11;

/** Parameter Problem codes (RFC 4443 §3.4, RFC 7112 §4 for code 3). */
export const PARAM_PROBLEM_CODE = {
  ERRONEOUS_HEADER_FIELD: 0,
  UNRECOGNIZED_NEXT_HEADER: 1,
  UNRECOGNIZED_OPTION: 2,
  INCOMPLETE_HEADER_CHAIN: 3,
} as const;

/** Option types (IANA "Destination Options and Hop-by-Hop Options"). */
export const IPV6_OPTION = {
  PAD1: 0x00,
  PADN: 0x01,
  TUNNEL_ENCAPSULATION_LIMIT: 0x04, // RFC 2473 §5.1, Destination Options only
  ROUTER_ALERT: 0x05, // RFC 2711, Hop-by-Hop only
  HOME_ADDRESS: 0xc9, // RFC 6275 §6.3, Destination Options only
} as const;

const FRAGMENT_HEADER_LEN = 8;

/** Whether walkExtensionHeaders() steps over this Next Header value (it is not an upper layer). */
export function isWalkedExtensionHeader(nextHeader: number): boolean {
  return (
    nextHeader === IPPROTO.HOPOPTS ||
    nextHeader === IPPROTO.ROUTING ||
    nextHeader === IPPROTO.FRAGMENT ||
    nextHeader === IPPROTO.DSTOPTS ||
    nextHeader === IPPROTO.AH
  );
}

/** Length of the extension header at `off` from its Hdr Ext Len byte (which must be present). */
function extensionHeaderLength(bytes: Uint8Array, nextHeader: number, off: number): number {
  if (nextHeader === IPPROTO.FRAGMENT) return FRAGMENT_HEADER_LEN;
  if (nextHeader === IPPROTO.AH) return (bytes[off + 1]! + 2) * 4;
  return (bytes[off + 1]! + 1) * 8;
}

function paramProblem(out: Int32Array, code: number, pointer: number): number {
  out[WALK_PARAM_CODE] = code;
  out[WALK_PARAM_POINTER] = pointer;
  return WALK_PARAM_PROBLEM;
}

/**
 * Walks the header chain of the IPv6 packet at `ipOff`, `packetLen` bytes long (fixed
 * header included; the caller has already checked it against the Payload Length).
 * Hop-by-Hop options are processed (every node must, RFC 8200 §4.3); the other headers
 * are only length-checked: Routing and Destination Options belong to the destination and
 * are the local-delivery stage's business (see validateOptionsTlv).
 */
export function walkExtensionHeaders(bytes: Uint8Array, ipOff: number, packetLen: number, out: Int32Array): number {
  out[WALK_UPPER_PROTOCOL] = -1;
  out[WALK_UPPER_OFFSET] = -1;
  out[WALK_UPPER_NEXT_HEADER_POINTER] = -1;
  out[WALK_PARAM_CODE] = -1;
  out[WALK_PARAM_POINTER] = -1;
  out[WALK_ROUTER_ALERT] = -1;
  out[WALK_HOP_BY_HOP] = 0;
  out[WALK_FRAGMENT_HEADER] = -1;
  out[WALK_LATER_FRAGMENT] = 0;
  out[WALK_ROUTING_HEADER] = -1;
  out[WALK_HEADER_COUNT] = 0;
  if (ipOff < 0 || packetLen < IPV6_HEADER_LEN || ipOff + packetLen > bytes.length) return WALK_TRUNCATED;

  const end = ipOff + packetLen;
  let nextHeaderField = ipOff + IP6_OFF_NEXT_HEADER;
  let nextHeader = bytes[nextHeaderField]!;
  let off = ipOff + IPV6_HEADER_LEN;
  let count = 0;
  let inFirstFragment = false;

  while (isWalkedExtensionHeader(nextHeader)) {
    // RFC 8200 §4.1: "The Hop-by-Hop Options header ... is restricted to appear immediately
    // after an IPv6 header only"; elsewhere it is an unrecognized Next Header value.
    if (nextHeader === IPPROTO.HOPOPTS && count !== 0) {
      return paramProblem(out, PARAM_PROBLEM_CODE.UNRECOGNIZED_NEXT_HEADER, nextHeaderField - ipOff);
    }
    if (count === MAX_EXTENSION_HEADERS) return WALK_TOO_MANY_HEADERS;
    count++;
    out[WALK_HEADER_COUNT] = count;
    const headerLen = off + 2 <= end ? extensionHeaderLength(bytes, nextHeader, off) : Infinity;
    if (off + headerLen > end) {
      // RFC 8200 §4.5 / RFC 7112 §5: a first fragment must hold the whole header chain.
      return inFirstFragment
        ? paramProblem(out, PARAM_PROBLEM_CODE.INCOMPLETE_HEADER_CHAIN, 0)
        : WALK_TRUNCATED;
    }
    if (nextHeader === IPPROTO.HOPOPTS) {
      out[WALK_HOP_BY_HOP] = 1;
      const verdict = validateOptionsTlv(bytes, ipOff, off + 2, off + headerLen, true, out);
      if (verdict !== WALK_OK) return verdict;
    } else if (nextHeader === IPPROTO.ROUTING) {
      if (out[WALK_ROUTING_HEADER] === -1) out[WALK_ROUTING_HEADER] = off;
    } else if (nextHeader === IPPROTO.FRAGMENT) {
      out[WALK_FRAGMENT_HEADER] = off;
      const fragmentOffset = ((bytes[off + 2]! << 8) | bytes[off + 3]!) & 0xfff8;
      if (fragmentOffset !== 0) {
        out[WALK_LATER_FRAGMENT] = 1;
        out[WALK_UPPER_PROTOCOL] = bytes[off]!;
        out[WALK_UPPER_NEXT_HEADER_POINTER] = off - ipOff;
        return WALK_OK;
      }
      inFirstFragment = true;
    }
    nextHeaderField = off;
    nextHeader = bytes[off]!;
    off += headerLen;
  }
  // A first fragment must reach at least into the upper-layer header (RFC 7112 §5); with
  // No Next Header (59) there is nothing more to reach.
  if (inFirstFragment && off >= end && nextHeader !== IPPROTO.NONE) {
    return paramProblem(out, PARAM_PROBLEM_CODE.INCOMPLETE_HEADER_CHAIN, 0);
  }
  out[WALK_UPPER_PROTOCOL] = nextHeader;
  out[WALK_UPPER_OFFSET] = off;
  out[WALK_UPPER_NEXT_HEADER_POINTER] = nextHeaderField - ipOff;
  return WALK_OK;
}

/**
 * Validates the options area [start, end) of a Hop-by-Hop (`hopByHop`) or Destination
 * Options header. Recognized: Pad1, PadN, and Router Alert (Hop-by-Hop) or Tunnel
 * Encapsulation Limit and Home Address (Destination Options). An unrecognized option is
 * handled by its two high-order type bits (RFC 8200 §4.2): 00 skip, 01 discard, 10 discard
 * and send Parameter Problem code 2 even to a multicast destination, 11 the same only when
 * the destination is not multicast. Returns a WALK_* code; Router Alert lands in `out`.
 */
export function validateOptionsTlv(
  bytes: Uint8Array,
  ipOff: number,
  start: number,
  end: number,
  hopByHop: boolean,
  out: Int32Array,
): number {
  let i = start;
  while (i < end) {
    const type = bytes[i]!;
    if (type === IPV6_OPTION.PAD1) {
      i++;
      continue;
    }
    if (i + 1 >= end) return paramProblem(out, PARAM_PROBLEM_CODE.ERRONEOUS_HEADER_FIELD, i - ipOff);
    const dataLen = bytes[i + 1]!;
    if (i + 2 + dataLen > end) return paramProblem(out, PARAM_PROBLEM_CODE.ERRONEOUS_HEADER_FIELD, i + 1 - ipOff);
    if (type === IPV6_OPTION.PADN) {
      // Padding only.
    } else if (hopByHop && type === IPV6_OPTION.ROUTER_ALERT) {
      // RFC 2711 §2.1: Opt Data Len is 2.
      if (dataLen !== 2) return paramProblem(out, PARAM_PROBLEM_CODE.ERRONEOUS_HEADER_FIELD, i + 1 - ipOff);
      out[WALK_ROUTER_ALERT] = (bytes[i + 2]! << 8) | bytes[i + 3]!;
    } else if (!hopByHop && type === IPV6_OPTION.TUNNEL_ENCAPSULATION_LIMIT) {
      if (dataLen !== 1) return paramProblem(out, PARAM_PROBLEM_CODE.ERRONEOUS_HEADER_FIELD, i + 1 - ipOff);
    } else if (!hopByHop && type === IPV6_OPTION.HOME_ADDRESS) {
      if (dataLen !== 16) return paramProblem(out, PARAM_PROBLEM_CODE.ERRONEOUS_HEADER_FIELD, i + 1 - ipOff);
    } else {
      const action = type >>> 6;
      if (action === 1) return WALK_DISCARD;
      if (action === 2) return paramProblem(out, PARAM_PROBLEM_CODE.UNRECOGNIZED_OPTION, i - ipOff);
      if (action === 3) {
        return bytes[ipOff + IP6_OFF_DST] === 0xff
          ? WALK_DISCARD
          : paramProblem(out, PARAM_PROBLEM_CODE.UNRECOGNIZED_OPTION, i - ipOff);
      }
    }
    i += 2 + dataLen;
  }
  return WALK_OK;
}

/**
 * Local delivery's share of RFC 8200 §4.2 and §4.4: in header order, validates the options of
 * every Destination Options header and the Routing headers of a packet addressed to this node
 * (walkExtensionHeaders only processes Hop-by-Hop, as every node on the path must). Returns
 * WALK_OK, WALK_DISCARD, or WALK_PARAM_PROBLEM with the code and pointer in `out`; the caller
 * has already walked the chain successfully, so lengths are known to fit.
 */
export function validateDestinationHeaders(bytes: Uint8Array, ipOff: number, packetLen: number, out: Int32Array): number {
  const end = ipOff + packetLen;
  let nextHeader = bytes[ipOff + IP6_OFF_NEXT_HEADER]!;
  let off = ipOff + IPV6_HEADER_LEN;
  for (let count = 0; isWalkedExtensionHeader(nextHeader) && count < MAX_EXTENSION_HEADERS && off + 2 <= end; count++) {
    const headerLen = extensionHeaderLength(bytes, nextHeader, off);
    if (off + headerLen > end) return WALK_TRUNCATED;
    if (nextHeader === IPPROTO.DSTOPTS) {
      const verdict = validateOptionsTlv(bytes, ipOff, off + 2, off + headerLen, false, out);
      if (verdict !== WALK_OK) return verdict;
    }
    // §4.4: a Routing header with no segments left is ignored. With segments left this node
    // would have to act on its type, and it recognizes none (type 0 is deprecated and is
    // treated as unrecognized, RFC 5095 §3): Parameter Problem code 0 at the Routing Type.
    if (nextHeader === IPPROTO.ROUTING && bytes[off + 3] !== 0) {
      out[WALK_ROUTING_HEADER] = off;
      return paramProblem(out, PARAM_PROBLEM_CODE.ERRONEOUS_HEADER_FIELD, off + 2 - ipOff);
    }
    // A later fragment carries no more headers to process here.
    if (nextHeader === IPPROTO.FRAGMENT && (((bytes[off + 2]! << 8) | bytes[off + 3]!) & 0xfff8) !== 0) return WALK_OK;
    nextHeader = bytes[off]!;
    off += headerLen;
  }
  return WALK_OK;
}

// ---------------------------------------------------------------------------------------
// Control-plane Repr

/** A TLV option; Pad1 is `{ type: 0, data: <empty> }`. */
export interface Ipv6Option {
  readonly type: number;
  readonly data: Uint8Array;
}

export type ExtensionHeader =
  | { readonly kind: 'hopByHop'; readonly options: readonly Ipv6Option[] }
  | { readonly kind: 'destinationOptions'; readonly options: readonly Ipv6Option[] }
  | {
      readonly kind: 'routing';
      readonly routingType: number;
      readonly segmentsLeft: number;
      /** Type-specific data after the first four octets. */
      readonly data: Uint8Array;
    }
  | {
      readonly kind: 'fragment';
      /** In octets (a multiple of 8). */
      readonly fragmentOffset: number;
      readonly more: boolean;
      readonly identification: number;
    }
  /** Everything after Next Header and Payload Len: reserved, SPI, sequence number, ICV. */
  | { readonly kind: 'authentication'; readonly data: Uint8Array };

export interface ExtensionHeaderChain {
  readonly headers: readonly ExtensionHeader[];
  /** The Next Header value of the last header (for a later fragment, of its data). */
  readonly upperProtocol: number;
}

const KIND_CODE: Record<ExtensionHeader['kind'], number> = {
  hopByHop: IPPROTO.HOPOPTS,
  destinationOptions: IPPROTO.DSTOPTS,
  routing: IPPROTO.ROUTING,
  fragment: IPPROTO.FRAGMENT,
  authentication: IPPROTO.AH,
};

function decodeOptions(buf: Uint8Array, start: number, end: number): Ipv6Option[] | null {
  const options: Ipv6Option[] = [];
  let i = start;
  while (i < end) {
    const type = buf[i]!;
    if (type === IPV6_OPTION.PAD1) {
      options.push({ type, data: new Uint8Array(0) });
      i++;
      continue;
    }
    if (i + 1 >= end || i + 2 + buf[i + 1]! > end) return null;
    options.push({ type, data: buf.slice(i + 2, i + 2 + buf[i + 1]!) });
    i += 2 + buf[i + 1]!;
  }
  return options;
}

/**
 * Decodes the extension headers at `off`, where `firstNextHeader` is the Next Header value
 * naming the first of them. Structure only: option semantics are walkExtensionHeaders'.
 */
export function decodeExtensionHeaderChain(
  buf: Uint8Array,
  off: number,
  firstNextHeader: number,
  length = buf.length - off,
): Decoded<ExtensionHeaderChain> {
  if (off < 0 || length < 0 || off + length > buf.length) return fail('truncated');
  const end = off + length;
  const headers: ExtensionHeader[] = [];
  let nextHeader = firstNextHeader;
  let at = off;
  while (isWalkedExtensionHeader(nextHeader)) {
    if (headers.length === MAX_EXTENSION_HEADERS) return fail('too_many_headers', at);
    if (nextHeader === IPPROTO.HOPOPTS && headers.length !== 0) return fail('misplaced_hop_by_hop', at);
    if (at + 2 > end) return fail('truncated', at);
    const headerLen = extensionHeaderLength(buf, nextHeader, at);
    if (at + headerLen > end) return fail('truncated', at);
    const following = buf[at]!;
    if (nextHeader === IPPROTO.HOPOPTS || nextHeader === IPPROTO.DSTOPTS) {
      const options = decodeOptions(buf, at + 2, at + headerLen);
      if (options === null) return fail('bad_option_length', at);
      headers.push({ kind: nextHeader === IPPROTO.HOPOPTS ? 'hopByHop' : 'destinationOptions', options });
    } else if (nextHeader === IPPROTO.ROUTING) {
      headers.push({
        kind: 'routing',
        routingType: buf[at + 2]!,
        segmentsLeft: buf[at + 3]!,
        data: buf.slice(at + 4, at + headerLen),
      });
    } else if (nextHeader === IPPROTO.FRAGMENT) {
      const field = (buf[at + 2]! << 8) | buf[at + 3]!;
      const identification = ((buf[at + 4]! << 24) | (buf[at + 5]! << 16) | (buf[at + 6]! << 8) | buf[at + 7]!) >>> 0;
      headers.push({ kind: 'fragment', fragmentOffset: field & 0xfff8, more: (field & 1) === 1, identification });
      at += headerLen;
      nextHeader = following;
      if ((field & 0xfff8) !== 0) break;
      continue;
    } else {
      headers.push({ kind: 'authentication', data: buf.slice(at + 2, at + headerLen) });
    }
    at += headerLen;
    nextHeader = following;
  }
  return ok({ headers, upperProtocol: nextHeader }, at - off);
}

function optionsLength(options: readonly Ipv6Option[]): number {
  let n = 2;
  for (const o of options) n += o.type === IPV6_OPTION.PAD1 ? 1 : 2 + o.data.length;
  return n;
}

const roundUp8 = (n: number): number => (n + 7) & ~7;

function headerLength(h: ExtensionHeader): number {
  switch (h.kind) {
    case 'hopByHop':
    case 'destinationOptions':
      return roundUp8(optionsLength(h.options));
    case 'routing':
      return roundUp8(4 + h.data.length);
    case 'fragment':
      return FRAGMENT_HEADER_LEN;
    case 'authentication':
      return roundUp8(2 + h.data.length);
  }
}

export function encodingLengthExtensionHeaderChain(chain: ExtensionHeaderChain): number {
  let n = 0;
  for (const h of chain.headers) n += headerLength(h);
  return n;
}

/**
 * Encodes the chain; each Next Header field names the following header and the last names
 * `upperProtocol`. Options areas are padded to a multiple of 8 octets with Pad1/PadN
 * (RFC 8200 §4.2), other variable parts with zero octets.
 */
export function encodeExtensionHeaderChain(chain: ExtensionHeaderChain, buf: Uint8Array, off: number): number {
  let at = off;
  chain.headers.forEach((h, index) => {
    const next = chain.headers[index + 1];
    const len = headerLength(h);
    buf.fill(0, at, at + len);
    buf[at] = next === undefined ? chain.upperProtocol : KIND_CODE[next.kind];
    switch (h.kind) {
      case 'hopByHop':
      case 'destinationOptions': {
        buf[at + 1] = len / 8 - 1;
        let i = at + 2;
        for (const o of h.options) {
          buf[i] = o.type;
          if (o.type === IPV6_OPTION.PAD1) {
            i++;
            continue;
          }
          buf[i + 1] = o.data.length;
          buf.set(o.data, i + 2);
          i += 2 + o.data.length;
        }
        const pad = at + len - i;
        if (pad === 1) buf[i] = IPV6_OPTION.PAD1;
        else if (pad > 1) {
          buf[i] = IPV6_OPTION.PADN;
          buf[i + 1] = pad - 2;
        }
        break;
      }
      case 'routing':
        buf[at + 1] = len / 8 - 1;
        buf[at + 2] = h.routingType;
        buf[at + 3] = h.segmentsLeft;
        buf.set(h.data, at + 4);
        break;
      case 'fragment': {
        const field = (h.fragmentOffset & 0xfff8) | (h.more ? 1 : 0);
        buf[at + 2] = field >>> 8;
        buf[at + 3] = field & 0xff;
        buf[at + 4] = h.identification >>> 24;
        buf[at + 5] = (h.identification >>> 16) & 0xff;
        buf[at + 6] = (h.identification >>> 8) & 0xff;
        buf[at + 7] = h.identification & 0xff;
        break;
      }
      case 'authentication':
        buf[at + 1] = len / 4 - 2;
        buf.set(h.data, at + 2);
        break;
    }
    at += len;
  });
  return at - off;
}
