/**
 * The Routing Information Base: routes from every origin (connected, local, static, RIPng,
 * DHCPv6-PD, ...), one per (prefix, origin), and the best of each prefix, which compile()
 * turns into the FIB the lanes read.
 *
 * Selection is by administrative preference, lower wins (FRR's distances), then metric;
 * on a tie the incumbent stays, so that equal routes arriving in another order do not flap
 * the FIB. Protocols never touch the FIB: this is the one narrow door (as zebra is in FRR).
 *
 * Control plane only; nothing here runs per packet.
 */
import { equalAddress, maskAddress } from '../lib/addr.js';
import { FIB_MEMBER_COUNTERS, NH_BLACKHOLE, NH_CONNECTED, NH_GATEWAY, NH_IPSEC, NH_LOCAL, NH_REJECT, type FibNexthop, type FibRoute } from '../shm/fib.js';
import { MAX_PORTS, type InterfaceTable, type RouterInterface } from './interfaces.js';

export type RouteOrigin = 'connected' | 'local' | 'static' | 'ripng' | 'dhcpv6' | 'ospf6' | 'bgp' | (string & {});
/** `ipsec`: into a route-based IPsec tunnel (RibRoute.tunnel), with no port of its own. */
export type RouteKind = 'unicast' | 'local' | 'reject' | 'blackhole' | 'ipsec';

export interface RibNexthop {
  readonly port: number;
  /** null: the destination is on-link on `port`. A link-local gateway is meaningful only with its port (RFC 4007). */
  readonly gateway: Uint8Array | null;
}

export interface RibRoute {
  readonly prefix: Uint8Array;
  readonly prefixLen: number;
  readonly origin: RouteOrigin;
  /** Administrative preference; lower wins. */
  readonly preference: number;
  readonly metric: number;
  readonly nexthops: readonly RibNexthop[];
  readonly kind: RouteKind;
  readonly tag?: number;
  /** Kind `ipsec`: the tunnel's index in `ipsec.tunnels[]` (the lanes map it to its outbound SA). */
  readonly tunnel?: number;
}

/** FRR's administrative distances (connected 0, eBGP 20, OSPF 110, RIP 120); DHCPv6-PD and RA routes sit between static and the IGPs. */
export const DEFAULT_PREFERENCE: Readonly<Record<string, number>> = {
  connected: 0,
  local: 0,
  static: 10,
  bgp: 20,
  dhcpv6: 50,
  /** Prefixes delegated through the DHCPv6 relay (protocols/dhcpv6/relay-routes.ts). */
  'dhcpv6-pd': 50,
  /** A default route and on-link prefixes learned from an upstream router's RAs (stack/ra-host.ts). */
  ra: 60,
  ospf6: 110,
  ripng: 120,
};
/** Distinct (port, gateway) single-nexthop lists shared between routes (Rib.storedNexthops). */
const MAX_SHARED_NEXTHOPS = 1024;

/** For origins the table does not know: below every known one. */
export const UNKNOWN_ORIGIN_PREFERENCE = 200;

export function defaultPreference(origin: RouteOrigin): number {
  return DEFAULT_PREFERENCE[origin] ?? UNKNOWN_ORIGIN_PREFERENCE;
}

export interface BestChangedEvent {
  readonly type: 'best-changed';
  readonly prefix: Uint8Array;
  readonly prefixLen: number;
  readonly best: RibRoute | undefined;
}

/** The FIB encoder's input (src/shm/fib.ts). */
export interface FibInput {
  readonly routes: FibRoute[];
  readonly nexthops: FibNexthop[];
}

export interface RibOptions {
  /** Nexthops kept per route for ECMP (compile() makes them a FIB group). */
  maxNexthops?: number;
}

/** An ECMP member that has a lane counter slot (Rib.memberCounters). */
export interface MemberCounter {
  readonly prefix: Uint8Array;
  readonly prefixLen: number;
  readonly port: number;
  readonly gateway: Uint8Array | null;
}

/**
 * One prefix and its routes, one per origin. A full table is 100,000 of these, so they are
 * kept small: the routes in a plain array (rarely more than two origins share a prefix, and
 * a Map costs several times an array of one), and no copy of the prefix beyond the routes'.
 */
