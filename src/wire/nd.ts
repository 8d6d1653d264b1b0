/**
 * Neighbor Discovery messages (RFC 4861 §4) and their options (§4.6, RFC 8106).
 * The Repr types below are the contract between the codec and the stack.
 * Unknown options survive a round trip as `{ type: 'unknown', code, data }`.
 */
import { isMulticast } from '../lib/addr.js';
import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { ICMP6 } from './icmpv6.js';
import { type Decoded, fail, ok } from './result.js';

export type NdOption =
  | { readonly type: 'sourceLinkLayerAddress'; readonly mac: Uint8Array }
  | { readonly type: 'targetLinkLayerAddress'; readonly mac: Uint8Array }
  | {
      readonly type: 'prefixInformation';
      readonly prefixLength: number;
      readonly onLink: boolean;
      readonly autonomous: boolean;
      readonly validLifetime: number;
      readonly preferredLifetime: number;
      readonly prefix: Uint8Array;
    }
  | { readonly type: 'mtu'; readonly mtu: number }
  | { readonly type: 'rdnss'; readonly lifetime: number; readonly servers: readonly Uint8Array[] }
  | { readonly type: 'dnssl'; readonly lifetime: number; readonly domains: readonly string[] }
  | { readonly type: 'redirectedHeader'; readonly data: Uint8Array }
  | {
      /** RFC 4191 §2.3; `prefix` is 16 octets, bits past prefixLength zero. */
      readonly type: 'routeInformation';
      readonly prefixLength: number;
      readonly preference: RouterPreference;
      readonly lifetime: number;
      readonly prefix: Uint8Array;
    }
  | { readonly type: 'unknown'; readonly code: number; readonly data: Uint8Array };

/** RFC 4191 §2.1 preference values; the reserved value (10) is read as medium (§2.2, §3.1). */
export type RouterPreference = 'high' | 'medium' | 'low';

export type NdMessage =
  | { readonly type: 'routerSolicitation'; readonly options: readonly NdOption[] }
  | {
      readonly type: 'routerAdvertisement';
      readonly curHopLimit: number;
      readonly managed: boolean;
      readonly other: boolean;
      readonly routerLifetime: number;
      readonly reachableTime: number;
      readonly retransTimer: number;
      /** Default Router Preference (RFC 4191 §2.2); absent means medium. */
      readonly preference?: RouterPreference;
      readonly options: readonly NdOption[];
    }
  | { readonly type: 'neighborSolicitation'; readonly target: Uint8Array; readonly options: readonly NdOption[] }
  | {
      readonly type: 'neighborAdvertisement';
      readonly router: boolean;
      readonly solicited: boolean;
      readonly override: boolean;
      readonly target: Uint8Array;
      readonly options: readonly NdOption[];
    }
  | {
      readonly type: 'redirect';
      readonly target: Uint8Array;
      readonly destination: Uint8Array;
      readonly options: readonly NdOption[];
    };

/** Option types (RFC 4861 §4.6, RFC 8106 §5). */
export const ND_OPTION = {
  SOURCE_LINK_LAYER_ADDRESS: 1,
  TARGET_LINK_LAYER_ADDRESS: 2,
  PREFIX_INFORMATION: 3,
  REDIRECTED_HEADER: 4,
  MTU: 5,
  ROUTE_INFORMATION: 24,
  RDNSS: 25,
  DNSSL: 31,
} as const;

/** Fixed part of each message, ICMPv6 header included (RFC 4861 §4.1–§4.5). */
const FIXED_LENGTH = {
  routerSolicitation: 8,
  routerAdvertisement: 16,
  neighborSolicitation: 24,
  neighborAdvertisement: 24,
  redirect: 40,
} as const satisfies Record<NdMessage['type'], number>;

const MESSAGE_TYPE = {
  routerSolicitation: ICMP6.ROUTER_SOLICIT,
  routerAdvertisement: ICMP6.ROUTER_ADVERT,
  neighborSolicitation: ICMP6.NEIGHBOR_SOLICIT,
  neighborAdvertisement: ICMP6.NEIGHBOR_ADVERT,
  redirect: ICMP6.REDIRECT,
} as const satisfies Record<NdMessage['type'], number>;

const RA_FLAG_MANAGED = 0x80;
const RA_FLAG_OTHER = 0x40;
const NA_FLAG_ROUTER = 0x80;
const NA_FLAG_SOLICITED = 0x40;
const NA_FLAG_OVERRIDE = 0x20;
const PREFIX_FLAG_ON_LINK = 0x80;
const PREFIX_FLAG_AUTONOMOUS = 0x40;

/** RFC 4191 §2.1: the 2-bit Prf field, at bits 3–4 of the RA flags and the Route Information flags. */
const PRF_SHIFT = 3;
const PRF_BITS: Record<RouterPreference, number> = { high: 0b01, medium: 0b00, low: 0b11 };

