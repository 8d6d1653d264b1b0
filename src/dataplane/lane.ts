/**
 * One lane: the forwarding pipeline that a worker thread runs over batches of frames.
 *
 * Pipeline (per batch, VPP style: validate once at input, later stages trust the header):
 *   receive → link (Ethernet check, TAP only) → validate (version, length, addresses)
 *   → classify (multicast / link-local / hop-by-hop / FIB) → local: punt to the control plane
 *   → forward: hop limit, scope, MTU, decrement → output (neighbour lookup + Ethernet rewrite on TAP)
 *   → drain the hand-over rings → open the batch's inbound ESP, one call per SA, and take each
 *   decrypted packet on from where it stopped → drain the inject ring → seal the batch's
 *   outbound ESP, one call per SA → transmit the batch.
 *
 * Rules of this file: nothing here allocates, creates closures or promises, or logs per packet.
 * Every discard is a counter (counters.ts). ICMPv6 errors are built here, in a slot of the lane's
 * own pool, and rate-limited by a token bucket (RFC 4443 §2.4(f)).
 *
 * Tables (FIB, neighbours, ports) are snapshot views bound once per batch by the caller.
 */
import { HEADROOM, type PacketPool } from '../shm/pool.js';
import type { SpscRing } from '../shm/ring.js';
import { NH_BLACKHOLE, NH_GATEWAY, NH_IPSEC, NH_LOCAL, NH_REJECT, type FibView } from '../shm/fib.js';
import { NBR_INCOMPLETE, type NeighborView } from '../shm/neighbors.js';
import type { IoEngine, RxBatch } from '../io/engine.js';
import { TokenBucket } from '../lib/token-bucket.js';
import { equalAddress, isLinkLocal, isLoopback, isUnspecified, prefixMatch } from '../lib/addr.js';
import { ETH_HEADER_LEN } from '../wire/ethernet.js';
import { readU32 } from '../wire/bytes.js';
import {
  IPV6_HEADER_LEN,
  IPV6_MIN_MTU,
  IP6_OFF_DST,
  IP6_OFF_HOP_LIMIT,
  IP6_OFF_NEXT_HEADER,
  IP6_OFF_PAYLOAD_LEN,
  IP6_OFF_SRC,
  IPPROTO,
} from '../wire/ipv6.js';
import {
  WALK_DISCARD,
  WALK_OK,
  WALK_OUT_SIZE,
  WALK_PARAM_CODE,
  WALK_PARAM_POINTER,
  WALK_PARAM_PROBLEM,
  WALK_ROUTER_ALERT,
  walkExtensionHeaders,
} from '../wire/ext-headers.js';
import { DST_UNREACH_CODE, ICMP6, PARAM_PROBLEM_CODE, writeIcmpv6Error, mayGenerateErrorAbout } from '../wire/icmpv6.js';
import { C, LANE, BATCH_BUCKETS, BATCH_HIST_BASE, BATCH_SUM, ECMP_MEMBER_BASE, portCounter } from './counters.js';
import { PORT_KIND_TAP, type PortTableView } from '../shm/port-table.js';
import {
  TH_FLAGS,
  TH_IN_SEQ,
  TH_IN_SPI,
  TH_IN_TUNNEL,
  TH_OUT_SEQ,
  TH_OUT_SPI,
  TH_STAMP,
  TRACE_HEADER_BYTES,
  TRACE_SNAP_BYTES,
  TR_DST_BYTES,
  TR_DST_LEN,
  TR_PORT,
  TR_PROTO,
  TR_REMAINING,
  TR_SRC_BYTES,
  TR_SRC_LEN,
  VERDICT_DROPPED,
  VERDICT_FORWARDED,
  VERDICT_PUNTED,
} from './trace.js';
import { INJECT_RAW, INJECT_ROUTE, PUNT_LOCAL, PUNT_MULTICAST, PUNT_RESOLVE, PUNT_ROUTER_ALERT } from '../shm/punt.js';
import { ResolveThrottle } from './resolve-throttle.js';
import { CLASS_LOCAL, CLASS_MULTICAST, CLASS_ND, CLASS_RESOLVE, PuntPolicer, policedReason } from './punt-policer.js';
import { ESP_BYPASS, ESP_IN_TUNNEL, type EspStage } from './esp.js';
import { shouldRedirect, writeRedirectAbout } from './redirect.js';

export interface LaneTables {
  readonly fib: FibView;
  readonly neighbors: NeighborView;
  readonly ports: PortTableView;
  /** The lane is about to block: release the snapshots so the control plane can publish. */
  beforeWait(): void;
  /** Rebinds the views when the control plane has published a new generation. */
  refresh(): void;
}

/**
 * The rings between this lane and the others (lane-task.ts): an ESP SA has one home lane, the
 * only writer of its sequence number and replay window, so a packet of an SA met on another
 * lane is copied into that lane's ring and processed there.
 */
export interface LaneHandover {
  /** This lane's index. */
  readonly lane: number;
  /** to[j]: the ring towards lane j (null at this lane's own index). */
  readonly to: readonly (SpscRing | null)[];
  /** Rings from the other lanes. */
  readonly from: readonly SpscRing[];
  /** Interrupts lane j's wait for input (once per batch that handed it packets). */
  wake(lane: number): void;
}

/** Hand-over entry flags: how the home lane resumes the packet. */
const HANDOVER_RECEIVED = 1;
const HANDOVER_DECAPSULATED = 2;
const HANDOVER_ORIGINATED = 4;

/** The trace control block shared by all lanes and this lane's trace ring (trace.ts). */
export interface LaneTrace {
  readonly control: Int32Array;
  readonly ring: SpscRing;
}

export interface LaneOptions {
  readonly batch: number;
  readonly icmpRate: number;
  readonly icmpBurst: number;
  /** The punt policing block (punt-policer.ts) the main thread writes. */
  readonly policing: Int32Array;
  readonly now: () => number;
}

const NO_SLOT = -1;
/** output() / queueForward(): the packet is not an ESP packet waiting for its seal. */
const NO_SA = -1;

