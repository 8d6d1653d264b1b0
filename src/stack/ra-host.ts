/**
 * The host side of Router Discovery on upstream (WAN) ports, as RFC 7084 W-1..W-3 asks of a
 * CE router: it solicits (RFC 4861 §6.3.7) and processes Router Advertisements as a host
 * does (§6.3.4), keeping a Default Router List (with RFC 4191 §2.2 preferences) and a Prefix
 * List of on-link prefixes, both expiring on their lifetimes. They enter the RIB with origin
 * `ra`: ::/0 via the routers of the best preference, each on-link prefix as on-link on its
 * port. A router is dropped when its lifetime ends, an RA says lifetime 0, its link goes
 * down, or Neighbor Unreachability Detection deletes its cache entry (§7.3.3, §6.3.5).
 *
 * Pure logic on an injected Clock; messages leave decoded, through NdTransport.
 */
import type { Clock, TimerHandle } from '../lib/clock.js';
import { ALL_ROUTERS, formatIpv6, isLinkLocal, maskAddress, UNSPECIFIED } from '../lib/addr.js';
import type { NdMessage } from '../wire/nd.js';
import type { InterfaceTable, RouterInterface } from './interfaces.js';
import type { NdTransport, NeighborView } from './nd.js';
import { defaultPreference, type Rib, type RibNexthop } from './rib.js';

/** §10 host constants. */
export const MAX_RTR_SOLICITATIONS = 3;
export const RTR_SOLICITATION_INTERVAL_MS = 4000;
const INFINITE_LIFETIME = 0xffffffff;
/** setTimeout's longest delay; longer lifetimes (a PIO's 30 days) re-arm until they end. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const RA_ORIGIN = 'ra';

/** RFC 4191 §2.2 preferences as numbers, higher wins; the route's metric is 1 - this (0 high, 2 low). */
const PREFERENCE = { high: 1, medium: 0, low: -1 } as const;

export interface RaHostCounters {
  /** RAs processed on accepting ports. */
  raAccepted: number;
  rsSent: number;
  routersExpired: number;
  /** Routers dropped because NUD deleted their neighbour entry or the link went down. */
  routersLost: number;
}

interface Learned {
  readonly port: number;
  /** The router's address, or the on-link prefix (masked). */
  readonly addr: Uint8Array;
  readonly prefixLen: number;
  preference: number;
  expiresAt: number;
  timer: TimerHandle | null;
  /** A router whose neighbour entry has held a link-layer address: its deletion is a NUD failure. */
  inCache: boolean;
}

interface PortState {
  solicitsSent: number;
  solicitTimer: TimerHandle | null;
  heardRa: boolean;
}

export class RaHost {
  readonly counters: RaHostCounters = { raAccepted: 0, rsSent: 0, routersExpired: 0, routersLost: 0 };
  private readonly ports = new Map<number, PortState>();
  /** Keyed by port|address. */
  private readonly routers = new Map<string, Learned>();
  /** Keyed by port|prefix/len. */
  private readonly prefixes = new Map<string, Learned>();
  private readonly unsubscribe: Array<() => void>;

  constructor(
    private readonly ifaces: InterfaceTable,
    private readonly rib: Rib,
    private readonly neighbors: { lookup(port: number, addr: Uint8Array): NeighborView | undefined },
    private readonly transport: Pick<NdTransport, 'sendNd'>,
    private readonly clock: Clock,
  ) {
    this.unsubscribe = [
      ifaces.on('link-up', (iface) => this.solicit(iface.port)),
      ifaces.on('address-state', (iface) => this.solicit(iface.port)),
      ifaces.on('link-down', (iface) => this.forgetPort(iface.port, true)),
    ];
  }

