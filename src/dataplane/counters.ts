/**
 * The lanes' counters: one table generates the counter indices, the Prometheus series and
 * the `show counters` text (as VPP's error tables do), so a drop reason cannot exist in one
 * place and be missing in another.
 *
 * Every counter is per port: traffic counters count frames the port received or sent,
 * drop reasons are charged to the ingress port. Each lane writes only its own block
 * (a Float64Array over a SharedArrayBuffer); the main thread sums blocks at scrape time.
 */

import { MAX_PORTS } from '../shm/port-table.js';
import { FIB_MEMBER_COUNTERS } from '../shm/fib.js';
import { MFC_ENTRY_COUNTERS, MFC_MAX_ENTRIES } from '../shm/mfc.js';

export interface CounterDef {
  readonly name: string;
  readonly help: string;
}

/**
 * Traffic and event counters. Drops of received frames are in DROPS; everything here is
 * either a frame count or an event beside the frame's own fate (an ICMPv6 error suppressed,
 * a write the kernel refused after the frame was forwarded).
 */
export const TRAFFIC = [
  { name: 'rx_packets', help: 'Frames read from the port' },
  { name: 'rx_bytes', help: 'Bytes read from the port' },
  { name: 'tx_packets', help: 'Frames written to the port' },
  { name: 'tx_bytes', help: 'Bytes written to the port' },
  { name: 'forwarded', help: 'Packets received on the port and forwarded' },
  { name: 'punted', help: 'Packets received on the port and handed to the control plane' },
  { name: 'injected', help: 'Packets the control plane sent out of the port' },
  { name: 'icmp_errors_sent', help: 'ICMPv6 errors generated about packets received on the port' },
  { name: 'tx_failed', help: 'The kernel refused the write' },
  { name: 'icmp_rate_limited', help: 'ICMPv6 error suppressed by the token bucket (RFC 4443 §2.4(f))' },
  { name: 'icmp_not_allowed', help: 'ICMPv6 error suppressed by RFC 4443 §2.4(e) (error about an error, multicast, …)' },
  { name: 'originated_dropped', help: 'Packets the router originated (ICMPv6 errors, control-plane injections) that could not be routed or buffered' },
  { name: 'redirects_sent', help: 'ICMPv6 Redirects sent to a sender on the port about a better first hop on its link (RFC 4861 §8.2)' },
  { name: 'redirects_rate_limited', help: 'ICMPv6 Redirects suppressed by the ICMPv6 error token bucket (RFC 4861 §8.2, RFC 4443 §2.4(f))' },
  { name: 'esp_handed_over', help: 'Packets received on the port for an ESP SA whose home lane is another lane, copied there (that lane counts their fate)' },
  { name: 'multicast_copies', help: 'Copies of multicast packets received on the port sent out of the outgoing ports of their MFC entry (a forwarded packet counts one per port)' },
  { name: 'multicast_local_copies', help: 'Multicast packets received on the port and forwarded that were also copied to the control plane, which listens to their group' },
  { name: 'multicast_copy_failed', help: 'A copy of a forwarded multicast packet not made: no free pool slot, the batch\'s transmit list full, or the local copy policed or its ring full' },
] as const satisfies readonly CounterDef[];

