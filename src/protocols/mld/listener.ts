/**
 * The listener side of MLD on one port, for the router's own groups (RFC 2710 §4, RFC 3810
 * §6; KAME mld6.c): report a group on join and again Robustness − 1 times after random
 * delays up to the Unsolicited Report Interval; answer queries after a random delay up to
 * their Maximum Response Delay; in MLDv1, stop a pending report when another listener
 * reports the group, and send Done on leave only when this node reported last. The router
 * listens to every source of its groups (EXCLUDE {}), so MLDv2 State-Change records are
 * TO_EX {} on join and TO_IN {} on leave. An MLDv1 query switches the port to MLDv1
 * compatibility for the Older Version Querier Present Timeout (RFC 3810 §8.2).
 */
import { ALL_NODES, ALL_ROUTERS, equalAddress, formatIpv6, isUnspecified, multicastScope, parseIpv6 } from '../../lib/addr.js';
import type { Clock, TimerHandle } from '../../lib/clock.js';
import { uniform, type Rng } from '../../lib/rng.js';
import { MLD_RECORD_TYPE, mldv2MaxResponseDelayMs, type MldAddressRecord, type MldMessage } from '../../wire/mld.js';
import type { MldInterfaceConfig } from './config.js';

/** RFC 3810 §5.2.14: MLDv2 Reports go to all-MLDv2-capable-routers. */
export const ALL_MLDV2_ROUTERS = parseIpv6('ff02::16')!;

/** What a port's listener and querier need from the module: time, randomness, a way out. */
export interface MldEnv {
  readonly clock: Clock;
  readonly rng: Rng;
  /** Sends `msg` on the port to `dst` (the module picks the source, hop limit 1, Router Alert). */
  send(dst: Uint8Array, msg: MldMessage): void;
  /** The most MLD bytes one message may carry on the port (its MTU less the IPv6 and Hop-by-Hop headers). */
  readonly maxMessage: number;
}

/** RFC 3810 §6: never reported: all-nodes, and scopes 0 (reserved) and 1 (interface-local). */
export function isReportable(group: Uint8Array): boolean {
  return !equalAddress(group, ALL_NODES) && multicastScope(group) >= 2;
}

interface OwnGroup {
  readonly addr: Uint8Array;
  /** A report scheduled (a query's answer, or an MLDv1 unsolicited repeat). */
  timer: TimerHandle | null;
  timerAt: number;
  /** MLDv1 unsolicited repeats still to send. */
  repeats: number;
  /** RFC 2710 §4: this node sent the last Report for the group (it then sends Done on leave). */
  lastReporter: boolean;
  /** MLDv2: sources a Multicast Address and Source Specific Query asked about; null: the whole group. */
  querySources: Uint8Array[] | null;
}

/** A pending MLDv2 State-Change record and its retransmissions left (RFC 3810 §6.1). */
interface PendingChange {
  readonly addr: Uint8Array;
  readonly type: number;
  left: number;
}

export class MldListenerPort {
  private readonly groups = new Map<string, OwnGroup>();
  private readonly changes = new Map<string, PendingChange>();
  private changeTimer: TimerHandle | null = null;
  /** MLDv2: the General Query answer (RFC 3810 §6.2 rule 1). */
  private interfaceTimer: TimerHandle | null = null;
  private interfaceTimerAt = Infinity;
  /** RFC 3810 §8.2.1: an MLDv1 querier was heard; until then the port speaks MLDv1. */
  private olderQuerier: TimerHandle | null = null;
  olderQuerierUntil = 0;
  readonly sent = { reports: 0, dones: 0 };

  constructor(private readonly env: MldEnv, private config: MldInterfaceConfig) {}

  /** A reload's new timers (same version): pending timers keep running, later ones use them. */
  reconfigure(next: MldInterfaceConfig): void {
    this.config = next;
  }

  /** MLDv1 when configured so or while an MLDv1 querier is present. */
  get version(): 1 | 2 {
    return this.config.version === 1 || this.olderQuerier !== null ? 1 : 2;
  }

  reported(): Uint8Array[] {
    return [...this.groups.values()].map((g) => g.addr);
  }

  /** Brings the reported set to `wanted` (the stack's listened groups): joins and leaves, one State-Change report for all. */
  setGroups(wanted: readonly Uint8Array[]): void {
    const next = new Map<string, Uint8Array>();
    for (const g of wanted) if (isReportable(g)) next.set(formatIpv6(g), g);
    const left = [...this.groups.keys()].filter((k) => !next.has(k));
    const joined = [...next.entries()].filter(([k]) => !this.groups.has(k));
    if (left.length === 0 && joined.length === 0) return;
    for (const k of left) this.leave(k);
    for (const [k, addr] of joined) this.join(k, addr);
    if (this.version === 2) this.sendChanges();
  }

