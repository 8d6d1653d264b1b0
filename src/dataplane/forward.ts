/**
 * The forward stage: from the FIB lookup to the frame on the transmit list, for a packet the
 * lane received (forward) or one the router originated (route). In order: FIB lookup → local
 * delivery (ESP for the router goes to the inbound ESP stage; cleartext an inbound policy
 * says must come protected is dropped) → reject / blackhole → hop limit, RFC 4007 scope,
 * egress port → outbound SPD (ESP: hand-over to the SA's home lane, or encapsulate) → MTU
 * (Packet Too Big) → decrement → output: neighbour lookup and Ethernet rewrite on a TAP, or a
 * punt to resolve the next hop.
 *
 * Every failure gives the packet its verdict through Verdicts; ICMPv6 errors about it are
 * built by IcmpErrors and routed back here as packets the router originated.
 */
import type { PacketPool } from '../shm/pool.js';
import { NH_BLACKHOLE, NH_GATEWAY, NH_IPSEC, NH_LOCAL, NH_REJECT } from '../shm/fib.js';
import { NBR_INCOMPLETE } from '../shm/neighbors.js';
import { PORT_KIND_TAP } from '../shm/port-table.js';
import { PUNT_LOCAL, PUNT_RESOLVE, PUNT_ROUTER_ALERT } from '../shm/punt.js';
import { isLinkLocal, isUnspecified } from '../lib/addr.js';
import { ETH_HEADER_LEN } from '../wire/ethernet.js';
import { IP6_OFF_DST, IP6_OFF_HOP_LIMIT, IP6_OFF_SRC, IPPROTO } from '../wire/ipv6.js';
import { DST_UNREACH_CODE, ICMP6 } from '../wire/icmpv6.js';
import { C, ECMP_MEMBER_BASE } from './counters.js';
import { ESP_BYPASS, type EspStage } from './esp.js';
import type { EspBatch } from './esp-batch.js';
import type { HandoverStage } from './handover.js';
import type { IcmpErrors } from './icmp-errors.js';
import type { LaneTables } from './lane.js';
import type { PacketContext } from './packet-context.js';
import type { PuntStage } from './punt-stage.js';
import { shouldRedirect } from './redirect.js';
import { ResolveThrottle } from './resolve-throttle.js';
import type { TraceRecorder } from './trace-recorder.js';
import type { TxList } from './tx-list.js';
import type { Verdicts } from './verdict.js';

/** A punt's aux when it names no egress port. */
export const NO_PORT = -1;
/** output() / queueForward(): the packet is not an ESP packet waiting for its seal. */
const NO_SA = -1;

/** Where ESP addressed to the router goes: the lane's inbound ESP stage (lane.ts). */
export interface EspInbound {
  espInbound(esp: EspStage, ip: number, ipLen: number, ctx: PacketContext): void;
}

export class ForwardStage {
  /** The ESP stage, when IPsec is configured; null keeps the path free of it. */
  esp: EspStage | null = null;
  /** The hand-over rings (more than one lane). */
  handover: HandoverStage | null = null;
  /** The batch's time, ms (the resolve throttle, the ICMPv6 bucket, punt policing). */
  now = 0;
  private readonly resolveThrottle = new ResolveThrottle();

  constructor(
    private readonly b: Uint8Array,
    private readonly pool: PacketPool,
    private readonly tables: LaneTables,
    private readonly tx: TxList,
    private readonly verdicts: Verdicts,
    private readonly punts: PuntStage,
    private readonly icmp: IcmpErrors,
    private readonly espBatch: EspBatch,
    private readonly trace: TraceRecorder,
    /** The context of the ICMPv6 errors this stage sends (packet-context.ts). */
    private readonly origin: PacketContext,
    private readonly inbound: EspInbound,
  ) {}