export class Lane {
  private readonly b: Uint8Array;
  private readonly rx: RxBatch;
  // Transmit list: offset/length/port per frame. Slots to free after transmit are tracked apart.
  private readonly txOff: Int32Array;
  private readonly txLen: Int32Array;
  private readonly txPort: Int32Array;
  /** Per frame of the transmit list: 1 if the engine wrote it whole. */
  private readonly txSent: Uint8Array;
  private txCount = 0;
  private readonly extraSlots: Int32Array;
  private extraCount = 0;
  /**
   * ESP packets encapsulated but not yet encrypted, in queue order: the SA, what the seal
   * needs (EspStage.outEsp, outPtLen, outSeqHi), the packet's transmit-list index, and whose
   * verdict it is (ingress port; whether it was received or originated). sealDeferred()
   * encrypts each SA's packets in one call before the batch is transmitted.
   */
  private readonly sealSa: Int32Array;
  private readonly sealEsp: Int32Array;
  private readonly sealPt: Int32Array;
  private readonly sealHi: Uint32Array;
  private readonly sealTx: Int32Array;
  private readonly sealIngress: Int32Array;
  private readonly sealReceived: Uint8Array;
  private sealCount = 0;
  /**
   * Inbound ESP packets that passed EspStage.inboundCheck, waiting for openDeferred(): the
   * SA, the IPv6 packet, its ESP header and length, the Next Header field that named ESP,
   * its ingress port, what inboundCheck left (inSeq, inSeqHi), whether it came as a
   * link-layer multicast (for ICMPv6 errors about its inner packet), and, once opened, the
   * plaintext length.
   */
  private readonly openSa: Int32Array;
  private readonly openIp: Int32Array;
  private readonly openEsp: Int32Array;
  private readonly openLen: Int32Array;
  private readonly openNhPointer: Int32Array;
  private readonly openPort: Int32Array;
  private readonly openSeq: Float64Array;
  private readonly openHi: Uint32Array;
  private readonly openMulticast: Uint8Array;
  private readonly openPt: Int32Array;
  private openCount = 0;
  // One SA's packets, gathered from the above into the arrays t6c_seal / t6c_open take, and their entries.
  private readonly grouped: Uint8Array;
  private readonly groupEsp: Int32Array;
  private readonly groupLen: Int32Array;
  private readonly groupHi: Uint32Array;
  private readonly groupOut: Int32Array;
  private readonly groupEntry: Int32Array;
  private readonly ext = new Int32Array(WALK_OUT_SIZE);
  private readonly icmpBucket: TokenBucket;
  private readonly resolveThrottle = new ResolveThrottle();
  private readonly policer: PuntPolicer;
  private now = 0;
  /** The frame being processed came as a link-layer multicast or broadcast (RFC 4443 §2.4(e.4, e.5)). */
  private linkMulticast = false;
  // Packet trace (trace.ts): armed per batch; one branch per frame while off.
  private tracing = false;
  private traceEntry = -1;
  private readonly traceBytes: Uint8Array;
  private readonly traceStamp: Float64Array;
  private readonly traceWords: Uint32Array;
  /** The ESP stage (esp.ts), when IPsec is configured; null keeps the lane free of it. */
  private esp: EspStage | null = null;
  /** The packet being processed came out of an ESP tunnel (its policy was checked there). */
  private decapsulated = false;
  private handover: LaneHandover | null = null;
  /** Per lane: whether this batch handed it packets (it is woken once at the end). */
  private handedTo = new Uint8Array(0);
  /** The hand-over ring drainHandover() starts at: it rotates, so one busy lane cannot starve the others. */
  private handoverStart = 0;

  constructor(
    private readonly pool: PacketPool,
    private readonly engine: IoEngine,
    private readonly puntRing: SpscRing,
    private readonly injectRing: SpscRing,
    private readonly counters: Float64Array,
    private readonly tables: LaneTables,
    private readonly opts: LaneOptions,
    private readonly trace: LaneTrace,
  ) {
    // The whole lane buffer (pool, then the punt and inject rings), so that copies between a
    // slot and a ring entry are one copyWithin. Slot offsets are the same in either view.
    this.b = new Uint8Array(pool.sab);
    const n = opts.batch;
    this.rx = { slot: new Int32Array(n), len: new Int32Array(n), port: new Int32Array(n) };
    // Each received frame yields at most one frame out (forward or error); inject and the
    // hand-over rings add up to n more each.
    this.txOff = new Int32Array(4 * n);
    this.txLen = new Int32Array(4 * n);
    this.txPort = new Int32Array(4 * n);
    this.txSent = new Uint8Array(4 * n);
    this.extraSlots = new Int32Array(4 * n);
    // Every deferred seal is a queued frame, so the transmit list bounds them.
    this.sealSa = new Int32Array(4 * n);
    this.sealEsp = new Int32Array(4 * n);
    this.sealPt = new Int32Array(4 * n);
    this.sealHi = new Uint32Array(4 * n);
    this.sealTx = new Int32Array(4 * n);
    this.sealIngress = new Int32Array(4 * n);
    this.sealReceived = new Uint8Array(4 * n);
    // Received frames and the hand-over rings' batch bound the inbound ones.
    this.openSa = new Int32Array(2 * n);
    this.openIp = new Int32Array(2 * n);
    this.openEsp = new Int32Array(2 * n);
    this.openLen = new Int32Array(2 * n);
    this.openNhPointer = new Int32Array(2 * n);
    this.openPort = new Int32Array(2 * n);
    this.openSeq = new Float64Array(2 * n);
    this.openHi = new Uint32Array(2 * n);
    this.openMulticast = new Uint8Array(2 * n);
    this.openPt = new Int32Array(2 * n);
    this.grouped = new Uint8Array(4 * n);
    this.groupEsp = new Int32Array(4 * n);
    this.groupLen = new Int32Array(4 * n);
    this.groupHi = new Uint32Array(4 * n);
    this.groupOut = new Int32Array(4 * n);
    this.groupEntry = new Int32Array(4 * n);
    this.icmpBucket = new TokenBucket(opts.icmpRate, opts.icmpBurst, opts.now());
    this.policer = new PuntPolicer(opts.policing, opts.now());
    this.traceBytes = new Uint8Array(trace.control.buffer, trace.control.byteOffset, trace.control.byteLength);
    this.traceStamp = new Float64Array(trace.ring.bytes.buffer);
    this.traceWords = new Uint32Array(trace.ring.bytes.buffer);
  }

  /** Attaches the ESP stage; the caller binds its tables in refresh(). */
  setEsp(stage: EspStage | null): void {
    this.esp = stage;
  }

  /** Attaches the hand-over rings (more than one lane). */
  setHandover(handover: LaneHandover): void {
    this.handover = handover;
    this.handedTo = new Uint8Array(handover.to.length);
  }

  reconfigureIcmp(rate: number, burst: number): void {
    this.icmpBucket.reconfigure(rate, burst);
  }

  /** Receives one batch (waiting up to timeoutMs), processes it, drains injections, transmits. */
  runOnce(timeoutMs: number): number {
    const wait = this.injectRing.peek() >= 0 || this.handoverPending() ? 0 : timeoutMs;
    if (wait > 0) this.tables.beforeWait();
    const n = this.engine.receive(this.rx, this.opts.batch, wait);
    this.tables.refresh();
    this.now = this.opts.now();
    this.policer.refresh();
    this.txCount = 0;
    this.extraCount = 0;
    this.tracing = n > 0 && Atomics.load(this.trace.control, TR_REMAINING) > 0;
    for (let i = 0; i < n; i++) this.processFrame(this.rx.slot[i]!, this.rx.len[i]!, this.rx.port[i]!);
    if (this.handover !== null) this.drainHandover(this.handover);
    // openCount > 0 only if an ESP stage is attached (setEsp happens in refresh()).
    if (this.openCount > 0) this.openDeferred(this.esp!);
    this.drainInject();
    if (this.handover !== null) this.wakeHandedTo(this.handover);
    // sealCount > 0 only if an ESP stage encapsulated this batch (setEsp happens in refresh()).
    if (this.sealCount > 0) this.sealDeferred(this.esp!);
    if (this.txCount > 0) this.transmit();
    for (let i = 0; i < n; i++) this.pool.free(this.rx.slot[i]!);
    for (let i = 0; i < this.extraCount; i++) this.pool.free(this.extraSlots[i]!);
    const c = this.counters;
    if (n > 0) {
      c[LANE.batches]!++;
      c[BATCH_SUM] = c[BATCH_SUM]! + n;
      let bucket = 0;
      while (bucket < BATCH_BUCKETS.length - 1 && n > BATCH_BUCKETS[bucket]!) bucket++;
      c[BATCH_HIST_BASE + bucket]!++;
    } else {
      c[LANE.idleWakeups]!++;
    }
    c[LANE.heartbeat]!++;
    return n;
  }