  private join(key: string, addr: Uint8Array): void {
    const g: OwnGroup = { addr, timer: null, timerAt: Infinity, repeats: 0, lastReporter: false, querySources: null };
    this.groups.set(key, g);
    if (this.version === 1) {
      // RFC 2710 §4: a Report at once, repeated after a random delay up to the Unsolicited Report Interval.
      this.sendV1Report(g);
      g.repeats = this.config.robustness - 1;
      if (g.repeats > 0) this.arm(g, uniform(this.env.rng, 0, this.config.unsolicitedReportInterval * 1000));
    } else {
      this.changes.set(key, { addr, type: MLD_RECORD_TYPE.CHANGE_TO_EXCLUDE_MODE, left: this.config.robustness });
    }
  }

  private leave(key: string): void {
    const g = this.groups.get(key)!;
    g.timer?.cancel();
    this.groups.delete(key);
    if (this.version === 1) {
      // RFC 2710 §4: Done to all-routers, only if this node sent the last Report.
      if (g.lastReporter) {
        this.env.send(ALL_ROUTERS, { type: 'mldv1Done', group: g.addr });
        this.sent.dones++;
      }
    } else {
      this.changes.set(key, { addr: g.addr, type: MLD_RECORD_TYPE.CHANGE_TO_INCLUDE_MODE, left: this.config.robustness });
    }
  }

  /** RFC 3810 §6.1: every pending State-Change record now, then again after a random delay while any has retransmissions left. */
  private sendChanges(): void {
    this.changeTimer?.cancel();
    this.changeTimer = null;
    const records: MldAddressRecord[] = [];
    for (const [k, c] of this.changes) {
      records.push({ recordType: c.type, group: c.addr, sources: [], auxData: new Uint8Array(0) });
      if (--c.left <= 0) this.changes.delete(k);
    }
    this.sendV2Records(records);
    if (this.changes.size > 0) {
      this.changeTimer = this.env.clock.setTimer(uniform(this.env.rng, 0, this.config.unsolicitedReportInterval * 1000), () => this.sendChanges());
    }
  }

  /** A query heard on the port (from any router, or the querier this node is not). */
  receiveQuery(msg: Extract<MldMessage, { type: 'mldv1Query' | 'mldv2Query' }>): void {
    if (msg.type === 'mldv1Query') {
      this.olderQuerierPresent();
      return this.answerV1(msg.group, msg.maxResponseDelay);
    }
    // An MLDv1 listener takes an MLDv2 Query as an MLDv1 one (RFC 3810 §8.2.2).
    const delayMs = mldv2MaxResponseDelayMs(msg.maxResponseCode);
    if (this.version === 1) return this.answerV1(msg.group, delayMs);
    const delay = uniform(this.env.rng, 0, delayMs);
    const now = this.env.clock.now();
    // §6.2 rule 1: a pending General Query answer that comes sooner covers everything.
    if (this.interfaceTimerAt <= now + delay) return;
    if (isUnspecified(msg.group)) {
      this.interfaceTimer?.cancel();
      this.interfaceTimerAt = now + delay;
      this.interfaceTimer = this.env.clock.setTimer(delay, () => this.answerGeneral());
      return;
    }
    const g = this.groups.get(formatIpv6(msg.group));
    if (g === undefined) return;
    // Rules 3 and 4: the sooner of the two delays; sources accumulate unless the whole group is already asked for.
    if (g.timer === null) g.querySources = msg.sources.length > 0 ? [...msg.sources] : null;
    else if (g.querySources !== null && msg.sources.length > 0) g.querySources = union(g.querySources, msg.sources);
    else g.querySources = null;
    if (g.timer === null || g.timerAt > now + delay) this.arm(g, delay);
  }

  /** RFC 2710 §4: a timer of up to the Maximum Response Delay per group asked about, kept if it already ends sooner. */
  private answerV1(group: Uint8Array, maxDelayMs: number): void {
    const now = this.env.clock.now();
    const general = isUnspecified(group);
    for (const g of this.groups.values()) {
      if (!general && !equalAddress(g.addr, group)) continue;
      const delay = uniform(this.env.rng, 0, maxDelayMs);
      if (g.timer === null || g.timerAt > now + delay) this.arm(g, delay);
    }
  }