/** Drop reasons: every way a lane discards a frame. */
export const DROPS = [
  { name: 'frame_too_long', help: 'Frame longer than a pool slot holds (the kernel truncated it): raise the port MTU in the config, or lower the sender\'s' },
  { name: 'runt', help: 'Frame shorter than its link header' },
  { name: 'not_ipv6', help: 'EtherType or version is not IPv6' },
  { name: 'other_host', help: 'Unicast destination MAC is not this port' },
  { name: 'truncated', help: 'Shorter than the IPv6 header' },
  { name: 'bad_length', help: 'Payload Length exceeds the frame (RFC 8200 §3)' },
  { name: 'bad_source', help: 'Multicast, loopback or unspecified-to-forward source (RFC 4291 §2.5.2, §2.7)' },
  { name: 'bad_destination', help: 'Loopback or unspecified destination' },
  { name: 'hop_limit_exceeded', help: 'Hop limit ran out (RFC 8200 §3; ICMPv6 Time Exceeded)' },
  { name: 'no_route', help: 'No FIB match (ICMPv6 Destination Unreachable code 0)' },
  { name: 'reject_route', help: 'Matched a reject route (ICMPv6 Destination Unreachable code 6)' },
  { name: 'blackhole', help: 'Matched a blackhole route' },
  { name: 'scope', help: 'Link-local source or destination would leave its link (RFC 4007 §9)' },
  { name: 'too_big', help: 'Larger than the egress MTU (ICMPv6 Packet Too Big)' },
  { name: 'parameter_problem', help: 'Malformed extension header or option (ICMPv6 Parameter Problem)' },
  { name: 'ext_header_chain', help: 'Extension header chain truncated or too long' },
  { name: 'port_down', help: 'Ingress or egress port is down' },
  { name: 'neighbor_unresolved', help: 'Next hop still being resolved and its few queued packets already handed over (RFC 4861 §7.2.2)' },
  { name: 'punt_ring_full', help: 'Control-plane ring full; packet dropped' },
  // The four punt classes of punt-policer.ts, in its order (a class's reason is the first plus its index).
  { name: 'punt_policed_resolve', help: 'Packet for a next hop to resolve, over the ingress port\'s resolve budget (dataplane.puntPolicing, RFC 6583 §7)' },
  { name: 'punt_policed_nd', help: 'Neighbor Discovery message (ICMPv6 types 133–137) over the ingress port\'s ND budget (dataplane.puntPolicing, RFC 6583 §7)' },
  { name: 'punt_policed_multicast', help: 'Multicast for the control plane over the ingress port\'s multicast budget (dataplane.puntPolicing)' },
  { name: 'punt_policed_local', help: 'Packet to the router\'s own address (or with Router Alert) over the ingress port\'s local budget (dataplane.puntPolicing)' },
  { name: 'esp_unknown_spi', help: 'ESP to the router with no inbound SA for its SPI (RFC 4303 §3.4.2)' },
  { name: 'esp_wrong_lane', help: 'ESP traffic for an SA of another home lane that could not be handed over (no hand-over ring, or it was full)' },
  { name: 'esp_replay', help: 'ESP sequence number replayed or left of the window (RFC 4303 §3.4.3)' },
  { name: 'esp_integrity', help: 'ESP ICV did not verify (RFC 4303 §3.4.4)' },
  { name: 'esp_bad_padding', help: 'ESP padding not the RFC 4303 §2.4 pattern after decryption' },
  { name: 'esp_bad_inner', help: 'ESP Next Header or inner packet not valid for the SA mode (RFC 4303 §2.6)' },
  { name: 'esp_policy_mismatch', help: 'Packet not under the policy that requires its protection (RFC 4301 §5.2)' },
  { name: 'esp_policy_discard', help: 'A discard policy matched, or a protect policy\'s SA is gone (RFC 4301 §4.4.1)' },
  { name: 'esp_selector_opaque', help: 'A non-initial fragment, or a packet cut short before its ports, that an SPD entry naming ports may cover: discarded, never sent or taken in the clear (RFC 4301 §7)' },
  { name: 'esp_fragmented', help: 'ESP to the router arrived fragmented: turtle6 does not reassemble, and ESP is processed only whole (RFC 4303 §3.4.1)' },
  { name: 'esp_seq_overflow', help: 'Outbound SA spent its 32-bit sequence numbers (RFC 4303 §3.3.3)' },
  { name: 'esp_seq_reserve_wait', help: 'Outbound SA reached its durably reserved sequence numbers; the control plane has not reserved more yet (never reuses a number)' },
  { name: 'multicast_no_listener', help: 'Multicast for a link-scope group (ff01::/16, ff02::/16) the router does not listen to on the port: dropped in the lane, never copied to the control plane' },
  { name: 'multicast_no_route', help: 'Multicast for a wider-scope group with no MFC entry (or one whose only outgoing port is the incoming one) that the router does not listen to (the kernels\' NOCACHE upcall; turtle6 has no PIM yet)' },
  { name: 'multicast_wrong_port', help: 'Multicast that matched an MFC entry but arrived on another port than the entry\'s incoming one (WRONGMIF; also counted per entry)' },
  { name: 'esp_seal_failed', help: 'The crypto library failed to encrypt an outbound ESP packet (an OpenSSL error in the C helper)' },
] as const satisfies readonly CounterDef[];

export type TrafficCounter = (typeof TRAFFIC)[number]['name'];
export type DropReason = (typeof DROPS)[number]['name'];

/** Indices inside one port's stride. */
export const C = Object.fromEntries([
  ...TRAFFIC.map((c, i) => [c.name, i] as const),
  ...DROPS.map((c, i) => [c.name, TRAFFIC.length + i] as const),
]) as Record<TrafficCounter | DropReason, number>;

export const PORT_STRIDE = TRAFFIC.length + DROPS.length;
export { MAX_PORTS };

/** Lane-wide counters after the per-port region. */
export const LANE = {
  batches: MAX_PORTS * PORT_STRIDE,
  idleWakeups: MAX_PORTS * PORT_STRIDE + 1,
  heartbeat: MAX_PORTS * PORT_STRIDE + 2,
} as const;

/** Batch-size histogram buckets (upper bounds, inclusive), after the lane-wide counters. */
export const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256] as const;
export const BATCH_HIST_BASE = LANE.heartbeat + 1;
/** Sum of batch sizes (for the histogram's _sum). */
export const BATCH_SUM = BATCH_HIST_BASE + BATCH_BUCKETS.length;
/** Packets per ECMP member, by the counter slot the RIB gave it (FibView.selectMember). */
export const ECMP_MEMBER_BASE = BATCH_SUM + 1;
/** Per MFC entry, by the counter slot its table gave it (shm/mfc.ts): packets, bytes, wrong-port arrivals. */
export const MFC_COUNTERS_BASE = ECMP_MEMBER_BASE + FIB_MEMBER_COUNTERS;
export const COUNTER_WORDS = MFC_COUNTERS_BASE + MFC_MAX_ENTRIES * MFC_ENTRY_COUNTERS;

/** The lane counter of MFC entry counter slot `slot`, `which` one of MFC_PACKETS, MFC_BYTES, MFC_WRONG_PORT. */
export function mfcCounter(slot: number, which: number): number {
  return MFC_COUNTERS_BASE + MFC_ENTRY_COUNTERS * slot + which;
}

export function counterBytes(): number {
  return COUNTER_WORDS * Float64Array.BYTES_PER_ELEMENT;
}

export function portCounter(port: number, index: number): number {
  return port * PORT_STRIDE + index;
}

/** Sums one counter over every lane's block. */
export function sumCounter(blocks: readonly Float64Array[], index: number): number {
  let total = 0;
  for (const b of blocks) total += b[index]!;
  return total;
}
