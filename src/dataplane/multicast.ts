/**
 * The multicast stage: what a lane does with a packet for a multicast group (the book's
 * ip6_mforward and ip6_mdq, §2.10), after the Hop-by-Hop header was processed (lane.ts).
 *
 *   MLD (ICMPv6 130, 131, 132, 143) → punted whatever its group, so a querier sees every
 *     Report (RFC 2710 §5 sends them to the group they concern, RFC 3810 §5.2 to ff02::16).
 *   Scope ≤ link-local (ff01::/16, ff02::/16) → punted if the router listens to the group on
 *     the port (shm/groups.ts), else dropped here (multicast_no_listener): never forwarded.
 *   Wider scope → the MFC entry (shm/mfc.ts), (S,G) before (*,G):
 *     none → punted if the router listens, else multicast_no_route (no NOCACHE upcall yet);
 *     arrival on another port than the entry's incoming one → counted on the entry
 *       (WRONGMIF), punted if the router listens, else multicast_wrong_port;
 *     unspecified or link-local source, hop limit ≤ 1 → not forwarded (RFC 4007 §9, RFC
 *       8200 §3; no Time Exceeded about multicast, RFC 4443 §2.4(e.3));
 *     else one copy per outgoing port that is up, hop limit decremented per copy; a port
 *       whose MTU the packet exceeds gets no copy, and the sender one Packet Too Big with the
 *       smallest such MTU (RFC 4443 §2.4(e.3) allows it about multicast); and a copy to the
 *       control plane when the router listens too.
 *
 * Zones (RFC 4007 §5): turtle6 is one zone of every scope wider than link-local, so a group
 * of scope 3 to 0xe may go out of any port; only link-local sources and groups are bounded.
 *
 * A received packet takes one verdict (verdict.ts): forwarded when at least one copy left
 * (multicast_copies counts them), else punted or one drop reason. Copies go into fresh slots
 * of the lane's own pool, the last one in the received slot itself, as ICMPv6 errors are
 * built: nothing is allocated per packet. A batch makes at most `copyBudget` extra copies, the
 * room its transmit list keeps for them.
 */
import { HEADROOM, type PacketPool } from '../shm/pool.js';
import { MAX_PORTS, PORT_KIND_NONE, PORT_KIND_TAP } from '../shm/port-table.js';
import { MFC_BYTES, MFC_PACKETS, MFC_WRONG_PORT, OUT_WORDS, type MfcView } from '../shm/mfc.js';
import type { GroupView } from '../shm/groups.js';
import { PUNT_MULTICAST } from '../shm/punt.js';
import { isLinkLocal, isUnspecified } from '../lib/addr.js';
import { ETH_HEADER_LEN } from '../wire/ethernet.js';
import { IP6_OFF_DST, IP6_OFF_HOP_LIMIT, IP6_OFF_SRC, IPPROTO } from '../wire/ipv6.js';
import { ICMP6 } from '../wire/icmpv6.js';
import { isMldType } from '../wire/mld.js';
import { C, mfcCounter, portCounter } from './counters.js';
import { NO_PORT } from './forward.js';
import type { PacketContext } from './packet-context.js';
import { COPIED, type PuntStage } from './punt-stage.js';
import type { TxList } from './tx-list.js';
import type { Verdicts } from './verdict.js';
import type { PortTableView } from '../shm/port-table.js';

/** The tables the stage reads, bound per batch by the lane's caller. */
export interface MulticastTables {
  readonly ports: PortTableView;
  readonly groups: GroupView;
  readonly mfc: MfcView;
}

/** Where the stage sends its Packet Too Big (ForwardStage.sendError). */
export interface ErrorSender {
  sendError(type: number, code: number, param: number, ip: number, ipLen: number, ctx: PacketContext): void;
}

/** The multicast scope nibble of link-local (RFC 4291 §2.7): at most this never leaves the link. */
const SCOPE_LINK_LOCAL = 2;

export class MulticastStage {
  /** The batch's time, ms (punt policing). */
  now = 0;
  private budget = 0;
  /** The outgoing ports of the packet being replicated. */
  private readonly out = new Int32Array(MAX_PORTS);

  constructor(
    private readonly b: Uint8Array,
    private readonly pool: PacketPool,
    private readonly tables: MulticastTables,
    private readonly tx: TxList,
    private readonly verdicts: Verdicts,
    private readonly punts: PuntStage,
    private readonly errors: ErrorSender,
    private readonly copyBudget: number,
  ) {}

  /** Call at the start of each batch: the batch's copies start from the full budget. */
  arm(): void {
    this.budget = this.copyBudget;
  }