  /** RFC 2710 §4: another listener's Report for a group this node has a report pending for suppresses it. */
  receiveReport(group: Uint8Array): void {
    if (this.version !== 1) return;
    const g = this.groups.get(formatIpv6(group));
    if (g === undefined) return;
    g.lastReporter = false;
    g.repeats = 0;
    g.timer?.cancel();
    g.timer = null;
    g.timerAt = Infinity;
  }

  private arm(g: OwnGroup, delay: number): void {
    g.timer?.cancel();
    g.timerAt = this.env.clock.now() + delay;
    g.timer = this.env.clock.setTimer(delay, () => this.fire(g));
  }

  private fire(g: OwnGroup): void {
    g.timer = null;
    g.timerAt = Infinity;
    if (this.version === 1) {
      this.sendV1Report(g);
      if (g.repeats > 0 && --g.repeats > 0) this.arm(g, uniform(this.env.rng, 0, this.config.unsolicitedReportInterval * 1000));
      return;
    }
    // RFC 3810 §6.3: EXCLUDE {} answers a group query with IS_EX {}, a source query with IS_IN of the sources asked.
    const sources = g.querySources;
    g.querySources = null;
    this.sendV2Records([
      sources === null
        ? { recordType: MLD_RECORD_TYPE.MODE_IS_EXCLUDE, group: g.addr, sources: [], auxData: new Uint8Array(0) }
        : { recordType: MLD_RECORD_TYPE.MODE_IS_INCLUDE, group: g.addr, sources, auxData: new Uint8Array(0) },
    ]);
  }

  private answerGeneral(): void {
    this.interfaceTimer = null;
    this.interfaceTimerAt = Infinity;
    this.sendV2Records([...this.groups.values()].map((g) => ({ recordType: MLD_RECORD_TYPE.MODE_IS_EXCLUDE, group: g.addr, sources: [], auxData: new Uint8Array(0) })));
  }

  private sendV1Report(g: OwnGroup): void {
    this.env.send(g.addr, { type: 'mldv1Report', group: g.addr });
    g.lastReporter = true;
    this.sent.reports++;
  }

  /** As many MLDv2 Reports as the records need at the port's MTU (RFC 3810 §5.2.15). */
  private sendV2Records(records: readonly MldAddressRecord[]): void {
    let batch: MldAddressRecord[] = [];
    let size = 8;
    for (const r of records) {
      const len = 20 + 16 * r.sources.length;
      if (batch.length > 0 && size + len > this.env.maxMessage) {
        this.flushV2(batch);
        batch = [];
        size = 8;
      }
      batch.push(r);
      size += len;
    }
    if (batch.length > 0) this.flushV2(batch);
  }

  private flushV2(records: MldAddressRecord[]): void {
    this.env.send(ALL_MLDV2_ROUTERS, { type: 'mldv2Report', records });
    this.sent.reports++;
  }

  /**
   * RFC 3810 §8.2.1: Older Version Querier Present Timeout = Robustness × Query Interval +
   * Query Response Interval; switching to MLDv1 cancels every pending MLDv2 answer and retransmission.
   */
  private olderQuerierPresent(): void {
    if (this.config.version === 1) return;
    const ms = (this.config.robustness * this.config.queryInterval + this.config.queryResponseInterval) * 1000;
    if (this.olderQuerier === null) {
      this.interfaceTimer?.cancel();
      this.interfaceTimer = null;
      this.interfaceTimerAt = Infinity;
      this.changeTimer?.cancel();
      this.changeTimer = null;
      this.changes.clear();
      for (const g of this.groups.values()) {
        g.timer?.cancel();
        g.timer = null;
        g.timerAt = Infinity;
        g.querySources = null;
      }
    }
    this.olderQuerier?.cancel();
    this.olderQuerierUntil = this.env.clock.now() + ms;
    this.olderQuerier = this.env.clock.setTimer(ms, () => {
      this.olderQuerier = null;
      this.olderQuerierUntil = 0;
    });
  }

  stop(): void {
    // Leaving everything says so on the link (Done, or TO_IN {} once).
    for (const k of [...this.groups.keys()]) this.leave(k);
    if (this.version === 2 && this.changes.size > 0) {
      for (const c of this.changes.values()) c.left = 1;
      this.sendChanges();
    }
    this.changeTimer?.cancel();
    this.interfaceTimer?.cancel();
    this.olderQuerier?.cancel();
  }
}

function union(a: readonly Uint8Array[], b: readonly Uint8Array[]): Uint8Array[] {
  const out = new Map(a.map((x) => [formatIpv6(x), x]));
  for (const x of b) out.set(formatIpv6(x), x);
  return [...out.values()];
}
