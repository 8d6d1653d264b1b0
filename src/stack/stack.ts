/**
 * The control-plane core: it owns the interfaces, the neighbour cache (ND), the router
 * advertiser, the RIB, and is the only writer of the tables the lanes read. Packets the
 * lanes punt arrive here (handlePunt) and are demultiplexed to ND, to protocol modules
 * registered through the StackApi, or dropped with a counted reason. Packets the control
 * plane sends leave through Datapath.inject.
 */
import type { Clock } from '../lib/clock.js';
import { TokenBucket } from '../lib/token-bucket.js';
import type { Rng } from '../lib/rng.js';
import {
  ALL_NODES,
  ALL_ROUTERS,
  equalAddress,
  formatIpv6,
  isLinkLocal,
  isMulticast,
  maskAddress,
  multicastMac,
  solicitedNodeMulticast,
} from '../lib/addr.js';
import { IPPROTO, IPV6_HEADER_LEN, IP6_OFF_DST, IP6_OFF_HOP_LIMIT, IP6_OFF_SRC } from '../wire/ipv6.js';
import {
  WALK_OK,
  WALK_OUT_SIZE,
  WALK_PARAM_CODE,
  WALK_PARAM_POINTER,
  WALK_PARAM_PROBLEM,
  WALK_ROUTER_ALERT,
  WALK_ROUTING_HEADER,
  WALK_UPPER_OFFSET,
  WALK_UPPER_PROTOCOL,
  validateDestinationHeaders,
  walkExtensionHeaders,
} from '../wire/ext-headers.js';
import { upperLayerChecksum } from '../wire/checksum.js';
import { decodeNdMessage, type NdMessage } from '../wire/nd.js';
import { isMldType } from '../wire/mld.js';
import { ICMP6, mayGenerateErrorAbout, writeIcmpv6Error } from '../wire/icmpv6.js';
import { InterfaceTable, type RouterInterface } from './interfaces.js';
import { NeighborCache, type NeighborCacheOptions, type NdTransport } from './nd.js';
import { RouterAdvertiser, type RaConfig, type RaPrefix } from './ra.js';
import { RaHost } from './ra-host.js';
import { Rib, connectedRoutes, type RibRoute, type RouteOrigin } from './rib.js';
import { buildIcmpv6, buildNd, buildUdp, ethernetFrame } from './packets.js';
import type { Datapath, IpsecDatapath, MulticastDatapath } from '../shm/datapath.js';
import type { AdvertiseLifetimes, DnsInfo, InterfaceEvent, ReceivedIcmpv6, ReceivedUdp, SendOptions, RouteSource, StackApi, Unsubscribe } from './stack-api.js';
import { INJECT_RAW, INJECT_ROUTE, PUNT_RESOLVE } from '../shm/punt.js';
import { NBR_REACHABLE, NBR_STALE, NBR_DELAY, NBR_PROBE } from '../shm/neighbors.js';
import type { PortEntry } from '../shm/port-table.js';
import type { GroupEntry } from '../shm/groups.js';

/** ICMPv6 errors the control plane may send per second, and its burst (RFC 4443 §2.4(f)). */
const ERROR_RATE_PER_SECOND = 100;
const ERROR_BURST = 20;

/** Why the control plane dropped a punted packet; each is a counter (`show counters`, metrics). */
export const STACK_DROPS = [
  'malformed',
  'destination_options',
  /** A Routing header with segments left in a packet for the router (RFC 8200 §4.4). */
  'routing_header',
  'bad_checksum',
  'nd_hop_limit',
  'nd_invalid',
  'not_for_us',
  'no_listener',
  'inject_ring_full',
  /** A packet for a new neighbour on a port already resolving nd.maxIncomplete of them (RFC 6583 §7.1). */
  'nd_incomplete_limit',
] as const;
export type StackDrop = (typeof STACK_DROPS)[number];

export interface StackLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface StackOptions {
  readonly clock: Clock;
  readonly rng: Rng;
  readonly datapath: Datapath;
  readonly log: StackLogger;
  /** Loggers for per-packet events, rate-limited per kind (a flood must not flood the log). */
  readonly limited?: (kind: string) => StackLogger;
  readonly nd?: NeighborCacheOptions;
  /** Packets for the router that no module wants (TCP, other UDP) go here: the host TUN port. */
  readonly hostPort?: number;
}

export interface StackInterfaceConfig {
  readonly name: string;
  readonly port: number;
  readonly kind: 'tap' | 'tun';
  readonly mac: Uint8Array | null;
  readonly mtu: number;
  readonly addresses: ReadonlyArray<{ addr: Uint8Array; prefixLen: number }>;
  readonly ra: RaConfig | null;
  /** An upstream port: learn a default route and on-link prefixes from its RAs (RFC 7084 W-1..W-3). */
  readonly acceptRa?: boolean;
  /** Send ICMPv6 Redirects from this port (RFC 4861 §8.2; tap only); default true. */
  readonly redirects?: boolean;
}

type UdpHandler = (d: ReceivedUdp) => void;
type IcmpHandler = (m: ReceivedIcmpv6) => void;