  /** Starts or stops accepting RAs on `port`; stopping withdraws what the port's RAs taught. */
  setAccept(port: number, accept: boolean): void {
    if (!accept) {
      const state = this.ports.get(port);
      if (state === undefined) return;
      state.solicitTimer?.cancel();
      this.ports.delete(port);
      this.forgetPort(port, false);
      return;
    }
    if (this.ports.has(port)) return;
    this.ports.set(port, { solicitsSent: 0, solicitTimer: null, heardRa: false });
    this.solicit(port);
  }

  /** §6.3.4: an RA (already validated per §6.1.2 by the caller: link-local source, hop limit 255). */
  receive(port: number, src: Uint8Array, msg: NdMessage): void {
    const state = this.ports.get(port);
    if (msg.type !== 'routerAdvertisement' || state === undefined || !isLinkLocal(src)) return;
    this.counters.raAccepted++;
    state.heardRa = true;
    state.solicitTimer?.cancel();
    state.solicitTimer = null;
    const routerKey = `${port}|${formatIpv6(src)}`;
    // "If the address is already present in the host's Default Router List and the received
    // Router Lifetime value is zero, immediately time-out the entry"; otherwise (re)set it.
    this.learn(this.routers, routerKey, port, src, 128, msg.routerLifetime, PREFERENCE[msg.preference ?? 'medium'], () => this.publishDefault());
    // The neighbour cache learned the RA's source link-layer address before this call.
    const router = this.routers.get(routerKey);
    if (router !== undefined && this.neighbors.lookup(port, src)?.mac != null) router.inCache = true;
    for (const o of msg.options) {
      // §6.3.4: prefixes without the on-link flag, and the link-local prefix, are not on-link information.
      if (o.type !== 'prefixInformation' || !o.onLink || isLinkLocal(o.prefix)) continue;
      const prefix = maskAddress(o.prefix, o.prefixLength);
      const key = `${port}|${formatIpv6(prefix)}/${o.prefixLength}`;
      this.learn(this.prefixes, key, port, prefix, o.prefixLength, o.validLifetime, 0, () => this.publishPrefix(prefix, o.prefixLength));
    }
  }

  /** Called when the neighbour cache changed: a router whose entry NUD deleted is unreachable (§7.3.3). */
  neighborsChanged(): void {
    let lost = false;
    for (const [key, r] of this.routers) {
      const entry = this.neighbors.lookup(r.port, r.addr);
      if (entry?.mac != null) r.inCache = true;
      else if (r.inCache && entry === undefined) {
        this.drop(this.routers, key, r);
        this.counters.routersLost++;
        lost = true;
      }
    }
    if (lost) this.publishDefault();
  }

  stop(): void {
    for (const fn of this.unsubscribe) fn();
    for (const port of [...this.ports.keys()]) this.setAccept(port, false);
  }

  /**
   * Adds or refreshes an entry whose lifetime is `lifetime` seconds; lifetime 0 removes it,
   * all-ones never expires (§4.2, §4.6.2).
   */
  private learn(
    table: Map<string, Learned>, key: string, port: number, addr: Uint8Array, prefixLen: number,
    lifetime: number, preference: number, publish: () => void,
  ): void {
    const existing = table.get(key);
    if (lifetime === 0) {
      if (existing === undefined) return;
      this.drop(table, key, existing);
      publish();
      return;
    }
    const expiresAt = lifetime === INFINITE_LIFETIME ? Infinity : this.clock.now() + lifetime * 1000;
    const entry = existing ?? { port, addr: Uint8Array.from(addr), prefixLen, preference, expiresAt, timer: null, inCache: false };
    const changed = existing === undefined || existing.preference !== preference;
    entry.preference = preference;
    entry.expiresAt = expiresAt;
    table.set(key, entry);
    this.arm(table, key, entry, publish);
    if (changed) publish();
  }

  private arm(table: Map<string, Learned>, key: string, entry: Learned, publish: () => void): void {
    entry.timer?.cancel();
    entry.timer = null;
    if (entry.expiresAt === Infinity) return;
    entry.timer = this.clock.setTimer(Math.min(MAX_TIMER_MS, entry.expiresAt - this.clock.now()), () => {
      entry.timer = null;
      if (this.clock.now() < entry.expiresAt) {
        this.arm(table, key, entry, publish);
        return;
      }
      if (table === this.routers) this.counters.routersExpired++;
      table.delete(key);
      publish();
    });
  }

