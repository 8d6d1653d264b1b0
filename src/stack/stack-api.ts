/**
 * StackApi: everything a protocol module (RIPng, DHCPv6, MLD, DNS, ...) may ask of the
 * router. Modules never import one another or the data plane; they meet here (DESIGN.md,
 * "The control plane"). Time and randomness come from here too, so a module runs
 * unchanged on a ManualClock in tests.
 */
import type { Clock } from '../lib/clock.js';
import type { Rng } from '../lib/rng.js';
import type { RouterInterface } from './interfaces.js';
import type { RibRoute, RouteOrigin } from './rib.js';
import type { IpsecDatapath, MulticastDatapath } from '../shm/datapath.js';

export type Unsubscribe = () => void;

export interface ReceivedUdp {
  /** Ingress port: link-local addresses are only meaningful with it (RFC 4007). */
  readonly port: number;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly hopLimit: number;
  readonly payload: Uint8Array;
}

export interface ReceivedIcmpv6 {
  readonly port: number;
  readonly src: Uint8Array;
  readonly dst: Uint8Array;
  readonly hopLimit: number;
  readonly type: number;
  readonly code: number;
  /** Everything after the 4-byte ICMPv6 header. */
  readonly body: Uint8Array;
  /** The RFC 2711 Router Alert value of the packet's Hop-by-Hop header; absent when it had none (MLD requires it). */
  readonly routerAlert?: number;
}

export interface SendOptions {
  /** Egress port; required for link-local and multicast destinations. */
  readonly port?: number;
  /** Source address; chosen per RFC 6724 (reduced) when absent. */
  readonly src?: Uint8Array;
  readonly dst: Uint8Array;
  /** Default 64, or 255 where a protocol demands it (RIPng, ND). */
  readonly hopLimit?: number;
  /** RFC 2711 Router Alert value (0 for MLD). */
  readonly routerAlert?: number;
}

/** Lifetimes (seconds) under which a module's prefix is advertised in RA Prefix Information (RFC 4861 §4.6.2). */
export interface AdvertiseLifetimes {
  readonly validLifetime: number;
  readonly preferredLifetime: number;
}

/** Resolver information a module learned (DHCPv6 options 23/24), for the DNS module to consume. */
export interface DnsInfo {
  readonly source: string;
  readonly servers: readonly Uint8Array[];
  readonly domains: readonly string[];
}

export interface InterfaceEvent {
  readonly type: 'address-added' | 'address-removed' | 'address-state' | 'link-up' | 'link-down';
  readonly iface: RouterInterface;
  readonly addr?: Uint8Array;
}

export interface StackApi {
  readonly clock: Clock;
  readonly rng: Rng;
  interfaces(): readonly RouterInterface[];
  onInterfaceEvent(fn: (ev: InterfaceEvent) => void): Unsubscribe;

  /** Receives UDP datagrams addressed to the router (unicast or a joined group) on `udpPort`. */
  bindUdp(udpPort: number, fn: (d: ReceivedUdp) => void): Unsubscribe;
  sendUdp(opts: SendOptions & { readonly srcPort: number; readonly dstPort: number; readonly payload: Uint8Array }): void;

  /** Receives ICMPv6 messages of `type` addressed to the router. ND (133–137) stays in the stack. */
  onIcmpv6(type: number, fn: (m: ReceivedIcmpv6) => void): Unsubscribe;
  sendIcmpv6(opts: SendOptions & { readonly type: number; readonly code: number; readonly body: Uint8Array }): void;

  /** Delivers traffic for `group` received on `port` to this module's UDP/ICMPv6 handlers. */
  joinGroup(port: number, group: Uint8Array): void;
  leaveGroup(port: number, group: Uint8Array): void;

  /**
   * The groups the router listens to on `port`, which MLD reports (RFC 3810 §6): ff02::2, the
   * solicited-node group of each of its unicast and anycast addresses (RFC 4861 §7.2.1) and
   * every group a module joined. All-nodes (ff02::1) is not listed: it is never reported.
   * Optional only so that recording test fakes of other modules need not implement it.
   */
  listenedGroups?(port: number): readonly Uint8Array[];
  /** Called with a port whenever its listenedGroups() may have changed (a join, a leave, an address). */
  onListenedGroupsChange?(fn: (port: number) => void): Unsubscribe;

  /** Adds or replaces this module's route for the prefix (origin is the module's own). */
  addRoute(route: Omit<RibRoute, 'origin'>): void;
  withdrawRoute(prefix: Uint8Array, prefixLen: number): void;
  /** This module's own routes. */
  routes(): readonly RibRoute[];
  /**
   * The same three route calls for a second origin the module owns, shown apart in `show
   * routes` (the DHCPv6 relay's `dhcpv6-pd`).
   */
  routeSource(origin: RouteOrigin): RouteSource;
  /** The best route of every prefix, whatever its origin (for redistribution). */
  bestRoutes(): readonly RibRoute[];
  /** The best route toward `addr` (longest prefix match), as the FIB has it: RPF checks look up the source this way. */
  bestRouteFor?(addr: Uint8Array): RibRoute | undefined;
  /** Called when the best route of a prefix changes (added, replaced or withdrawn: best undefined). */
  onBestRouteChange(fn: (prefix: Uint8Array, prefixLen: number, best: RibRoute | undefined) => void): Unsubscribe;
  readonly origin: RouteOrigin;

  // The four below are optional only so that recording test fakes of other modules need not
  // implement them; the Stack always does.
  /**
   * Assigns an address this module obtained (a DHCPv6 lease, a /64 of a delegated prefix) to
   * `port`, with its connected route; with `advertise`, its prefix also goes into the port's
   * Router Advertisements (when the port advertises) with those lifetimes. Calling it again
   * updates the lifetimes. Configured addresses are untouched by reloads and vice versa.
   */
  addInterfaceAddress?(port: number, addr: Uint8Array, prefixLen: number, opts?: { readonly advertise?: AdvertiseLifetimes }): void;
  /** Removes an address added by addInterfaceAddress, its connected route and its RA prefix. */
  removeInterfaceAddress?(port: number, addr: Uint8Array): void;
  /** Replaces the resolver information published under `source` (empty lists withdraw it). */
  publishDnsServers?(source: string, servers: readonly Uint8Array[], domains: readonly string[]): void;
  /** Every source's published resolver information. */
  dnsServers?(): readonly DnsInfo[];
  /**
   * The data path's SPD/SAD (the `ipsec` module publishes them; the stack writes nothing
   * else there). Absent when the data path has no ESP, as in recording test fakes.
   */
  readonly ipsec?: IpsecDatapath | undefined;
  /** The data path's multicast forwarding cache (the `multicast` module publishes it; shm/mfc.ts). */
  readonly multicast?: MulticastDatapath | undefined;
}

/** Adds, withdraws and lists the routes of one origin. */
export type RouteSource = Pick<StackApi, 'addRoute' | 'withdrawRoute' | 'routes'>;
