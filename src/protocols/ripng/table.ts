/**
 * The RIPng routing table (RFC 2080 §2.4.2): one entry per prefix, learned from neighbours
 * or originated here (redistributed connected and static routes), each with its metric,
 * tag, next hops and the timers that age it. Pure state and decisions: no I/O, time is
 * passed in, and every change is reported through the Changes callbacks so the engine can
 * install routes in the RIB and schedule triggered updates.
 */
import { equalAddress, formatIpv6, maskAddress } from '../../lib/addr.js';
import { RIPNG_INFINITY } from '../../wire/ripng.js';

export type RouteSource = 'rip' | 'connected' | 'static';

export interface RipNexthop {
  readonly port: number;
  /** The neighbour's link-local address; null for an originated route with no gateway. */
  readonly gateway: Uint8Array | null;
  /** When this next hop times out (ms on the injected clock); Infinity for originated routes that do not age. */
  expiresAt: number;
}

export interface RipRoute {
  readonly key: string;
  readonly prefix: Uint8Array;
  readonly prefixLen: number;
  source: RouteSource;
  metric: number;
  tag: number;
  nexthops: RipNexthop[];
  /** Set while the route is being deleted (metric 16): when it leaves the table (§2.4.2, garbage collection). */
  garbageAt: number | null;
  /** The route change flag of §2.5: it goes into the next triggered update. */
  changed: boolean;
  /** Split horizon toward the next hops' ports: learned routes always, static ones with route6d -s (not -S). */
  splitHorizon: boolean;
}

/** What the table tells the engine; each call follows the table change it describes. */
export interface TableEvents {
  /** A learned route gained, lost or changed a usable next hop or metric: (re)install it. */
  install(route: RipRoute): void;
  /** A learned route became unreachable or left the table: take it out of the RIB. */
  uninstall(route: RipRoute): void;
  /** The route's change flag was set: a triggered update is due. */
  changed(route: RipRoute): void;
  /** A per-route decision, for the debug log and the route-change log. */
  decision(route: { prefix: Uint8Array; prefixLen: number }, what: string, detail?: object): void;
  /** An earlier deadline appeared: sweep by `at`. */
  deadline(at: number): void;
}

export interface Timing {
  /** §2.3 timeout and garbage-collection times of the port a route was learned on, in ms. */
  timeoutMs(port: number): number;
  garbageMs(port: number): number;
}

export function routeKey(prefix: Uint8Array, prefixLen: number): string {
  return `${formatIpv6(prefix)}/${prefixLen}`;
}

function sameHop(n: RipNexthop, port: number, gateway: Uint8Array | null): boolean {
  if (n.port !== port) return false;
  if (n.gateway === null || gateway === null) return n.gateway === gateway;
  for (let i = 0; i < 16; i++) if (n.gateway[i] !== gateway[i]) return false;
  return true;
}

/** Distinct neighbour addresses shared between routes (see RipTable.intern). */
const MAX_INTERNED = 64;

export class RipTable {
  readonly routes = new Map<string, RipRoute>();
  private readonly gateways: Uint8Array[] = [];

  constructor(
    private readonly events: TableEvents,
    private readonly timing: Timing,
    private ecmp: number,
  ) {}

  setEcmp(n: number): void {
    this.ecmp = n;
  }

  /**
   * One shared copy of each neighbour's address: thousands of routes from one neighbour
   * point at the same 16 bytes instead of a Uint8Array each (about 100 bytes per route at
   * scale). A link has few RIPng neighbours; past MAX_INTERNED, routes get their own copy.
   */
  private intern(gateway: Uint8Array): Uint8Array {
    for (const g of this.gateways) if (equalAddress(g, gateway)) return g;
    const copy = Uint8Array.from(gateway);
    if (this.gateways.length < MAX_INTERNED) this.gateways.push(copy);
    return copy;
  }

  /**
   * The route now goes through one next hop, `gateway` (already interned) on `port`, with
   * this metric and tag until `expiresAt`; the FIB and the next triggered update learn of it.
   */
  private setSingleHop(e: RipRoute, metric: number, tag: number, port: number, gateway: Uint8Array | null, expiresAt: number): void {
    e.metric = metric;
    e.tag = tag;
    e.nexthops = [{ port, gateway, expiresAt }];
    this.events.deadline(expiresAt);
    this.events.install(e);
    this.markChanged(e);
  }

