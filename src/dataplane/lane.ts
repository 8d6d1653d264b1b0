/**
 * One lane: the forwarding pipeline that a worker thread runs over batches of frames.
 *
 * Pipeline (per batch, VPP style: validate once at input, later stages trust the header):
 *   receive → link (Ethernet check, TAP only) → validate (version, length, addresses)
 *   → classify (multicast: multicast.ts, the group filter and the MFC / link-local /
 *   hop-by-hop) → forward (forward.ts: FIB → local:
 *   punt to the control plane, or ESP for the router → inbound ESP; else hop limit, scope,
 *   outbound SPD, MTU, decrement → output: neighbour lookup + Ethernet rewrite on TAP)
 *   → drain the hand-over rings (handover.ts) → open the batch's inbound ESP, one call per SA,
 *   and take each decrypted packet on from where it stopped (esp-batch.ts) → drain the inject
 *   ring → seal the batch's outbound ESP, one call per SA → transmit the batch (tx-list.ts).
 *
 * This file keeps the order of the pipeline and the stages up to classify; each later stage
 * is a module of its own, wired together once in the constructor. What a stage knows about
 * the packet besides its bytes travels in a PacketContext (packet-context.ts): the lane owns
 * two, one for the packet it received and one for a packet the router originates meanwhile
 * (an ICMPv6 error), and reuses them for every packet. Every verdict goes through Verdicts
 * (verdict.ts), so each received frame ends forwarded, punted or under one drop reason.
 *
 * Rules of these files: nothing allocates, creates closures or promises, or logs per packet.
 * Every discard is a counter (counters.ts). ICMPv6 errors are built in a slot of the lane's
 * own pool, and rate-limited by a token bucket (RFC 4443 §2.4(f)).
 *
 * Tables (FIB, neighbours, ports, the group filter, the MFC) are snapshot views bound once per batch by the caller.
 */
import { HEADROOM, type PacketPool } from '../shm/pool.js';
import type { SpscRing } from '../shm/ring.js';
import { NH_IPSEC } from '../shm/fib.js';
import type { FibView } from '../shm/fib.js';
import type { NeighborView } from '../shm/neighbors.js';
import type { GroupView } from '../shm/groups.js';
import type { MfcView } from '../shm/mfc.js';
import type { IoEngine, RxBatch } from '../io/engine.js';
import { equalAddress, isLinkLocal, isLoopback, isUnspecified } from '../lib/addr.js';
import { ETH_HEADER_LEN } from '../wire/ethernet.js';
import { readU32 } from '../wire/bytes.js';
import { IPV6_HEADER_LEN, IP6_OFF_DST, IP6_OFF_NEXT_HEADER, IP6_OFF_PAYLOAD_LEN, IP6_OFF_SRC } from '../wire/ipv6.js';
import {
  WALK_DISCARD,
  WALK_OK,
  WALK_OUT_SIZE,
  WALK_PARAM_CODE,
  WALK_PARAM_POINTER,
  WALK_PARAM_PROBLEM,
  WALK_ROUTER_ALERT,
  WALK_UPPER_OFFSET,
  WALK_UPPER_PROTOCOL,
  walkExtensionHeaders,
} from '../wire/ext-headers.js';
import { ICMP6 } from '../wire/icmpv6.js';
import { C, LANE, BATCH_BUCKETS, BATCH_HIST_BASE, BATCH_SUM, portCounter } from './counters.js';
import { PORT_KIND_TAP, type PortTableView } from '../shm/port-table.js';
import { INJECT_RAW, INJECT_ROUTE, PUNT_LOCAL } from '../shm/punt.js';
import { PuntPolicer } from './punt-policer.js';
import { ESP_IN_TUNNEL, type EspStage } from './esp.js';
import { EspBatch } from './esp-batch.js';
import { ForwardStage, NO_PORT, type EspInbound } from './forward.js';
import { HandoverStage, type LaneHandover } from './handover.js';
import { IcmpErrors } from './icmp-errors.js';
import { MulticastStage } from './multicast.js';
import { PacketContext } from './packet-context.js';
import { PuntStage } from './punt-stage.js';
import { TraceRecorder, type LaneTrace } from './trace-recorder.js';
import { TxList } from './tx-list.js';
import { Verdicts } from './verdict.js';