  /**
   * A received packet for the group at ip+24; `proto` and `upper`: its upper-layer protocol
   * and that header's offset (-1 when unknown, as in a later fragment).
   */
  receive(ip: number, ipLen: number, ctx: PacketContext, proto: number, upper: number): void {
    const b = this.b;
    const v = this.verdicts;
    const port = ctx.port;
    const src = ip + IP6_OFF_SRC;
    const dst = ip + IP6_OFF_DST;
    if (proto === IPPROTO.ICMPV6 && upper >= 0 && upper < ip + ipLen && isMldType(b[upper]!)) return this.punt(ip, ipLen, ctx);
    const listens = this.tables.groups.listens(port, b, dst);
    if ((b[dst + 1]! & 0x0f) <= SCOPE_LINK_LOCAL) return listens ? this.punt(ip, ipLen, ctx) : v.drop(ctx, C.multicast_no_listener);
    const mfc = this.tables.mfc;
    const e = mfc.lookup(b, src, dst);
    if (e < 0) return listens ? this.punt(ip, ipLen, ctx) : v.drop(ctx, C.multicast_no_route);
    const c = v.counters;
    const slot = mfc.counterSlot(e);
    if (mfc.inPort(e) !== port) {
      c[mfcCounter(slot, MFC_WRONG_PORT)]!++;
      return listens ? this.punt(ip, ipLen, ctx) : v.drop(ctx, C.multicast_wrong_port);
    }
    const refused = isUnspecified(b, src) ? C.bad_source : isLinkLocal(b, src) ? C.scope : b[ip + IP6_OFF_HOP_LIMIT]! <= 1 ? C.hop_limit_exceeded : 0;
    if (refused !== 0) return listens ? this.punt(ip, ipLen, ctx) : v.drop(ctx, refused);

    // ip6_mdq: the outgoing ports, each up and with room for the packet.
    const ports = this.tables.ports;
    const out = this.out;
    let k = 0;
    let tooBigMtu = 0;
    let down = false;
    for (let w = 0; w < OUT_WORDS; w++) {
      let bits = mfc.outWord(e, w);
      while (bits !== 0) {
        const low = bits & -bits;
        bits ^= low;
        const p = (w << 5) + 31 - Math.clz32(low);
        if (p === port) continue;
        if (ports.kind(p) === PORT_KIND_NONE || !ports.isUp(p)) {
          down = true;
          continue;
        }
        const mtu = ports.mtu(p);
        if (ipLen > mtu) {
          if (tooBigMtu === 0 || mtu < tooBigMtu) tooBigMtu = mtu;
          continue;
        }
        out[k++] = p;
      }
    }
    if (tooBigMtu !== 0) this.errors.sendError(ICMP6.PACKET_TOO_BIG, 0, tooBigMtu, ip, ipLen, ctx);
    if (k === 0) {
      if (listens) return this.punt(ip, ipLen, ctx);
      // Nothing left: too big for every port, every port down, or (RPF) only the incoming one.
      return v.drop(ctx, tooBigMtu !== 0 ? C.too_big : down ? C.port_down : C.multicast_no_route);
    }
    c[mfcCounter(slot, MFC_PACKETS)]!++;
    c[mfcCounter(slot, MFC_BYTES)] = c[mfcCounter(slot, MFC_BYTES)]! + ipLen;
    // The local copy first: the control plane sees the packet as received (hop limit intact).
    if (listens) v.count(port, this.punts.copy(ip, ipLen, ctx, PUNT_MULTICAST, NO_PORT, this.now) === COPIED ? C.multicast_local_copies : C.multicast_copy_failed);
    let sent = 1;
    for (let i = 0; i < k - 1; i++) if (this.copyTo(ip, ipLen, out[i]!, port)) sent++;
    // The last copy is the received packet itself.
    this.emit(ip, ipLen, out[k - 1]!);
    c[portCounter(port, C.multicast_copies)] = c[portCounter(port, C.multicast_copies)]! + sent;
    v.forwarded(ctx, out[k - 1]!);
  }

  private punt(ip: number, ipLen: number, ctx: PacketContext): void {
    this.punts.punt(ip, ipLen, ctx, PUNT_MULTICAST, NO_PORT, this.now);
  }

  /** One more copy of the packet at `ip` into a fresh slot, out of `egress`; false when none could be made (counted against `ingress`). */
  private copyTo(ip: number, ipLen: number, egress: number, ingress: number): boolean {
    const slot = this.budget > 0 ? this.pool.alloc() : -1;
    if (slot < 0) {
      this.verdicts.count(ingress, C.multicast_copy_failed);
      return false;
    }
    this.budget--;
    this.tx.hold(slot);
    const o = this.pool.offsetOf(slot) + HEADROOM + ETH_HEADER_LEN;
    this.b.copyWithin(o, ip, ip + ipLen);
    this.emit(o, ipLen, egress);
    return true;
  }

  /**
   * Decrements the hop limit of the packet at `ip` and queues it for `egress`: on a TAP behind
   * an Ethernet header to the group's MAC, 33:33 and the group's low 32 bits (RFC 2464 §7).
   */
  private emit(ip: number, ipLen: number, egress: number): void {
    const b = this.b;
    b[ip + IP6_OFF_HOP_LIMIT]!--;
    const ports = this.tables.ports;
    if (ports.kind(egress) !== PORT_KIND_TAP) {
      this.tx.queue(ip, ipLen, egress);
      return;
    }
    const eth = ip - ETH_HEADER_LEN;
    b[eth] = 0x33;
    b[eth + 1] = 0x33;
    for (let k = 0; k < 4; k++) b[eth + 2 + k] = b[ip + IP6_OFF_DST + 12 + k]!;
    const own = ports.macOffset(egress);
    for (let k = 0; k < 6; k++) b[eth + 6 + k] = ports.bytes[own + k]!;
    b[eth + 12] = 0x86;
    b[eth + 13] = 0xdd;
    this.tx.queue(eth, ipLen + ETH_HEADER_LEN, egress);
  }
}