export class Stack {
  readonly interfaces = new InterfaceTable();
  readonly rib = new Rib();
  readonly neighbors: NeighborCache;
  readonly ra: RouterAdvertiser;
  readonly raHost: RaHost;
  readonly drops: Record<StackDrop, number> = Object.fromEntries(STACK_DROPS.map((d) => [d, 0])) as Record<StackDrop, number>;
  private readonly udp = new Map<number, UdpHandler[]>();
  private readonly icmp = new Map<number, IcmpHandler[]>();
  /** Groups joined by modules, per port ("port/group" keys), with how many joins each; link-scope ND groups are implicit. */
  private readonly groups = new Map<string, { readonly port: number; readonly group: Uint8Array; joins: number }>();
  /** Told when a port's listened groups change (the MLD module reports them). */
  private readonly groupWatchers = new Set<(port: number) => void>();
  private readonly ext = new Int32Array(WALK_OUT_SIZE);
  private publishQueued = { fib: false, neighbors: false, groups: false };
  private readonly raConfigs = new Map<number, RaConfig>();
  private readonly acceptRaPorts = new Set<number>();
  /** Ports with `redirects: false` (RFC 4861 §8.2 generation off). */
  private readonly noRedirectPorts = new Set<number>();
  /** Prefixes modules asked to advertise (DHCPv6-PD /64s), per port, keyed by formatted prefix. */
  private readonly modulePrefixes = new Map<number, Map<string, RaPrefix>>();
  private readonly dns = new Map<string, DnsInfo>();
  private readonly errorBucket: TokenBucket;
  private started = false;
  readonly clock: Clock;
  readonly rng: Rng;

  constructor(private readonly opts: StackOptions) {
    this.clock = opts.clock;
    this.rng = opts.rng;
    this.errorBucket = new TokenBucket(ERROR_RATE_PER_SECOND, ERROR_BURST, opts.clock.now());
    const transport: NdTransport = {
      sendNd: (port, src, dst, dstMac, msg) => this.sendNd(port, src, dst, dstMac, msg),
      sendResolved: (port, dstMac, pkt) => this.sendFrame(port, dstMac, pkt),
      // RFC 4443 §3.1 code 3: address resolution failed for a packet we were forwarding.
      unreachable: (port, pkt) => this.sendError(port, pkt, ICMP6.DST_UNREACH, 3, 0),
      neighborsChanged: () => {
        this.schedulePublish('neighbors');
        this.raHost.neighborsChanged();
      },
    };
    this.neighbors = new NeighborCache(this.interfaces, transport, opts.clock, opts.rng, opts.nd);
    this.ra = new RouterAdvertiser(this.interfaces, transport, opts.clock, opts.rng);
    this.raHost = new RaHost(this.interfaces, this.rib, this.neighbors, transport, opts.clock);
    this.rib.subscribe(() => this.schedulePublish('fib'));
    // Solicited-node groups follow the addresses (RFC 4861 §7.2.1), tentative ones included (RFC 4862 §5.4.2).
    this.interfaces.on('address-added', () => this.schedulePublish('groups'));
    this.interfaces.on('address-removed', () => this.schedulePublish('groups'));
    opts.datapath.onPunt((pkt, port, flags, aux) => this.handlePunt(pkt, port, flags, aux));
  }

  addInterface(cfg: StackInterfaceConfig): RouterInterface {
    // Config addresses are assigned as preferred: the router's own addresses are operator
    // intent, and DAD on them runs (below) to detect and report a conflict on the link.
    const iface = this.interfaces.add({ name: cfg.name, port: cfg.port, kind: cfg.kind, mac: cfg.mac, mtu: cfg.mtu, linkLocalState: 'preferred' });
    for (const a of cfg.addresses) this.interfaces.addAddress(cfg.port, a.addr, a.prefixLen, 'config', 'preferred');
    this.refreshConnected();
    if (cfg.ra && cfg.kind === 'tap') this.raConfigs.set(cfg.port, cfg.ra);
    if (cfg.acceptRa === true && cfg.kind === 'tap') this.acceptRaPorts.add(cfg.port);
    if (this.started) this.publishPorts();
    if (cfg.redirects === false) this.noRedirectPorts.add(cfg.port);
    return iface;
  }

  /**
   * Removes a running port (a reload took it out of the config): a final RA if it advertised
   * (RFC 4861 §6.2.5), what its RAs taught withdrawn, its link reported down (modules such as
   * RIPng expire what they learned there), its neighbours, groups and addresses dropped, and
   * every route through it withdrawn. The lanes see the port gone in the next tables.
   */
  removeInterface(port: number): void {
    if (this.interfaces.byPort(port) === undefined) throw new RangeError(`no port ${port}`);
    this.ra.removePort(port);
    this.raConfigs.delete(port);
    this.modulePrefixes.delete(port);
    this.raHost.setAccept(port, false);
    this.acceptRaPorts.delete(port);
    this.interfaces.setLinkUp(port, false);
    this.neighbors.flush(port);
    for (const key of [...this.groups.keys()]) if (key.startsWith(`${port}/`)) this.groups.delete(key);
    this.interfaces.remove(port);
    this.rib.withdrawPort(port);
    this.refreshConnected();
    this.publishPorts();
  }

