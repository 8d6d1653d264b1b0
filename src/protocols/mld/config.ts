/**
 * The MLD module's resolved configuration: one entry per interface MLD runs on, every RFC
 * default applied (src/config/sections/mld.ts builds it from the YAML). Times in seconds.
 */
export type MldVersion = 1 | 2;

/** The protocol variables of RFC 3810 §9 (RFC 2710 §7 for MLDv1), one set per interface. */
export interface MldTimers {
  /** §9.1 Robustness Variable (QRV). */
  readonly robustness: number;
  /** §9.2 Query Interval. */
  readonly queryInterval: number;
  /** §9.3 Query Response Interval (the Maximum Response Delay of General Queries). */
  readonly queryResponseInterval: number;
  /** §9.8 Last Listener Query Interval. */
  readonly lastListenerQueryInterval: number;
  /** §9.9 Last Listener Query Count. */
  readonly lastListenerQueryCount: number;
  /** §9.6 Startup Query Interval. */
  readonly startupQueryInterval: number;
  /** §9.7 Startup Query Count. */
  readonly startupQueryCount: number;
  /** §9.11 Unsolicited Report Interval (the router's own reports). */
  readonly unsolicitedReportInterval: number;
}

export interface MldInterfaceConfig extends MldTimers {
  readonly name: string;
  readonly version: MldVersion;
  /** Take part in the querier election and send queries; false: keep membership state only. */
  readonly querier: boolean;
  /** Sources kept per group and link (a report that would pass it is dropped, counted). */
  readonly maxSources: number;
}

export interface MldConfig {
  readonly interfaces: readonly MldInterfaceConfig[];
}
