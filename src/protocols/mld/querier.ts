/**
 * The multicast-router side of MLD on one port (RFC 2710 §7, RFC 3810 §7; KAME's and
 * pim6sd's mld6 code): the querier election by lowest link-local address with the Other
 * Querier Present timer, startup and General Queries, and the per-group state the
 * multicast forwarding reads: INCLUDE/EXCLUDE filter mode, filter timer and source timers
 * (§7.2), updated by the tables of §7.4, expired as §7.5 says, lowered by Multicast Address
 * (and Source) Specific Queries (§7.6). MLDv1 (configured `version: 1`) runs on the same
 * state: a Report is IS_EX {}, a Done is TO_IN {} (§8.3.2), queries go out in MLDv1 form.
 * Timers are deadlines (ms on the clock); one timer per port wakes at the earliest.
 */
import { ALL_NODES, UNSPECIFIED, formatIpv6, isUnspecified } from '../../lib/addr.js';
import type { TimerHandle } from '../../lib/clock.js';
import { MLD_RECORD_TYPE, mldv2MaxResponseCode, mldv2QueryIntervalCode, mldv2QueryIntervalSeconds, type MldMessage } from '../../wire/mld.js';
import type { MldInterfaceConfig } from './config.js';
import { isReportable, type MldEnv } from './listener.js';

export type FilterMode = 'include' | 'exclude';

interface SourceState {
  readonly addr: Uint8Array;
  /** Deadline of the source timer; 0 in EXCLUDE mode is a source not to forward (the "Y" set of §7.2.3). */
  at: number;
  /** Multicast Address and Source Specific Query retransmissions left (§7.6.3.2). */
  queries: number;
}

interface GroupState {
  readonly addr: Uint8Array;
  mode: FilterMode;
  /** Filter timer deadline (EXCLUDE mode). */
  filterAt: number;
  readonly sources: Map<string, SourceState>;
  /** Older Version Host Present deadline (§8.3.2); 0: none heard. */
  v1HostUntil: number;
  /** Multicast Address Specific Query retransmissions left (§7.6.3.1). */
  groupQueries: number;
  queryTimer: TimerHandle | null;
  readonly since: number;
}

/** What other code (multicast forwarding, `show mld groups`) reads of one group on one port. */
export interface MldMembership {
  readonly group: Uint8Array;
  readonly mode: FilterMode;
  /** INCLUDE: the sources to forward; EXCLUDE: the sources still requested (timer running). */
  readonly sources: readonly Uint8Array[];
  /** EXCLUDE: the sources not to forward. */
  readonly excluded: readonly Uint8Array[];
  /** Seconds the group has had listeners, and until its filter timer (EXCLUDE) or last source timer (INCLUDE) runs out. */
  readonly uptime: number;
  readonly expires: number;
  /** An MLDv1 listener is present (§8.3.2). */
  readonly v1Host: boolean;
}

export type RecordOutcome = 'applied' | 'too_many_sources' | 'ignored';

export class MldRouterPort {
  private readonly groups = new Map<string, GroupState>();
  isQuerier = false;
  /** The querier this router defers to and its Other Querier Present deadline. */
  otherQuerier: { addr: Uint8Array; until: number } | null = null;
  private otherTimer: TimerHandle | null = null;
  private generalTimer: TimerHandle | null = null;
  private startupLeft = 0;
  private expiryTimer: TimerHandle | null = null;
  private expiryAt = Infinity;
  /** §7.9: a non-querier uses the querier's Robustness and Query Interval. */
  private robustness: number;
  private queryInterval: number;
  nextGeneralQueryAt = Infinity;
  /** Set by queryGroup/querySources while apply() runs: it then sends them. */
  private queriesMarked = false;
  readonly sent = { generalQueries: 0, specificQueries: 0 };

  constructor(
    private readonly env: MldEnv,
    private config: MldInterfaceConfig,
    /** The port's link-local address, the election's key (§7.6.2: lowest wins). */
    private readonly ownAddress: () => Uint8Array,
  ) {
    this.robustness = config.robustness;
    this.queryInterval = config.queryInterval;
  }

  // §9 derived timers, in ms.
  private get mali(): number {
    return (this.robustness * this.queryInterval + this.config.queryResponseInterval) * 1000;
  }
  private get llqt(): number {
    return this.config.lastListenerQueryInterval * this.config.lastListenerQueryCount * 1000;
  }