export type { LaneHandover } from './handover.js';
export type { LaneTrace } from './trace-recorder.js';

export interface LaneTables {
  readonly fib: FibView;
  readonly neighbors: NeighborView;
  readonly ports: PortTableView;
  /** The groups the router listens to, per port (shm/groups.ts). */
  readonly groups: GroupView;
  /** The multicast forwarding cache (shm/mfc.ts). */
  readonly mfc: MfcView;
  /** The lane is about to block: release the snapshots so the control plane can publish. */
  beforeWait(): void;
  /** Rebinds the views when the control plane has published a new generation. */
  refresh(): void;
}

export interface LaneOptions {
  readonly batch: number;
  readonly icmpRate: number;
  readonly icmpBurst: number;
  /** The punt policing block (punt-policer.ts) the main thread writes. */
  readonly policing: Int32Array;
  readonly now: () => number;
}

/**
 * Extra multicast copies the lane makes per received frame, on average over a batch: a batch
 * of n frames replicates into at most this times n fresh slots (multicast.ts), so that one
 * (S,G) to 4 ports at full batches needs no more than its transmit list keeps for it.
 */
const MULTICAST_COPIES_PER_FRAME = 4;

export class Lane implements EspInbound {
  private readonly b: Uint8Array;
  private readonly rx: RxBatch;
  /** The packet being processed, received or taken over from another lane's ring. */
  private readonly ctx = new PacketContext();
  /** A packet the router originates meanwhile: an ICMPv6 error about it, or an injection. */
  private readonly origin = new PacketContext();
  private readonly ext = new Int32Array(WALK_OUT_SIZE);
  private readonly tx: TxList;
  private readonly trace: TraceRecorder;
  private readonly verdicts: Verdicts;
  private readonly policer: PuntPolicer;
  private readonly punts: PuntStage;
  private readonly icmp: IcmpErrors;
  private readonly espBatch: EspBatch;
  private readonly fwd: ForwardStage;
  private readonly multicast: MulticastStage;
  private now = 0;
  /** The ESP stage (esp.ts), when IPsec is configured; null keeps the lane free of it. */
  private esp: EspStage | null = null;
  private handover: HandoverStage | null = null;

  constructor(
    private readonly pool: PacketPool,
    private readonly engine: IoEngine,
    puntRing: SpscRing,
    private readonly injectRing: SpscRing,
    private readonly counters: Float64Array,
    private readonly tables: LaneTables,
    private readonly opts: LaneOptions,
    trace: LaneTrace,
  ) {
    // The whole lane buffer (pool, then the punt and inject rings), so that copies between a
    // slot and a ring entry are one copyWithin. Slot offsets are the same in either view.
    const b = new Uint8Array(pool.sab);
    this.b = b;
    const n = opts.batch;
    this.rx = { slot: new Int32Array(n), len: new Int32Array(n), port: new Int32Array(n) };
    // Each received frame yields at most one frame out (forward or error); inject and the
    // hand-over rings add up to n more each. Received frames and the hand-over rings' batch
    // bound the inbound ESP packets. Multicast replication adds at most MULTICAST_COPIES_PER_FRAME
    // copies per received frame, on average over the batch (multicast.ts's budget).
    this.tx = new TxList((4 + MULTICAST_COPIES_PER_FRAME) * n, engine, pool, counters);
    this.trace = new TraceRecorder(b, pool, trace);
    this.verdicts = new Verdicts(counters, this.trace);
    this.policer = new PuntPolicer(opts.policing, opts.now());
    this.punts = new PuntStage(b, puntRing, this.policer, this.verdicts);
    this.icmp = new IcmpErrors(b, pool, this.tx, this.verdicts, opts.icmpRate, opts.icmpBurst, opts.now());
    this.espBatch = new EspBatch(4 * n, 2 * n, b, this.tx, this.verdicts);
    this.fwd = new ForwardStage(b, pool, tables, this.tx, this.verdicts, this.punts, this.icmp, this.espBatch, this.trace, this.origin, this);
    this.multicast = new MulticastStage(b, pool, tables, this.tx, this.verdicts, this.punts, this.fwd, MULTICAST_COPIES_PER_FRAME * n);
  }

  /** Attaches the ESP stage; the caller binds its tables in refresh(). */
  setEsp(stage: EspStage | null): void {
    this.esp = stage;
    this.fwd.esp = stage;
  }

