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
 * Inline data per trace-ring entry: a 40-byte header, then the frame's first TRACE_SNAP_BYTES
 * (a jumbo frame is captured truncated; the entry's length is the frame's own). The header:
 *   +0  timestamp (float64, ms)   +8 ESP-in SPI (uint32)    +12 ESP-out SPI (uint32)
 *   +16 ESP-in sequence (float64) +24 ESP-out sequence (float64)
 *   +32 flags (uint32): TH_IN_TUNNEL when the inbound SA is a tunnel-mode one
 * An SPI of 0 (reserved, RFC 4303 §2.1) means the packet did not pass that ESP stage.
 * Stored little-endian, as the lane's typed arrays do on every platform Node runs on here.
 */
export const TRACE_HEADER_BYTES = 40;
export const TH_FLAGS = 32;
export const TH_IN_TUNNEL = 1;
export const TH_STAMP = 0;
export const TH_IN_SPI = 8;
export const TH_OUT_SPI = 12;
export const TH_IN_SEQ = 16;
export const TH_OUT_SEQ = 24;
export const TRACE_SNAP_BYTES = 2048;
export const TRACE_ENTRY_BYTES = TRACE_SNAP_BYTES + TRACE_HEADER_BYTES;
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
type PipelineStage = (typeof STAGES)[number];
/**
 * 'punt' ends a punted frame's path: it went to the control plane. 'esp-in' follows the FIB's
 * local verdict for ESP to the router (a tunnel's inner packet then runs validate…output
 * again); 'esp-out' follows the forwarding checks for a packet a policy or tunnel protects.
 */
export type Stage = PipelineStage | 'esp-in' | 'esp-out' | 'punt';

/** The ESP stages a traced packet passed: SPI and sequence number of each (esp.md). */
export interface TraceEsp {
  readonly in: { readonly spi: number; readonly seq: number; readonly mode: 'tunnel' | 'transport' } | null;
  readonly out: { readonly spi: number; readonly seq: number } | null;
}

/** Drop reasons decided in the ESP stages. */
const ESP_IN_DROPS = new Set(['esp_unknown_spi', 'esp_wrong_lane', 'esp_replay', 'esp_integrity', 'esp_bad_padding', 'esp_bad_inner', 'esp_fragmented']);
const ESP_OUT_DROPS = new Set(['esp_seq_overflow', 'esp_seal_failed']);

/** Where each other drop reason is decided. */
const DROP_STAGE: Record<string, PipelineStage> = {
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
  // The SPD is consulted once the FIB has given its verdict, inbound and outbound.
  esp_policy_mismatch: 'fib',
  esp_policy_discard: 'fib',
  esp_selector_opaque: 'fib',
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
  /** The ESP stages it passed, with SPI and sequence number. */
  readonly esp: TraceEsp;
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

const NO_ESP: TraceEsp = { in: null, out: null };

/**
 * The path a packet took: the pipeline, with 'esp-in' after the outer FIB verdict — then,
 * out of a tunnel, the inner packet's own validate…output; in transport mode the decrypted
 * packet goes to the control plane — and 'esp-out' after the forwarding checks when it was
 * protected.
 */
function fullPath(espIn: 'tunnel' | 'transport' | null, espOut: boolean): Stage[] {
  const path: Stage[] = ['receive', 'link', 'validate', 'classify', 'fib'];
  if (espIn === 'transport') return [...path, 'esp-in'];
  if (espIn === 'tunnel') path.push('esp-in', 'validate', 'classify', 'fib');
  path.push('forward');
  if (espOut) path.push('esp-out');
  path.push('neighbor', 'output');
  return path;
}

/** The path up to and including the last `stage` (the inner pass's, after a decapsulation). */
function upTo(path: Stage[], stage: Stage): Stage[] {
  return path.slice(0, path.lastIndexOf(stage) + 1);
}

/** Decodes a trace-ring entry's meta words (verdict, reason index/punt flags, egress) and its ESP stages. */
export function describeVerdict(verdict: number, detail: number, egress: number, esp: TraceEsp = NO_ESP): Pick<TraceRecord, 'verdict' | 'reason' | 'egress' | 'stages' | 'esp'> {
  const path = fullPath(esp.in?.mode ?? null, esp.out !== null);
  if (verdict === VERDICT_FORWARDED) return { verdict: 'forwarded', reason: null, egress, stages: path, esp };
  if (verdict === VERDICT_PUNTED) {
    const reason = PUNT_REASONS.filter(([bit]) => (detail & bit) !== 0).map(([, name]) => name).join(',') || 'local';
    // A resolve punt got through the forwarding checks and failed at the neighbour lookup; a
    // transport-mode ESP packet for the router is punted once decrypted.
    const last: Stage = reason === 'resolve' ? 'neighbor' : reason === 'multicast' ? 'classify' : esp.in?.mode === 'transport' ? 'esp-in' : 'fib';
    return { verdict: 'punted', reason, egress: reason === 'resolve' ? egress : null, stages: [...upTo(path, last), 'punt'], esp };
  }
  const name = DROPS[detail - TRAFFIC.length]?.name ?? `reason-${detail}`;
  // An ESP drop before the SA's mode was known (unknown SPI, say) ends at esp-in all the same.
  if (ESP_IN_DROPS.has(name)) return { verdict: 'dropped', reason: name, egress: null, stages: [...upTo(fullPath(null, false), 'fib'), 'esp-in'], esp };
  // A decrypted packet outside the policy that requires its SA is refused in esp-in.
  if (name === 'esp_policy_mismatch' && esp.in !== null) return { verdict: 'dropped', reason: name, egress: null, stages: upTo(path, 'esp-in'), esp };
  const stagesPath = ESP_OUT_DROPS.has(name) ? fullPath(esp.in?.mode ?? null, true) : path;
  const at: Stage = ESP_OUT_DROPS.has(name) ? 'esp-out' : (DROP_STAGE[name] ?? 'classify');
  return { verdict: 'dropped', reason: name, egress: null, stages: upTo(stagesPath, at), esp };
}

/** Main thread: moves every completed record out of a lane's trace ring into `out`. */
export function drainTraceRing(ring: SpscRing, lane: number, out: TraceRecord[]): void {
  const view = new DataView(ring.bytes.buffer);
  for (let e = ring.peek(); e >= 0; e = ring.peek()) {
    const d = ring.dataOffset(e);
    const len = ring.len(e);
    const flags = ring.flags(e);
    const inSpi = view.getUint32(d + TH_IN_SPI, true);
    const outSpi = view.getUint32(d + TH_OUT_SPI, true);
    const inMode = (view.getUint32(d + TH_FLAGS, true) & TH_IN_TUNNEL) !== 0 ? 'tunnel' : 'transport';
    const esp: TraceEsp = {
      in: inSpi === 0 ? null : { spi: inSpi, seq: view.getFloat64(d + TH_IN_SEQ, true), mode: inMode },
      out: outSpi === 0 ? null : { spi: outSpi, seq: view.getFloat64(d + TH_OUT_SEQ, true) },
    };
    out.push({
      lane,
      timestampMs: view.getFloat64(d + TH_STAMP, true),
      ingress: ring.port(e),
      length: len,
      frame: ring.bytes.slice(d + TRACE_HEADER_BYTES, d + TRACE_HEADER_BYTES + Math.min(len, TRACE_SNAP_BYTES)),
      ...describeVerdict(ring.slot(e), flags & 0xffff, flags >>> 16, esp),
    });
    ring.release();
  }
}