  /**
   * A reload's new settings (same version), keeping the memberships: turning the querier on
   * starts it as at startup unless another querier is present; turning it off silences it;
   * a querier's next General Query comes one new Query Interval from now.
   */
  reconfigure(next: MldInterfaceConfig): void {
    const was = this.config;
    this.config = next;
    if (this.otherQuerier === null) {
      this.robustness = next.robustness;
      this.queryInterval = next.queryInterval;
    }
    if (next.querier && !was.querier) {
      if (this.otherQuerier === null) this.becomeQuerier(next.startupQueryCount);
    } else if (!next.querier && this.isQuerier) {
      this.isQuerier = false;
      this.generalTimer?.cancel();
      this.generalTimer = null;
      this.nextGeneralQueryAt = Infinity;
    } else if (this.isQuerier && next.queryInterval !== was.queryInterval && this.startupLeft === 0) {
      this.generalTimer?.cancel();
      this.nextGeneralQueryAt = this.env.clock.now() + next.queryInterval * 1000;
      this.generalTimer = this.env.clock.setTimer(next.queryInterval * 1000, () => this.generalQuery());
    }
    this.reschedule();
  }

  /** Starts as querier (§7.1: every router does), with Startup Query Count queries Startup Query Interval apart. */
  start(): void {
    if (!this.config.querier) return;
    this.becomeQuerier(this.config.startupQueryCount);
  }

  private becomeQuerier(startup: number): void {
    this.isQuerier = true;
    this.otherQuerier = null;
    this.robustness = this.config.robustness;
    this.queryInterval = this.config.queryInterval;
    this.startupLeft = startup;
    this.generalQuery();
  }

  private generalQuery(): void {
    this.sendQuery(UNSPECIFIED, [], false, this.config.queryResponseInterval * 1000);
    this.sent.generalQueries++;
    const interval = this.startupLeft > 1 ? this.config.startupQueryInterval : this.queryInterval;
    if (this.startupLeft > 0) this.startupLeft--;
    this.generalTimer?.cancel();
    this.nextGeneralQueryAt = this.env.clock.now() + interval * 1000;
    this.generalTimer = this.env.clock.setTimer(interval * 1000, () => this.generalQuery());
  }

  /** A Query from another router: a lower address takes over as querier (§7.6.2, RFC 2710 §7). */
  receiveQuery(src: Uint8Array, msg: Extract<MldMessage, { type: 'mldv1Query' | 'mldv2Query' }>): void {
    const now = this.env.clock.now();
    if (compareAddress(src, this.ownAddress()) < 0) {
      this.isQuerier = false;
      this.generalTimer?.cancel();
      this.generalTimer = null;
      this.nextGeneralQueryAt = Infinity;
      if (msg.type === 'mldv2Query') {
        // §7.9: the querier's QRV and QQI, when set.
        if (msg.robustness !== 0) this.robustness = msg.robustness;
        if (msg.queryIntervalCode !== 0) this.queryInterval = mldv2QueryIntervalSeconds(msg.queryIntervalCode);
      }
      // §9.5 Other Querier Present Timeout = Robustness × Query Interval + Query Response Interval / 2.
      const ms = (this.robustness * this.queryInterval + this.config.queryResponseInterval / 2) * 1000;
      this.otherQuerier = { addr: src, until: now + ms };
      this.otherTimer?.cancel();
      this.otherTimer = this.env.clock.setTimer(ms, () => {
        this.otherTimer = null;
        if (this.config.querier) this.becomeQuerier(0);
        else this.otherQuerier = null;
      });
    }
    // §7.6.1, §7.6.2: a router that is not the querier lowers its timers on a specific query without the S flag.
    if (this.isQuerier || isUnspecified(msg.group)) return;
    const g = this.groups.get(formatIpv6(msg.group));
    if (g === undefined || (msg.type === 'mldv2Query' && msg.suppressRouterProcessing)) return;
    const sources = msg.type === 'mldv2Query' ? msg.sources : [];
    if (sources.length === 0) {
      if (g.mode === 'exclude') g.filterAt = Math.min(g.filterAt, now + this.llqt);
    } else {
      for (const s of sources) {
        const st = g.sources.get(formatIpv6(s));
        if (st !== undefined && st.at > 0) st.at = Math.min(st.at, now + this.llqt);
      }
    }
    this.reschedule();
  }