  /**
   * Applies a reload's changes to a running port in place: its configured addresses (and so
   * its connected and local routes), its MTU, its router advertisements.
   */
  updateInterface(port: number, next: Pick<StackInterfaceConfig, 'addresses' | 'mtu' | 'ra' | 'acceptRa' | 'redirects'>): void {
    const iface = this.interfaces.byPort(port);
    if (!iface) throw new RangeError(`no port ${port}`);
    const wanted = next.addresses;
    for (const a of [...iface.addresses]) {
      if (a.origin === 'config' && !wanted.some((w) => w.prefixLen === a.prefixLen && equalAddress(w.addr, a.addr))) {
        this.interfaces.removeAddress(port, a.addr);
      }
    }
    for (const w of wanted) {
      if (iface.findAddress(w.addr) === undefined) {
        this.interfaces.addAddress(port, w.addr, w.prefixLen, 'config', 'preferred');
        if (this.started && iface.kind === 'tap') this.neighbors.startDad(port, w.addr, 1);
      }
    }
    iface.mtu = next.mtu;
    if (next.redirects === false) this.noRedirectPorts.add(port);
    else this.noRedirectPorts.delete(port);
    this.refreshConnected();
    this.publishPorts();
    if (iface.kind === 'tap') {
      if (next.ra) {
        this.raConfigs.set(port, next.ra);
        if (this.started) this.ra.configure(port, this.advertisedRa(port)!);
      } else if (this.raConfigs.has(port)) {
        const previous = this.raConfigs.get(port)!;
        this.raConfigs.delete(port);
        // RFC 4861 §6.2.5: a port that stops advertising sends a final RA with lifetime 0.
        if (this.started) this.ra.configure(port, { ...previous, enabled: false });
      }
      if (next.acceptRa === true) this.acceptRaPorts.add(port);
      else this.acceptRaPorts.delete(port);
      if (this.started) this.raHost.setAccept(port, next.acceptRa === true);
    }
  }

  /**
   * Assigns an address a module obtained (origin 'dhcpv6'), or updates the RA lifetimes of
   * one it holds. RFC 8415 §18.2.10.1: the client performs DAD on addresses it receives, so
   * new addresses on a TAP go through DAD like configured ones.
   */
  addModuleAddress(port: number, addr: Uint8Array, prefixLen: number, advertise: AdvertiseLifetimes | undefined): void {
    const iface = this.interfaces.byPort(port);
    if (!iface) throw new RangeError(`no port ${port}`);
    if (iface.findAddress(addr) === undefined) {
      this.interfaces.addAddress(port, addr, prefixLen, 'dhcpv6', 'preferred');
      if (this.started && iface.kind === 'tap') this.neighbors.startDad(port, addr, 1);
      this.refreshConnected();
      this.publishPorts();
    }
    const prefix = maskAddress(addr, prefixLen);
    const key = `${formatIpv6(prefix)}/${prefixLen}`;
    const prefixes = this.modulePrefixes.get(port) ?? new Map<string, RaPrefix>();
    const before = prefixes.get(key);
    if (advertise === undefined) {
      if (!prefixes.delete(key)) return;
    } else {
      if (before?.validLifetime === advertise.validLifetime && before.preferredLifetime === advertise.preferredLifetime) return;
      prefixes.set(key, { prefix, prefixLen, onLink: true, autonomous: prefixLen === 64, ...advertise });
    }
    this.modulePrefixes.set(port, prefixes);
    this.reconfigureRa(port);
  }

  removeModuleAddress(port: number, addr: Uint8Array): void {
    const iface = this.interfaces.byPort(port);
    const address = iface?.findAddress(addr);
    if (!iface || address === undefined || address.origin !== 'dhcpv6') return;
    this.interfaces.removeAddress(port, addr);
    this.refreshConnected();
    this.publishPorts();
    if (this.modulePrefixes.get(port)?.delete(`${formatIpv6(maskAddress(addr, address.prefixLen))}/${address.prefixLen}`)) this.reconfigureRa(port);
  }

  publishDns(info: DnsInfo): void {
    if (info.servers.length === 0 && info.domains.length === 0) this.dns.delete(info.source);
    else this.dns.set(info.source, info);
  }

  dnsInfo(): DnsInfo[] {
    return [...this.dns.values()];
  }

  /** The port's configured RA with the modules' prefixes added; undefined where the port does not advertise. */
  private advertisedRa(port: number): RaConfig | undefined {
    const cfg = this.raConfigs.get(port);
    const extra = this.modulePrefixes.get(port);
    if (cfg === undefined || extra === undefined || extra.size === 0) return cfg;
    const own = cfg.prefixes.filter((p) => !extra.has(`${formatIpv6(maskAddress(p.prefix, p.prefixLen))}/${p.prefixLen}`));
    return { ...cfg, prefixes: [...own, ...extra.values()] };
  }

  private reconfigureRa(port: number): void {
    const ra = this.advertisedRa(port);
    if (this.started && ra !== undefined) this.ra.configure(port, ra);
  }

  /** Recomputes the connected and local routes of every port from their addresses. */
  private refreshConnected(): void {
    const { connected, local } = connectedRoutes(this.interfaces);
    this.rib.replaceOrigin('connected', connected);
    this.rib.replaceOrigin('local', local);
  }

  /** Publishes the lanes' first tables; call before the lanes start. */
  publishTables(): void {
    this.started = true;
    this.publishPorts();
    this.publishFib();
    this.publishNeighbors();
    this.publishGroups();
  }

