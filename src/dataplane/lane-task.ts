/**
 * What the main thread hands a lane when it starts (structured-clonable: SharedArrayBuffers
 * are shared, not copied). Everything a lane needs is in here; a replacement lane gets the
 * same task and picks up where the dead one left off.
 */
import type { SnapshotHandle } from '../shm/snapshot.js';
import { frameCapacity, PacketPool } from '../shm/pool.js';
import { SpscRing } from '../shm/ring.js';
import { TRACE_ENTRY_BYTES, TRACE_RING_CAPACITY } from './trace.js';

export interface LaneTask {
  readonly lane: number;
  /** The lane's pool, then its punt ring, then its inject ring: one buffer, so copies are copyWithin. */
  readonly memory: SharedArrayBuffer;
  readonly poolSlots: number;
  /** Bytes per pool slot (slotBytesForMtu of the largest port MTU); ring entries hold one frame of it. */
  readonly slotBytes: number;
  readonly ringCapacity: number;
  readonly counters: SharedArrayBuffer;
  readonly control: SharedArrayBuffer;
  /** The punt policing rates (punt-policer.ts), shared by all lanes. */
  readonly policing: SharedArrayBuffer;
  /** The trace control block (trace.ts), shared by all lanes. */
  readonly trace: SharedArrayBuffer;
  readonly fib: SnapshotHandle;
  readonly neighbors: SnapshotHandle;
  readonly ports: SnapshotHandle;
  /** The group filter (shm/groups.ts) and the multicast forwarding cache (shm/mfc.ts). */
  readonly groups: SnapshotHandle;
  readonly mfc: SnapshotHandle;
  /** The SPD/SAD snapshot and the per-SA state block (shm/ipsec-tables.ts). */
  readonly ipsec: SnapshotHandle;
  readonly ipsecState: SharedArrayBuffer;
  /** The hand-over rings between lanes (handoverOffset()); null with one lane. */
  readonly handover: SharedArrayBuffer | null;
  readonly lanes: number;
  /** Every lane's queue fd per port (lane-queues.ts), changed while the lanes run. */
  readonly queues: SharedArrayBuffer;
  readonly io: 'auto' | 'uring' | 'syscall';
  readonly batch: number;
}

/**
 * Inline data per punt, inject and hand-over ring entry: a whole frame, as large as a slot's
 * frame area, so a packet that fits a slot fits an entry (and the copies check it anyway).
 */
export function ringDataBytes(slotBytes: number): number {
  return frameCapacity(slotBytes);
}

/**
 * Lane memory layout: pool | punt ring | inject ring | trace ring, each region starting on a
 * 64-byte line (so ring words never share a line with slot data, and 8-byte fields align).
 */
function align(n: number): number {
  return (n + 63) & ~63;
}

/** The geometry of one lane's memory: the offsets below follow from it. */
export interface LaneGeometry {
  readonly poolSlots: number;
  readonly slotBytes: number;
  readonly ringCapacity: number;
}

export function puntRingOffset(g: LaneGeometry): number {
  return align(PacketPool.byteLength(g.poolSlots, g.slotBytes));
}

export function injectRingOffset(g: LaneGeometry): number {
  return puntRingOffset(g) + align(SpscRing.byteLength(g.ringCapacity, ringDataBytes(g.slotBytes)));
}

export function traceRingOffset(g: LaneGeometry): number {
  return injectRingOffset(g) + align(SpscRing.byteLength(g.ringCapacity, ringDataBytes(g.slotBytes)));
}

export function laneMemoryBytes(g: LaneGeometry): number {
  return traceRingOffset(g) + align(SpscRing.byteLength(TRACE_RING_CAPACITY, TRACE_ENTRY_BYTES));
}

/**
 * Hand-over rings: one SPSC ring per ordered pair of lanes (from → to), carrying a copy of an
 * IPv6 packet whose ESP SA has its home lane elsewhere (DESIGN.md: "packets of an SA met on
 * another lane are handed over through a ring"). Laid out [from][to]; the diagonal is unused.
 */
export const HANDOVER_CAPACITY = 256;

export function handoverRingBytes(slotBytes: number): number {
  return align(SpscRing.byteLength(HANDOVER_CAPACITY, ringDataBytes(slotBytes)));
}

export function handoverOffset(lanes: number, slotBytes: number, from: number, to: number): number {
  return (from * lanes + to) * handoverRingBytes(slotBytes);
}

export function handoverBytes(lanes: number, slotBytes: number): number {
  return lanes * lanes * handoverRingBytes(slotBytes);
}
