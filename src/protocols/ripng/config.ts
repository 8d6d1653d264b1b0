/**
 * The RIPng module's resolved configuration: one entry per interface RIPng runs on, every
 * default applied (src/config/sections/ripng.ts builds it from the YAML). The route6d flag
 * each key stands for is named beside it; docs/ripng.md has the whole table.
 */
export type SplitHorizon = 'none' | 'simple' | 'poisoned';

/** Seconds (RFC 2080 §2.3: 30, 180 and 120 by default). */
export interface RipngTimers {
  readonly update: number;
  readonly timeout: number;
  readonly garbage: number;
}

/**
 * RFC 2091 demand circuit (BIRD's `demand circuit yes`): no periodic updates; triggered
 * updates go out as acknowledged Update Responses, retransmitted every `retransmit`
 * seconds; after `retries` unanswered retransmissions the neighbour is unreachable.
 */
export interface RipngDemandConfig {
  readonly retransmit: number;
  readonly retries: number;
}

export interface RipngInterfaceConfig {
  readonly name: string;
  /** Receive and learn, never send (FRR `passive-interface`). */
  readonly passive: boolean;
  /** route6d -h disables it everywhere. */
  readonly splitHorizon: SplitHorizon;
  /** Added to every metric received here (the interface cost; FRR `offset-list ... in`). */
  readonly metricIn: number;
  /** Added to every metric sent here (FRR `offset-list ... out`). */
  readonly offsetOut: number;
  readonly timers: RipngTimers;
  /** route6d -T: advertise only a default route toward this interface. */
  readonly defaultOnly: boolean;
  /** route6d -L: accept only routes inside these prefixes ("::/0" alone means the default route only). */
  readonly accept: readonly string[];
  /** route6d -O: advertise only routes inside these prefixes. */
  readonly advertise: readonly string[];
  /** route6d -A: advertise these aggregates instead of the routes they cover (a reject route holds each). */
  readonly aggregate: readonly string[];
  /** RFC 2091 demand circuit on this interface; null: ordinary RIPng. */
  readonly demand: RipngDemandConfig | null;
}

export interface RipngRedistribute {
  readonly enabled: boolean;
  readonly metric: number;
  readonly tag: number;
  /** Only best routes inside these prefixes; empty means all. */
  readonly prefixes: readonly string[];
}

export interface RipngConfig {
  /** Administrative preference of learned routes in the RIB (lower wins). */
  readonly preference: number;
  /** route6d -q: listen only. */
  readonly receiveOnly: boolean;
  /** route6d -n when false: learn and advertise, but keep learned routes out of the RIB/FIB. */
  readonly install: boolean;
  /** route6d -t: the route tag of routes this router originates. */
  readonly tag: number;
  /** Next hops kept per route when equal-cost paths arrive (1: no ECMP). */
  readonly ecmp: number;
  /** route6d -R: a file every route change is appended to; null: none. */
  readonly routeLog: string | null;
  /** route6d -a: static routes with a gateway are held like learned ones and age out unless refreshed. */
  readonly ageStatic: boolean;
  /** route6d -l: accept site-local (fec0::/10) RTEs; without it they are dropped. */
  readonly siteLocal: boolean;
  readonly redistribute: {
    readonly connected: RipngRedistribute;
    /**
     * route6d -s (split horizon: not advertised on the interface the static route goes
     * through), or -S with `splitHorizon: false` (advertised on every interface).
     */
    readonly static: RipngRedistribute & { readonly splitHorizon: boolean };
  };
  /** FRR `default-information originate`: advertise ::/0 with this metric on every interface; null: off. */
  readonly defaultOriginate: { readonly metric: number } | null;
  readonly interfaces: readonly RipngInterfaceConfig[];
}