  /**
   * Starts what sends packets on its own (DAD, router advertisements). Call once the ports'
   * kernel sides are up: writes to a TAP whose peer is down fail.
   */
  start(): void {
    for (const iface of this.interfaces.all()) this.startInterface(iface.port);
  }

  /** Starts what a port sends on its own (router advertisements, RAs accepted, DAD): at start, or once a port added by a reload is up. */
  startInterface(port: number): void {
    const iface = this.interfaces.byPort(port);
    if (iface === undefined) throw new RangeError(`no port ${port}`);
    if (this.raConfigs.has(port)) this.ra.configure(port, this.advertisedRa(port)!);
    if (this.acceptRaPorts.has(port)) this.raHost.setAccept(port, true);
    if (iface.kind !== 'tap') return;
    for (const a of iface.addresses) this.neighbors.startDad(port, a.addr, 1);
  }

  stop(): void {
    this.ra.stop();
    this.raHost.stop();
    this.neighbors.close();
  }

  addRoute(route: RibRoute): void {
    this.rib.add(route);
  }

  /** The data path's ESP tables, which only the ipsec module publishes (through its StackApi). */
  ipsecDatapath(): IpsecDatapath | undefined {
    return this.opts.datapath.ipsec;
  }

  /** The data path's MFC, which only the multicast module publishes (through its StackApi). */
  multicastDatapath(): MulticastDatapath | undefined {
    return this.opts.datapath.multicast;
  }

  /** A StackApi for one module; its routes carry `origin`. */
  api(origin: RouteOrigin): StackApi {
    return new ModuleApi(this, origin);
  }

  // ---- tables ------------------------------------------------------------------------

  publishPorts(): void {
    const entries: PortEntry[] = this.interfaces.all().map((iface) => ({
      port: iface.port,
      kind: iface.kind,
      up: iface.up,
      mtu: iface.mtu,
      mac: iface.mac,
      host: iface.port === this.opts.hostPort,
      // A tun port is point to point: no other neighbour to send the source to.
      redirects: iface.kind === 'tap' && !this.noRedirectPorts.has(iface.port),
      linkLocal: iface.linkLocal(),
      errorSource: iface.globalAddress() ?? this.anyGlobalAddress() ?? iface.linkLocal(),
    }));
    this.opts.datapath.publishPorts(entries);
    this.schedulePublish('groups');
  }

  /** The router's configured global addresses, on every port. */
  routerAddresses(): Uint8Array[] {
    return this.interfaces.all().flatMap((i) => i.addresses.filter((a) => a.origin !== 'link-local').map((a) => a.addr));
  }

  private anyGlobalAddress(): Uint8Array | null {
    for (const iface of this.interfaces.all()) {
      const g = iface.globalAddress();
      if (g) return g;
    }
    return null;
  }

  private schedulePublish(which: 'fib' | 'neighbors' | 'groups'): void {
    if (!this.started || this.publishQueued[which]) return;
    this.publishQueued[which] = true;
    // Coalesce bursts (a RIPng update, a flood of NAs) into one snapshot.
    queueMicrotask(() => {
      this.publishQueued[which] = false;
      if (which === 'fib') this.publishFib();
      else if (which === 'groups') this.publishGroups();
      else this.publishNeighbors();
    });
  }

  private publishFib(): void {
    const { routes, nexthops } = this.rib.compile((port) => this.interfaces.byPort(port)?.mtu ?? 0);
    this.opts.datapath.publishFib(routes, nexthops);
  }

  private publishNeighbors(): void {
    const states: Record<string, number> = { REACHABLE: NBR_REACHABLE, STALE: NBR_STALE, DELAY: NBR_DELAY, PROBE: NBR_PROBE };
    const entries = this.neighbors
      .entries()
      .filter((e) => e.mac !== null && e.state !== 'INCOMPLETE')
      .map((e) => ({ port: e.port, addr: e.addr, mac: e.mac!, state: states[e.state]! }));
    this.opts.datapath.publishNeighbors(entries);
  }

  /** The lanes' group filter (shm/groups.ts): every group the router listens to, on every port. */
  private publishGroups(): void {
    const entries: GroupEntry[] = this.interfaces.all().flatMap((iface) => this.groupsListened(iface.port).map((group) => ({ port: iface.port, group })));
    this.opts.datapath.publishGroups(entries);
  }

  /** All-nodes and all-routers (RFC 4291 §2.7.1), the solicited-node groups of the port's addresses, and the groups modules joined there. */
  private groupsListened(port: number): Uint8Array[] {
    const iface = this.interfaces.byPort(port);
    if (iface === undefined) return [];
    const joined = [...this.groups.values()].filter((g) => g.port === port).map((g) => g.group);
    return [ALL_NODES, ALL_ROUTERS, ...[...iface.addresses.map((a) => a.addr), ...iface.subnetAnycast()].map(solicitedNodeMulticast), ...joined];
  }

  // ---- receive -----------------------------------------------------------------------

  private drop(reason: StackDrop, detail?: object): void {
    this.drops[reason]++;
    if (detail) (this.opts.limited?.(`stack.drop.${reason}`) ?? this.opts.log).debug({ reason, ...detail }, 'control plane dropped a packet');
  }