function decodePreference(flags: number): RouterPreference {
  const prf = (flags >> PRF_SHIFT) & 0b11;
  return prf === PRF_BITS.high ? 'high' : prf === PRF_BITS.low ? 'low' : 'medium';
}

/** §2.3: Length 1, 2 or 3 (units of 8 octets) carries 0, 8 or 16 octets of the prefix. */
function routeInformationLength(prefixLength: number): number {
  return prefixLength === 0 ? 8 : prefixLength <= 64 ? 16 : 24;
}

/** The first option of the given type, typed by it. */
export function findOption<K extends NdOption['type']>(
  options: readonly NdOption[],
  type: K,
): Extract<NdOption, { type: K }> | undefined {
  return options.find((o): o is Extract<NdOption, { type: K }> => o.type === type);
}

// --- DNSSL domain names (RFC 8106 §5.2: RFC 1035 §3.1 labels, no compression) -----------

const MAX_LABEL = 63;
const MAX_NAME = 255;

/** Decodes the names in [start, end); the zero octets padding the option end the list. */
function decodeDomainNames(buf: Uint8Array, start: number, end: number): string[] | null {
  const names: string[] = [];
  let i = start;
  while (i < end && buf[i] !== 0) {
    const labels: string[] = [];
    const nameStart = i;
    for (;;) {
      if (i >= end) return null;
      const len = buf[i]!;
      if (len === 0) {
        i++;
        break;
      }
      // Compression pointers (top bits 11) and the reserved 01/10 forms are not allowed here.
      if (len > MAX_LABEL || i + 1 + len > end) return null;
      let label = '';
      for (let j = i + 1; j <= i + len; j++) {
        // A '.' inside a label could not be told apart from a label boundary in the text form.
        if (buf[j] === 0x2e) return null;
        label += String.fromCharCode(buf[j]!);
      }
      labels.push(label);
      i += 1 + len;
    }
    if (i - nameStart > MAX_NAME) return null;
    names.push(labels.join('.'));
  }
  // RFC 8106 §5.2: what follows the last name is padding and must be zero.
  for (; i < end; i++) if (buf[i] !== 0) return null;
  return names;
}

function labelsOf(name: string): string[] {
  const trimmed = name.endsWith('.') ? name.slice(0, -1) : name;
  return trimmed === '' ? [] : trimmed.split('.');
}

function domainNamesLength(domains: readonly string[]): number {
  let n = 0;
  for (const d of domains) for (const label of labelsOf(d)) n += 1 + label.length;
  return n + domains.length;
}

function encodeDomainNames(domains: readonly string[], buf: Uint8Array, off: number): number {
  let i = off;
  for (const d of domains) {
    for (const label of labelsOf(d)) {
      buf[i++] = label.length;
      for (let j = 0; j < label.length; j++) buf[i++] = label.charCodeAt(j);
    }
    buf[i++] = 0;
  }
  return i - off;
}

// --- Options -----------------------------------------------------------------------------

const roundUp8 = (n: number): number => (n + 7) & ~7;

function optionLength(o: NdOption): number {
  switch (o.type) {
    case 'sourceLinkLayerAddress':
    case 'targetLinkLayerAddress':
      return roundUp8(2 + o.mac.length);
    case 'prefixInformation':
      return 32;
    case 'mtu':
      return 8;
    case 'rdnss':
      return 8 + 16 * o.servers.length;
    case 'dnssl':
      return roundUp8(8 + domainNamesLength(o.domains));
    case 'redirectedHeader':
      return roundUp8(8 + o.data.length);
    case 'routeInformation':
      return routeInformationLength(o.prefixLength);
    case 'unknown':
      return roundUp8(2 + o.data.length);
  }
}

