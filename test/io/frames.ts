/**
 * Test helpers shared by the I/O tests: a reader that waits for a matching frame on a
 * non-blocking TAP/TUN fd, and an in-place ICMPv6 echo responder, so a kernel `ping` through
 * a device proves both directions without building packets from scratch.
 */
import { EAGAIN, errno, read } from '../../native-bindings/libc.js';
import { pollUntil } from '../helpers/netns.js';

export const ETH_HEADER = 14;
const ETHERTYPE_IPV6 = 0x86dd;
const IPV6_HEADER = 40;
const NEXT_HEADER_ICMPV6 = 58;
export const ICMPV6_ECHO_REQUEST = 128;
export const ICMPV6_ECHO_REPLY = 129;
export const ICMPV6_NEIGHBOR_SOLICITATION = 135;

/** Offset of the IPv6 header in a frame, or -1 when a TAP frame is not IPv6. */
export function ipv6Offset(frame: Uint8Array, ethernet: boolean): number {
  if (!ethernet) return frame.length >= IPV6_HEADER && frame[0]! >> 4 === 6 ? 0 : -1;
  if (frame.length < ETH_HEADER + IPV6_HEADER) return -1;
  return ((frame[12]! << 8) | frame[13]!) === ETHERTYPE_IPV6 ? ETH_HEADER : -1;
}

/** The ICMPv6 type when the packet is ICMPv6 with no extension headers, else -1. */
export function icmpv6Type(frame: Uint8Array, ethernet: boolean): number {
  const ip = ipv6Offset(frame, ethernet);
  if (ip < 0 || frame[ip + 6] !== NEXT_HEADER_ICMPV6 || frame.length < ip + IPV6_HEADER + 4) return -1;
  return frame[ip + IPV6_HEADER]!;
}

function swap(frame: Uint8Array, a: number, b: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const t = frame[a + i]!;
    frame[a + i] = frame[b + i]!;
    frame[b + i] = t;
  }
}

/**
 * Turns an ICMPv6 echo request into its reply in place: swaps the MACs (TAP) and the IPv6
 * addresses and sets type 129. The checksum is updated incrementally (RFC 1624 eqn. 3,
 * HC' = ~(~HC + ~m + m')): swapping the addresses leaves the pseudo-header sum unchanged, so
 * only the type/code word changes, from 0x8000 to 0x8100.
 */
export function echoRequestToReply(frame: Uint8Array, ethernet: boolean): void {
  if (icmpv6Type(frame, ethernet) !== ICMPV6_ECHO_REQUEST) throw new Error('not an ICMPv6 echo request');
  const ip = ipv6Offset(frame, ethernet);
  if (ethernet) swap(frame, 0, 6, 6);
  swap(frame, ip + 8, ip + 24, 16);
  const icmp = ip + IPV6_HEADER;
  const oldWord = (frame[icmp]! << 8) | frame[icmp + 1]!;
  frame[icmp] = ICMPV6_ECHO_REPLY;
  const newWord = (frame[icmp]! << 8) | frame[icmp + 1]!;
  const hc = (frame[icmp + 2]! << 8) | frame[icmp + 3]!;
  let sum = (~hc & 0xffff) + (~oldWord & 0xffff) + newWord;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const cksum = ~sum & 0xffff;
  frame[icmp + 2] = cksum >> 8;
  frame[icmp + 3] = cksum & 0xff;
}

/** Reads frames from a non-blocking fd until `match` accepts one, and returns a copy of it. */
export async function readMatching(fd: number, what: string, match: (frame: Uint8Array) => boolean, timeoutMs = 10_000): Promise<Uint8Array> {
  const buf = new Uint8Array(2048);
  let found: Uint8Array | null = null;
  await pollUntil(
    what,
    () => {
      for (;;) {
        const n = read(fd, buf, buf.length);
        if (n < 0) {
          const e = errno();
          if (e === EAGAIN) return false;
          throw new Error(`read from fd ${fd} failed with errno ${e}`);
        }
        const frame = buf.slice(0, n);
        if (match(frame)) {
          found = frame;
          return true;
        }
      }
    },
    timeoutMs,
    20,
  );
  return found!;
}