  handlePunt(pkt: Uint8Array, port: number, flags: number, aux: number): void {
    // Before anything reads the fixed header (RFC 8200 §3), resolution requests included:
    // the lanes only punt validated packets, but this is the control plane's trust boundary.
    if (pkt.length < IPV6_HEADER_LEN) return this.drop('malformed');
    if ((flags & PUNT_RESOLVE) !== 0) {
      // A lane has a packet for a next hop with no neighbour entry (aux = egress port).
      const dst = pkt.subarray(IP6_OFF_DST, IP6_OFF_DST + 16);
      const best = this.rib.lookup(dst);
      // ECMP: several gateways may share the port; the lane only punts for one it has no
      // link-layer address of, so that one is resolved (else the first on the port).
      const onPort = best?.nexthops.filter((n) => n.port === aux) ?? [];
      const gw = (onPort.find((n) => n.gateway !== null && (this.neighbors.lookup(aux, n.gateway)?.mac ?? null) === null) ?? onPort[0])?.gateway ?? null;
      if (!this.neighbors.resolve(aux, gw ?? dst.slice(), pkt)) this.drop('nd_incomplete_limit');
      return;
    }
    if (walkExtensionHeaders(pkt, 0, pkt.length, this.ext) !== WALK_OK) return this.drop('malformed');
    const proto = this.ext[WALK_UPPER_PROTOCOL]!;
    const upper = this.ext[WALK_UPPER_OFFSET]!;
    const src = pkt.slice(IP6_OFF_SRC, IP6_OFF_SRC + 16);
    const dst = pkt.slice(IP6_OFF_DST, IP6_OFF_DST + 16);
    const hopLimit = pkt[IP6_OFF_HOP_LIMIT]!;
    if (!this.isForUs(port, dst) && !this.isMldForRouter(proto, upper, pkt, dst)) return this.drop('not_for_us');
    // RFC 8200 §4.2, §4.4: the destination acts on its Destination Options' unknown-option
    // bits and on Routing headers with segments left.
    const options = validateDestinationHeaders(pkt, 0, pkt.length, this.ext);
    if (options === WALK_PARAM_PROBLEM) {
      const pointer = this.ext[WALK_PARAM_POINTER]!;
      this.sendError(port, pkt, ICMP6.PARAM_PROBLEM, this.ext[WALK_PARAM_CODE]!, pointer);
      return this.drop(pointer === this.ext[WALK_ROUTING_HEADER]! + 2 ? 'routing_header' : 'destination_options');
    }
    // WALK_DISCARD: an option whose action bits say drop silently.
    if (options !== WALK_OK) return this.drop('destination_options');
    if (proto === IPPROTO.ICMPV6 && upper >= 0) return this.receiveIcmpv6(pkt, port, upper, src, dst, hopLimit);
    if (proto === IPPROTO.UDP && upper >= 0) return this.receiveUdp(pkt, port, upper, src, dst, hopLimit);
    this.toHost(pkt, dst);
  }

  /** Our unicast address on any port (link-local: on this port), or a group we listen to here. */
  private isForUs(port: number, dst: Uint8Array): boolean {
    const iface = this.interfaces.byPort(port);
    if (isMulticast(dst)) return this.groupsListened(port).some((g) => equalAddress(g, dst));
    if (isLinkLocal(dst)) return iface?.findAddress(dst) !== undefined;
    return this.isRouterAddress(dst) || this.isSubnetAnycast(dst);
  }

  /**
   * MLD to any group, once a module handles that MLD type: a multicast router listens to
   * every group's Reports (RFC 2710 §5, RFC 3810 §6: "all-multicast" reception), since MLDv1
   * Reports go to the group they report. Without a handler MLD stays not_for_us/no_listener.
   */
  private isMldForRouter(proto: number, upper: number, pkt: Uint8Array, dst: Uint8Array): boolean {
    if (proto !== IPPROTO.ICMPV6 || upper < 0 || upper >= pkt.length || !isMulticast(dst)) return false;
    const type = pkt[upper]!;
    return isMldType(type) && (this.icmp.get(type)?.length ?? 0) > 0;
  }

  /** The Subnet-Router anycast address of a prefix on any port (RFC 4291 §2.6.1). */
  private isSubnetAnycast(addr: Uint8Array): boolean {
    return this.interfaces.all().some((i) => i.isSubnetAnycast(addr));
  }

  /** One of the router's unicast addresses on any port (not link-local: those need their port). */
  private isRouterAddress(addr: Uint8Array): boolean {
    return this.interfaces.all().some((i) => i.findAddress(addr) !== undefined);
  }