  /**
   * A received IPv6 packet, validated and classified (lane.ts), that is neither multicast nor
   * link-local: FIB lookup to output. `routerAlert`: its Hop-by-Hop header carries one.
   */
  forward(ip: number, ipLen: number, ctx: PacketContext, routerAlert: boolean): void {
    const b = this.b;
    const v = this.verdicts;
    const ports = this.tables.ports;
    const fib = this.tables.fib;
    const src = ip + IP6_OFF_SRC;
    const dst = ip + IP6_OFF_DST;
    const port = ctx.port;
    // ECMP: a group's member by the packet's flow hash (RFC 6438), counted per member.
    const nh = fib.selectMember(fib.lookup(b, dst), b, ip, ipLen, ports, v.counters, ECMP_MEMBER_BASE);
    if (nh < 0) {
      this.sendError(ICMP6.DST_UNREACH, 0, 0, ip, ipLen, ctx);
      return v.drop(ctx, C.no_route);
    }
    const kind = fib.nexthopKind(nh);
    const esp = this.esp;
    if (esp !== null && !ctx.decapsulated) {
      // RFC 4301 §5.2: ESP for the router is decrypted here (behind extension headers too);
      // cleartext that an inbound policy says must arrive protected is dropped.
      if (kind === NH_LOCAL && esp.locateUpperLayer(b, ip, ipLen, ctx) === IPPROTO.ESP) {
        if (ctx.fragmented) return v.drop(ctx, C.esp_fragmented);
        return this.inbound.espInbound(esp, ip, ipLen, ctx);
      }
      const verdict = esp.inboundCleartext(b, ip, ipLen);
      if (verdict < 0) return this.policyDrop(ip, ipLen, ctx, -verdict);
    }
    if (kind === NH_LOCAL) return this.punts.punt(ip, ipLen, ctx, PUNT_LOCAL, NO_PORT, this.now);
    if (routerAlert) return this.punts.punt(ip, ipLen, ctx, PUNT_ROUTER_ALERT, NO_PORT, this.now);
    if (kind === NH_BLACKHOLE) return v.drop(ctx, C.blackhole);
    if (kind === NH_REJECT) {
      // RFC 4443 §3.1 code 6: reject route to destination.
      this.sendError(ICMP6.DST_UNREACH, DST_UNREACH_CODE.REJECT_ROUTE, 0, ip, ipLen, ctx);
      return v.drop(ctx, C.reject_route);
    }

    // What the appliance's own kernel sends through the host TUN is the router's own
    // traffic: it leaves with the hop limit the kernel chose (RFC 8200 §3 decrements only at
    // forwarding nodes).
    if (isUnspecified(b, src)) return v.drop(ctx, C.bad_source);
    const fromHost = ports.isHost(port);
    if (!fromHost && b[ip + IP6_OFF_HOP_LIMIT]! <= 1) {
      this.sendError(ICMP6.TIME_EXCEEDED, 0, 0, ip, ipLen, ctx);
      return v.drop(ctx, C.hop_limit_exceeded);
    }
    if (kind === NH_IPSEC) {
      // RFC 4007 §9: a tunnel leads off the link as surely as a port does.
      if (isLinkLocal(b, src) && !fromHost) {
        this.sendError(ICMP6.DST_UNREACH, 2, 0, ip, ipLen, ctx);
        return v.drop(ctx, C.scope);
      }
      return this.intoTunnel(ip, ipLen, ctx, fib.nexthopPort(nh), !fromHost);
    }
    const egress = fib.nexthopPort(nh);
    if (!ports.isUp(egress)) {
      this.sendError(ICMP6.DST_UNREACH, 0, 0, ip, ipLen, ctx);
      return v.drop(ctx, C.port_down);
    }
    // RFC 4007 §9: a link-local source must not leave its link; code 2 (RFC 4443 §3.1).
    if (egress !== port && isLinkLocal(b, src) && !fromHost) {
      this.sendError(ICMP6.DST_UNREACH, 2, 0, ip, ipLen, ctx);
      return v.drop(ctx, C.scope);
    }
    if (esp !== null && esp.active) {
      const sa = esp.outbound(b, ip, ipLen);
      if (sa !== ESP_BYPASS) {
        if (sa < 0) return this.policyDrop(ip, ipLen, ctx, -sa);
        const handover = this.handover;
        // Unmodified so far: the home lane runs it through the lane again.
        if (handover !== null && esp.homeLane(sa) !== handover.lane) return handover.send(ip, ipLen, ctx, esp.homeLane(sa));
        return this.espOutbound(esp, ip, ipLen, ctx, sa, !fromHost);
      }
    }
    let mtu = fib.nexthopMtu(nh);
    const portMtu = ports.mtu(egress);
    if (mtu === 0 || mtu > portMtu) mtu = portMtu;
    if (ipLen > mtu) {
      // RFC 8200 §5 / RFC 4443 §3.2: routers never fragment; report the MTU of the next link.
      this.sendError(ICMP6.PACKET_TOO_BIG, 0, mtu, ip, ipLen, ctx);
      return v.drop(ctx, C.too_big);
    }
    // RFC 4861 §8.2: back out of the port it came in on, so a better first hop is on the
    // sender's link. Built before the decrement: the Redirected Header is the packet as received.
    if (egress === port && !fromHost && !ctx.decapsulated && shouldRedirect(b, ip, ipLen, port, nh, fib, ports)) this.sendRedirect(ip, ipLen, ctx, nh);
    if (!fromHost) b[ip + IP6_OFF_HOP_LIMIT]!--;
    if (kind === NH_GATEWAY) this.output(ip, ipLen, ctx, egress, fib.bytes, fib.gatewayOffset(nh), NO_SA);
    else this.output(ip, ipLen, ctx, egress, b, dst, NO_SA);
  }

