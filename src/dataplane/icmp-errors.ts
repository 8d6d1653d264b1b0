/**
 * ICMPv6 errors about packets the lane forwards, built in the lane in a slot of its own pool.
 * RFC 4443 §2.4(e) decides whether an error may be sent at all; §2.4(f) rate-limits the ones
 * that may, with a per-lane token bucket. The caller routes what build() made.
 */
import { HEADROOM, type PacketPool } from '../shm/pool.js';
import type { PortTableView } from '../shm/port-table.js';
import { TokenBucket } from '../lib/token-bucket.js';
import { isLinkLocal } from '../lib/addr.js';
import { ETH_HEADER_LEN } from '../wire/ethernet.js';
import { IPV6_MIN_MTU, IP6_OFF_SRC } from '../wire/ipv6.js';
import { ICMP6, PARAM_PROBLEM_CODE, writeIcmpv6Error, mayGenerateErrorAbout } from '../wire/icmpv6.js';
import { C } from './counters.js';
import type { LaneTables } from './lane.js';
import type { PacketContext } from './packet-context.js';
import { writeRedirectAbout } from './redirect.js';
import type { TxList } from './tx-list.js';
import type { Verdicts } from './verdict.js';

export class IcmpErrors {
  private readonly bucket: TokenBucket;

  constructor(
    private readonly b: Uint8Array,
    private readonly pool: PacketPool,
    private readonly tx: TxList,
    private readonly verdicts: Verdicts,
    rate: number,
    burst: number,
    now: number,
  ) {
    this.bucket = new TokenBucket(rate, burst, now);
  }

  reconfigure(rate: number, burst: number): void {
    this.bucket.reconfigure(rate, burst);
  }

  /**
   * Builds an ICMPv6 error (type, code, param) about the packet at `ip`, whose context is
   * `about`, addressed back to its source from `ports`' address for its ingress port. Returns
   * true with the error in a fresh slot described by `error` (ip, len, originated on the
   * ingress port), or false: not allowed, rate-limited or no slot, each counted. A suppressed
   * error is an event beside the packet's own fate, which the caller records: counted, not a
   * drop (the trace shows the caller's verdict, e.g. no_route).
   */
  build(type: number, code: number, param: number, ip: number, ipLen: number, about: PacketContext, error: PacketContext, ports: PortTableView, now: number): boolean {
    const b = this.b;
    const port = about.port;
    const v = this.verdicts;
    if (!mayGenerateErrorAbout(b, ip, ipLen, type, code)) {
      v.count(port, C.icmp_not_allowed);
      return false;
    }
    // §2.4(e.4, e.5): nor about a packet sent as a link-layer multicast or broadcast, with
    // e.3's exceptions: Packet Too Big, and Parameter Problem code 2 for an option of type 10xxxxxx.
    if (about.linkMulticast && type !== ICMP6.PACKET_TOO_BIG && !(type === ICMP6.PARAM_PROBLEM && code === PARAM_PROBLEM_CODE.UNRECOGNIZED_OPTION && b[ip + param]! >> 6 === 2)) {
      v.count(port, C.icmp_not_allowed);
      return false;
    }
    if (!this.bucket.take(now)) {
      v.count(port, C.icmp_rate_limited);
      return false;
    }
    const out = this.slotFor(port);
    if (out < 0) return false;
    const toLinkLocal = isLinkLocal(b, ip + IP6_OFF_SRC);
    const srcOff = toLinkLocal ? ports.linkLocalOffset(port) : ports.errorSourceOffset(port);
    const len = writeIcmpv6Error(b, out, type, code, param, ports.bytes, srcOff, b, ip + IP6_OFF_SRC, b, ip, ipLen, IPV6_MIN_MTU);
    v.count(port, C.icmp_errors_sent);
    error.originatedOn(port);
    error.ip = out;
    error.len = len;
    return true;
  }

  /**
   * A fresh slot of the lane's pool, held until the batch is transmitted: the offset where
   * the IPv6 packet goes (after room for an Ethernet header), or -1 counted against `port`.
   */
  private slotFor(port: number): number {
    const slot = this.pool.alloc();
    if (slot < 0) {
      this.verdicts.dropOriginated(port);
      return -1;
    }
    this.tx.hold(slot);
    return this.pool.offsetOf(slot) + HEADROOM + ETH_HEADER_LEN;
  }

  /**
   * Builds a Redirect (RFC 4861 §8.2; redirect.ts) about the packet at `ip`, whose context is
   * `about`, naming the better first hop `nh`, into a fresh slot described by `redirect`.
   * §2.4(e) does not apply: a Redirect is not an error, and shouldRedirect() already checked
   * the sender is a neighbour. It shares the error bucket (§8.2 asks for a rate limit and
   * points at RFC 4443 §2.4(f)). Returns false when rate-limited or out of slots, counted.
   */
  buildRedirect(ip: number, ipLen: number, about: PacketContext, redirect: PacketContext, nh: number, tables: LaneTables, now: number): boolean {
    const port = about.port;
    const v = this.verdicts;
    if (!this.bucket.take(now)) {
      v.count(port, C.redirects_rate_limited);
      return false;
    }
    const out = this.slotFor(port);
    if (out < 0) return false;
    const len = writeRedirectAbout(this.b, out, ip, ipLen, port, nh, tables.fib, tables.ports, tables.neighbors);
    v.count(port, C.redirects_sent);
    redirect.originatedOn(port);
    redirect.ip = out;
    redirect.len = len;
    return true;
  }
}