  private receiveIcmpv6(pkt: Uint8Array, port: number, off: number, src: Uint8Array, dst: Uint8Array, hopLimit: number): void {
    const len = pkt.length - off;
    if (len < 4) return this.drop('malformed');
    if (upperLayerChecksum(pkt, 0, off, len, IPPROTO.ICMPV6) !== 0) return this.drop('bad_checksum');
    const type = pkt[off]!;
    if (type >= 133 && type <= 137) {
      // RFC 4861 §6.1, §7.1: hop limit 255 proves the sender is on-link.
      if (hopLimit !== 255) return this.drop('nd_hop_limit', { port, type });
      const decoded = decodeNdMessage(pkt, off, len);
      if (!decoded.ok) return this.drop('nd_invalid', { port, type, why: decoded.reason });
      const msg = decoded.value;
      if (msg.type === 'redirect') return; // RFC 4861 §8.1: routers ignore Redirects
      // RS and RA carry the sender's link-layer address too (§6.2.6, §6.3.4): the
      // neighbour cache learns from every ND message, the advertiser acts on RS/RA.
      this.neighbors.receive(port, src, dst, msg);
      if (msg.type === 'routerSolicitation') this.ra.receiveSolicitation(port, src, msg);
      else if (msg.type === 'routerAdvertisement') {
        this.ra.receiveAdvertisement(port, src, msg);
        this.raHost.receive(port, src, msg);
      }
      return;
    }
    const handlers = this.icmp.get(type);
    if (handlers && handlers.length > 0) {
      const alert = this.ext[WALK_ROUTER_ALERT]!;
      const m: ReceivedIcmpv6 = { port, src, dst, hopLimit, type, code: pkt[off + 1]!, body: pkt.slice(off + 4), ...(alert >= 0 ? { routerAlert: alert } : {}) };
      for (const h of handlers) h(m);
      return;
    }
    // MLD belongs to the router's ports, like ND. Everything else unclaimed (errors, Echo
    // Replies, other informational types) is the kernel's: it owns the router's addresses on
    // the host port, and needs Packet Too Big for path-MTU discovery (RFC 8201 §4) and the
    // replies to its pings.
    if (isMldType(type)) return this.drop('no_listener');
    this.toHost(pkt, dst);
  }

  private receiveUdp(pkt: Uint8Array, port: number, off: number, src: Uint8Array, dst: Uint8Array, hopLimit: number): void {
    const len = pkt.length - off;
    if (len < 8) return this.drop('malformed');
    const udpLen = (pkt[off + 4]! << 8) | pkt[off + 5]!;
    if (udpLen < 8 || udpLen > len) return this.drop('malformed');
    // RFC 8200 §8.1: a zero UDP checksum is not allowed over IPv6.
    const sum = (pkt[off + 6]! << 8) | pkt[off + 7]!;
    if (sum === 0 || upperLayerChecksum(pkt, 0, off, udpLen, IPPROTO.UDP) !== 0) return this.drop('bad_checksum');
    const dstPort = (pkt[off + 2]! << 8) | pkt[off + 3]!;
    const handlers = this.udp.get(dstPort);
    if (!handlers || handlers.length === 0) {
      // RFC 4443 §3.1 code 4: where the kernel cannot have the datagram, no socket listens.
      if (!this.hostOwns(dst)) this.sendError(port, pkt, ICMP6.DST_UNREACH, 4, 0);
      return this.toHost(pkt, dst);
    }
    const d: ReceivedUdp = {
      port,
      src,
      dst,
      srcPort: (pkt[off]! << 8) | pkt[off + 1]!,
      dstPort,
      hopLimit,
      payload: pkt.slice(off + 8, off + udpLen),
    };
    for (const h of handlers) h(d);
  }

  /**
   * Whether the kernel behind the host port holds `dst`: there is a host port, and `dst` is
   * one of the router's unicast addresses (it has them as /128s; not the groups, nor the
   * Subnet-Router anycast addresses).
   */
  private hostOwns(dst: Uint8Array): boolean {
    return this.opts.hostPort !== undefined && !isMulticast(dst) && !this.isSubnetAnycast(dst);
  }

  /** Anything else addressed to the router goes to the kernel through the host TUN, when it holds the address. */
  private toHost(pkt: Uint8Array, dst: Uint8Array): void {
    const hostPort = this.opts.hostPort;
    if (hostPort === undefined || !this.hostOwns(dst)) return this.drop('no_listener');
    if (!this.opts.datapath.inject(hostPort, INJECT_RAW, pkt)) this.drop('inject_ring_full');
  }

  // ---- send --------------------------------------------------------------------------

  private sendNd(port: number, src: Uint8Array, dst: Uint8Array, dstMac: Uint8Array | null, msg: NdMessage): void {
    this.sendFrame(port, dstMac ?? multicastMac(dst), buildNd(src, dst, msg));
  }

  /** Sends an IPv6 packet out of `port` to a known link-layer address. */
  private sendFrame(port: number, dstMac: Uint8Array, pkt: Uint8Array): void {
    const iface = this.interfaces.byPort(port);
    if (!iface) return;
    const frame = iface.kind === 'tap' ? ethernetFrame(dstMac, iface.mac!, pkt) : pkt;
    if (!this.opts.datapath.inject(port, INJECT_RAW, frame)) this.drop('inject_ring_full');
  }

