/**
 * The flow hash that picks an ECMP member (shm/fib.ts selectMember): one flow, one path, so
 * its packets are never reordered across paths (RFC 2992 §2).
 *
 * What is hashed:
 *   - a non-zero Flow Label, with the source and destination addresses: RFC 6438 §3's
 *     3-tuple. The label is the sender's statement of what a flow is, and it stays readable
 *     when the transport header is encrypted or behind extension headers;
 *   - with a zero label, the classic 5-tuple: both addresses, the Next Header, and for TCP,
 *     UDP and SCTP the two ports, when the transport header follows the fixed header directly
 *     or behind a Hop-by-Hop Options header (the only extension header a router examines,
 *     RFC 8200 §4). Deeper chains hash on the addresses and the first Next Header.
 *
 * The mix is MurmurHash3's 32-bit block step and finaliser over 32-bit words, seeded so that
 * outsiders cannot aim flows at one member (the seed is per process, the same on every lane).
 * Pure integer arithmetic over the packet bytes: nothing is allocated.
 */
import { readU32 } from './bytes.js';
import { IPV6_HEADER_LEN, IP6_OFF_DST, IP6_OFF_NEXT_HEADER, IP6_OFF_SRC, IPPROTO } from './ipv6.js';

function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The 20-bit Flow Label of the IPv6 header at b[ip] (RFC 8200 §3). */
export function flowLabel(b: Uint8Array, ip: number): number {
  return ((b[ip + 1]! & 0x0f) << 16) | (b[ip + 2]! << 8) | b[ip + 3]!;
}

/** A 32-bit unsigned hash of the flow of the IPv6 packet at b[ip, ip + ipLen) (≥ 40 bytes). */
export function flowHash(b: Uint8Array, ip: number, ipLen: number, seed: number): number {
  let h = seed | 0;
  for (let w = 0; w < 16; w += 4) h = mix(h, readU32(b, ip + IP6_OFF_SRC + w));
  for (let w = 0; w < 16; w += 4) h = mix(h, readU32(b, ip + IP6_OFF_DST + w));
  const label = flowLabel(b, ip);
  if (label !== 0) return finish(mix(h, label) ^ 40);
  let next = b[ip + IP6_OFF_NEXT_HEADER]!;
  let upper = ip + IPV6_HEADER_LEN;
  const end = ip + ipLen;
  if (next === IPPROTO.HOPOPTS && upper + 8 <= end) {
    next = b[upper]!;
    upper += (b[upper + 1]! + 1) * 8;
  }
  h = mix(h, next);
  if ((next === IPPROTO.TCP || next === IPPROTO.UDP || next === IPPROTO.SCTP) && upper + 4 <= end) h = mix(h, readU32(b, upper));
  return finish(h ^ 44);
}
