/**
 * The rings between this lane and the others (lane-task.ts): an ESP SA has one home lane, the
 * only writer of its sequence number and replay window, so a packet of an SA met on another
 * lane is copied into that lane's ring and processed there. The rings live outside the lane's
 * buffer, so the copies are byte loops (a subarray view would allocate).
 */
import { HEADROOM, type PacketPool } from '../shm/pool.js';
import type { SpscRing } from '../shm/ring.js';
import { C } from './counters.js';
import type { PacketContext } from './packet-context.js';
import type { TxList } from './tx-list.js';
import type { Verdicts } from './verdict.js';

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

export class HandoverStage {
  /** This lane's index: packets of SAs whose home lane it is stay here. */
  readonly lane: number;
  /** Per lane: whether this batch handed it packets (it is woken once at the end). */
  private readonly handedTo: Uint8Array;
  /** The ring the next drain starts at: it rotates, so one busy lane cannot starve the others. */
  private nextStart = 0;
  // The drain in progress (beginDrain, take): its first ring, the rings done, the budget left.
  private first = 0;
  private visited = 0;
  private budget = 0;

  constructor(
    private readonly rings: LaneHandover,
    private readonly b: Uint8Array,
    private readonly pool: PacketPool,
    private readonly tx: TxList,
    private readonly verdicts: Verdicts,
    private readonly batch: number,
  ) {
    this.lane = rings.lane;
    this.handedTo = new Uint8Array(rings.to.length);
  }

  /** Whether another lane has handed this one packets (the lane must not sleep). */
  pending(): boolean {
    const from = this.rings.from;
    for (let k = 0; k < from.length; k++) if (from[k]!.peek() >= 0) return true;
    return false;
  }

  /**
   * Copies the IPv6 packet at `ip` into the ring towards `home`, with how to resume it there
   * from `ctx`, and gives it its verdict here: handed over (the home lane counts the forward,
   * punt or drop), or a drop when the ring is full.
   */
  send(ip: number, ipLen: number, ctx: PacketContext, home: number): void {
    const ring = this.rings.to[home]!;
    const v = this.verdicts;
    // An entry holds a slot's frame area, so this cannot fail; the bound is asserted anyway.
    if (ipLen > ring.dataBytes) return v.refuse(ctx, C.frame_too_long);
    const e = ring.tryReserve();
    if (e < 0) return v.refuse(ctx, C.esp_wrong_lane);
    const d = ring.dataOffset(e);
    const rb = ring.bytes;
    const b = this.b;
    for (let k = 0; k < ipLen; k++) rb[d + k] = b[ip + k]!;
    const flags = ctx.received ? HANDOVER_RECEIVED | (ctx.decapsulated ? HANDOVER_DECAPSULATED : 0) : HANDOVER_ORIGINATED;
    ring.setMeta(e, 0, ipLen, ctx.port, flags);
    ring.publish();
    this.handedTo[home] = 1;
    v.handedOver(ctx);
  }

  /**
   * Starts draining what other lanes handed over, up to one batch, each ring in its order.
   * The rings are visited from a start that moves on by one every batch (as the engines
   * rotate the port they receive from first), so a lane that fills its ring cannot take every
   * batch's budget.
   */
  beginDrain(): void {
    const rings = this.rings.from.length;
    this.budget = this.batch;
    this.visited = 0;
    this.first = this.nextStart;
    this.nextStart = this.first + 1 < rings ? this.first + 1 : 0;
  }

  /**
   * The next handed-over packet, copied into a fresh slot: returns its IPv6 offset with `ctx`
   * set up as the lane that handed it over left it (ingress port, received or originated,
   * decapsulated; its length in ctx.len), or -1 when the drain is done. A packet that finds no
   * slot is counted and skipped.
   */
  take(ctx: PacketContext): number {
    const from = this.rings.from;
    const rings = from.length;
    while (this.budget > 0 && this.visited < rings) {
      const at = this.first + this.visited;
      const ring = from[at < rings ? at : at - rings]!;
      const e = ring.peek();
      if (e < 0) {
        this.visited++;
        continue;
      }
      this.budget--;
      const len = ring.len(e);
      const port = ring.port(e);
      const flags = ring.flags(e);
      if ((flags & HANDOVER_ORIGINATED) !== 0) ctx.originatedOn(port);
      else ctx.receivedOn(port, false, -1);
      ctx.decapsulated = (flags & HANDOVER_DECAPSULATED) !== 0;
      const slot = len > 0 && len < this.pool.frameCapacity ? this.pool.alloc() : -1;
      if (slot < 0) {
        this.verdicts.refuse(ctx, C.esp_wrong_lane);
        ring.release();
        continue;
      }
      this.tx.hold(slot);
      const ip = this.pool.offsetOf(slot) + HEADROOM;
      const d = ring.dataOffset(e);
      const rb = ring.bytes;
      const b = this.b;
      for (let i = 0; i < len; i++) b[ip + i] = rb[d + i]!;
      ring.release();
      ctx.ip = ip;
      ctx.len = len;
      return ip;
    }
    return -1;
  }

  /** Wakes each lane this batch handed packets to, once. */
  wake(): void {
    const handedTo = this.handedTo;
    for (let j = 0; j < handedTo.length; j++) {
      if (handedTo[j] === 0) continue;
      handedTo[j] = 0;
      this.rings.wake(j);
    }
  }
}
