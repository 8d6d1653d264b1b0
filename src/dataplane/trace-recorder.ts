/**
 * The lane's side of the packet trace (trace.ts): armed once per batch, it copies a matching
 * frame into the trace ring before any stage rewrites it, the ESP stages add their SPI and
 * sequence numbers, and the frame's verdict completes the record. While tracing is off the
 * lane pays one branch per frame. One record is in flight per lane; the packet's
 * PacketContext.trace names it.
 */
import type { PacketPool } from '../shm/pool.js';
import { prefixMatch } from '../lib/addr.js';
import { ETH_HEADER_LEN } from '../wire/ethernet.js';
import { readU32 } from '../wire/bytes.js';
import { IPV6_HEADER_LEN, IP6_OFF_DST, IP6_OFF_NEXT_HEADER, IP6_OFF_SRC } from '../wire/ipv6.js';
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
} from './trace.js';
import type { SpscRing } from '../shm/ring.js';

/** The trace control block shared by all lanes and this lane's trace ring (trace.ts). */
export interface LaneTrace {
  readonly control: Int32Array;
  readonly ring: SpscRing;
}

export class TraceRecorder {
  /** Tracing is armed for this batch: some record is still wanted. */
  armed = false;
  private readonly bytes: Uint8Array;
  private readonly stamp: Float64Array;
  private readonly words: Uint32Array;

  constructor(
    private readonly b: Uint8Array,
    private readonly pool: PacketPool,
    private readonly trace: LaneTrace,
  ) {
    const ctl = trace.control;
    this.bytes = new Uint8Array(ctl.buffer, ctl.byteOffset, ctl.byteLength);
    this.stamp = new Float64Array(trace.ring.bytes.buffer);
    this.words = new Uint32Array(trace.ring.bytes.buffer);
  }

  /** At the start of a batch of `n` frames: one atomic load, and only when there are frames. */
  arm(n: number): void {
    this.armed = n > 0 && Atomics.load(this.trace.control, TR_REMAINING) > 0;
  }

  /**
   * Tracing is armed: if the frame at `frame` (received on `port`, Ethernet when `ethernet`)
   * matches the filter and a record is still wanted, copies it into the trace ring now, before
   * any rewrite. Returns the record's entry, for PacketContext.trace, or -1.
   */
  begin(frame: number, frameLen: number, port: number, ethernet: boolean): number {
    // What the slot holds of the frame (a frame_too_long one was truncated by the kernel).
    const held = frameLen < this.pool.frameCapacity ? frameLen : this.pool.frameCapacity;
    const ctl = this.trace.control;
    if (ctl[TR_PORT]! >= 0 && ctl[TR_PORT] !== port) return -1;
    const b = this.b;
    let ip = frame;
    if (ethernet) {
      if (held >= ETH_HEADER_LEN && b[frame + 12] === 0x86 && b[frame + 13] === 0xdd) ip += ETH_HEADER_LEN;
      else ip = -1;
    }
    const needsIp = ctl[TR_PROTO]! >= 0 || ctl[TR_SRC_LEN]! >= 0 || ctl[TR_DST_LEN]! >= 0;
    if (needsIp) {
      if (ip < 0 || frame + held < ip + IPV6_HEADER_LEN) return -1;
      if (ctl[TR_PROTO]! >= 0 && b[ip + IP6_OFF_NEXT_HEADER] !== ctl[TR_PROTO]) return -1;
      if (ctl[TR_SRC_LEN]! >= 0 && !prefixMatch(b, ip + IP6_OFF_SRC, this.bytes, TR_SRC_BYTES, ctl[TR_SRC_LEN]!)) return -1;
      if (ctl[TR_DST_LEN]! >= 0 && !prefixMatch(b, ip + IP6_OFF_DST, this.bytes, TR_DST_BYTES, ctl[TR_DST_LEN]!)) return -1;
    }
    const ring = this.trace.ring;
    const e = ring.tryReserve();
    if (e < 0) return -1;
    // Claim one of the records still wanted; lanes race for the last ones.
    if (Atomics.sub(ctl, TR_REMAINING, 1) <= 0) {
      Atomics.add(ctl, TR_REMAINING, 1);
      return -1;
    }
    const d = ring.dataOffset(e);
    this.stamp[(d + TH_STAMP) >> 3] = Date.now();
    this.words[(d + TH_IN_SPI) >> 2] = 0;
    this.words[(d + TH_OUT_SPI) >> 2] = 0;
    this.words[(d + TH_FLAGS) >> 2] = 0;
    ring.bytes.copyWithin(d + TRACE_HEADER_BYTES, frame, frame + (held < TRACE_SNAP_BYTES ? held : TRACE_SNAP_BYTES));
    ring.setMeta(e, 0, frameLen, port, 0);
    return e;
  }

  /** Records in entry `e` the inbound ESP stage: SPI and sequence number, and the SA's mode. */
  espIn(e: number, espOff: number, seq: number, tunnel: boolean): void {
    const d = this.trace.ring.dataOffset(e);
    this.words[(d + TH_IN_SPI) >> 2] = readU32(this.b, espOff);
    this.stamp[(d + TH_IN_SEQ) >> 3] = seq;
    this.words[(d + TH_FLAGS) >> 2] = tunnel ? TH_IN_TUNNEL : 0;
  }

  /** Records the outbound ESP stage: the SPI and the sequence number encapsulate() gave the packet. */
  espOut(e: number, espOff: number, seqHi: number): void {
    const d = this.trace.ring.dataOffset(e);
    this.words[(d + TH_OUT_SPI) >> 2] = readU32(this.b, espOff);
    this.stamp[(d + TH_OUT_SEQ) >> 3] = seqHi * 0x1_0000_0000 + readU32(this.b, espOff + 4);
  }

  /** Completes record `e` with its verdict: the reason or punt flags, and the egress port. */
  end(e: number, verdict: number, detail: number, egress: number): void {
    const ring = this.trace.ring;
    ring.setMeta(e, verdict, ring.len(e), ring.port(e), (detail & 0xffff) | ((egress & 0xffff) << 16));
    ring.publish();
  }
}