function decodeOption(buf: Uint8Array, at: number, len: number): NdOption | string {
  const type = buf[at]!;
  const end = at + len;
  switch (type) {
    case ND_OPTION.SOURCE_LINK_LAYER_ADDRESS:
    case ND_OPTION.TARGET_LINK_LAYER_ADDRESS:
      // The address fills the option (6 octets on Ethernet, RFC 2464 §6).
      return {
        type: type === ND_OPTION.SOURCE_LINK_LAYER_ADDRESS ? 'sourceLinkLayerAddress' : 'targetLinkLayerAddress',
        mac: buf.slice(at + 2, end),
      };
    case ND_OPTION.PREFIX_INFORMATION: {
      if (len !== 32) return 'bad_option_length';
      const flags = buf[at + 3]!;
      return {
        type: 'prefixInformation',
        prefixLength: buf[at + 2]!,
        onLink: (flags & PREFIX_FLAG_ON_LINK) !== 0,
        autonomous: (flags & PREFIX_FLAG_AUTONOMOUS) !== 0,
        validLifetime: readU32(buf, at + 4),
        preferredLifetime: readU32(buf, at + 8),
        prefix: buf.slice(at + 16, at + 32),
      };
    }
    case ND_OPTION.REDIRECTED_HEADER:
      // RFC 4861 §4.6.3: 6 reserved octets, then the IP header and data.
      return { type: 'redirectedHeader', data: buf.slice(at + 8, end) };
    case ND_OPTION.MTU:
      if (len !== 8) return 'bad_option_length';
      return { type: 'mtu', mtu: readU32(buf, at + 4) };
    case ND_OPTION.ROUTE_INFORMATION: {
      // RFC 4191 §2.3: Prefix Length at most 128, and the Length big enough to carry it.
      const prefixLength = buf[at + 2]!;
      if (len > 24 || prefixLength > 128 || len < routeInformationLength(prefixLength)) return 'bad_option_length';
      const prefix = new Uint8Array(16);
      prefix.set(buf.subarray(at + 8, end));
      return { type: 'routeInformation', prefixLength, preference: decodePreference(buf[at + 3]!), lifetime: readU32(buf, at + 4), prefix };
    }
    case ND_OPTION.RDNSS: {
      // RFC 8106 §5.1: Length is 1 + 2 × number of addresses, at least 3.
      if (len < 24 || (len - 8) % 16 !== 0) return 'bad_option_length';
      const servers: Uint8Array[] = [];
      for (let s = at + 8; s < end; s += 16) servers.push(buf.slice(s, s + 16));
      return { type: 'rdnss', lifetime: readU32(buf, at + 4), servers };
    }
    case ND_OPTION.DNSSL: {
      // RFC 8106 §5.2: at least 2 (one name).
      if (len < 16) return 'bad_option_length';
      const domains = decodeDomainNames(buf, at + 8, end);
      if (domains === null) return 'bad_domain_name';
      return { type: 'dnssl', lifetime: readU32(buf, at + 4), domains };
    }
    default:
      return { type: 'unknown', code: type, data: buf.slice(at + 2, end) };
  }
}

function encodeOption(o: NdOption, buf: Uint8Array, at: number): number {
  const len = optionLength(o);
  buf.fill(0, at, at + len);
  buf[at + 1] = len / 8;
  switch (o.type) {
    case 'sourceLinkLayerAddress':
    case 'targetLinkLayerAddress':
      buf[at] = o.type === 'sourceLinkLayerAddress' ? ND_OPTION.SOURCE_LINK_LAYER_ADDRESS : ND_OPTION.TARGET_LINK_LAYER_ADDRESS;
      buf.set(o.mac, at + 2);
      break;
    case 'prefixInformation':
      buf[at] = ND_OPTION.PREFIX_INFORMATION;
      buf[at + 2] = o.prefixLength;
      buf[at + 3] = (o.onLink ? PREFIX_FLAG_ON_LINK : 0) | (o.autonomous ? PREFIX_FLAG_AUTONOMOUS : 0);
      writeU32(buf, at + 4, o.validLifetime);
      writeU32(buf, at + 8, o.preferredLifetime);
      buf.set(o.prefix, at + 16);
      break;
    case 'redirectedHeader':
      buf[at] = ND_OPTION.REDIRECTED_HEADER;
      buf.set(o.data, at + 8);
      break;
    case 'mtu':
      buf[at] = ND_OPTION.MTU;
      writeU32(buf, at + 4, o.mtu);
      break;
    case 'routeInformation':
      buf[at] = ND_OPTION.ROUTE_INFORMATION;
      buf[at + 2] = o.prefixLength;
      buf[at + 3] = PRF_BITS[o.preference] << PRF_SHIFT;
      writeU32(buf, at + 4, o.lifetime);
      buf.set(o.prefix.subarray(0, len - 8), at + 8);
      break;
    case 'rdnss':
      buf[at] = ND_OPTION.RDNSS;
      writeU32(buf, at + 4, o.lifetime);
      o.servers.forEach((s, i) => buf.set(s, at + 8 + 16 * i));
      break;
    case 'dnssl':
      buf[at] = ND_OPTION.DNSSL;
      writeU32(buf, at + 4, o.lifetime);
      encodeDomainNames(o.domains, buf, at + 8);
      break;
    case 'unknown':
      buf[at] = o.code;
      buf.set(o.data, at + 2);
      break;
  }
  return len;
}

// --- Messages ----------------------------------------------------------------------------

/**
 * Decodes an ND message; `buf` is positioned at the ICMPv6 header and `length` is the whole
 * ICMPv6 message. Applies the codec-level checks of RFC 4861 §6.1.1, §6.1.2, §7.1.1, §7.1.2
 * and §8.1: ICMP code 0, the fixed part present, every option of non-zero length and inside
 * the message, and the target (and Redirect destination) not multicast. The checksum,
 * hop limit 255 and address checks need the IPv6 header and are the stack's.
 */