  private count(port: number, index: number): void {
    this.counters[portCounter(port, index)]!++;
  }

  /** A packet the router originated could not be sent; not a verdict on a received frame. */
  private dropOriginated(port: number): void {
    this.counters[portCounter(port, C.originated_dropped)]!++;
  }

  private drop(port: number, reason: number): void {
    this.counters[portCounter(port, reason)]!++;
    if (this.traceEntry >= 0) this.traceEnd(VERDICT_DROPPED, reason, -1);
  }

  private processFrame(slot: number, frameLen: number, port: number): void {
    const b = this.b;
    const ports = this.tables.ports;
    const frame = this.pool.offsetOf(slot) + HEADROOM;
    const c = this.counters;
    if (this.tracing) this.traceBegin(frame, frameLen, port);
    c[portCounter(port, C.rx_packets)]!++;
    c[portCounter(port, C.rx_bytes)] = c[portCounter(port, C.rx_bytes)]! + frameLen;
    // The kernel truncates a frame longer than the slot's frame area, which is always longer
    // than any configured MTU allows (shm/pool.ts): a frame that fills it was cut short.
    // Nothing past the frame area is ever read.
    if (frameLen >= this.pool.frameCapacity) return this.drop(port, C.frame_too_long);
    if (!ports.isUp(port)) return this.drop(port, C.port_down);

    // Link layer: a TAP port delivers Ethernet (RFC 2464). Accept IPv6 addressed to this
    // port's MAC or to a multicast MAC (I/G bit set); a port glued to a shared segment
    // also sees other stations' unicast frames.
    let ip = frame;
    let ipLen = frameLen;
    this.linkMulticast = false;
    if (ports.kind(port) === PORT_KIND_TAP) {
      if (frameLen < ETH_HEADER_LEN) return this.drop(port, C.runt);
      if (b[frame + 12] !== 0x86 || b[frame + 13] !== 0xdd) return this.drop(port, C.not_ipv6);
      if ((b[frame]! & 1) === 0 && !this.isPortMac(frame, port)) return this.drop(port, C.other_host);
      this.linkMulticast = (b[frame]! & 1) === 1;
      ip += ETH_HEADER_LEN;
      ipLen -= ETH_HEADER_LEN;
    }
    this.decapsulated = false;
    this.processIp(ip, ipLen, port);
  }

  /** An IPv6 packet from `port`: a received one, or the inner packet of an ESP tunnel. */
  private processIp(ip: number, ipLen: number, port: number): void {
    const b = this.b;
    const ports = this.tables.ports;

    // Validate (RFC 8200 §3). Trailing bytes beyond Payload Length (Ethernet padding) are trimmed.
    if (ipLen < IPV6_HEADER_LEN) return this.drop(port, C.truncated);
    if (b[ip]! >> 4 !== 6) return this.drop(port, C.not_ipv6);
    const payloadLen = (b[ip + IP6_OFF_PAYLOAD_LEN]! << 8) | b[ip + IP6_OFF_PAYLOAD_LEN + 1]!;
    if (IPV6_HEADER_LEN + payloadLen > ipLen) return this.drop(port, C.bad_length);
    ipLen = IPV6_HEADER_LEN + payloadLen;
    const src = ip + IP6_OFF_SRC;
    const dst = ip + IP6_OFF_DST;
    // A multicast source is never valid (RFC 4291 §2.7); loopback never appears on a link (§2.5.3).
    if (b[src] === 0xff || isLoopback(b, src)) return this.drop(port, C.bad_source);

    // Classify.
    if (b[dst] === 0xff) return this.punt(ip, ipLen, port, PUNT_MULTICAST, NO_SLOT);
    if (isLoopback(b, dst) || isUnspecified(b, dst)) return this.drop(port, C.bad_destination);
    if (isLinkLocal(b, dst)) {
      // Link-local destinations are never forwarded (RFC 4007 §9); ours is a zone-scoped match.
      if (equalAddress(b, ports.bytes, dst, ports.linkLocalOffset(port))) return this.punt(ip, ipLen, port, PUNT_LOCAL, NO_SLOT);
      return this.drop(port, C.scope);
    }

    // Only the Hop-by-Hop Options header is examined on the way through (RFC 8200 §4).
    let routerAlert = false;
    if (b[ip + IP6_OFF_NEXT_HEADER] === 0) {
      const verdict = walkExtensionHeaders(b, ip, ipLen, this.ext);
      if (verdict !== WALK_OK) return this.hopByHopError(ip, ipLen, port, verdict);
      routerAlert = this.ext[WALK_ROUTER_ALERT]! >= 0;
    }

    const fib = this.tables.fib;
    // ECMP: a group's member by the packet's flow hash (RFC 6438), counted per member.
    const nh = fib.selectMember(fib.lookup(b, dst), b, ip, ipLen, ports, this.counters, ECMP_MEMBER_BASE);
    if (nh < 0) {
      this.sendError(ICMP6.DST_UNREACH, 0, 0, ip, ipLen, port);
      return this.drop(port, C.no_route);
    }
    const kind = fib.nexthopKind(nh);
    const esp = this.esp;
    if (esp !== null && !this.decapsulated) {
      // RFC 4301 §5.2: ESP for the router is decrypted here (behind extension headers too);
      // cleartext that an inbound policy says must arrive protected is dropped.
      if (kind === NH_LOCAL && esp.locateUpperLayer(b, ip, ipLen) === IPPROTO.ESP) {
        if (esp.fragmented) return this.drop(port, C.esp_fragmented);
        return this.espInbound(esp, ip, ipLen, port);
      }
      const verdict = esp.inboundCleartext(b, ip, ipLen);
      if (verdict < 0) return this.policyDrop(ip, ipLen, port, -verdict);
    }
    if (kind === NH_LOCAL) return this.punt(ip, ipLen, port, PUNT_LOCAL, NO_SLOT);
    if (routerAlert) return this.punt(ip, ipLen, port, PUNT_ROUTER_ALERT, NO_SLOT);
    if (kind === NH_BLACKHOLE) return this.drop(port, C.blackhole);
    if (kind === NH_REJECT) {
      // RFC 4443 §3.1 code 6: reject route to destination.
      this.sendError(ICMP6.DST_UNREACH, DST_UNREACH_CODE.REJECT_ROUTE, 0, ip, ipLen, port);
      return this.drop(port, C.reject_route);
    }

    // Forward. What the appliance's own kernel sends through the host TUN is the router's
    // own traffic: it leaves with the hop limit the kernel chose (RFC 8200 §3 decrements
    // only at forwarding nodes).
    if (isUnspecified(b, src)) return this.drop(port, C.bad_source);
    const fromHost = ports.isHost(port);
    if (!fromHost && b[ip + IP6_OFF_HOP_LIMIT]! <= 1) {
      this.sendError(ICMP6.TIME_EXCEEDED, 0, 0, ip, ipLen, port);
      return this.drop(port, C.hop_limit_exceeded);
    }
    if (kind === NH_IPSEC) {
      // RFC 4007 §9: a tunnel leads off the link as surely as a port does.
      if (isLinkLocal(b, src) && !fromHost) {
        this.sendError(ICMP6.DST_UNREACH, 2, 0, ip, ipLen, port);
        return this.drop(port, C.scope);
      }
      return this.intoTunnel(ip, ipLen, port, fib.nexthopPort(nh), true, !fromHost);
    }
    const egress = fib.nexthopPort(nh);
    if (!ports.isUp(egress)) {
      this.sendError(ICMP6.DST_UNREACH, 0, 0, ip, ipLen, port);
      return this.drop(port, C.port_down);
    }
    // RFC 4007 §9: a link-local source must not leave its link; code 2 (RFC 4443 §3.1).
    if (egress !== port && isLinkLocal(b, src) && !fromHost) {
      this.sendError(ICMP6.DST_UNREACH, 2, 0, ip, ipLen, port);
      return this.drop(port, C.scope);
    }
    if (esp !== null && esp.active) {
      const sa = esp.outbound(b, ip, ipLen);
      if (sa !== ESP_BYPASS) {
        if (sa < 0) return this.policyDrop(ip, ipLen, port, -sa);
        const handover = this.handover;
        if (handover !== null && esp.homeLane(sa) !== handover.lane) {
          // Unmodified so far: the home lane runs it through processIp again.
          return this.handOver(ip, ipLen, port, esp.homeLane(sa), HANDOVER_RECEIVED | (this.decapsulated ? HANDOVER_DECAPSULATED : 0));
        }
        return this.espOutbound(esp, ip, ipLen, port, sa, true, !fromHost);
      }
    }
    let mtu = fib.nexthopMtu(nh);
    const portMtu = ports.mtu(egress);
    if (mtu === 0 || mtu > portMtu) mtu = portMtu;
    if (ipLen > mtu) {
      // RFC 8200 §5 / RFC 4443 §3.2: routers never fragment; report the MTU of the next link.
      this.sendError(ICMP6.PACKET_TOO_BIG, 0, mtu, ip, ipLen, port);
      return this.drop(port, C.too_big);
    }
    // RFC 4861 §8.2: back out of the port it came in on, so a better first hop is on the sender's link.
    if (egress === port && !fromHost && !this.decapsulated && shouldRedirect(b, ip, ipLen, port, nh, fib, ports)) this.sendRedirect(ip, ipLen, port, nh);
    if (!fromHost) b[ip + IP6_OFF_HOP_LIMIT]!--;
    if (kind === NH_GATEWAY) this.output(ip, ipLen, port, egress, fib.bytes, fib.gatewayOffset(nh), true, NO_SA);
    else this.output(ip, ipLen, port, egress, b, dst, true, NO_SA);
  }