  /** An ICMPv6 error about `pkt`, which arrived on `port`, back to its source (RFC 4443 §2.4). */
  private sendError(port: number, pkt: Uint8Array, type: number, code: number, param: number): void {
    if (!mayGenerateErrorAbout(pkt, 0, pkt.length, type, code)) return;
    // §2.4(f): the control plane's errors are rate-limited like the lanes'.
    if (!this.errorBucket.take(this.clock.now())) return;
    const src = pkt.subarray(IP6_OFF_SRC, IP6_OFF_SRC + 16);
    const dst = pkt.subarray(IP6_OFF_DST, IP6_OFF_DST + 16);
    const iface = this.interfaces.byPort(port);
    // §2.2(a): an error about a packet sent to one of our unicast addresses comes from it.
    const own = !isLinkLocal(src) && !isLinkLocal(dst) && this.isRouterAddress(dst) ? dst : undefined;
    const errorSrc = own ?? (isLinkLocal(src) ? iface?.linkLocal() : iface?.globalAddress() ?? this.anyGlobalAddress()) ?? iface?.linkLocal();
    if (!errorSrc) return;
    const out = new Uint8Array(1280);
    const len = writeIcmpv6Error(out, 0, type, code, param, errorSrc, 0, pkt, IP6_OFF_SRC, pkt, 0, pkt.length, out.length);
    this.sendIp(isLinkLocal(src) ? port : undefined, out.subarray(0, len));
  }

  /**
   * Sends a packet the router originated. Multicast and link-local destinations need the
   * egress port (RFC 4007 zones); the router's own addresses are the host port's; everything
   * else is routed by a lane.
   */
  sendIp(port: number | undefined, pkt: Uint8Array): void {
    const dst = pkt.subarray(IP6_OFF_DST, IP6_OFF_DST + 16);
    if (isMulticast(dst)) {
      if (port === undefined) throw new Error(`sending to ${formatIpv6(dst)} needs an egress port`);
      return this.sendFrame(port, multicastMac(dst), pkt);
    }
    if (isLinkLocal(dst)) {
      if (port === undefined) throw new Error(`sending to ${formatIpv6(dst)} needs an egress port`);
      const n = this.neighbors.lookup(port, dst);
      if (n?.mac) return this.sendFrame(port, n.mac, pkt);
      if (!this.neighbors.resolve(port, dst.slice(), pkt)) this.drop('nd_incomplete_limit');
      return;
    }
    // The appliance's kernel owns the router's addresses on the host port: what is sent to
    // one of them (an error about a packet the kernel sent, e.g. address unreachable) is its.
    if (this.isRouterAddress(dst)) return this.toHost(pkt, dst);
    if (!this.opts.datapath.inject(port ?? 0, INJECT_ROUTE, pkt)) this.drop('inject_ring_full');
  }

  // ---- module registrations ------------------------------------------------------------

  registerUdp(udpPort: number, fn: UdpHandler): Unsubscribe {
    return addHandler(this.udp, udpPort, fn);
  }

  registerIcmpv6(type: number, fn: IcmpHandler): Unsubscribe {
    return addHandler(this.icmp, type, fn);
  }

  joinGroup(port: number, group: Uint8Array): void {
    const k = groupKey(port, group);
    const joined = this.groups.get(k);
    if (joined !== undefined) joined.joins++;
    else {
      this.groups.set(k, { port, group: group.slice(), joins: 1 });
      this.groupsChanged(port);
    }
    this.schedulePublish('groups');
  }

  leaveGroup(port: number, group: Uint8Array): void {
    const k = groupKey(port, group);
    const joined = this.groups.get(k);
    if (joined === undefined) return;
    if (--joined.joins <= 0) {
      this.groups.delete(k);
      this.groupsChanged(port);
    }
    this.schedulePublish('groups');
  }

  /** StackApi.listenedGroups: what MLD reports (all-nodes never, RFC 3810 §6): every other listened group, each once. */
  listenedGroups(port: number): Uint8Array[] {
    const out = new Map<string, Uint8Array>();
    for (const g of this.groupsListened(port)) if (!equalAddress(g, ALL_NODES)) out.set(formatIpv6(g), g);
    return [...out.values()];
  }

  watchGroups(fn: (port: number) => void): () => void {
    this.groupWatchers.add(fn);
    return () => this.groupWatchers.delete(fn);
  }

  private groupsChanged(port: number): void {
    for (const fn of [...this.groupWatchers]) fn(port);
  }

  /**
   * The source of a packet a module sends: its own choice, unless that is none or a
   * Subnet-Router anycast address, which a reply never comes from (RFC 4443 §2.2(c), §4.2).
   */
  moduleSource(port: number | undefined, dst: Uint8Array, src: Uint8Array | undefined): Uint8Array {
    return src !== undefined && !this.isSubnetAnycast(src) ? src : this.sourceFor(port, dst);
  }

  /** RFC 6724 (reduced): the egress port's address of matching scope. */
  sourceFor(port: number | undefined, dst: Uint8Array): Uint8Array {
    if (port !== undefined) {
      const iface = this.interfaces.byPort(port);
      if (iface) return isMulticast(dst) && (dst[1]! & 0x0f) <= 2 ? iface.linkLocal() : iface.sourceAddressFor(dst);
    }
    const route = this.rib.lookup(dst);
    const egress = route?.nexthops[0]?.port;
    const iface = egress === undefined ? undefined : this.interfaces.byPort(egress);
    return iface?.sourceAddressFor(dst) ?? this.anyGlobalAddress() ?? this.interfaces.all()[0]!.linkLocal();
  }
}

function groupKey(port: number, group: Uint8Array): string {
  return `${port}/${formatIpv6(group)}`;
}

function addHandler<K, F>(map: Map<K, F[]>, key: K, fn: F): Unsubscribe {
  const list = map.get(key) ?? [];
  list.push(fn);
  map.set(key, list);
  return () => {
    const at = list.indexOf(fn);
    if (at >= 0) list.splice(at, 1);
  };
}