export function decodeNdMessage(buf: Uint8Array, off: number, length = buf.length - off): Decoded<NdMessage> {
  if (off < 0 || length < 4 || off + length > buf.length) return fail('truncated');
  const icmpType = buf[off]!;
  const kind = (Object.keys(MESSAGE_TYPE) as NdMessage['type'][]).find((k) => MESSAGE_TYPE[k] === icmpType);
  if (kind === undefined) return fail('not_nd');
  if (buf[off + 1] !== 0) return fail('bad_code');
  const fixed = FIXED_LENGTH[kind];
  if (length < fixed) return fail('truncated');

  const options: NdOption[] = [];
  const end = off + length;
  for (let at = off + fixed; at < end; ) {
    if (at + 2 > end) return fail('truncated_option', at - off);
    const optLen = buf[at + 1]! * 8;
    if (optLen === 0) return fail('zero_option_length', at - off);
    if (at + optLen > end) return fail('bad_option_length', at - off);
    const option = decodeOption(buf, at, optLen);
    if (typeof option === 'string') return fail(option, at - off);
    options.push(option);
    at += optLen;
  }

  const target = (): Uint8Array => buf.slice(off + 8, off + 24);
  switch (kind) {
    case 'routerSolicitation':
      return ok({ type: kind, options }, length);
    case 'routerAdvertisement': {
      const flags = buf[off + 5]!;
      const preference = decodePreference(flags);
      return ok(
        {
          type: kind,
          curHopLimit: buf[off + 4]!,
          managed: (flags & RA_FLAG_MANAGED) !== 0,
          other: (flags & RA_FLAG_OTHER) !== 0,
          routerLifetime: readU16(buf, off + 6),
          reachableTime: readU32(buf, off + 8),
          retransTimer: readU32(buf, off + 12),
          ...(preference === 'medium' ? {} : { preference }),
          options,
        },
        length,
      );
    }
    case 'neighborSolicitation':
      if (isMulticast(buf, off + 8)) return fail('multicast_target');
      return ok({ type: kind, target: target(), options }, length);
    case 'neighborAdvertisement': {
      if (isMulticast(buf, off + 8)) return fail('multicast_target');
      const flags = buf[off + 4]!;
      return ok(
        {
          type: kind,
          router: (flags & NA_FLAG_ROUTER) !== 0,
          solicited: (flags & NA_FLAG_SOLICITED) !== 0,
          override: (flags & NA_FLAG_OVERRIDE) !== 0,
          target: target(),
          options,
        },
        length,
      );
    }
    case 'redirect':
      if (isMulticast(buf, off + 24)) return fail('multicast_destination');
      return ok({ type: kind, target: target(), destination: buf.slice(off + 24, off + 40), options }, length);
  }
}

export function ndMessageLength(msg: NdMessage): number {
  let n: number = FIXED_LENGTH[msg.type];
  for (const o of msg.options) n += optionLength(o);
  return n;
}

/**
 * Encodes an ND message at `off` and returns its length. The checksum field is left zero:
 * encodeIcmpv6Message (icmpv6-message.ts) or fillIcmpv6Checksum sets it for the addresses.
 * Reserved fields are written as zero (RFC 4861 §4).
 */
export function encodeNdMessage(msg: NdMessage, buf: Uint8Array, off: number): number {
  const fixed = FIXED_LENGTH[msg.type];
  buf.fill(0, off, off + fixed);
  buf[off] = MESSAGE_TYPE[msg.type];
  switch (msg.type) {
    case 'routerSolicitation':
      break;
    case 'routerAdvertisement':
      buf[off + 4] = msg.curHopLimit;
      buf[off + 5] = (msg.managed ? RA_FLAG_MANAGED : 0) | (msg.other ? RA_FLAG_OTHER : 0) | (PRF_BITS[msg.preference ?? 'medium'] << PRF_SHIFT);
      writeU16(buf, off + 6, msg.routerLifetime);
      writeU32(buf, off + 8, msg.reachableTime);
      writeU32(buf, off + 12, msg.retransTimer);
      break;
    case 'neighborSolicitation':
      buf.set(msg.target, off + 8);
      break;
    case 'neighborAdvertisement':
      buf[off + 4] =
        (msg.router ? NA_FLAG_ROUTER : 0) | (msg.solicited ? NA_FLAG_SOLICITED : 0) | (msg.override ? NA_FLAG_OVERRIDE : 0);
      buf.set(msg.target, off + 8);
      break;
    case 'redirect':
      buf.set(msg.target, off + 8);
      buf.set(msg.destination, off + 24);
      break;
  }
  let at = off + fixed;
  for (const o of msg.options) at += encodeOption(o, buf, at);
  return at - off;
}