  /**
   * Writes the link header for `egress` and queues the frame, or punts it for resolution.
   * `sa` ≥ 0: an ESP packet of that SA that espOutbound() left for the batch's seal.
   */
  private output(ip: number, ipLen: number, ingress: number, egress: number, nhBytes: Uint8Array, nhOff: number, received: boolean, sa: number): void {
    const b = this.b;
    const ports = this.tables.ports;
    if (ports.kind(egress) !== PORT_KIND_TAP) return this.queueForward(ip, ipLen, ingress, egress, received, sa);
    const nbr = this.tables.neighbors;
    const e = nbr.lookup(egress, nhBytes, nhOff);
    if (e < 0 || nbr.state(e) === NBR_INCOMPLETE) {
      if (!this.resolveThrottle.admit(egress, nhBytes, nhOff, this.now)) {
        return received ? this.drop(ingress, C.neighbor_unresolved) : this.dropOriginated(ingress);
      }
      // The punt ring takes a copy, which the control plane sends once resolved: the
      // ciphertext, so this one is sealed now, alone.
      if (sa !== NO_SA && this.esp!.sealOut(b, sa) < 0) return received ? this.drop(ingress, C.esp_seal_failed) : this.dropOriginated(ingress);
      return this.punt(ip, ipLen, ingress, PUNT_RESOLVE, egress, received);
    }
    const eth = ip - ETH_HEADER_LEN;
    const macs = nbr.bytes;
    const m = nbr.macOffset(e);
    for (let k = 0; k < 6; k++) b[eth + k] = macs[m + k]!;
    const own = ports.macOffset(egress);
    for (let k = 0; k < 6; k++) b[eth + 6 + k] = ports.bytes[own + k]!;
    b[eth + 12] = 0x86;
    b[eth + 13] = 0xdd;
    this.queueForward(eth, ipLen + ETH_HEADER_LEN, ingress, egress, received, sa);
  }

  /**
   * Every received frame ends in exactly one of: forwarded, punted, or a drop reason, so
   * rx_packets = forwarded + punted + Σ drops per port (the malformed-storm test checks it).
   * Packets the router originates (errors, injections) pass `received = false` and leave
   * those counters alone. An ESP packet waiting for its seal (`sa` ≥ 0) gets its verdict
   * when the batch is sealed: forwarded, or dropped if the seal fails (sealDeferred).
   */
  private queueForward(off: number, len: number, ingress: number, egress: number, received: boolean, sa: number): void {
    if (sa !== NO_SA) {
      const esp = this.esp!;
      const k = this.sealCount++;
      this.sealSa[k] = sa;
      this.sealEsp[k] = esp.outEsp;
      this.sealPt[k] = esp.outPtLen;
      this.sealHi[k] = esp.outSeqHi;
      this.sealTx[k] = this.txCount;
      this.sealIngress[k] = ingress;
      this.sealReceived[k] = received ? 1 : 0;
    } else {
      if (received) this.counters[portCounter(ingress, C.forwarded)]!++;
      if (this.traceEntry >= 0 && received) this.traceEnd(VERDICT_FORWARDED, 0, egress);
    }
    this.queueTx(off, len, egress);
  }

  /**
   * Encrypts the batch's deferred ESP packets: each SA's packets gathered in queue order
   * (so in sequence-number order) and sealed in one call, one FFI crossing per SA per batch
   * instead of one per packet. A packet whose seal failed is counted as a drop and taken off
   * the transmit list: its slot holds plaintext under an ESP header.
   */
  private sealDeferred(esp: EspStage): void {
    const n = this.sealCount;
    const c = this.counters;
    let failed = 0;
    this.sealCount = 0;
    this.grouped.fill(0, 0, n);
    for (let k = 0; k < n; k++) {
      if (this.grouped[k] === 1) continue;
      const sa = this.sealSa[k]!;
      const g = this.gather(this.sealSa, k, n);
      for (let i = 0; i < g; i++) {
        const j = this.groupEntry[i]!;
        this.groupEsp[i] = this.sealEsp[j]!;
        this.groupLen[i] = this.sealPt[j]!;
        this.groupHi[i] = this.sealHi[j]!;
      }
      esp.sealBatch(sa, this.b, g, this.groupEsp, this.groupLen, this.groupHi, this.groupOut);
      for (let i = 0; i < g; i++) {
        const j = this.groupEntry[i]!;
        const ingress = this.sealIngress[j]!;
        const received = this.sealReceived[j] === 1;
        if (this.groupOut[i]! >= 0) {
          if (received) c[portCounter(ingress, C.forwarded)]!++;
          continue;
        }
        failed++;
        this.txLen[this.sealTx[j]!] = -1;
        if (received) c[portCounter(ingress, C.esp_seal_failed)]!++;
        else this.dropOriginated(ingress);
      }
    }
    if (failed > 0) this.unqueueFailed();
  }

