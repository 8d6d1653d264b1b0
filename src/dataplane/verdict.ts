/**
 * Where a packet's fate is written down. Every received frame ends in exactly one of
 * forwarded, punted or one drop reason, so per port rx_packets = forwarded + punted + Σ drops
 * (the malformed-storm test checks it); a traced frame's record takes the same verdict. A
 * packet the router originated (an ICMPv6 error, an injection) moves none of those: when it
 * cannot be sent it counts as originated_dropped. The stages call these instead of touching
 * the counters, so the identity holds by construction.
 */
import { C, portCounter } from './counters.js';
import type { PacketContext } from './packet-context.js';
import type { TraceRecorder } from './trace-recorder.js';
import { VERDICT_DROPPED, VERDICT_FORWARDED, VERDICT_PUNTED } from './trace.js';

export class Verdicts {
  constructor(
    /** The lane's counter block (counters.ts); the ECMP member counters live in it too. */
    readonly counters: Float64Array,
    private readonly trace: TraceRecorder,
  ) {}

  /** Counts an event on `port` that is not a verdict (an error sent or suppressed, a hand-over). */
  count(port: number, index: number): void {
    this.counters[portCounter(port, index)]!++;
  }

  /** A received packet is discarded for `reason` (a drop counter of counters.ts). */
  drop(ctx: PacketContext, reason: number): void {
    this.counters[portCounter(ctx.port, reason)]!++;
    if (ctx.trace >= 0) this.endTrace(ctx, VERDICT_DROPPED, reason, -1);
  }

  /** A packet the router originated on behalf of `port` could not be sent. */
  dropOriginated(port: number): void {
    this.counters[portCounter(port, C.originated_dropped)]!++;
  }

  /** The packet cannot go on: a drop for `reason` if it was received, originated_dropped otherwise. */
  refuse(ctx: PacketContext, reason: number): void {
    if (ctx.received) this.drop(ctx, reason);
    else this.dropOriginated(ctx.port);
  }

  /** The packet leaves towards `egress` (-1: another lane's ring, which gives it its verdict). */
  forwarded(ctx: PacketContext, egress: number): void {
    if (!ctx.received) return;
    this.counters[portCounter(ctx.port, C.forwarded)]!++;
    if (ctx.trace >= 0) this.endTrace(ctx, VERDICT_FORWARDED, 0, egress);
  }

  /**
   * The packet went into another lane's ring (handover.ts): that lane counts its forward,
   * punt or drop, so the books still balance summed over lanes; here it is esp_handed_over.
   */
  handedOver(ctx: PacketContext): void {
    if (!ctx.received) return;
    this.counters[portCounter(ctx.port, C.esp_handed_over)]!++;
    if (ctx.trace >= 0) this.endTrace(ctx, VERDICT_FORWARDED, 0, -1);
  }

  /** The packet went to the control plane with punt `flags` (and the punt's `aux`, the egress of a resolve). */
  punted(ctx: PacketContext, flags: number, aux: number): void {
    if (!ctx.received) return;
    this.counters[portCounter(ctx.port, C.punted)]!++;
    if (ctx.trace >= 0) this.endTrace(ctx, VERDICT_PUNTED, flags, aux);
  }

  private endTrace(ctx: PacketContext, verdict: number, detail: number, egress: number): void {
    this.trace.end(ctx.trace, verdict, detail, egress);
    ctx.trace = -1;
  }
}