  /**
   * §2.4.2: a received RTE, its metric already raised by the interface cost and capped at
   * 16, from `gateway` on `port`. Returns what was decided (for the decision log).
   */
  learn(prefixIn: Uint8Array, prefixLen: number, metric: number, tag: number, port: number, gateway: Uint8Array, now: number, ageStatic: boolean): string {
    const prefix = maskAddress(prefixIn, prefixLen);
    const key = routeKey(prefix, prefixLen);
    const timeout = this.timing.timeoutMs(port);
    const e = this.routes.get(key);
    if (e === undefined) {
      // "If there is no existing route, ... and the metric is infinity, ignore the entry."
      if (metric >= RIPNG_INFINITY) return 'ignored: unreachable and unknown';
      const route: RipRoute = {
        key, prefix, prefixLen, source: 'rip', metric, tag, garbageAt: null, changed: false, splitHorizon: true,
        nexthops: [{ port, gateway: this.intern(gateway), expiresAt: now + timeout }],
      };
      this.routes.set(key, route);
      this.events.deadline(now + timeout);
      this.events.install(route);
      this.markChanged(route);
      return 'accepted: new route';
    }
    if (e.source !== 'rip') {
      // route6d -a: an aged static route lives on while its gateway keeps advertising it.
      if (ageStatic && e.source === 'static' && metric < RIPNG_INFINITY) {
        const hop = e.nexthops.find((n) => sameHop(n, port, gateway));
        if (hop !== undefined) {
          hop.expiresAt = now + timeout;
          return 'refreshed: aged static route';
        }
      }
      return 'ignored: originated here';
    }
    if (e.garbageAt !== null) {
      if (metric >= RIPNG_INFINITY) return 'ignored: already unreachable';
      e.garbageAt = null;
      this.setSingleHop(e, metric, tag, port, this.intern(gateway), now + timeout);
      return 'accepted: route back from deletion';
    }
    const at = e.nexthops.findIndex((n) => sameHop(n, port, gateway));
    if (at >= 0) {
      // "If the new metric is the same as the old one, ... re-initialize the timeout."
      const hop = e.nexthops[at]!;
      if (metric === e.metric) {
        hop.expiresAt = now + timeout;
        if (tag !== e.tag) {
          e.tag = tag;
          this.markChanged(e);
          return 'accepted: new tag';
        }
        return 'refreshed';
      }
      if (metric >= RIPNG_INFINITY) {
        if (e.nexthops.length === 1) {
          this.startDeletion(e, now, port);
          return 'accepted: unreachable, deleting';
        }
        e.nexthops.splice(at, 1);
        this.events.install(e);
        return 'accepted: one equal-cost next hop unreachable';
      }
      if (e.nexthops.length > 1 && metric > e.metric) {
        // The other equal-cost next hops are still better than this one now is.
        e.nexthops.splice(at, 1);
        this.events.install(e);
        return 'accepted: one equal-cost next hop got worse';
      }
      this.setSingleHop(e, metric, tag, port, hop.gateway, now + timeout);
      return 'accepted: new metric from the current next hop';
    }
    if (metric >= RIPNG_INFINITY) return 'ignored: unreachable from another router';
    if (metric < e.metric) {
      this.setSingleHop(e, metric, tag, port, this.intern(gateway), now + timeout);
      return 'accepted: better metric';
    }
    if (metric === e.metric) {
      if (e.nexthops.length < this.ecmp) {
        e.nexthops.push({ port, gateway: this.intern(gateway), expiresAt: now + timeout });
        this.events.deadline(now + timeout);
        this.events.install(e);
        return 'accepted: equal-cost next hop';
      }
      // §2.4.2's heuristic: switch to an equal route when the current one is halfway to
      // timing out, rather than wait for it to expire.
      const only = e.nexthops.length === 1 ? e.nexthops[0]! : null;
      // Routes over a demand circuit never time out (RFC 2091 §4), so they are never halfway.
      if (only !== null && only.expiresAt !== Infinity && only.expiresAt - now <= this.timing.timeoutMs(only.port) / 2) {
        e.tag = tag;
        e.nexthops = [{ port, gateway: this.intern(gateway), expiresAt: now + timeout }];
        this.events.deadline(now + timeout);
        this.events.install(e);
        return 'accepted: equal metric, current route halfway to timeout';
      }
      return 'ignored: equal metric, ECMP limit reached';
    }
    return 'ignored: worse metric from another router';
  }