  /**
   * Puts in groupEntry, in order, entry k and every later entry of `sas[0, n)` with its SA
   * that is not grouped yet, and marks them grouped; returns how many. A batch meets few
   * SAs, so a scan per SA is cheaper than an index.
   */
  private gather(sas: Int32Array, k: number, n: number): number {
    const sa = sas[k]!;
    let g = 0;
    for (let j = k; j < n; j++) {
      if (sas[j] !== sa || this.grouped[j] === 1) continue;
      this.grouped[j] = 1;
      this.groupEntry[g++] = j;
    }
    return g;
  }

  /** Closes the gaps sealDeferred() left (length −1) in the transmit list, keeping its order. */
  private unqueueFailed(): void {
    let w = 0;
    for (let i = 0; i < this.txCount; i++) {
      if (this.txLen[i]! < 0) continue;
      this.txOff[w] = this.txOff[i]!;
      this.txLen[w] = this.txLen[i]!;
      this.txPort[w] = this.txPort[i]!;
      w++;
    }
    this.txCount = w;
  }

  private queueTx(off: number, len: number, port: number): void {
    const i = this.txCount++;
    this.txOff[i] = off;
    this.txLen[i] = len;
    this.txPort[i] = port;
  }

  private transmit(): void {
    const sent = this.txSent;
    this.engine.transmit(this.txOff, this.txLen, this.txPort, this.txCount, sent);
    const c = this.counters;
    for (let i = 0; i < this.txCount; i++) {
      const port = this.txPort[i]!;
      if (sent[i] === 1) {
        c[portCounter(port, C.tx_packets)]!++;
        c[portCounter(port, C.tx_bytes)] = c[portCounter(port, C.tx_bytes)]! + this.txLen[i]!;
      } else {
        c[portCounter(port, C.tx_failed)]!++;
      }
    }
  }

  /**
   * Copies the IPv6 packet into the punt ring (control traffic is copied, see shm/punt.ts), within
   * the ingress port's budget for its class (punt-policer.ts). What the router originated is
   * not policed: it is the control plane's own traffic, and the ICMPv6 errors among it have
   * their own bucket.
   */
  private punt(ip: number, ipLen: number, port: number, flags: number, aux: number, received = true): void {
    const ring = this.puntRing;
    // An entry holds a slot's frame area, so this cannot fail; the bound is asserted anyway.
    if (ipLen > ring.dataBytes) return received ? this.drop(port, C.frame_too_long) : this.dropOriginated(port);
    if (received) {
      const cls = this.puntClass(ip, ipLen, flags);
      if (!this.policer.admit(port, cls, this.now)) return this.drop(port, policedReason(cls));
    }
    const e = ring.tryReserve();
    if (e < 0) return received ? this.drop(port, C.punt_ring_full) : this.dropOriginated(port);
    const d = ring.dataOffset(e);
    this.b.copyWithin(d, ip, ip + ipLen);
    ring.setMeta(e, aux, ipLen, port, flags);
    ring.publish();
    if (received) this.count(port, C.punted);
    if (this.traceEntry >= 0 && received) this.traceEnd(VERDICT_PUNTED, flags, aux);
  }

  /** The policing class of a punt (punt-policer.ts). */
  private puntClass(ip: number, ipLen: number, flags: number): number {
    if ((flags & PUNT_RESOLVE) !== 0) return CLASS_RESOLVE;
    const b = this.b;
    if (b[ip + IP6_OFF_NEXT_HEADER] === IPPROTO.ICMPV6 && ipLen > IPV6_HEADER_LEN) {
      const type = b[ip + IPV6_HEADER_LEN]!;
      // RFC 4861 §4: RS, RA, NS, NA, Redirect.
      if (type >= ICMP6.ROUTER_SOLICIT && type <= ICMP6.REDIRECT) return CLASS_ND;
    }
    return (flags & PUNT_MULTICAST) !== 0 ? CLASS_MULTICAST : CLASS_LOCAL;
  }

  /**
   * Tracing is armed: if this frame matches the filter and a record is still wanted, copy it
   * into the trace ring now (before any rewrite); its verdict completes the record.
   */
  private traceBegin(frame: number, frameLen: number, port: number): void {
    this.traceEntry = -1;
    // What the slot holds of the frame (a frame_too_long one was truncated by the kernel).
    const held = frameLen < this.pool.frameCapacity ? frameLen : this.pool.frameCapacity;
    const ctl = this.trace.control;
    if (ctl[TR_PORT]! >= 0 && ctl[TR_PORT] !== port) return;
    const b = this.b;
    let ip = frame;
    if (this.tables.ports.kind(port) === PORT_KIND_TAP) {
      if (held >= ETH_HEADER_LEN && b[frame + 12] === 0x86 && b[frame + 13] === 0xdd) ip += ETH_HEADER_LEN;
      else ip = -1;
    }
    const needsIp = ctl[TR_PROTO]! >= 0 || ctl[TR_SRC_LEN]! >= 0 || ctl[TR_DST_LEN]! >= 0;
    if (needsIp) {
      if (ip < 0 || frame + held < ip + IPV6_HEADER_LEN) return;
      if (ctl[TR_PROTO]! >= 0 && b[ip + IP6_OFF_NEXT_HEADER] !== ctl[TR_PROTO]) return;
      if (ctl[TR_SRC_LEN]! >= 0 && !prefixMatch(b, ip + IP6_OFF_SRC, this.traceBytes, TR_SRC_BYTES, ctl[TR_SRC_LEN]!)) return;
      if (ctl[TR_DST_LEN]! >= 0 && !prefixMatch(b, ip + IP6_OFF_DST, this.traceBytes, TR_DST_BYTES, ctl[TR_DST_LEN]!)) return;
    }
    const ring = this.trace.ring;
    const e = ring.tryReserve();
    if (e < 0) return;
    // Claim one of the records still wanted; lanes race for the last ones.
    if (Atomics.sub(ctl, TR_REMAINING, 1) <= 0) {
      Atomics.add(ctl, TR_REMAINING, 1);
      return;
    }
    const d = ring.dataOffset(e);
    this.traceStamp[(d + TH_STAMP) >> 3] = Date.now();
    this.traceWords[(d + TH_IN_SPI) >> 2] = 0;
    this.traceWords[(d + TH_OUT_SPI) >> 2] = 0;
    this.traceWords[(d + TH_FLAGS) >> 2] = 0;
    ring.bytes.copyWithin(d + TRACE_HEADER_BYTES, frame, frame + (held < TRACE_SNAP_BYTES ? held : TRACE_SNAP_BYTES));
    ring.setMeta(e, 0, frameLen, port, 0);
    this.traceEntry = e;
  }