  /** MLDv1 Report (§8.3.2: IS_EX {}, and an MLDv1 host is present). */
  receiveV1Report(group: Uint8Array): RecordOutcome {
    if (!isReportable(group)) return 'ignored';
    const g = this.group(group);
    g.v1HostUntil = this.env.clock.now() + this.mali;
    return this.apply(g, MLD_RECORD_TYPE.MODE_IS_EXCLUDE, []);
  }

  /** MLDv1 Done (§8.3.2: TO_IN {}). */
  receiveV1Done(group: Uint8Array): RecordOutcome {
    const g = this.groups.get(formatIpv6(group));
    if (g === undefined) return 'ignored';
    return this.apply(g, MLD_RECORD_TYPE.CHANGE_TO_INCLUDE_MODE, []);
  }

  /** One Multicast Address Record of an MLDv2 Report (§7.4). */
  receiveRecord(type: number, group: Uint8Array, sources: readonly Uint8Array[]): RecordOutcome {
    if (!isReportable(group) || type < MLD_RECORD_TYPE.MODE_IS_INCLUDE || type > MLD_RECORD_TYPE.BLOCK_OLD_SOURCES) return 'ignored';
    const known = this.groups.get(formatIpv6(group));
    // INCLUDE {} sources: nothing to create (IS_IN/ALLOW/BLOCK/TO_IN of nothing on an unknown group).
    if (known === undefined && sources.length === 0 && type !== MLD_RECORD_TYPE.MODE_IS_EXCLUDE && type !== MLD_RECORD_TYPE.CHANGE_TO_EXCLUDE_MODE) return 'ignored';
    const g = known ?? this.group(group);
    if (g.v1HostUntil > this.env.clock.now()) {
      // §8.3.2: with an MLDv1 host present, BLOCK is ignored and TO_EX loses its sources.
      if (type === MLD_RECORD_TYPE.BLOCK_OLD_SOURCES) return 'ignored';
      if (type === MLD_RECORD_TYPE.CHANGE_TO_EXCLUDE_MODE) sources = [];
    }
    return this.apply(g, type, sources);
  }

  private group(addr: Uint8Array): GroupState {
    const key = formatIpv6(addr);
    let g = this.groups.get(key);
    if (g === undefined) {
      g = { addr, mode: 'include', filterAt: 0, sources: new Map(), v1HostUntil: 0, groupQueries: 0, queryTimer: null, since: this.env.clock.now() };
      this.groups.set(key, g);
    }
    return g;
  }

