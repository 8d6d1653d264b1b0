/**
 * Packet trace: the operator arms the lanes to record the next N matching frames with the
 * verdict each got (`turtle6ctl trace N [--if] [--src] [--dst] [--proto] [--pcap]`).
 *
 * Cost while off: one branch per frame at entry (the armed count is read once per batch).
 * While on: the lane records, for each matching frame, its verdict (forwarded, punted, or the
 * drop reason), ingress and egress ports, a timestamp and a copy of the frame, into a
 * per-lane trace ring the main thread drains. The stages a frame went through follow from
 * its verdict (each drop reason belongs to one stage), so the hot path records no more than
 * the verdict it already counts.
 *
 * Trace control block (Int32, shared by all lanes):
 *   [0] remaining   records still wanted; lanes claim one each with Atomics.sub
 *   [1] port        ingress port filter, -1 any
 *   [2] proto       IPv6 Next Header filter, -1 any
 *   [3] srcLen      source prefix length, -1 any     [8..11]  source prefix (16 bytes)
 *   [4] dstLen      destination prefix length, -1    [12..15] destination prefix
 */
import type { SpscRing } from '../shm/ring.js';
import { DROPS, TRAFFIC } from './counters.js';

export const TRACE_WORDS = 16;
export const TR_REMAINING = 0;
export const TR_PORT = 1;
export const TR_PROTO = 2;
export const TR_SRC_LEN = 3;
export const TR_DST_LEN = 4;
export const TR_SRC_BYTES = 8 * 4;
export const TR_DST_BYTES = 12 * 4;

/** Verdict codes in a trace record. */
export const VERDICT_FORWARDED = 1;
export const VERDICT_PUNTED = 2;
export const VERDICT_DROPPED = 3;

/**
 * Bytes of inline data per trace-ring entry: an 8-byte timestamp, then the frame's first
 * TRACE_SNAP_BYTES (a jumbo frame is captured truncated; the entry's length is the frame's own).
 */
export const TRACE_TIMESTAMP_BYTES = 8;
export const TRACE_SNAP_BYTES = 2048;
export const TRACE_ENTRY_BYTES = TRACE_SNAP_BYTES + TRACE_TIMESTAMP_BYTES;
export const TRACE_RING_CAPACITY = 64;

export interface TraceFilter {
  readonly port: number | null;
  readonly proto: number | null;
  readonly src: { addr: Uint8Array; len: number } | null;
  readonly dst: { addr: Uint8Array; len: number } | null;
}

/** Arms the lanes for `count` records matching `filter` (main thread). */
export function armTrace(control: Int32Array, count: number, filter: TraceFilter): void {
  const bytes = new Uint8Array(control.buffer, control.byteOffset, TRACE_WORDS * 4);
  Atomics.store(control, TR_REMAINING, 0);
  control[TR_PORT] = filter.port ?? -1;
  control[TR_PROTO] = filter.proto ?? -1;
  control[TR_SRC_LEN] = filter.src?.len ?? -1;
  control[TR_DST_LEN] = filter.dst?.len ?? -1;
  bytes.fill(0, TR_SRC_BYTES, TR_DST_BYTES + 16);
  if (filter.src) bytes.set(filter.src.addr, TR_SRC_BYTES);
  if (filter.dst) bytes.set(filter.dst.addr, TR_DST_BYTES);
  // The count is stored last (seq-cst), so a lane that sees it armed sees the filter too.
  Atomics.store(control, TR_REMAINING, count);
}

export function disarmTrace(control: Int32Array): void {
  Atomics.store(control, TR_REMAINING, 0);
}

/** The pipeline stages, in order. */
export const STAGES = ['receive', 'link', 'validate', 'classify', 'fib', 'forward', 'neighbor', 'output'] as const;
/** 'punt' ends a punted frame's path: it went to the control plane. */
export type Stage = (typeof STAGES)[number] | 'punt';

/** Where each drop reason is decided. */
const DROP_STAGE: Record<string, (typeof STAGES)[number]> = {
  port_down: 'receive',
  frame_too_long: 'receive',
  runt: 'link',
  not_ipv6: 'link',
  other_host: 'link',
  truncated: 'validate',
  bad_length: 'validate',
  bad_source: 'validate',
  bad_destination: 'classify',
  scope: 'classify',
  parameter_problem: 'classify',
  ext_header_chain: 'classify',
  no_route: 'fib',
  reject_route: 'fib',
  blackhole: 'fib',
  hop_limit_exceeded: 'forward',
  too_big: 'forward',
  punt_ring_full: 'classify',
  neighbor_unresolved: 'neighbor',
};

export interface TraceRecord {
  readonly lane: number;
  readonly timestampMs: number;
  readonly ingress: number;
  readonly verdict: 'forwarded' | 'punted' | 'dropped';
  /** The drop reason, or for a punt why (local, multicast, resolve, router-alert). */
  readonly reason: string | null;
  readonly egress: number | null;
  readonly stages: Stage[];
  readonly length: number;
  /** The frame as received (Ethernet on TAP, bare IPv6 on TUN). */
  readonly frame: Uint8Array;
}

const PUNT_REASONS: Array<[number, string]> = [
  [1 << 0, 'local'],
  [1 << 1, 'multicast'],
  [1 << 2, 'resolve'],
  [1 << 3, 'router-alert'],
];

/** Decodes a trace-ring entry's meta words (verdict, reason index/punt flags, egress). */
export function describeVerdict(verdict: number, detail: number, egress: number): Pick<TraceRecord, 'verdict' | 'reason' | 'egress' | 'stages'> {
  const upTo = (last: (typeof STAGES)[number]): Stage[] => STAGES.slice(0, STAGES.indexOf(last) + 1) as Stage[];
  if (verdict === VERDICT_FORWARDED) return { verdict: 'forwarded', reason: null, egress, stages: [...STAGES] };
  if (verdict === VERDICT_PUNTED) {
    const reason = PUNT_REASONS.filter(([bit]) => (detail & bit) !== 0).map(([, name]) => name).join(',') || 'local';
    // A resolve punt got through the forwarding checks and failed at the neighbour lookup.
    const stages = reason === 'resolve' ? upTo('neighbor') : reason === 'multicast' ? upTo('classify') : upTo('fib');
    return { verdict: 'punted', reason, egress: reason === 'resolve' ? egress : null, stages: [...stages, 'punt'] };
  }
  const name = DROPS[detail - TRAFFIC.length]?.name ?? `reason-${detail}`;
  return { verdict: 'dropped', reason: name, egress: null, stages: upTo(DROP_STAGE[name] ?? 'classify') };
}

/** Main thread: moves every completed record out of a lane's trace ring into `out`. */
export function drainTraceRing(ring: SpscRing, lane: number, out: TraceRecord[]): void {
  const stamps = new Float64Array(ring.bytes.buffer);
  for (let e = ring.peek(); e >= 0; e = ring.peek()) {
    const d = ring.dataOffset(e);
    const len = ring.len(e);
    const flags = ring.flags(e);
    out.push({
      lane,
      timestampMs: stamps[d >> 3]!,
      ingress: ring.port(e),
      length: len,
      frame: ring.bytes.slice(d + TRACE_TIMESTAMP_BYTES, d + TRACE_TIMESTAMP_BYTES + Math.min(len, TRACE_SNAP_BYTES)),
      ...describeVerdict(ring.slot(e), flags & 0xffff, flags >>> 16),
    });
    ring.release();
  }
}