  /** Records in the traced frame's entry the inbound ESP stage: SPI and sequence number, and the SA's mode. */
  private traceEspIn(b: Uint8Array, espOff: number, seq: number, tunnel: boolean): void {
    const d = this.trace.ring.dataOffset(this.traceEntry);
    this.traceWords[(d + TH_IN_SPI) >> 2] = readU32(b, espOff);
    this.traceStamp[(d + TH_IN_SEQ) >> 3] = seq;
    this.traceWords[(d + TH_FLAGS) >> 2] = tunnel ? TH_IN_TUNNEL : 0;
  }

  /** Records the outbound ESP stage: the SPI and the sequence number encapsulate() gave the packet. */
  private traceEspOut(b: Uint8Array, espOff: number, seqHi: number): void {
    const d = this.trace.ring.dataOffset(this.traceEntry);
    this.traceWords[(d + TH_OUT_SPI) >> 2] = readU32(b, espOff);
    this.traceStamp[(d + TH_OUT_SEQ) >> 3] = seqHi * 0x1_0000_0000 + readU32(b, espOff + 4);
  }

  /** Completes the frame's trace record with its verdict: the reason or punt flags, and the egress port. */
  private traceEnd(verdict: number, detail: number, egress: number): void {
    const ring = this.trace.ring;
    const e = this.traceEntry;
    this.traceEntry = -1;
    ring.setMeta(e, verdict, ring.len(e), ring.port(e), (detail & 0xffff) | ((egress & 0xffff) << 16));
    ring.publish();
  }

  /**
   * A received packet the SPD refused. A discard policy is a filter, so the sender learns it
   * with Destination Unreachable code 1, administratively prohibited (RFC 4443 §3.1); other
   * refusals (cleartext where protection is required, an opaque fragment) stay silent, as
   * RFC 4301 §5.2 makes them auditable events, not answers.
   */
  private policyDrop(ip: number, ipLen: number, port: number, reason: number): void {
    if (reason === C.esp_policy_discard) this.sendError(ICMP6.DST_UNREACH, DST_UNREACH_CODE.ADMIN_PROHIBITED, 0, ip, ipLen, port);
    return this.drop(port, reason);
  }

  private hopByHopError(ip: number, ipLen: number, port: number, verdict: number): void {
    // RFC 8200 §4.2: the option type's action bits say whether to answer with Parameter
    // Problem or discard silently; a truncated or overlong chain is simply dropped.
    if (verdict === WALK_PARAM_PROBLEM) {
      this.sendError(ICMP6.PARAM_PROBLEM, this.ext[WALK_PARAM_CODE]!, this.ext[WALK_PARAM_POINTER]!, ip, ipLen, port);
      return this.drop(port, C.parameter_problem);
    }
    if (verdict === WALK_DISCARD) return this.drop(port, C.parameter_problem);
    return this.drop(port, C.ext_header_chain);
  }

  /**
   * Builds an ICMPv6 error about the packet at `ip` in a fresh slot and routes it back to the
   * packet's source. RFC 4443 §2.4(e) decides whether an error may be sent at all;
   * §2.4(f) rate-limits the ones that may.
   */
  private sendError(type: number, code: number, param: number, ip: number, ipLen: number, port: number): void {
    const b = this.b;
    // A suppressed error is an event beside the packet's own fate, which the caller records:
    // counted, not a drop (the trace shows the caller's verdict, e.g. no_route).
    if (!mayGenerateErrorAbout(b, ip, ipLen, type, code)) return this.count(port, C.icmp_not_allowed);
    // §2.4(e.4, e.5): nor about a packet sent as a link-layer multicast or broadcast, with
    // e.3's exceptions: Packet Too Big, and Parameter Problem code 2 for an option of type 10xxxxxx.
    if (this.linkMulticast && type !== ICMP6.PACKET_TOO_BIG && !(type === ICMP6.PARAM_PROBLEM && code === PARAM_PROBLEM_CODE.UNRECOGNIZED_OPTION && b[ip + param]! >> 6 === 2)) {
      return this.count(port, C.icmp_not_allowed);
    }
    if (!this.icmpBucket.take(this.now)) return this.count(port, C.icmp_rate_limited);
    const slot = this.pool.alloc();
    if (slot < 0) return this.dropOriginated(port);
    this.extraSlots[this.extraCount++] = slot;
    const out = this.pool.offsetOf(slot) + HEADROOM + ETH_HEADER_LEN;
    const ports = this.tables.ports;
    const toLinkLocal = isLinkLocal(b, ip + IP6_OFF_SRC);
    const srcOff = toLinkLocal ? ports.linkLocalOffset(port) : ports.errorSourceOffset(port);
    const len = writeIcmpv6Error(b, out, type, code, param, ports.bytes, srcOff, b, ip + IP6_OFF_SRC, b, ip, ipLen, IPV6_MIN_MTU);
    this.count(port, C.icmp_errors_sent);
    this.route(out, len, port);
  }

  /**
   * Builds a Redirect about the packet at `ip` (redirect.ts) in a fresh slot and sends it to
   * the packet's source. It takes a token from the ICMPv6 error bucket: RFC 4861 §8.2 asks
   * for a limit and points at RFC 4443 §2.4(f), and one budget bounds what a lane sends unasked.
   */
  private sendRedirect(ip: number, ipLen: number, port: number, nh: number): void {
    if (!this.icmpBucket.take(this.now)) return this.count(port, C.redirects_rate_limited);
    const slot = this.pool.alloc();
    if (slot < 0) return this.dropOriginated(port);
    this.extraSlots[this.extraCount++] = slot;
    const out = this.pool.offsetOf(slot) + HEADROOM + ETH_HEADER_LEN;
    const len = writeRedirectAbout(this.b, out, ip, ipLen, port, nh, this.tables.fib, this.tables.ports, this.tables.neighbors);
    this.count(port, C.redirects_sent);
    this.route(out, len, port);
  }

  /** Routes a packet the router originated (an ICMPv6 error, or an injected packet). */
  private route(ip: number, ipLen: number, port: number): void {
    const b = this.b;
    const dst = ip + IP6_OFF_DST;
    if (isLinkLocal(b, dst)) return this.output(ip, ipLen, port, port, b, dst, false, NO_SA);
    // The router's own traffic that a policy protects (transport mode between routers).
    const esp = this.esp;
    if (esp !== null && esp.active) {
      const sa = esp.outbound(b, ip, ipLen);
      if (sa !== ESP_BYPASS) {
        if (sa < 0) return this.dropOriginated(port);
        const handover = this.handover;
        if (handover !== null && esp.homeLane(sa) !== handover.lane) return this.handOver(ip, ipLen, port, esp.homeLane(sa), HANDOVER_ORIGINATED);
        return this.espOutbound(esp, ip, ipLen, port, sa, false, false);
      }
    }
    const fib = this.tables.fib;
    const nh = fib.lookup(b, dst);
    if (nh < 0) return this.dropOriginated(port);
    const kind = fib.nexthopKind(nh);
    if (kind === NH_GATEWAY) return this.output(ip, ipLen, port, fib.nexthopPort(nh), fib.bytes, fib.gatewayOffset(nh), false, NO_SA);
    if (kind === NH_IPSEC) return this.intoTunnel(ip, ipLen, port, fib.nexthopPort(nh), false, false);
    // An error about a packet the appliance's kernel sent through the host port goes back
    // to it there: the kernel owns the router's addresses (Packet Too Big for its PMTUD).
    if (kind === NH_LOCAL && this.tables.ports.isHost(port)) return this.output(ip, ipLen, port, port, b, dst, false, NO_SA);
    if (kind === NH_LOCAL || kind === NH_REJECT || kind === NH_BLACKHOLE) return this.dropOriginated(port);
    return this.output(ip, ipLen, port, fib.nexthopPort(nh), b, dst, false, NO_SA);
  }