interface PrefixEntry {
  readonly prefix: Uint8Array;
  readonly prefixLen: number;
  readonly routes: RibRoute[];
  best: RibRoute | undefined;
}

/**
 * The map key of a masked prefix: its length, then only the bytes the length covers, one
 * char each (a one-byte string of 7 chars for a /48). Reading the bytes by index keeps a
 * small Uint8Array's storage on V8's heap; going through `.buffer` would move it off-heap
 * with a backing store of its own.
 */
function prefixKey(masked: Uint8Array, len: number): string {
  let key = String.fromCharCode(len);
  for (let i = 0; i < (len + 7) >> 3; i++) key += String.fromCharCode(masked[i]!);
  return key;
}

/** Slots per PrefixStore chunk: see there. */
const PREFIX_CHUNK_SLOTS = 16;

/**
 * Where the RIB keeps its prefixes: 16-byte views into shared 256-byte chunks. In V8 a
 * standalone Uint8Array(16) costs about 224 bytes of heap (the array, its ArrayBuffer and the
 * bytes), a view into a chunk about 100. Slots are never reused, since whoever received a
 * route (an event subscriber) may still hold its prefix; a chunk goes to the GC with the last
 * view into it. At 16 slots, a chunk kept alive by one prefix costs about what a standalone
 * array would, so churn never makes this worse than the plain way.
 */
class PrefixStore {
  private chunk = new Uint8Array(0);
  private used = PREFIX_CHUNK_SLOTS;

  copy(prefix: Uint8Array): Uint8Array {
    if (this.used === PREFIX_CHUNK_SLOTS) {
      this.chunk = new Uint8Array(16 * PREFIX_CHUNK_SLOTS);
      this.used = 0;
    }
    const view = this.chunk.subarray(16 * this.used, 16 * this.used + 16);
    this.used++;
    view.set(prefix);
    return view;
  }
}

function indexOfOrigin(routes: readonly RibRoute[], origin: RouteOrigin): number {
  for (let i = 0; i < routes.length; i++) if (routes[i]!.origin === origin) return i;
  return -1;
}

/** Removes `origin`'s route from the entry; false if it had none. */
function removeOrigin(entry: PrefixEntry, origin: RouteOrigin): boolean {
  const at = indexOfOrigin(entry.routes, origin);
  if (at < 0) return false;
  entry.routes.splice(at, 1);
  return true;
}

function sameNexthops(a: readonly RibNexthop[], b: readonly RibNexthop[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.port !== y.port) return false;
    if (x.gateway === null || y.gateway === null ? x.gateway !== y.gateway : !equalAddress(x.gateway, y.gateway)) return false;
  }
  return true;
}

function sameRoute(a: RibRoute | undefined, b: RibRoute | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.origin === b.origin && a.preference === b.preference && a.metric === b.metric && a.kind === b.kind &&
    a.tag === b.tag && a.tunnel === b.tunnel && sameNexthops(a.nexthops, b.nexthops);
}

/** Orders by prefix length, then by prefix bytes: the order compile() and bestRoutes() return. */
function comparePrefixes(a: { prefix: Uint8Array; prefixLen: number }, b: { prefix: Uint8Array; prefixLen: number }): number {
  if (a.prefixLen !== b.prefixLen) return a.prefixLen - b.prefixLen;
  for (let i = 0; i < 16; i++) if (a.prefix[i] !== b.prefix[i]) return a.prefix[i]! - b.prefix[i]!;
  return 0;
}

export class Rib {
  private readonly prefixes = new Map<string, PrefixEntry>();
  /** How many prefixes of each length have a best route, for the longest-match walk. */
  private readonly bestLengths = new Array<number>(129).fill(0);
  private readonly subscribers: Array<(ev: BestChangedEvent) => void> = [];
  private readonly maxNexthops: number;
  /** Shared copies of gateway addresses (see internGateway). */
  private readonly gateways: Uint8Array[] = [];
  private readonly prefixStore = new PrefixStore();
  /** Shared single-nexthop lists (see storedNexthops). */
  private readonly sharedNexthops = new Map<string, readonly RibNexthop[]>();
  /**
   * The lanes' per-member ECMP counter slots, by (prefix, port, gateway): given out on first
   * compile, never reused while the process runs, so a slot's count belongs to one member
   * for good (a Prometheus counter never goes back). FIB_MEMBER_COUNTERS bounds them, and so
   * the metric's label sets; members past that are forwarded but not counted.
   */
  private readonly counterSlots = new Map<string, number>();
  private readonly counterMembers: MemberCounter[] = [];