  /** The tables of §7.4.1 (current state) and §7.4.2 (state change). */
  private apply(g: GroupState, type: number, list: readonly Uint8Array[]): RecordOutcome {
    const now = this.env.clock.now();
    const mali = now + this.mali;
    const b = new Map(list.map((s) => [formatIpv6(s), s]));
    const added = [...b.keys()].filter((k) => !g.sources.has(k)).length;
    const becomesExclude = type === MLD_RECORD_TYPE.MODE_IS_EXCLUDE || type === MLD_RECORD_TYPE.CHANGE_TO_EXCLUDE_MODE;
    // A record replacing the list (IS_EX/TO_EX) ends with |B| sources; the others add to it.
    if ((becomesExclude ? b.size : g.sources.size + added) > this.config.maxSources) {
      if (g.sources.size === 0 && g.mode === 'include') this.groups.delete(formatIpv6(g.addr));
      return 'too_many_sources';
    }
    const set = (k: string, addr: Uint8Array, at: number) => {
      const s = g.sources.get(k);
      if (s === undefined) g.sources.set(k, { addr, at, queries: 0 });
      else s.at = at;
    };
    const requested = (s: SourceState) => g.mode === 'include' || s.at > 0;
    if (type === MLD_RECORD_TYPE.MODE_IS_INCLUDE || type === MLD_RECORD_TYPE.ALLOW_NEW_SOURCES) {
      // INCLUDE (A+B), EXCLUDE (X+A, Y-A): the sources reported get MALI, in either mode.
      for (const [k, s] of b) set(k, s, mali);
    } else if (type === MLD_RECORD_TYPE.CHANGE_TO_INCLUDE_MODE) {
      // INCLUDE: Send Q(MA, A-B); EXCLUDE: Send Q(MA, X-A) and Q(MA). Forwarded sources not in B either way.
      const notReported = [...g.sources.entries()].filter(([k, s]) => requested(s) && !b.has(k)).map(([k]) => k);
      for (const [k, s] of b) set(k, s, mali);
      this.querySources(g, notReported);
      if (g.mode === 'exclude') this.queryGroup(g);
    } else if (g.mode === 'include') {
      if (type === MLD_RECORD_TYPE.BLOCK_OLD_SOURCES) {
        this.querySources(g, [...b.keys()].filter((k) => g.sources.has(k)));
      } else {
        // IS_EX/TO_EX: EXCLUDE (A*B, B-A): A*B keep their timers, B-A at 0, A-B deleted.
        for (const k of [...g.sources.keys()]) if (!b.has(k)) g.sources.delete(k);
        for (const [k, s] of b) if (!g.sources.has(k)) set(k, s, 0);
        g.mode = 'exclude';
        g.filterAt = mali;
        if (type === MLD_RECORD_TYPE.CHANGE_TO_EXCLUDE_MODE) this.querySources(g, [...g.sources.entries()].filter(([, s]) => s.at > 0).map(([k]) => k));
      }
    } else if (type === MLD_RECORD_TYPE.BLOCK_OLD_SOURCES) {
      // EXCLUDE (X+(A-Y), Y): new sources get the filter timer; query A-Y.
      for (const [k, s] of b) if (!g.sources.has(k)) set(k, s, g.filterAt);
      this.querySources(g, [...b.keys()].filter((k) => requested(g.sources.get(k)!)));
    } else {
      // IS_EX/TO_EX: EXCLUDE (A-Y, Y*A): X-A and Y-A deleted; A-X-Y gets MALI (IS_EX) or the filter timer (TO_EX).
      const fresh = type === MLD_RECORD_TYPE.MODE_IS_EXCLUDE ? mali : g.filterAt;
      for (const k of [...g.sources.keys()]) if (!b.has(k)) g.sources.delete(k);
      for (const [k, s] of b) if (!g.sources.has(k)) set(k, s, fresh);
      g.filterAt = mali;
      if (type === MLD_RECORD_TYPE.CHANGE_TO_EXCLUDE_MODE) this.querySources(g, [...b.keys()].filter((k) => requested(g.sources.get(k)!)));
    }
    // The queries the record called for go at once, together (a round already scheduled is brought forward).
    if (this.queriesMarked) {
      this.queriesMarked = false;
      this.sendSpecific(g);
    }
    this.reschedule();
    return 'applied';
  }

  /**
   * Send Q(MA) (§7.6.3.1): the filter timer lowered to LLQT, Last Listener Query Count queries
   * LLQI apart. Marked here; apply() sends the record's queries together.
   */
  private queryGroup(g: GroupState): void {
    if (!this.isQuerier) return;
    if (g.mode === 'exclude') g.filterAt = Math.min(g.filterAt, this.env.clock.now() + this.llqt);
    g.groupQueries = this.config.lastListenerQueryCount;
    this.queriesMarked = true;
  }

  /** Send Q(MA, A) (§7.6.3.2): those source timers lowered to LLQT, each source queried Last Listener Query Count times. */
  private querySources(g: GroupState, keys: readonly string[]): void {
    if (!this.isQuerier || keys.length === 0 || this.version === 1) return;
    const llqtAt = this.env.clock.now() + this.llqt;
    for (const k of keys) {
      const s = g.sources.get(k);
      if (s === undefined) continue;
      if (s.at > llqtAt) s.at = llqtAt;
      s.queries = this.config.lastListenerQueryCount;
      this.queriesMarked = true;
    }
  }