  /** Routes a packet the router originated (`ctx.received` false): an ICMPv6 error, or an injected packet. */
  route(ip: number, ipLen: number, ctx: PacketContext): void {
    const b = this.b;
    const dst = ip + IP6_OFF_DST;
    const port = ctx.port;
    const v = this.verdicts;
    if (isLinkLocal(b, dst)) return this.output(ip, ipLen, ctx, port, b, dst, NO_SA);
    // The router's own traffic that a policy protects (transport mode between routers).
    const esp = this.esp;
    if (esp !== null && esp.active) {
      const sa = esp.outbound(b, ip, ipLen);
      if (sa !== ESP_BYPASS) {
        if (sa < 0) return v.dropOriginated(port);
        const handover = this.handover;
        if (handover !== null && esp.homeLane(sa) !== handover.lane) return handover.send(ip, ipLen, ctx, esp.homeLane(sa));
        return this.espOutbound(esp, ip, ipLen, ctx, sa, false);
      }
    }
    const fib = this.tables.fib;
    const nh = fib.lookup(b, dst);
    if (nh < 0) return v.dropOriginated(port);
    const kind = fib.nexthopKind(nh);
    if (kind === NH_GATEWAY) return this.output(ip, ipLen, ctx, fib.nexthopPort(nh), fib.bytes, fib.gatewayOffset(nh), NO_SA);
    if (kind === NH_IPSEC) return this.intoTunnel(ip, ipLen, ctx, fib.nexthopPort(nh), false);
    // An error about a packet the appliance's kernel sent through the host port goes back
    // to it there: the kernel owns the router's addresses (Packet Too Big for its PMTUD).
    if (kind === NH_LOCAL && this.tables.ports.isHost(port)) return this.output(ip, ipLen, ctx, port, b, dst, NO_SA);
    if (kind === NH_LOCAL || kind === NH_REJECT || kind === NH_BLACKHOLE) return v.dropOriginated(port);
    return this.output(ip, ipLen, ctx, fib.nexthopPort(nh), b, dst, NO_SA);
  }

