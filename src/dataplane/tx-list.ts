/**
 * The batch's transmit list: every frame a lane sends in one batch (offset, length, egress
 * port), handed to the engine in one transmit call at the end, and the slots the batch took
 * from the pool besides the received ones (ICMPv6 errors, injections, hand-overs), freed
 * once it has been sent. tx counters come from what each write really did.
 */
import type { PacketPool } from '../shm/pool.js';
import type { IoEngine } from '../io/engine.js';
import { C, portCounter } from './counters.js';

export class TxList {
  readonly off: Int32Array;
  readonly len: Int32Array;
  readonly port: Int32Array;
  /** Frames queued so far in this batch. */
  count = 0;
  /** Per frame: 1 if the engine wrote it whole. */
  private readonly sent: Uint8Array;
  private readonly held: Int32Array;
  private heldCount = 0;

  /** `capacity`: the frames one batch can queue, and the extra slots it can hold. */
  constructor(
    capacity: number,
    private readonly engine: IoEngine,
    private readonly pool: PacketPool,
    private readonly counters: Float64Array,
  ) {
    this.off = new Int32Array(capacity);
    this.len = new Int32Array(capacity);
    this.port = new Int32Array(capacity);
    this.sent = new Uint8Array(capacity);
    this.held = new Int32Array(capacity);
  }

  /** Queues the frame at `off` for `port`; returns its index in the list. */
  queue(off: number, len: number, port: number): number {
    const i = this.count++;
    this.off[i] = off;
    this.len[i] = len;
    this.port[i] = port;
    return i;
  }

  /** Takes frame `i` off the list again (a seal that failed): unqueueFailed() closes the gap. */
  cancel(i: number): void {
    this.len[i] = -1;
  }

  /** Closes the gaps cancel() left, keeping the list's order. */
  unqueueFailed(): void {
    let w = 0;
    for (let i = 0; i < this.count; i++) {
      if (this.len[i]! < 0) continue;
      this.off[w] = this.off[i]!;
      this.len[w] = this.len[i]!;
      this.port[w] = this.port[i]!;
      w++;
    }
    this.count = w;
  }

  /** Keeps `slot`, taken from the pool during this batch, until the batch has been sent. */
  hold(slot: number): void {
    this.held[this.heldCount++] = slot;
  }

  /** Sends the list in one engine call and counts each frame as sent or failed on its egress port. */
  transmit(): void {
    const n = this.count;
    const sent = this.sent;
    this.count = 0;
    if (n === 0) return;
    this.engine.transmit(this.off, this.len, this.port, n, sent);
    const c = this.counters;
    for (let i = 0; i < n; i++) {
      const port = this.port[i]!;
      if (sent[i] === 1) {
        c[portCounter(port, C.tx_packets)]!++;
        c[portCounter(port, C.tx_bytes)] = c[portCounter(port, C.tx_bytes)]! + this.len[i]!;
      } else {
        c[portCounter(port, C.tx_failed)]!++;
      }
    }
  }

  /** Returns the held slots to the pool (after transmit). */
  releaseHeld(): void {
    for (let i = 0; i < this.heldCount; i++) this.pool.free(this.held[i]!);
    this.heldCount = 0;
  }
}