  /** Attaches the hand-over rings (more than one lane). */
  setHandover(handover: LaneHandover): void {
    this.handover = new HandoverStage(handover, this.b, this.pool, this.tx, this.verdicts, this.opts.batch);
    this.fwd.handover = this.handover;
  }

  reconfigureIcmp(rate: number, burst: number): void {
    this.icmp.reconfigure(rate, burst);
  }

  /** Receives one batch (waiting up to timeoutMs), processes it, drains injections, transmits. */
  runOnce(timeoutMs: number): number {
    const handover = this.handover;
    const wait = this.injectRing.peek() >= 0 || (handover !== null && handover.pending()) ? 0 : timeoutMs;
    if (wait > 0) this.tables.beforeWait();
    const rx = this.rx;
    const n = this.engine.receive(rx, this.opts.batch, wait);
    this.tables.refresh();
    this.now = this.opts.now();
    this.fwd.now = this.now;
    this.multicast.now = this.now;
    this.multicast.arm();
    this.policer.refresh();
    this.trace.arm(n);
    for (let i = 0; i < n; i++) this.processFrame(rx.slot[i]!, rx.len[i]!, rx.port[i]!);
    if (handover !== null) this.drainHandover(handover);
    // Only an attached ESP stage queues opens and seals (setEsp happens in refresh()).
    if (this.espBatch.opening) this.openDeferred(this.esp!);
    this.drainInject();
    if (handover !== null) handover.wake();
    if (this.espBatch.sealing) this.espBatch.sealAll(this.esp!);
    this.tx.transmit();
    for (let i = 0; i < n; i++) this.pool.free(rx.slot[i]!);
    this.tx.releaseHeld();
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

  /** Receive and link: one frame from `port`. */
  private processFrame(slot: number, frameLen: number, port: number): void {
    const b = this.b;
    const ports = this.tables.ports;
    const frame = this.pool.offsetOf(slot) + HEADROOM;
    const c = this.counters;
    const ctx = this.ctx;
    const tap = ports.kind(port) === PORT_KIND_TAP;
    ctx.receivedOn(port, false, this.trace.armed ? this.trace.begin(frame, frameLen, port, tap) : -1);
    c[portCounter(port, C.rx_packets)]!++;
    c[portCounter(port, C.rx_bytes)] = c[portCounter(port, C.rx_bytes)]! + frameLen;
    const v = this.verdicts;
    // The kernel truncates a frame longer than the slot's frame area, which is always longer
    // than any configured MTU allows (shm/pool.ts): a frame that fills it was cut short.
    // Nothing past the frame area is ever read.
    if (frameLen >= this.pool.frameCapacity) return v.drop(ctx, C.frame_too_long);
    if (!ports.isUp(port)) return v.drop(ctx, C.port_down);

    // Link layer: a TAP port delivers Ethernet (RFC 2464). Accept IPv6 addressed to this
    // port's MAC or to a multicast MAC (I/G bit set); a port glued to a shared segment
    // also sees other stations' unicast frames.
    let ip = frame;
    let ipLen = frameLen;
    if (tap) {
      if (frameLen < ETH_HEADER_LEN) return v.drop(ctx, C.runt);
      if (b[frame + 12] !== 0x86 || b[frame + 13] !== 0xdd) return v.drop(ctx, C.not_ipv6);
      if ((b[frame]! & 1) === 0 && !this.isPortMac(frame, port)) return v.drop(ctx, C.other_host);
      ctx.linkMulticast = (b[frame]! & 1) === 1;
      ip += ETH_HEADER_LEN;
      ipLen -= ETH_HEADER_LEN;
    }
    this.processIp(ip, ipLen, ctx);
  }

  /** Validate and classify an IPv6 packet: a received one, or the inner packet of an ESP tunnel. */
  private processIp(ip: number, ipLen: number, ctx: PacketContext): void {
    const b = this.b;
    const v = this.verdicts;

    // Validate (RFC 8200 §3). Trailing bytes beyond Payload Length (Ethernet padding) are trimmed.
    if (ipLen < IPV6_HEADER_LEN) return v.drop(ctx, C.truncated);
    if (b[ip]! >> 4 !== 6) return v.drop(ctx, C.not_ipv6);
    const payloadLen = (b[ip + IP6_OFF_PAYLOAD_LEN]! << 8) | b[ip + IP6_OFF_PAYLOAD_LEN + 1]!;
    if (IPV6_HEADER_LEN + payloadLen > ipLen) return v.drop(ctx, C.bad_length);
    ipLen = IPV6_HEADER_LEN + payloadLen;
    const src = ip + IP6_OFF_SRC;
    const dst = ip + IP6_OFF_DST;
    // A multicast source is never valid (RFC 4291 §2.7); loopback never appears on a link (§2.5.3).
    if (b[src] === 0xff || isLoopback(b, src)) return v.drop(ctx, C.bad_source);

    // Classify.
    if (b[dst] === 0xff) return this.receiveMulticast(ip, ipLen, ctx);
    if (isLoopback(b, dst) || isUnspecified(b, dst)) return v.drop(ctx, C.bad_destination);
    if (isLinkLocal(b, dst)) {
      // Link-local destinations are never forwarded (RFC 4007 §9); ours is a zone-scoped match.
      const ports = this.tables.ports;
      if (equalAddress(b, ports.bytes, dst, ports.linkLocalOffset(ctx.port))) return this.punts.punt(ip, ipLen, ctx, PUNT_LOCAL, NO_PORT, this.now);
      return v.drop(ctx, C.scope);
    }

    // Only the Hop-by-Hop Options header is examined on the way through (RFC 8200 §4).
    let routerAlert = false;
    if (b[ip + IP6_OFF_NEXT_HEADER] === 0) {
      const verdict = walkExtensionHeaders(b, ip, ipLen, this.ext);
      if (verdict !== WALK_OK) return this.hopByHopError(ip, ipLen, ctx, verdict);
      routerAlert = this.ext[WALK_ROUTER_ALERT]! >= 0;
    }
    this.fwd.forward(ip, ipLen, ctx, routerAlert);
  }

  /** Multicast (multicast.ts), once its Hop-by-Hop header is processed: RFC 8200 §4.3 on every node it reaches. */
  private receiveMulticast(ip: number, ipLen: number, ctx: PacketContext): void {
    const b = this.b;
    const next = b[ip + IP6_OFF_NEXT_HEADER]!;
    if (next !== 0) return this.multicast.receive(ip, ipLen, ctx, next, ip + IPV6_HEADER_LEN);
    const verdict = walkExtensionHeaders(b, ip, ipLen, this.ext);
    if (verdict !== WALK_OK) return this.hopByHopError(ip, ipLen, ctx, verdict);
    this.multicast.receive(ip, ipLen, ctx, this.ext[WALK_UPPER_PROTOCOL]!, this.ext[WALK_UPPER_OFFSET]!);
  }

  private hopByHopError(ip: number, ipLen: number, ctx: PacketContext, verdict: number): void {
    // RFC 8200 §4.2: the option type's action bits say whether to answer with Parameter
    // Problem or discard silently; a truncated or overlong chain is simply dropped.
    if (verdict === WALK_PARAM_PROBLEM) {
      this.fwd.sendError(ICMP6.PARAM_PROBLEM, this.ext[WALK_PARAM_CODE]!, this.ext[WALK_PARAM_POINTER]!, ip, ipLen, ctx);
      return this.verdicts.drop(ctx, C.parameter_problem);
    }
    if (verdict === WALK_DISCARD) return this.verdicts.drop(ctx, C.parameter_problem);
    return this.verdicts.drop(ctx, C.ext_header_chain);
  }

  /**
   * Inbound ESP (esp.ts), first half, for the ESP header forward() located (ctx.upperOff,
   * named by ctx.upperNextHeaderPointer): the checks before the decryption, then the packet
   * waits for openDeferred() with the rest of its SA's batch. A traced packet is opened and
   * taken on at once: its trace record (one in flight per lane) takes its verdict now.
   */
  espInbound(esp: EspStage, ip: number, ipLen: number, ctx: PacketContext): void {
    const b = this.b;
    const espOff = ctx.upperOff;
    const espLen = ip + ipLen - espOff;
    const sa = esp.inboundCheck(b, espOff, espLen, ctx);
    const handover = this.handover;
    if (sa === -C.esp_wrong_lane && handover !== null) return handover.send(ip, ipLen, ctx, esp.homeLane(ctx.sa));
    if (ctx.trace >= 0 && espLen >= 8) this.trace.espIn(ctx.trace, espOff, sa < 0 ? readU32(b, espOff + 4) : ctx.seq, sa >= 0 && esp.isTunnel(sa));
    if (sa < 0) return this.verdicts.drop(ctx, -sa);
    if (ctx.trace >= 0) return this.espInboundDone(esp, esp.inboundOpen(b, ip, espOff, espLen, ctx.upperNextHeaderPointer, sa, ctx), sa, ctx);
    this.espBatch.queueOpen(sa, ip, espLen, ctx);
  }

  /**
   * Inbound ESP, second half: opens each SA's waiting packets in one call (one FFI crossing
   * per SA per batch), then finishes each packet in arrival order (ICV verdict, replay
   * window, decapsulation, policy) and takes it on through the lane.
   */
  private openDeferred(esp: EspStage): void {
    const ctx = this.ctx;
    const n = this.espBatch.openAll(esp);
    for (let k = 0; k < n; k++) {
      const r = this.espBatch.finishOpen(esp, k, ctx);
      this.espInboundDone(esp, r, ctx.sa, ctx);
    }
  }

  /**
   * Where inbound ESP of `sa` goes once decrypted (`r`: EspStage.inboundFinish's result, the
   * packet at ctx.ip): tunnel packets are processed again as received; transport ones are
   * punted.
   */
  private espInboundDone(esp: EspStage, r: number, sa: number, ctx: PacketContext): void {
    if (r < 0) return this.verdicts.drop(ctx, -r);
    if (r === ESP_IN_TUNNEL) {
      const tunnel = esp.routedTunnelOf(sa);
      if (tunnel >= 0 && !this.routedInto(ctx.ip + IP6_OFF_SRC, tunnel)) {
        esp.countPolicyMismatch(sa);
        return this.verdicts.drop(ctx, C.esp_policy_mismatch);
      }
      ctx.decapsulated = true;
      return this.processIp(ctx.ip, ctx.len, ctx);
    }
    return this.punts.punt(ctx.ip, ctx.len, ctx, PUNT_LOCAL, NO_PORT, this.now);
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

  /** Takes on what other lanes handed over: received packets from the start of the lane, originated ones through route(). */
  private drainHandover(handover: HandoverStage): void {
    const ctx = this.ctx;
    handover.beginDrain();
    for (let ip = handover.take(ctx); ip >= 0; ip = handover.take(ctx)) {
      if (ctx.received) this.processIp(ip, ctx.len, ctx);
      else this.fwd.route(ip, ctx.len, ctx);
    }
  }

  /** Sends what the control plane queued: raw frames as they are, IPv6 packets through route(). */
  private drainInject(): void {
    const ring = this.injectRing;
    const limit = this.opts.batch;
    const ctx = this.origin;
    for (let k = 0; k < limit; k++) {
      const e = ring.peek();
      if (e < 0) return;
      const len = ring.len(e);
      const port = ring.port(e);
      const flags = ring.flags(e);
      // The main thread checks the length it writes (LaneSet.inject); the copy checks it again.
      const slot = len > 0 && len < this.pool.frameCapacity ? this.pool.alloc() : -1;
      if (slot < 0) {
        this.verdicts.dropOriginated(port);
        ring.release();
        continue;
      }
      this.tx.hold(slot);
      const d = ring.dataOffset(e);
      // Raw frames and IPv6 packets alike start at the headroom, which leaves room in front
      // for an Ethernet header and ESP encapsulation.
      const out = this.pool.offsetOf(slot) + HEADROOM;
      this.b.copyWithin(out, d, d + len);
      ctx.originatedOn(port);
      if ((flags & INJECT_RAW) !== 0) this.tx.queue(out, len, port);
      else if ((flags & INJECT_ROUTE) !== 0) this.fwd.route(out, len, ctx);
      this.verdicts.count(port, C.injected);
      ring.release();
    }
  }

  private isPortMac(frame: number, port: number): boolean {
    const ports = this.tables.ports;
    const m = ports.macOffset(port);
    for (let k = 0; k < 6; k++) if (this.b[frame + k] !== ports.bytes[m + k]) return false;
    return true;
  }
}