  /** One round of a group's pending specific queries, then the next LLQI later while any are left. */
  private sendSpecific(g: GroupState): void {
    g.queryTimer?.cancel();
    g.queryTimer = null;
    if (!this.isQuerier || this.groups.get(formatIpv6(g.addr)) !== g) return;
    const now = this.env.clock.now();
    const llqi = this.config.lastListenerQueryInterval * 1000;
    if (g.groupQueries > 0) {
      // §7.6.3.1: S set when the filter timer is still above LLQT (a report has refreshed it).
      this.sendQuery(g.addr, [], g.mode === 'exclude' && g.filterAt - now > this.llqt, llqi);
      g.groupQueries--;
      this.sent.specificQueries++;
    }
    const queried = [...g.sources.values()].filter((s) => s.queries > 0);
    if (queried.length > 0) {
      // §7.6.3.2: one query for sources whose timers are above LLQT (S set), one for the rest.
      for (const suppress of [true, false]) {
        const part = queried.filter((s) => s.at - now > this.llqt === suppress).map((s) => s.addr);
        if (part.length > 0) {
          this.sendQuery(g.addr, part, suppress, llqi);
          this.sent.specificQueries++;
        }
      }
      for (const s of queried) s.queries--;
    }
    if (g.groupQueries > 0 || queried.some((s) => s.queries > 0)) g.queryTimer = this.env.clock.setTimer(llqi, () => this.sendSpecific(g));
    this.reschedule();
  }

  private get version(): 1 | 2 {
    return this.config.version;
  }

  private sendQuery(group: Uint8Array, sources: readonly Uint8Array[], suppress: boolean, maxDelayMs: number): void {
    const dst = isUnspecified(group) ? ALL_NODES : group;
    if (this.version === 1) {
      this.env.send(dst, { type: 'mldv1Query', maxResponseDelay: Math.min(0xffff, Math.round(maxDelayMs)), group });
      return;
    }
    // A source list longer than one message fits is split (RFC 3810 §5.1.10).
    const per = Math.max(1, Math.floor((this.env.maxMessage - 28) / 16));
    for (let i = 0; i === 0 || i < sources.length; i += per) {
      this.env.send(dst, {
        type: 'mldv2Query', maxResponseCode: mldv2MaxResponseCode(maxDelayMs), group, suppressRouterProcessing: suppress,
        robustness: this.robustness, queryIntervalCode: mldv2QueryIntervalCode(this.queryInterval), sources: sources.slice(i, i + per),
      });
    }
  }

  /** §7.5: source timers and filter timers that ran out. */
  private expire(): void {
    const now = this.env.clock.now();
    for (const [key, g] of this.groups) {
      for (const [k, s] of g.sources) {
        if (s.at === 0 || s.at > now) continue;
        if (g.mode === 'include') g.sources.delete(k);
        else s.at = 0;
      }
      if (g.mode === 'exclude' && g.filterAt <= now) {
        g.mode = 'include';
        for (const [k, s] of g.sources) if (s.at === 0) g.sources.delete(k);
      }
      if (g.mode === 'include' && g.sources.size === 0) {
        g.queryTimer?.cancel();
        this.groups.delete(key);
      }
    }
    this.reschedule();
  }

  private reschedule(): void {
    let next = Infinity;
    for (const g of this.groups.values()) {
      if (g.mode === 'exclude') next = Math.min(next, g.filterAt);
      for (const s of g.sources.values()) if (s.at > 0) next = Math.min(next, s.at);
    }
    if (next === this.expiryAt) return;
    this.expiryTimer?.cancel();
    this.expiryTimer = null;
    this.expiryAt = next;
    if (next !== Infinity) {
      this.expiryTimer = this.env.clock.setTimer(next - this.env.clock.now(), () => {
        this.expiryTimer = null;
        this.expiryAt = Infinity;
        this.expire();
      });
    }
  }

  memberships(): MldMembership[] {
    const now = this.env.clock.now();
    return [...this.groups.values()].map((g) => {
      const live = [...g.sources.values()].filter((s) => s.at > 0);
      const until = g.mode === 'exclude' ? g.filterAt : Math.max(0, ...live.map((s) => s.at));
      return {
        group: g.addr,
        mode: g.mode,
        sources: live.map((s) => s.addr),
        excluded: g.mode === 'exclude' ? [...g.sources.values()].filter((s) => s.at === 0).map((s) => s.addr) : [],
        uptime: Math.round((now - g.since) / 1000),
        expires: Math.max(0, Math.round((until - now) / 1000)),
        v1Host: g.v1HostUntil > now,
      };
    });
  }

  stop(): void {
    this.generalTimer?.cancel();
    this.otherTimer?.cancel();
    this.expiryTimer?.cancel();
    for (const g of this.groups.values()) g.queryTimer?.cancel();
    this.groups.clear();
  }
}

/** Addresses as 128-bit numbers (§7.6.2: "numerically lowest"). */
export function compareAddress(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}