  /** Sends what the control plane queued: raw frames as they are, IPv6 packets through route(). */
  private drainInject(): void {
    const ring = this.injectRing;
    const limit = this.opts.batch;
    for (let k = 0; k < limit; k++) {
      const e = ring.peek();
      if (e < 0) return;
      const len = ring.len(e);
      const port = ring.port(e);
      const flags = ring.flags(e);
      // The main thread checks the length it writes (LaneSet.inject); the copy checks it again.
      const slot = len > 0 && len < this.pool.frameCapacity ? this.pool.alloc() : -1;
      if (slot < 0) {
        this.dropOriginated(port);
        ring.release();
        continue;
      }
      this.extraSlots[this.extraCount++] = slot;
      const d = ring.dataOffset(e);
      // Raw frames and IPv6 packets alike start at the headroom, which leaves room in front
      // for an Ethernet header and ESP encapsulation.
      const out = this.pool.offsetOf(slot) + HEADROOM;
      this.b.copyWithin(out, d, d + len);
      if ((flags & INJECT_RAW) !== 0) this.queueTx(out, len, port);
      else if ((flags & INJECT_ROUTE) !== 0) this.route(out, len, port);
      this.count(port, C.injected);
      ring.release();
    }
  }

  private handoverPending(): boolean {
    const handover = this.handover;
    if (handover === null) return false;
    for (let k = 0; k < handover.from.length; k++) if (handover.from[k]!.peek() >= 0) return true;
    return false;
  }

  /**
   * Copies the IPv6 packet at `ip` into the ring towards `home`. The rings live outside this
   * lane's buffer, so the copy is a byte loop (a subarray view would allocate). A received
   * packet's verdict is the home lane's: it counts the forward, punt or drop there, so the
   * books still balance summed over lanes.
   */
  private handOver(ip: number, ipLen: number, port: number, home: number, flags: number): void {
    const received = (flags & HANDOVER_ORIGINATED) === 0;
    const ring = this.handover!.to[home]!;
    // An entry holds a slot's frame area, so this cannot fail; the bound is asserted anyway.
    if (ipLen > ring.dataBytes) return received ? this.drop(port, C.frame_too_long) : this.dropOriginated(port);
    const e = ring.tryReserve();
    if (e < 0) return received ? this.drop(port, C.esp_wrong_lane) : this.dropOriginated(port);
    const d = ring.dataOffset(e);
    const rb = ring.bytes;
    const b = this.b;
    for (let k = 0; k < ipLen; k++) rb[d + k] = b[ip + k]!;
    ring.setMeta(e, 0, ipLen, port, flags);
    ring.publish();
    this.handedTo[home] = 1;
    if (received) this.count(port, C.esp_handed_over);
    if (this.traceEntry >= 0 && received) this.traceEnd(VERDICT_FORWARDED, 0, -1);
  }

  /**
   * Processes what other lanes handed over, up to one batch, each ring in its order. The rings
   * are visited from a start that moves on by one every batch (as the engines rotate the port
   * they receive from first), so a lane that fills its ring cannot take every batch's budget.
   */
  private drainHandover(handover: LaneHandover): void {
    let budget = this.opts.batch;
    const rings = handover.from.length;
    const start = this.handoverStart;
    this.handoverStart = start + 1 < rings ? start + 1 : 0;
    for (let k = 0; k < rings && budget > 0; k++) {
      const ring = handover.from[start + k < rings ? start + k : start + k - rings]!;
      for (let e = ring.peek(); e >= 0 && budget > 0; e = ring.peek(), budget--) {
        const len = ring.len(e);
        const port = ring.port(e);
        const flags = ring.flags(e);
        const slot = len > 0 && len < this.pool.frameCapacity ? this.pool.alloc() : -1;
        if (slot < 0) {
          if ((flags & HANDOVER_ORIGINATED) !== 0) this.dropOriginated(port);
          else this.drop(port, C.esp_wrong_lane);
          ring.release();
          continue;
        }
        this.extraSlots[this.extraCount++] = slot;
        const ip = this.pool.offsetOf(slot) + HEADROOM;
        const d = ring.dataOffset(e);
        const rb = ring.bytes;
        const b = this.b;
        for (let i = 0; i < len; i++) b[ip + i] = rb[d + i]!;
        ring.release();
        this.traceEntry = -1;
        this.linkMulticast = false;
        if ((flags & HANDOVER_ORIGINATED) !== 0) {
          this.route(ip, len, port);
        } else {
          this.decapsulated = (flags & HANDOVER_DECAPSULATED) !== 0;
          this.processIp(ip, len, port);
        }
      }
    }
  }

  private wakeHandedTo(handover: LaneHandover): void {
    for (let j = 0; j < this.handedTo.length; j++) {
      if (this.handedTo[j] === 0) continue;
      this.handedTo[j] = 0;
      handover.wake(j);
    }
  }

  /**
   * Inbound ESP (esp.ts), first half: the checks before the decryption, then the packet waits
   * for openDeferred() with the rest of its SA's batch. A traced packet is opened and taken
   * on at once: its trace record (one in flight per lane) takes its verdict now.
   */
  private espInbound(esp: EspStage, ip: number, ipLen: number, port: number): void {
    const b = this.b;
    // Where locateUpperLayer() found the ESP header, and the Next Header field naming it.
    const espOff = esp.upperOff;
    const espLen = ip + ipLen - espOff;
    const nhPointer = esp.upperNextHeaderPointer;
    const sa = esp.inboundCheck(b, espOff, espLen);
    if (sa === -C.esp_wrong_lane && this.handover !== null) return this.handOver(ip, ipLen, port, esp.homeLane(esp.outSa), HANDOVER_RECEIVED);
    if (this.traceEntry >= 0 && espLen >= 8) this.traceEspIn(b, espOff, sa < 0 ? readU32(b, espOff + 4) : esp.inSeq, sa >= 0 && esp.isTunnel(sa));
    if (sa < 0) return this.drop(port, -sa);
    if (this.traceEntry >= 0) return this.espInboundDone(esp, esp.inboundOpen(b, ip, espOff, espLen, nhPointer, sa), port);
    const k = this.openCount++;
    this.openSa[k] = sa;
    this.openIp[k] = ip;
    this.openEsp[k] = espOff;
    this.openLen[k] = espLen;
    this.openNhPointer[k] = nhPointer;
    this.openPort[k] = port;
    this.openSeq[k] = esp.inSeq;
    this.openHi[k] = esp.inSeqHi;
    this.openMulticast[k] = this.linkMulticast ? 1 : 0;
  }

