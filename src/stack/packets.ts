/**
 * Builders for packets the control plane originates: IPv6 with an optional Hop-by-Hop
 * Router Alert (RFC 2711), UDP and ICMPv6 with their pseudo-header checksums (RFC 8200 §8.1),
 * and the Ethernet frame around them. Control-plane rates, so each builds a fresh buffer.
 */
import { fillIcmpv6Checksum } from '../wire/icmpv6.js';
import { fillUdpChecksum } from '../wire/udp.js';
import { ETHERTYPE_IPV6, ETH_HEADER_LEN, writeEthHeader } from '../wire/ethernet.js';
import { IPPROTO, IPV6_HEADER_LEN, writeIpv6Header } from '../wire/ipv6.js';
import { encodeNdMessage, ndMessageLength, type NdMessage } from '../wire/nd.js';

/** Hop-by-Hop header carrying Router Alert (RFC 2711 §2) padded to 8 bytes with PadN. */
const ROUTER_ALERT_HBH_LEN = 8;

export interface IpOptions {
  readonly hopLimit: number;
  /** Router Alert value (RFC 2711): 0 for MLD (RFC 2710 §3). Absent: no Hop-by-Hop header. */
  readonly routerAlert?: number;
}

/** Allocates an IPv6 packet with room for `upperLen` bytes; returns it and the upper-layer offset. */
function ipv6Skeleton(src: Uint8Array, dst: Uint8Array, proto: number, upperLen: number, opts: IpOptions): { pkt: Uint8Array; upper: number } {
  const hbh = opts.routerAlert === undefined ? 0 : ROUTER_ALERT_HBH_LEN;
  const pkt = new Uint8Array(IPV6_HEADER_LEN + hbh + upperLen);
  writeIpv6Header(pkt, 0, 0, 0, hbh + upperLen, hbh ? IPPROTO.HOPOPTS : proto, opts.hopLimit, src, 0, dst, 0);
  if (hbh) {
    const h = IPV6_HEADER_LEN;
    pkt[h] = proto; // next header
    pkt[h + 1] = 0; // length in 8-octet units, not counting the first 8
    pkt[h + 2] = 0x05; // Router Alert option type
    pkt[h + 3] = 2;
    pkt[h + 4] = opts.routerAlert! >> 8;
    pkt[h + 5] = opts.routerAlert! & 0xff;
    pkt[h + 6] = 0x01; // PadN, length 0
    pkt[h + 7] = 0;
  }
  return { pkt, upper: IPV6_HEADER_LEN + hbh };
}

export function buildUdp(
  src: Uint8Array,
  dst: Uint8Array,
  srcPort: number,
  dstPort: number,
  payload: Uint8Array,
  opts: IpOptions,
): Uint8Array {
  const udpLen = 8 + payload.length;
  const { pkt, upper } = ipv6Skeleton(src, dst, IPPROTO.UDP, udpLen, opts);
  pkt[upper] = srcPort >> 8;
  pkt[upper + 1] = srcPort & 0xff;
  pkt[upper + 2] = dstPort >> 8;
  pkt[upper + 3] = dstPort & 0xff;
  pkt[upper + 4] = udpLen >> 8;
  pkt[upper + 5] = udpLen & 0xff;
  pkt.set(payload, upper + 8);
  fillUdpChecksum(pkt, upper, udpLen, src, 0, dst, 0);
  return pkt;
}

/** An ICMPv6 message: type, code, then `body` (everything after the checksum). */
export function buildIcmpv6(
  src: Uint8Array,
  dst: Uint8Array,
  type: number,
  code: number,
  body: Uint8Array,
  opts: IpOptions,
): Uint8Array {
  const len = 4 + body.length;
  const { pkt, upper } = ipv6Skeleton(src, dst, IPPROTO.ICMPV6, len, opts);
  pkt[upper] = type;
  pkt[upper + 1] = code;
  pkt.set(body, upper + 4);
  fillIcmpv6Checksum(pkt, upper, len, src, 0, dst, 0);
  return pkt;
}

/** An ND message, always with hop limit 255 (RFC 4861 §6.1.1, §7.1.1 check it on receipt). */
export function buildNd(src: Uint8Array, dst: Uint8Array, msg: NdMessage): Uint8Array {
  const len = ndMessageLength(msg);
  const { pkt, upper } = ipv6Skeleton(src, dst, IPPROTO.ICMPV6, len, { hopLimit: 255 });
  encodeNdMessage(msg, pkt, upper);
  fillIcmpv6Checksum(pkt, upper, len, src, 0, dst, 0);
  return pkt;
}

export function ethernetFrame(dstMac: Uint8Array, srcMac: Uint8Array, ipPacket: Uint8Array): Uint8Array {
  const frame = new Uint8Array(ETH_HEADER_LEN + ipPacket.length);
  writeEthHeader(frame, 0, dstMac, 0, srcMac, 0, ETHERTYPE_IPV6);
  frame.set(ipPacket, ETH_HEADER_LEN);
  return frame;
}