  constructor(opts: RibOptions = {}) {
    this.maxNexthops = opts.maxNexthops ?? 8;
  }

  /** Adds a route, replacing the one of the same (prefix, origin). Host bits of the prefix are cleared. */
  add(route: RibRoute): void {
    this.check(route);
    const prefix = maskAddress(route.prefix, route.prefixLen);
    const key = prefixKey(prefix, route.prefixLen);
    let entry = this.prefixes.get(key);
    const stored = this.storedRoute(route, entry?.prefix ?? this.prefixStore.copy(prefix));
    if (entry === undefined) {
      entry = { prefix: stored.prefix, prefixLen: route.prefixLen, routes: [stored], best: undefined };
      this.prefixes.set(key, entry);
    } else {
      const at = indexOfOrigin(entry.routes, route.origin);
      if (at < 0) entry.routes.push(stored);
      else entry.routes[at] = stored;
    }
    this.reselect(key, entry);
  }

  /**
   * The RIB's own copy of a route, as a literal of one fixed shape: a spread copy of the
   * caller's object can land its properties out of line, a second allocation per route.
   */
  private storedRoute(route: RibRoute, prefix: Uint8Array): RibRoute {
    const stored: { -readonly [K in keyof RibRoute]: RibRoute[K] } = {
      prefix,
      prefixLen: route.prefixLen,
      origin: route.origin,
      preference: route.preference,
      metric: route.metric,
      nexthops: this.storedNexthops(route.nexthops),
      kind: route.kind,
    };
    if (route.tag !== undefined) stored.tag = route.tag;
    if (route.tunnel !== undefined) stored.tunnel = route.tunnel;
    return stored;
  }

  /**
   * The RIB's own copy of a route's nexthops. Most routes have one nexthop, and thousands
   * share it (every route learned from one neighbour, every static route via one gateway):
   * those share one frozen list, kept per (port, gateway) for up to MAX_SHARED_NEXTHOPS
   * distinct ones. ECMP lists get their own copy, with interned gateways.
   */
  private storedNexthops(nexthops: readonly RibNexthop[]): readonly RibNexthop[] {
    if (nexthops.length === 1) {
      const { port, gateway } = nexthops[0]!;
      const key = `${port}|${gateway === null ? '' : prefixKey(gateway, 128)}`;
      const shared = this.sharedNexthops.get(key);
      if (shared !== undefined) return shared;
      const list = Object.freeze([Object.freeze({ port, gateway: gateway === null ? null : this.internGateway(gateway) })]);
      if (this.sharedNexthops.size < MAX_SHARED_NEXTHOPS) this.sharedNexthops.set(key, list);
      return list;
    }
    return nexthops.slice(0, this.maxNexthops).map((n) => ({ port: n.port, gateway: n.gateway === null ? null : this.internGateway(n.gateway) }));
  }

  /**
   * Routes learned from one neighbour share its address: one copy per gateway instead of a
   * Uint8Array per route (10,000 RIPng routes from one neighbour). Few routers are
   * neighbours; past 64 distinct gateways, routes get their own copy.
   */
  private internGateway(gateway: Uint8Array): Uint8Array {
    for (const g of this.gateways) if (equalAddress(g, gateway)) return g;
    const copy = Uint8Array.from(gateway);
    if (this.gateways.length < 64) this.gateways.push(copy);
    return copy;
  }

  remove(prefix: Uint8Array, prefixLen: number, origin: RouteOrigin): boolean {
    const key = prefixKey(maskAddress(prefix, prefixLen), prefixLen);
    const entry = this.prefixes.get(key);
    if (entry === undefined || !removeOrigin(entry, origin)) return false;
    this.reselect(key, entry);
    return true;
  }