class ModuleApi implements StackApi {
  constructor(private readonly stack: Stack, readonly origin: RouteOrigin) {}
  get clock(): Clock {
    return this.stack.clock;
  }
  get rng(): Rng {
    return this.stack.rng;
  }
  interfaces(): readonly RouterInterface[] {
    return this.stack.interfaces.all();
  }
  onInterfaceEvent(fn: (ev: InterfaceEvent) => void): Unsubscribe {
    const t = this.stack.interfaces;
    const offs = [
      t.on('address-added', (iface, a) => fn({ type: 'address-added', iface, addr: a.addr })),
      t.on('address-removed', (iface, a) => fn({ type: 'address-removed', iface, addr: a.addr })),
      t.on('address-state', (iface, a) => fn({ type: 'address-state', iface, addr: a.addr })),
      t.on('link-up', (iface) => fn({ type: 'link-up', iface })),
      t.on('link-down', (iface) => fn({ type: 'link-down', iface })),
    ];
    return () => offs.forEach((off) => off());
  }
  bindUdp(udpPort: number, fn: (d: ReceivedUdp) => void): Unsubscribe {
    return this.stack.registerUdp(udpPort, fn);
  }
  sendUdp(o: SendOptions & { srcPort: number; dstPort: number; payload: Uint8Array }): void {
    const src = this.stack.moduleSource(o.port, o.dst, o.src);
    const ipOpts = o.routerAlert === undefined ? { hopLimit: o.hopLimit ?? 64 } : { hopLimit: o.hopLimit ?? 64, routerAlert: o.routerAlert };
    this.stack.sendIp(o.port, buildUdp(src, o.dst, o.srcPort, o.dstPort, o.payload, ipOpts));
  }
  onIcmpv6(type: number, fn: (m: ReceivedIcmpv6) => void): Unsubscribe {
    return this.stack.registerIcmpv6(type, fn);
  }
  sendIcmpv6(o: SendOptions & { type: number; code: number; body: Uint8Array }): void {
    const src = this.stack.moduleSource(o.port, o.dst, o.src);
    const ipOpts = o.routerAlert === undefined ? { hopLimit: o.hopLimit ?? 64 } : { hopLimit: o.hopLimit ?? 64, routerAlert: o.routerAlert };
    this.stack.sendIp(o.port, buildIcmpv6(src, o.dst, o.type, o.code, o.body, ipOpts));
  }
  joinGroup(port: number, group: Uint8Array): void {
    this.stack.joinGroup(port, group);
  }
  leaveGroup(port: number, group: Uint8Array): void {
    this.stack.leaveGroup(port, group);
  }
  listenedGroups(port: number): readonly Uint8Array[] {
    return this.stack.listenedGroups(port);
  }
  onListenedGroupsChange(fn: (port: number) => void): Unsubscribe {
    const t = this.stack.interfaces;
    const offs = [
      this.stack.watchGroups(fn),
      // A new or removed address adds or removes its solicited-node group.
      t.on('address-added', (iface) => fn(iface.port)),
      t.on('address-removed', (iface) => fn(iface.port)),
    ];
    return () => offs.forEach((off) => off());
  }
  addRoute(route: Omit<RibRoute, 'origin'>): void {
    this.stack.rib.add({ ...route, origin: this.origin });
  }
  withdrawRoute(prefix: Uint8Array, prefixLen: number): void {
    this.stack.rib.remove(prefix, prefixLen, this.origin);
  }
  routes(): readonly RibRoute[] {
    return this.stack.rib.all().filter((r) => r.origin === this.origin);
  }
  routeSource(origin: RouteOrigin): RouteSource {
    const api = new ModuleApi(this.stack, origin);
    return { addRoute: (r) => api.addRoute(r), withdrawRoute: (p, l) => api.withdrawRoute(p, l), routes: () => api.routes() };
  }
  bestRoutes(): readonly RibRoute[] {
    return this.stack.rib.bestRoutes();
  }
  bestRouteFor(addr: Uint8Array): RibRoute | undefined {
    return this.stack.rib.lookup(addr);
  }
  onBestRouteChange(fn: (prefix: Uint8Array, prefixLen: number, best: RibRoute | undefined) => void): Unsubscribe {
    return this.stack.rib.subscribe((ev) => fn(ev.prefix, ev.prefixLen, ev.best));
  }
  get ipsec(): IpsecDatapath | undefined {
    return this.stack.ipsecDatapath();
  }
  get multicast(): MulticastDatapath | undefined {
    return this.stack.multicastDatapath();
  }
  addInterfaceAddress(port: number, addr: Uint8Array, prefixLen: number, opts?: { readonly advertise?: AdvertiseLifetimes }): void {
    this.stack.addModuleAddress(port, addr, prefixLen, opts?.advertise);
  }
  removeInterfaceAddress(port: number, addr: Uint8Array): void {
    this.stack.removeModuleAddress(port, addr);
  }
  publishDnsServers(source: string, servers: readonly Uint8Array[], domains: readonly string[]): void {
    this.stack.publishDns({ source, servers, domains });
  }
  dnsServers(): readonly DnsInfo[] {
    return this.stack.dnsInfo();
  }
}