  /**
   * Inbound ESP, second half: opens each SA's waiting packets in one call (one FFI crossing
   * per SA per batch), then finishes each packet in arrival order (ICV verdict, replay
   * window, decapsulation, policy) and takes it on through the lane.
   */
  private openDeferred(esp: EspStage): void {
    const n = this.openCount;
    const b = this.b;
    this.openCount = 0;
    this.grouped.fill(0, 0, n);
    for (let k = 0; k < n; k++) {
      if (this.grouped[k] === 1) continue;
      const g = this.gather(this.openSa, k, n);
      for (let i = 0; i < g; i++) {
        const j = this.groupEntry[i]!;
        this.groupEsp[i] = this.openEsp[j]!;
        this.groupLen[i] = this.openLen[j]!;
        this.groupHi[i] = this.openHi[j]!;
      }
      esp.openBatch(this.openSa[k]!, b, g, this.groupEsp, this.groupLen, this.groupHi, this.groupOut);
      for (let i = 0; i < g; i++) this.openPt[this.groupEntry[i]!] = this.groupOut[i]!;
    }
    // Taking a packet on never adds one here: what comes out of a tunnel is not decrypted
    // again (processIp), so entries [0, n) stay as they are.
    this.traceEntry = -1;
    for (let k = 0; k < n; k++) {
      this.linkMulticast = this.openMulticast[k] === 1;
      const r = esp.inboundFinish(b, this.openIp[k]!, this.openEsp[k]!, this.openNhPointer[k]!, this.openSa[k]!, this.openSeq[k]!, this.openPt[k]!);
      this.espInboundDone(esp, r, this.openPort[k]!);
    }
  }

  /** Where inbound ESP goes once decrypted: tunnel packets are processed again as received; transport ones are punted. */
  private espInboundDone(esp: EspStage, r: number, port: number): void {
    if (r < 0) return this.drop(port, -r);
    if (r === ESP_IN_TUNNEL) {
      const tunnel = esp.routedTunnelOf(esp.outSa);
      if (tunnel >= 0 && !this.routedInto(esp.outIp + IP6_OFF_SRC, tunnel)) {
        esp.countPolicyMismatch(esp.outSa);
        return this.drop(port, C.esp_policy_mismatch);
      }
      this.decapsulated = true;
      return this.processIp(esp.outIp, esp.outLen, port);
    }
    return this.punt(esp.outIp, esp.outLen, port, PUNT_LOCAL, NO_SLOT);
  }

  /**
   * The selector of a route-based tunnel (what IKEv2 would negotiate as its traffic selectors,
   * RFC 7296 §2.9): a packet that came out of tunnel `tunnel` must have a source the FIB
   * routes back into that same tunnel, or the peer could inject traffic from anywhere.
   */
  private routedInto(srcOff: number, tunnel: number): boolean {
    const fib = this.tables.fib;
    const nh = fib.lookup(this.b, srcOff);
    return nh >= 0 && fib.nexthopKind(nh) === NH_IPSEC && fib.nexthopPort(nh) === tunnel;
  }

  /**
   * A packet the FIB routes into route-based tunnel `tunnel`: its outbound SA protects it, with
   * no SPD lookup (the route chose the SA). With the SA gone (hard lifetime, flush) the
   * packet is discarded, never forwarded in the clear (RFC 4301 §4.4.1).
   */
  private intoTunnel(ip: number, ipLen: number, port: number, tunnel: number, received: boolean, decrement: boolean): void {
    const esp = this.esp;
    const sa = esp === null ? -1 : esp.tunnelOutSa(tunnel);
    if (sa < 0) return received ? this.drop(port, C.esp_policy_discard) : this.dropOriginated(port);
    const handover = this.handover;
    if (handover !== null && esp!.homeLane(sa) !== handover.lane) {
      // Unmodified so far: the home lane runs it from the start again.
      const flags = received ? HANDOVER_RECEIVED | (this.decapsulated ? HANDOVER_DECAPSULATED : 0) : HANDOVER_ORIGINATED;
      return this.handOver(ip, ipLen, port, esp!.homeLane(sa), flags);
    }
    return this.espOutbound(esp!, ip, ipLen, port, sa, received, decrement);
  }

  /**
   * Encapsulates under `sa` and routes the outer packet (towards the SA's tunnel endpoint,
   * or the packet's own destination in transport mode). The MTU check comes first, on the
   * size the packet will have: Packet Too Big reports the MTU less the ESP overhead, so the
   * sender's next packets fit once encrypted (RFC 4301 §8.2.1). The encryption itself waits
   * for the end of the batch (sealDeferred), except for a traced packet: its trace record
   * takes its verdict now, so it is sealed now, alone.
   */
  private espOutbound(esp: EspStage, ip: number, ipLen: number, port: number, sa: number, received: boolean, decrement: boolean): void {
    const b = this.b;
    const fib = this.tables.fib;
    const tunnel = esp.isTunnel(sa);
    const nh = tunnel ? fib.lookup(esp.tableBytes(), esp.tunnelDstOffset(sa)) : fib.lookup(b, ip + IP6_OFF_DST);
    const kind = nh < 0 ? NH_REJECT : fib.nexthopKind(nh);
    // A tunnel endpoint routed into a tunnel would recurse: no route for it.
    if (kind === NH_REJECT || kind === NH_BLACKHOLE || kind === NH_LOCAL || kind === NH_IPSEC) {
      return received ? this.drop(port, C.no_route) : this.dropOriginated(port);
    }
    const egress = fib.nexthopPort(nh);
    if (!this.tables.ports.isUp(egress)) return received ? this.drop(port, C.port_down) : this.dropOriginated(port);
    let mtu = fib.nexthopMtu(nh);
    const portMtu = this.tables.ports.mtu(egress);
    if (mtu === 0 || mtu > portMtu) mtu = portMtu;
    const overhead = esp.overhead(sa, ipLen);
    if (ipLen + overhead > mtu) {
      if (!received) return this.dropOriginated(port);
      this.sendError(ICMP6.PACKET_TOO_BIG, 0, mtu - overhead, ip, ipLen, port);
      return this.drop(port, C.too_big);
    }
    // Encapsulation grows the packet in place: the headers into the headroom, the trailer
    // towards the slot's end. The MTU check above keeps it inside the slot (slots hold the
    // largest MTU); this asserts it.
    const slotBytes = this.pool.slotBytes;
    if (ip + ipLen + overhead > (Math.floor(ip / slotBytes) + 1) * slotBytes) {
      return received ? this.drop(port, C.frame_too_long) : this.dropOriginated(port);
    }
    if (decrement) b[ip + IP6_OFF_HOP_LIMIT]!--;
    const defer = !received || this.traceEntry < 0;
    const out = esp.encapsulate(b, ip, ipLen, sa, defer);
    if (out < 0) return received ? this.drop(port, -out) : this.dropOriginated(port);
    if (this.traceEntry >= 0 && received) this.traceEspOut(b, esp.outEsp, esp.outSeqHi);
    const pending = defer ? sa : NO_SA;
    if (kind === NH_GATEWAY) this.output(out, esp.outLen, port, egress, fib.bytes, fib.gatewayOffset(nh), received, pending);
    else this.output(out, esp.outLen, port, egress, b, out + IP6_OFF_DST, received, pending);
  }

  private isPortMac(frame: number, port: number): boolean {
    const ports = this.tables.ports;
    const m = ports.macOffset(port);
    for (let k = 0; k < 6; k++) if (this.b[frame + k] !== ports.bytes[m + k]) return false;
    return true;
  }
}