  /** Removes every route of `origin`, as when a protocol stops. */
  withdrawOrigin(origin: RouteOrigin): void {
    for (const [key, entry] of [...this.prefixes]) {
      if (removeOrigin(entry, origin)) this.reselect(key, entry);
    }
  }

  /**
   * Takes a port that is gone out of every route: a unicast route keeps its next hops on
   * other ports and is withdrawn when none is left.
   */
  withdrawPort(port: number): void {
    for (const [key, entry] of [...this.prefixes]) {
      let changed = false;
      for (let i = entry.routes.length - 1; i >= 0; i--) {
        const r = entry.routes[i]!;
        if (!r.nexthops.some((n) => n.port === port)) continue;
        changed = true;
        const rest = r.nexthops.filter((n) => n.port !== port);
        if (rest.length === 0) entry.routes.splice(i, 1);
        else entry.routes[i] = this.storedRoute({ ...r, nexthops: rest }, entry.prefix);
      }
      if (changed) this.reselect(key, entry);
    }
  }

  /**
   * Makes `routes` the complete set of `origin`'s routes: adds and replaces those given,
   * removes the rest. Unchanged routes cause no events.
   */
  replaceOrigin(origin: RouteOrigin, routes: readonly RibRoute[]): void {
    const keep = new Set<string>();
    for (const r of routes) {
      if (r.origin !== origin) throw new RangeError(`replaceOrigin(${origin}): route of origin ${r.origin}`);
      keep.add(prefixKey(maskAddress(r.prefix, r.prefixLen), r.prefixLen));
    }
    for (const [key, entry] of [...this.prefixes]) {
      if (!keep.has(key) && removeOrigin(entry, origin)) this.reselect(key, entry);
    }
    for (const r of routes) this.add(r);
  }

  best(prefix: Uint8Array, prefixLen: number): RibRoute | undefined {
    return this.prefixes.get(prefixKey(maskAddress(prefix, prefixLen), prefixLen))?.best;
  }

  all(): RibRoute[] {
    const out: RibRoute[] = [];
    for (const entry of this.sortedEntries()) out.push(...entry.routes);
    return out;
  }

  bestRoutes(): RibRoute[] {
    const out: RibRoute[] = [];
    for (const entry of this.sortedEntries()) if (entry.best !== undefined) out.push(entry.best);
    return out;
  }

  /** Longest-prefix match over the best routes, for the control plane (choosing a source, resolving a gateway). */
  lookup(addr: Uint8Array): RibRoute | undefined {
    for (let len = 128; len >= 0; len--) {
      if (this.bestLengths[len] === 0) continue;
      const best = this.prefixes.get(prefixKey(maskAddress(addr, len), len))?.best;
      if (best !== undefined) return best;
    }
    return undefined;
  }

  /** Calls `fn` whenever the best route of a prefix appears, changes or goes; returns the unsubscribe function. */
  subscribe(fn: (ev: BestChangedEvent) => void): () => void {
    this.subscribers.push(fn);
    return () => {
      const at = this.subscribers.indexOf(fn);
      if (at >= 0) this.subscribers.splice(at, 1);
    };
  }

