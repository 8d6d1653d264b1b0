/**
 * The punt stage: a copy of the IPv6 packet into the punt ring for the control plane
 * (shm/punt.ts), within the ingress port's budget for its class (punt-policer.ts). What the
 * router originated is not policed: it is the control plane's own traffic, and the ICMPv6
 * errors among it have their own bucket.
 */
import type { SpscRing } from '../shm/ring.js';
import { PUNT_MULTICAST, PUNT_RESOLVE } from '../shm/punt.js';
import { IPV6_HEADER_LEN, IP6_OFF_NEXT_HEADER, IPPROTO } from '../wire/ipv6.js';
import { ICMP6 } from '../wire/icmpv6.js';
import { C } from './counters.js';
import { CLASS_LOCAL, CLASS_MULTICAST, CLASS_ND, CLASS_RESOLVE, type PuntPolicer, policedReason } from './punt-policer.js';
import type { PacketContext } from './packet-context.js';
import type { Verdicts } from './verdict.js';

/** PuntStage.copy(): the packet is in the ring (drop reasons are non-zero counter indices). */
export const COPIED = 0;

export class PuntStage {
  constructor(
    private readonly b: Uint8Array,
    private readonly ring: SpscRing,
    private readonly policer: PuntPolicer,
    private readonly verdicts: Verdicts,
  ) {}

  /** Punts the packet at `ip` with `flags` and `aux` (the egress port of a resolve), and gives it its verdict. */
  punt(ip: number, ipLen: number, ctx: PacketContext, flags: number, aux: number, now: number): void {
    const refused = this.copy(ip, ipLen, ctx, flags, aux, now);
    if (refused === COPIED) this.verdicts.punted(ctx, flags, aux);
    else this.verdicts.refuse(ctx, refused);
  }

  /**
   * Copies the packet at `ip` into the punt ring, policed like a punt, without giving it a
   * verdict: for a multicast packet the lane also forwards (multicast.ts). Returns COPIED, or
   * the drop reason (a counters.ts index) that kept it out.
   */
  copy(ip: number, ipLen: number, ctx: PacketContext, flags: number, aux: number, now: number): number {
    const ring = this.ring;
    // An entry holds a slot's frame area, so this cannot fail; the bound is asserted anyway.
    if (ipLen > ring.dataBytes) return C.frame_too_long;
    if (ctx.received) {
      const cls = this.classOf(ip, ipLen, flags);
      if (!this.policer.admit(ctx.port, cls, now)) return policedReason(cls);
    }
    const e = ring.tryReserve();
    if (e < 0) return C.punt_ring_full;
    const d = ring.dataOffset(e);
    this.b.copyWithin(d, ip, ip + ipLen);
    ring.setMeta(e, aux, ipLen, ctx.port, flags);
    ring.publish();
    return COPIED;
  }

  /** The policing class of a punt (punt-policer.ts). */
  private classOf(ip: number, ipLen: number, flags: number): number {
    if ((flags & PUNT_RESOLVE) !== 0) return CLASS_RESOLVE;
    const b = this.b;
    if (b[ip + IP6_OFF_NEXT_HEADER] === IPPROTO.ICMPV6 && ipLen > IPV6_HEADER_LEN) {
      const type = b[ip + IPV6_HEADER_LEN]!;
      // RFC 4861 §4: RS, RA, NS, NA, Redirect.
      if (type >= ICMP6.ROUTER_SOLICIT && type <= ICMP6.REDIRECT) return CLASS_ND;
    }
    return (flags & PUNT_MULTICAST) !== 0 ? CLASS_MULTICAST : CLASS_LOCAL;
  }
}