  /** Sends an ICMPv6 error about the packet at `ip` (icmp-errors.ts) back towards its source. */
  sendError(type: number, code: number, param: number, ip: number, ipLen: number, ctx: PacketContext): void {
    const error = this.origin;
    if (this.icmp.build(type, code, param, ip, ipLen, ctx, error, this.tables.ports, this.now)) this.route(error.ip, error.len, error);
  }

  /** Sends the packet's source a Redirect to the better first hop `nh` (redirect.ts, icmp-errors.ts). */
  private sendRedirect(ip: number, ipLen: number, ctx: PacketContext, nh: number): void {
    const redirect = this.origin;
    if (this.icmp.buildRedirect(ip, ipLen, ctx, redirect, nh, this.tables, this.now)) this.route(redirect.ip, redirect.len, redirect);
  }

  /**
   * A received packet the SPD refused. A discard policy is a filter, so the sender learns it
   * with Destination Unreachable code 1, administratively prohibited (RFC 4443 §3.1); other
   * refusals (cleartext where protection is required, an opaque fragment) stay silent, as
   * RFC 4301 §5.2 makes them auditable events, not answers.
   */
  private policyDrop(ip: number, ipLen: number, ctx: PacketContext, reason: number): void {
    if (reason === C.esp_policy_discard) this.sendError(ICMP6.DST_UNREACH, DST_UNREACH_CODE.ADMIN_PROHIBITED, 0, ip, ipLen, ctx);
    return this.verdicts.drop(ctx, reason);
  }

  /**
   * Writes the link header for `egress` and queues the frame, or punts it for resolution.
   * `sa` ≥ 0: an ESP packet of that SA that espOutbound() left for the batch's seal,
   * described in `ctx`.
   */
  private output(ip: number, ipLen: number, ctx: PacketContext, egress: number, nhBytes: Uint8Array, nhOff: number, sa: number): void {
    const b = this.b;
    const ports = this.tables.ports;
    if (ports.kind(egress) !== PORT_KIND_TAP) return this.queueForward(ip, ipLen, ctx, egress, sa);
    const nbr = this.tables.neighbors;
    const e = nbr.lookup(egress, nhBytes, nhOff);
    if (e < 0 || nbr.state(e) === NBR_INCOMPLETE) {
      if (!this.resolveThrottle.admit(egress, nhBytes, nhOff, this.now)) return this.verdicts.refuse(ctx, C.neighbor_unresolved);
      // The punt ring takes a copy, which the control plane sends once resolved: the
      // ciphertext, so this one is sealed now, alone.
      if (sa !== NO_SA && this.esp!.sealOut(b, sa, ctx) < 0) return this.verdicts.refuse(ctx, C.esp_seal_failed);
      return this.punts.punt(ip, ipLen, ctx, PUNT_RESOLVE, egress, this.now);
    }
    const eth = ip - ETH_HEADER_LEN;
    const macs = nbr.bytes;
    const m = nbr.macOffset(e);
    for (let k = 0; k < 6; k++) b[eth + k] = macs[m + k]!;
    const own = ports.macOffset(egress);
    for (let k = 0; k < 6; k++) b[eth + 6 + k] = ports.bytes[own + k]!;
    b[eth + 12] = 0x86;
    b[eth + 13] = 0xdd;
    this.queueForward(eth, ipLen + ETH_HEADER_LEN, ctx, egress, sa);
  }

  /**
   * Queues the frame for transmit. An ESP packet waiting for its seal (`sa` ≥ 0) gets its
   * verdict when the batch is sealed: forwarded, or dropped if the seal fails (esp-batch.ts).
   */
  private queueForward(off: number, len: number, ctx: PacketContext, egress: number, sa: number): void {
    const i = this.tx.queue(off, len, egress);
    if (sa !== NO_SA) this.espBatch.queueSeal(sa, ctx, i);
    else this.verdicts.forwarded(ctx, egress);
  }