  /**
   * The best routes in the FIB encoder's shape, each pointing at a nexthop shared by every
   * route with the same (kind, port, gateway). A unicast route with several nexthops
   * (static, or learned with RIPng `ecmp`) becomes an ECMP group of them, one group per
   * route, each member with its counter slot. Connected routes stay on their first port: a
   * prefix on two links is not two paths to the same hosts. Reject and blackhole nexthops
   * carry no port (0) and local ones no MTU; an ipsec nexthop carries the tunnel index where
   * the port goes (its MTU is the lane's to work out from the route to the tunnel endpoint).
   */
  compile(mtuOfPort: (port: number) => number): FibInput {
    const routes: FibRoute[] = [];
    const nexthops: FibNexthop[] = [];
    const indexByKey = new Map<string, number>();
    const indexOf = (kind: number, port: number, gateway: Uint8Array | undefined): number => {
      const key = `${kind}|${port}|${gateway === undefined ? '' : prefixKey(gateway, 128)}`;
      let index = indexByKey.get(key);
      if (index === undefined) {
        index = nexthops.length;
        indexByKey.set(key, index);
        const nh: FibNexthop = { kind, port };
        if (gateway !== undefined) nh.gateway = gateway;
        if (kind === NH_CONNECTED || kind === NH_GATEWAY) nh.mtu = mtuOfPort(port);
        nexthops.push(nh);
      }
      return index;
    };
    for (const best of this.bestRoutes()) {
      if (best.kind === 'unicast' && best.origin !== 'connected' && best.nexthops.length > 1) {
        const members = best.nexthops.map((n) => ({
          nexthop: indexOf(n.gateway === null ? NH_CONNECTED : NH_GATEWAY, n.port, n.gateway ?? undefined),
          counter: this.counterSlot(best, n),
        }));
        routes.push({ prefix: best.prefix, len: best.prefixLen, nexthop: nexthops.length });
        nexthops.push({ ...nexthops[members[0]!.nexthop]!, members });
        continue;
      }
      const first = best.nexthops[0];
      let kind: number;
      let port = 0;
      let gateway: Uint8Array | undefined;
      switch (best.kind) {
        case 'unicast':
          port = first!.port;
          kind = first!.gateway === null ? NH_CONNECTED : NH_GATEWAY;
          if (first!.gateway !== null) gateway = first!.gateway;
          break;
        case 'local':
          kind = NH_LOCAL;
          port = first?.port ?? 0;
          break;
        case 'reject':
          kind = NH_REJECT;
          break;
        case 'blackhole':
          kind = NH_BLACKHOLE;
          break;
        case 'ipsec':
          kind = NH_IPSEC;
          port = best.tunnel!;
          break;
      }
      routes.push({ prefix: best.prefix, len: best.prefixLen, nexthop: indexOf(kind, port, gateway) });
    }
    return { routes, nexthops };
  }

  private static memberKey(prefix: Uint8Array, prefixLen: number, n: RibNexthop): string {
    return `${prefixKey(prefix, prefixLen)}|${n.port}|${n.gateway === null ? '' : prefixKey(n.gateway, 128)}`;
  }

  /** The counter slot of an ECMP member, given out on first use while any is left; -1 after. */
  private counterSlot(route: RibRoute, n: RibNexthop): number {
    const key = Rib.memberKey(route.prefix, route.prefixLen, n);
    let slot = this.counterSlots.get(key);
    if (slot === undefined) {
      if (this.counterMembers.length >= FIB_MEMBER_COUNTERS) return -1;
      slot = this.counterMembers.length;
      this.counterSlots.set(key, slot);
      this.counterMembers.push({ prefix: Uint8Array.from(route.prefix), prefixLen: route.prefixLen, port: n.port, gateway: n.gateway === null ? null : Uint8Array.from(n.gateway) });
    }
    return slot;
  }

  /** The counter slot of a route's nexthop if it has one (an ECMP member compiled before), else -1. */
  memberCounterOf(route: RibRoute, n: RibNexthop): number {
    return this.counterSlots.get(Rib.memberKey(route.prefix, route.prefixLen, n)) ?? -1;
  }

  /** Every ECMP member given a counter slot so far, indexed by slot. */
  memberCounters(): readonly MemberCounter[] {
    return this.counterMembers;
  }

  private check(route: RibRoute): void {
    const where = `route of origin ${route.origin}`;
    if (route.prefix.length !== 16) throw new RangeError(`${where}: prefix is not 16 bytes`);
    if (!Number.isInteger(route.prefixLen) || route.prefixLen < 0 || route.prefixLen > 128) throw new RangeError(`${where}: prefix length ${route.prefixLen} is outside 0..128`);
    if (route.kind === 'unicast' && route.nexthops.length === 0) throw new RangeError(`${where}: a unicast route needs a nexthop`);
    if ((route.kind === 'ipsec') !== (route.tunnel !== undefined)) throw new RangeError(`${where}: a tunnel index goes with kind ipsec, and only there`);
    if (route.tunnel !== undefined && (!Number.isInteger(route.tunnel) || route.tunnel < 0)) throw new RangeError(`${where}: tunnel index ${route.tunnel} is not a non-negative integer`);
    for (const n of route.nexthops) {
      if (!Number.isInteger(n.port) || n.port < 0 || n.port >= MAX_PORTS) throw new RangeError(`${where}: port ${n.port} is outside 0..${MAX_PORTS - 1}`);
      if (n.gateway !== null && n.gateway.length !== 16) throw new RangeError(`${where}: gateway is not 16 bytes`);
    }
  }

