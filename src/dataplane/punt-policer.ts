/**
 * Control-plane policing (RFC 6583 §7): a lane hands the control plane only so many packets
 * per second per ingress port and class, so a flood into one port (a scan of an on-link /64,
 * a multicast flood, a flood to the router's own address) is cut in the lane, costs the main
 * thread at most its budget, and leaves the other ports' budgets (their RIPng, DHCPv6, ND)
 * untouched. What is over budget is dropped and counted `punt_policed_<class>`.
 *
 * Classes, chosen from the punt flags (punt.ts) and, for ND, the ICMPv6 type:
 *   resolve    PUNT_RESOLVE: a forwarded packet whose next hop has no neighbour entry
 *              (each admitted one may create an INCOMPLETE entry and send solicitations);
 *   nd         ICMPv6 types 133–137 right after the fixed header (RFC 4861 messages carry no
 *              extension headers in practice; one that does falls into its flag's class);
 *   multicast  everything else with a multicast destination (RIPng, DHCPv6, MLD, …);
 *   local      everything else for the router: its unicast addresses, and Router Alert.
 *
 * Each lane has its own buckets (token-bucket.ts), preallocated per port and class; the rates
 * live in a shared block the main thread rewrites on reload, and a lane rebinds them when the
 * block's generation moves (once per batch: one Atomics.load).
 */
import { TokenBucket } from '../lib/token-bucket.js';
import { C, MAX_PORTS } from './counters.js';

export const PUNT_CLASSES = ['resolve', 'nd', 'multicast', 'local'] as const;
export type PuntClass = (typeof PUNT_CLASSES)[number];
export const CLASS_RESOLVE = 0;
export const CLASS_ND = 1;
export const CLASS_MULTICAST = 2;
export const CLASS_LOCAL = 3;

export interface PuntRate {
  /** Packets per second, per lane and ingress port. */
  readonly rate: number;
  readonly burst: number;
}
export type PuntPolicing = Readonly<Record<PuntClass, PuntRate>>;

/**
 * Far above what a busy link's control traffic needs (ND and RA of a few hundred hosts,
 * a RIPng table of thousands of routes every 30 s, DHCPv6), far below what one flood would
 * cost the main thread. `local` is the largest: the router's own TCP through the host port
 * counts there too.
 */
export const PUNT_POLICING_DEFAULTS: PuntPolicing = {
  resolve: { rate: 500, burst: 100 },
  nd: { rate: 1000, burst: 200 },
  multicast: { rate: 2000, burst: 2000 },
  local: { rate: 5000, burst: 1000 },
};

// The shared block: a generation word, then rate (per 1000 s) and burst per class.
const P_GENERATION = 0;
const P_RATES = 1;
export const POLICING_WORDS = P_RATES + 2 * PUNT_CLASSES.length;

/** Writes `policing` into the shared block; lanes pick it up at their next batch. */
export function writePuntPolicing(block: Int32Array, policing: PuntPolicing): void {
  PUNT_CLASSES.forEach((name, k) => {
    Atomics.store(block, P_RATES + 2 * k, Math.round(policing[name].rate * 1000));
    Atomics.store(block, P_RATES + 2 * k + 1, policing[name].burst);
  });
  Atomics.add(block, P_GENERATION, 1);
}

export class PuntPolicer {
  /** buckets[port * classes + class]. */
  private readonly buckets: TokenBucket[] = [];
  private generation: number;

  constructor(private readonly block: Int32Array, now: number) {
    this.generation = Atomics.load(block, P_GENERATION);
    for (let port = 0; port < MAX_PORTS; port++) {
      for (let k = 0; k < PUNT_CLASSES.length; k++) this.buckets.push(new TokenBucket(this.rate(k), this.burst(k), now));
    }
  }

  private rate(k: number): number {
    return Atomics.load(this.block, P_RATES + 2 * k) / 1000;
  }

  private burst(k: number): number {
    return Atomics.load(this.block, P_RATES + 2 * k + 1);
  }

  /** Rebinds the rates if the main thread rewrote them (a reload); a bucket keeps its tokens up to the new burst. */
  refresh(): void {
    const generation = Atomics.load(this.block, P_GENERATION);
    if (generation === this.generation) return;
    this.generation = generation;
    for (let i = 0; i < this.buckets.length; i++) {
      const k = i % PUNT_CLASSES.length;
      this.buckets[i]!.reconfigure(this.rate(k), this.burst(k));
    }
  }

  /** Takes a token from the bucket of (ingress port, class); false: over budget. */
  admit(port: number, cls: number, now: number): boolean {
    return this.buckets[port * PUNT_CLASSES.length + cls]!.take(now);
  }
}

/** The drop reason of a class (counters.ts lists them in PUNT_CLASSES order). */
export function policedReason(cls: number): number {
  return C.punt_policed_resolve + cls;
}