  /**
   * A packet the FIB routes into route-based tunnel `tunnel`: its outbound SA protects it, with
   * no SPD lookup (the route chose the SA). With the SA gone (hard lifetime, flush) the
   * packet is discarded, never forwarded in the clear (RFC 4301 §4.4.1).
   */
  private intoTunnel(ip: number, ipLen: number, ctx: PacketContext, tunnel: number, decrement: boolean): void {
    const esp = this.esp;
    const sa = esp === null ? -1 : esp.tunnelOutSa(tunnel);
    if (sa < 0) return this.verdicts.refuse(ctx, C.esp_policy_discard);
    const handover = this.handover;
    // Unmodified so far: the home lane runs it from the start again.
    if (handover !== null && esp!.homeLane(sa) !== handover.lane) return handover.send(ip, ipLen, ctx, esp!.homeLane(sa));
    return this.espOutbound(esp!, ip, ipLen, ctx, sa, decrement);
  }

  /**
   * Encapsulates under `sa` and routes the outer packet (towards the SA's tunnel endpoint,
   * or the packet's own destination in transport mode). The MTU check comes first, on the
   * size the packet will have: Packet Too Big reports the MTU less the ESP overhead, so the
   * sender's next packets fit once encrypted (RFC 4301 §8.2.1). The encryption itself waits
   * for the end of the batch (esp-batch.ts), except for a traced packet: its trace record
   * takes its verdict now, so it is sealed now, alone.
   */
  private espOutbound(esp: EspStage, ip: number, ipLen: number, ctx: PacketContext, sa: number, decrement: boolean): void {
    const b = this.b;
    const v = this.verdicts;
    const fib = this.tables.fib;
    const tunnel = esp.isTunnel(sa);
    const nh = tunnel ? fib.lookup(esp.tableBytes(), esp.tunnelDstOffset(sa)) : fib.lookup(b, ip + IP6_OFF_DST);
    const kind = nh < 0 ? NH_REJECT : fib.nexthopKind(nh);
    // A tunnel endpoint routed into a tunnel would recurse: no route for it.
    if (kind === NH_REJECT || kind === NH_BLACKHOLE || kind === NH_LOCAL || kind === NH_IPSEC) return v.refuse(ctx, C.no_route);
    const egress = fib.nexthopPort(nh);
    if (!this.tables.ports.isUp(egress)) return v.refuse(ctx, C.port_down);
    let mtu = fib.nexthopMtu(nh);
    const portMtu = this.tables.ports.mtu(egress);
    if (mtu === 0 || mtu > portMtu) mtu = portMtu;
    const overhead = esp.overhead(sa, ipLen);
    if (ipLen + overhead > mtu) {
      if (!ctx.received) return v.dropOriginated(ctx.port);
      this.sendError(ICMP6.PACKET_TOO_BIG, 0, mtu - overhead, ip, ipLen, ctx);
      return v.drop(ctx, C.too_big);
    }
    // Encapsulation grows the packet in place: the headers into the headroom, the trailer
    // towards the slot's end. The MTU check above keeps it inside the slot (slots hold the
    // largest MTU); this asserts it.
    const slotBytes = this.pool.slotBytes;
    if (ip + ipLen + overhead > (Math.floor(ip / slotBytes) + 1) * slotBytes) return v.refuse(ctx, C.frame_too_long);
    if (decrement) b[ip + IP6_OFF_HOP_LIMIT]!--;
    const defer = ctx.trace < 0;
    const out = esp.encapsulate(b, ip, ipLen, sa, ctx, defer);
    if (out < 0) return v.refuse(ctx, -out);
    if (ctx.trace >= 0) this.trace.espOut(ctx.trace, ctx.espOff, ctx.seqHi);
    const pending = defer ? sa : NO_SA;
    if (kind === NH_GATEWAY) this.output(out, ctx.len, ctx, egress, fib.bytes, fib.gatewayOffset(nh), pending);
    else this.output(out, ctx.len, ctx, egress, b, out + IP6_OFF_DST, pending);
  }
}