  /**
   * Makes `route` an originated route (connected or static, redistributed), replacing any
   * learned route for its prefix: our own paths win over what neighbours say.
   */
  originate(prefixIn: Uint8Array, prefixLen: number, source: 'connected' | 'static', metric: number, tag: number, nexthops: readonly { port: number; gateway: Uint8Array | null }[], splitHorizon: boolean, expiresAt: number): void {
    const prefix = maskAddress(prefixIn, prefixLen);
    const key = routeKey(prefix, prefixLen);
    const e = this.routes.get(key);
    if (e !== undefined && e.source === 'rip' && e.garbageAt === null) this.events.uninstall(e);
    const hops = nexthops.map((n) => ({ port: n.port, gateway: n.gateway === null ? null : Uint8Array.from(n.gateway), expiresAt }));
    const same = e !== undefined && e.source === source && e.garbageAt === null && e.metric === metric && e.tag === tag && e.splitHorizon === splitHorizon &&
      e.nexthops.length === hops.length && e.nexthops.every((n, i) => sameHop(n, hops[i]!.port, hops[i]!.gateway));
    if (same) return;
    const route: RipRoute = { key, prefix, prefixLen, source, metric, tag, nexthops: hops, garbageAt: null, changed: false, splitHorizon };
    this.routes.set(key, route);
    if (expiresAt !== Infinity) this.events.deadline(expiresAt);
    this.events.decision(route, `originated (${source})`);
    this.markChanged(route);
  }

  /** An originated route went away: advertise it as unreachable until garbage collection. */
  unoriginate(prefix: Uint8Array, prefixLen: number, now: number): void {
    const e = this.routes.get(routeKey(maskAddress(prefix, prefixLen), prefixLen));
    if (e === undefined || e.source === 'rip' || e.garbageAt !== null) return;
    this.startDeletion(e, now, e.nexthops[0]?.port ?? -1);
  }

  /**
   * Ages the table at `now`: expired next hops go, routes left without one start deletion,
   * and deleted routes whose garbage-collection time has come leave. Returns the next
   * deadline (Infinity: none).
   */
  sweep(now: number): number {
    let next = Infinity;
    for (const e of this.routes.values()) {
      if (e.garbageAt !== null) {
        if (e.garbageAt <= now) {
          this.routes.delete(e.key);
          this.events.decision(e, 'garbage-collected');
        } else next = Math.min(next, e.garbageAt);
        continue;
      }
      if (e.source !== 'rip' && e.nexthops.every((n) => n.expiresAt === Infinity)) continue;
      const live = e.nexthops.filter((n) => n.expiresAt > now);
      if (live.length === 0) {
        this.events.decision(e, 'timed out');
        this.startDeletion(e, now, e.nexthops[0]?.port ?? -1);
        next = Math.min(next, e.garbageAt!);
        continue;
      }
      if (live.length !== e.nexthops.length) {
        e.nexthops = live;
        this.events.decision(e, 'equal-cost next hop timed out');
        this.events.install(e);
      }
      for (const n of live) next = Math.min(next, n.expiresAt);
    }
    return next;
  }

  /**
   * RFC 2091 §3 flush: every route learned from `gateway` on `port` is dropped before the
   * rest of its Update Response is used (the sender is about to send its whole table).
   */
  flushNeighbor(port: number, gateway: Uint8Array, now: number): void {
    for (const e of this.routes.values()) {
      if (e.source !== 'rip' || e.garbageAt !== null) continue;
      const live = e.nexthops.filter((n) => !sameHop(n, port, gateway));
      if (live.length === e.nexthops.length) continue;
      if (live.length === 0) this.startDeletion(e, now, port);
      else {
        e.nexthops = live;
        this.events.install(e);
      }
    }
  }

  /** Every learned route via `port` times out at once (the link went down). */
  expirePort(port: number, now: number): void {
    for (const e of this.routes.values()) {
      if (e.source !== 'rip' || e.garbageAt !== null) continue;
      const live = e.nexthops.filter((n) => n.port !== port);
      if (live.length === e.nexthops.length) continue;
      if (live.length === 0) this.startDeletion(e, now, port);
      else {
        e.nexthops = live;
        this.events.install(e);
      }
    }
  }

  /** Removes every learned route (turtle6ctl clear ripng). */
  clearLearned(): number {
    let n = 0;
    for (const e of [...this.routes.values()]) {
      if (e.source !== 'rip') continue;
      this.routes.delete(e.key);
      if (e.garbageAt === null) this.events.uninstall(e);
      n++;
    }
    return n;
  }

  clearChangeFlags(): void {
    for (const e of this.routes.values()) e.changed = false;
  }

  /**
   * §2.4.2 deletion: the metric becomes 16, the change flag is set, and the
   * garbage-collection timer starts; the route is still advertised, as unreachable.
   */
  private startDeletion(e: RipRoute, now: number, port: number): void {
    const wasInstalled = e.source === 'rip';
    e.metric = RIPNG_INFINITY;
    e.garbageAt = now + this.timing.garbageMs(port);
    this.events.deadline(e.garbageAt);
    if (wasInstalled) this.events.uninstall(e);
    this.markChanged(e);
  }

  private markChanged(e: RipRoute): void {
    e.changed = true;
    this.events.changed(e);
  }
}