  /** Picks the best route of one prefix: lowest preference, then lowest metric, incumbent on ties. */
  private reselect(key: string, entry: PrefixEntry): void {
    const previous = entry.best;
    let best: RibRoute | undefined;
    for (const r of entry.routes) {
      if (best === undefined || r.preference < best.preference || (r.preference === best.preference && r.metric < best.metric)) best = r;
    }
    if (best !== undefined && previous !== undefined) {
      const incumbent = entry.routes[indexOfOrigin(entry.routes, previous.origin)];
      if (incumbent !== undefined && incumbent.preference === best.preference && incumbent.metric === best.metric) best = incumbent;
    }
    entry.best = best;
    if (previous === undefined && best !== undefined) this.bestLengths[entry.prefixLen]!++;
    if (previous !== undefined && best === undefined) this.bestLengths[entry.prefixLen]!--;
    if (entry.routes.length === 0) this.prefixes.delete(key);
    if (sameRoute(previous, best)) return;
    const ev: BestChangedEvent = { type: 'best-changed', prefix: entry.prefix, prefixLen: entry.prefixLen, best };
    for (const fn of [...this.subscribers]) fn(ev);
  }

  private sortedEntries(): PrefixEntry[] {
    return [...this.prefixes.values()].sort(comparePrefixes);
  }
}

/**
 * The connected routes (on-link prefixes, origin `connected`) and local routes (each
 * address, and each prefix's Subnet-Router anycast address, as a /128 of kind `local`,
 * origin `local`) of one interface's preferred addresses. The link-local address is local too, on its own port; fe80::/64 is not a
 * connected route, since link-local destinations are never forwarded (RFC 4291 §2.5.6).
 * A port whose link is down contributes nothing.
 */
export function connectedRoutesFor(iface: RouterInterface): RibRoute[] {
  if (!iface.up) return [];
  const out: RibRoute[] = [];
  for (const p of iface.onLinkPrefixes()) {
    out.push({
      prefix: p.addr, prefixLen: p.len, origin: 'connected', preference: DEFAULT_PREFERENCE.connected!, metric: 0,
      nexthops: [{ port: iface.port, gateway: null }], kind: 'unicast',
    });
  }
  const local = [...iface.addresses.filter((a) => a.state === 'preferred').map((a) => a.addr), ...iface.subnetAnycast()];
  for (const addr of local) {
    out.push({
      prefix: addr, prefixLen: 128, origin: 'local', preference: DEFAULT_PREFERENCE.local!, metric: 0,
      nexthops: [{ port: iface.port, gateway: null }], kind: 'local',
    });
  }
  return out;
}

/**
 * connectedRoutesFor() over every interface, with routes for the same prefix on several
 * ports merged into one route with a nexthop per port (in port order), since the RIB holds
 * one route per (prefix, origin). Feed the two origins to Rib.replaceOrigin().
 */
export function connectedRoutes(ifaces: InterfaceTable): { connected: RibRoute[]; local: RibRoute[] } {
  const merged = new Map<string, RibRoute>();
  for (const iface of ifaces.all()) {
    for (const r of connectedRoutesFor(iface)) {
      const key = `${r.origin}|${prefixKey(r.prefix, r.prefixLen)}`;
      const seen = merged.get(key);
      merged.set(key, seen === undefined ? r : { ...seen, nexthops: [...seen.nexthops, ...r.nexthops] });
    }
  }
  const all = [...merged.values()];
  return { connected: all.filter((r) => r.origin === 'connected'), local: all.filter((r) => r.origin === 'local') };
}