  private drop(table: Map<string, Learned>, key: string, entry: Learned): void {
    entry.timer?.cancel();
    table.delete(key);
  }

  /** Withdraws everything learned on `port` (its link went down, or it stopped accepting). */
  private forgetPort(port: number, linkDown: boolean): void {
    const state = this.ports.get(port);
    if (state !== undefined) {
      state.solicitTimer?.cancel();
      state.solicitTimer = null;
      state.solicitsSent = 0;
      state.heardRa = false;
    }
    let routersGone = false;
    for (const [key, r] of this.routers) {
      if (r.port !== port) continue;
      this.drop(this.routers, key, r);
      if (linkDown) this.counters.routersLost++;
      routersGone = true;
    }
    if (routersGone) this.publishDefault();
    for (const [key, p] of this.prefixes) {
      if (p.port !== port) continue;
      this.drop(this.prefixes, key, p);
      this.publishPrefix(p.addr, p.prefixLen);
    }
  }

  /** ::/0 via the routers of the best RFC 4191 preference (§6.3.6 picks among them; the RIB keeps them as ECMP). */
  private publishDefault(): void {
    const routers = [...this.routers.values()];
    if (routers.length === 0) {
      this.rib.remove(UNSPECIFIED, 0, RA_ORIGIN);
      return;
    }
    const best = Math.max(...routers.map((r) => r.preference));
    const nexthops: RibNexthop[] = routers.filter((r) => r.preference === best).map((r) => ({ port: r.port, gateway: r.addr }));
    this.rib.add({
      prefix: UNSPECIFIED, prefixLen: 0, origin: RA_ORIGIN, preference: defaultPreference(RA_ORIGIN), metric: 1 - best, nexthops, kind: 'unicast',
    });
  }

  /** An on-link prefix: on-link on every port that advertises it (§6.3.4's Prefix List). */
  private publishPrefix(prefix: Uint8Array, prefixLen: number): void {
    const suffix = `|${formatIpv6(prefix)}/${prefixLen}`;
    const ports = [...this.prefixes.entries()].filter(([k]) => k.endsWith(suffix)).map(([, p]) => p.port);
    if (ports.length === 0) {
      this.rib.remove(prefix, prefixLen, RA_ORIGIN);
      return;
    }
    this.rib.add({
      prefix, prefixLen, origin: RA_ORIGIN, preference: defaultPreference(RA_ORIGIN), metric: 0,
      nexthops: ports.map((port) => ({ port, gateway: null })), kind: 'unicast',
    });
  }

  /**
   * §6.3.7: up to MAX_RTR_SOLICITATIONS RSs, RTR_SOLICITATION_INTERVAL apart, until an RA
   * arrives; from the link-local address once it is usable, with the source link-layer address.
   */
  private solicit(port: number): void {
    const state = this.ports.get(port);
    const iface = this.ifaces.byPort(port);
    if (state === undefined || iface === undefined || state.heardRa || state.solicitTimer !== null || !this.usable(iface)) return;
    if (state.solicitsSent >= MAX_RTR_SOLICITATIONS) return;
    state.solicitsSent++;
    this.counters.rsSent++;
    const options = iface.mac === null ? [] : [{ type: 'sourceLinkLayerAddress' as const, mac: iface.mac }];
    this.transport.sendNd(port, iface.linkLocal(), ALL_ROUTERS, null, { type: 'routerSolicitation', options });
    state.solicitTimer = this.clock.setTimer(RTR_SOLICITATION_INTERVAL_MS, () => {
      state.solicitTimer = null;
      this.solicit(port);
    });
  }

  private usable(iface: RouterInterface): boolean {
    return iface.up && iface.hasAddress(iface.linkLocal());
  }
}
