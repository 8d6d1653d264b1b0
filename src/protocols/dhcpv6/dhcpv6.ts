/**
 * The dhcpv6 protocol module: the server (server.ts) and the relay agent (RFC 8415 §19) on
 * UDP 547, the client (client.ts) on UDP 546 of the WAN interface, their sockets, durable
 * DUID and leases, control commands and metrics.
 *
 * Receiving (§18.3, §19.1): servers and relays join All_DHCP_Relay_Agents_and_Servers
 * (ff02::1:2) on the interfaces they serve. A Relay-forw is unwrapped to the client's
 * message; its innermost link-address names the client's link (§19.1.1), and the Reply goes
 * back wrapped in Relay-repl messages that echo each relay's addresses and Interface-ID
 * (§18.3.10, §19.2), to the outermost relay's address on port 547.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatIpv6, isLinkLocal, isMulticast, isUnspecified, parseIpv6, parsePrefix, prefixContains } from '../../lib/addr.js';
import {
  decodeDhcp6,
  DHCP6_CLIENT_PORT,
  DHCP6_MSG,
  DHCP6_MSG_NAMES,
  DHCP6_SERVER_PORT,
  encodeDhcp6ToBytes,
  findOption,
  formatDuid,
  HOP_COUNT_LIMIT,
  parseDuid,
  type Dhcp6ClientMessage,
  type Dhcp6Message,
  type Dhcp6RelayMessage,
  type Duid,
} from '../../wire/dhcpv6.js';
import type { Dhcpv6Config } from '../../config/sections/dhcpv6.js';
import type { ReceivedUdp, StackApi, Unsubscribe } from '../../stack/stack-api.js';
import type { RouterInterface } from '../../stack/interfaces.js';
import type { ModuleContext, ModuleLogger, ModuleStatus, ProtocolModule } from '../module.js';
import { defaultPreference } from '../../stack/rib.js';
import { LeaseStore } from './lease-store.js';
import { delegatedPoolName, Dhcp6Server, SERVER_DROPS, type ServerLink } from './server.js';
import { CLIENT_DROPS, Dhcp6Client, subnetAddress, type ClientState } from './client.js';
import { formatRows } from '../table.js';
import {
  announceDelayed,
  AUTH_DROPS,
  DurableMap,
  loadKeys,
  ReplayCounter,
  ReplayStore,
  signDelayed,
  signReconfigure,
  verifyDelayed,
  verifyReconfigure,
  withReconfigureKey,
  type AuthDrop,
  type DelayedKey,
} from './auth.js';
import { Retransmitter } from './retransmit.js';
import { RELAY_PD_ORIGIN, RelayPdRoutes } from './relay-routes.js';

export const ALL_DHCP_RELAY_AGENTS_AND_SERVERS = parseIpv6('ff02::1:2')!;

const MODULE_DROPS = ['interface-stopped', 'malformed', 'truncated', 'option-overrun', 'relay-too-deep', 'bad-duid', 'relay-hop-limit', 'relay-without-message', 'relay-unknown-interface', 'not-for-a-relay', ...AUTH_DROPS, ...SERVER_DROPS, ...CLIENT_DROPS] as const;
type ModuleDrop = (typeof MODULE_DROPS)[number];

/** Seconds between 2000-01-01 and 1970-01-01: the DUID-LLT time base (§11.2). */
const DUID_EPOCH_S = 946_684_800;
const EXPIRE_EVERY_MS = 10_000;
/** How often delegations snooped by the relay are checked for the end of their valid lifetime. */
const RELAY_EXPIRE_EVERY_MS = 1_000;
const INFINITE_LIFETIME = 0xffffffff;
/** RFC 8415 §7.6: REC_TIMEOUT and REC_MAX_RC, for the server's Reconfigure. */
const REC_TIMEOUT_MS = 2_000;
const REC_MAX_RC = 8;
/** The source name under which the client publishes resolver information to the stack. */
const DNS_SOURCE = 'dhcpv6-client';

/**
 * The drop reason for a message the codec refused, from the codec's reason text (§16: such
 * messages are discarded): the bad-input kinds an operator tells apart get their own counter.
 */
function malformedReason(reason: string): ModuleDrop {
  if (/nested more than/.test(reason)) return 'relay-too-deep';
  if (/overruns/.test(reason)) return 'option-overrun';
  if (/DUID/.test(reason)) return 'bad-duid';
  if (/truncated|shorter than its/.test(reason)) return 'truncated';
  return 'malformed';
}

export class Dhcpv6Module implements ProtocolModule<Dhcpv6Config> {
  readonly name = 'dhcpv6';
  private api: StackApi | null = null;
  private config: Dhcpv6Config | null = null;
  private server: Dhcp6Server | null = null;
  private store: LeaseStore | null = null;
  /**
   * Messages held for the lease journal's group commit: every message decided while a lease
   * write is not yet durable waits, in order, for the one fdatasync that flushHeld() makes at
   * the end of this turn of the event loop (lease-store.ts).
   */
  private readonly held: Array<{ readonly send: Parameters<StackApi['sendUdp']>[0]; readonly msgType: number }> = [];
  private flushQueued = false;
  /** LeaseStore.prefixGeneration when syncRoutes() last ran (-1: never). */
  private routesSyncedAt = -1;
  private duid: Duid | null = null;
  private readonly unsubscribes: Unsubscribe[] = [];
  private readonly joined: Array<[number, Uint8Array]> = [];
  private expireTimer: { cancel(): void } | null = null;
  private dropLog: ModuleLogger | null = null;
  private log: ModuleLogger | null = null;
  private client: Dhcp6Client | null = null;
  /** Addresses the client put on interfaces, so that a change or a stop removes exactly them. */
  private clientAddresses: Array<{ port: number; addr: Uint8Array }> = [];
  /** Delegated prefixes the client holds, with the reject routes of RFC 7084 WPD-5. */
  private clientPrefixes: Array<{ prefix: Uint8Array; len: number }> = [];
  /** Delayed-authentication keys by name (dhcpv6.keys), the last replay values accepted, and ours. */
  private keys = new Map<string, DelayedKey>();
  private replay: ReplayStore | null = null;
  private replayCounter: ReplayCounter | null = null;
  /** Client DUID → the key its reservation names (WIDE's `host { delayedkey }`). */
  private clientKeys = new Map<string, DelayedKey>();
  private authLog: ModuleLogger | null = null;
  /**
   * Reconfigure keys the server gave (RFC 8415 §20.4.1), by client DUID, with where the
   * client was: hex key, port and link-local address. Durable, since a reload restarts the
   * module and the Reconfigure it triggers must be signed with the key the client holds.
   */
  private reconfigureKeys: DurableMap | null = null;
  /** Reconfigure messages being retransmitted, by client DUID, until the client answers (§18.3.11). */
  private readonly reconfiguring = new Map<string, Retransmitter>();
  /**
   * Interfaces taken out of service by `turtle6ctl dhcp stop` (dhcp6ctl's `stop interface`)
   * until `dhcp start` or the module's next start: a reload restarts it from the config.
   */
  private readonly stopped = new Set<string>();
  /** Routes for prefixes delegated through the relay (relay-routes.ts); null without a relay. */
  private relayRoutes: RelayPdRoutes | null = null;
  private relayTimer: { cancel(): void } | null = null;
  readonly received = new Map<string, number>();
  readonly sent = new Map<string, number>();
  readonly drops = new Map<ModuleDrop, number>(MODULE_DROPS.map((d) => [d, 0]));

  start(ctx: ModuleContext, config: Dhcpv6Config): void {
    this.api = ctx.api;
    this.config = config;
    this.dropLog = ctx.limited('dhcpv6.drop');
    this.log = ctx.log;
    this.duid = this.loadDuid(ctx);
    this.authLog = ctx.limited('dhcpv6.auth');
    this.keys = loadKeys(config.keys);
    this.replay = ReplayStore.in(ctx.stateDir);
    const wallBase = Date.now() - ctx.api.clock.now();
    this.replayCounter = new ReplayCounter(() => wallBase + ctx.api.clock.now());
    for (const r of config.server?.reservations ?? []) if (r.key !== undefined) this.clientKeys.set(r.duid, this.keys.get(r.key)!);
    if (config.server) {
      this.store = new LeaseStore(ctx.stateDir);
      this.store.open();
      const epochBase = Date.now() - ctx.api.clock.now();
      this.server = new Dhcp6Server(config.server, this.duid, this.store, () => epochBase + ctx.api.clock.now());
      this.server.expire();
      this.store.sync();
      this.syncRoutes();
      this.scheduleExpiry();
      this.reconfigureKeys = new DurableMap(join(ctx.stateDir, 'reconfigure-keys.json'));
    }
    if (config.relay) this.startRelayRoutes(ctx);
    const servedNames = [...(config.server?.interfaces.map((i) => i.name) ?? []), ...(config.relay?.interfaces ?? [])];
    for (const name of servedNames) {
      const iface = this.iface(name);
      if (iface) this.join(iface.port, ALL_DHCP_RELAY_AGENTS_AND_SERVERS);
    }
    // A server with only subnets still listens: its Relay-forw messages come unicast, on any port.
    if (config.server || config.relay) this.unsubscribes.push(ctx.api.bindUdp(DHCP6_SERVER_PORT, (d) => this.receive547(d)));
    if (config.client) this.startClient(ctx, config);
    if (config.server) this.reconfigureIfChanged(ctx, config.server);
    this.registerCommands(ctx);
    this.registerMetrics(ctx);
    ctx.log.info({ duid: formatDuid(this.duid), leases: this.store?.size ?? 0 }, 'dhcpv6 started');
  }

  prepareReconfigure(): null {
    // Pools, links and sockets are all derived from the config: a restart is exact, and the
    // leases and DUID are durable, so it loses nothing.
    return null;
  }

  stop(): void {
    // Replies decided before the stop still leave, after their leases are durable.
    this.flushHeld();
    // The client goes first: its Release must leave while the sockets and addresses exist.
    this.client?.stop();
    this.client = null;
    for (const r of this.reconfiguring.values()) r.cancel();
    this.reconfiguring.clear();
    for (const off of this.unsubscribes.splice(0)) off();
    for (const [port, group] of this.joined.splice(0)) this.api?.leaveGroup(port, group);
    this.expireTimer?.cancel();
    this.expireTimer = null;
    this.relayTimer?.cancel();
    this.relayTimer = null;
    this.relayRoutes?.withdrawAll();
    this.relayRoutes = null;
    for (const r of this.api?.routes() ?? []) this.api!.withdrawRoute(r.prefix, r.prefixLen);
    this.store?.close();
    this.store = null;
    this.routesSyncedAt = -1;
    this.server = null;
  }

  status(): ModuleStatus {
    const leases = this.server?.leases() ?? [];
    return {
      data: { duid: this.duid ? formatDuid(this.duid) : null, leases: leases.length, drops: Object.fromEntries(this.drops) },
      text: `dhcpv6: DUID ${this.duid ? formatDuid(this.duid) : '-'}, ${leases.length} leases`,
    };
  }

  // ------------------------------------------------------------ receive path

  private receive547(d: ReceivedUdp): void {
    const decoded = decodeDhcp6(d.payload);
    if (!decoded.ok) {
      this.drop(malformedReason(decoded.reason), d, decoded.reason);
      return;
    }
    const msg = decoded.value;
    this.count(this.received, msg.msgType);
    const ingress = this.ifaceByPort(d.port);
    if (ingress === undefined) return;
    if (this.stopped.has(ingress.name)) return this.drop('interface-stopped', d);
    const relay = this.config?.relay;
    if (relay && relay.interfaces.includes(ingress.name)) {
      this.relayForward(ingress, d, msg);
      return;
    }
    if (relay && ingress.name === relay.upstream && msg.msgType === DHCP6_MSG.RELAY_REPL && !this.config?.server?.interfaces.some((i) => i.name === ingress.name)) {
      this.relayReply(d, msg as Dhcp6RelayMessage);
      return;
    }
    if (this.server) this.serve(ingress, d, msg);
  }

  private serve(ingress: RouterInterface, d: ReceivedUdp, msg: Dhcp6Message): void {
    // Unwrap relays outermost first (§19.2): the innermost link-address names the client's link.
    const relays: Dhcp6RelayMessage[] = [];
    let inner: Dhcp6Message = msg;
    while (inner.type === 'relay') {
      if (inner.msgType !== DHCP6_MSG.RELAY_FORW) return this.drop('not-for-a-server', d);
      relays.push(inner);
      const carried = findOption(inner.options, 'relayMessage');
      if (carried === undefined) return this.drop('relay-without-message', d);
      inner = carried.message;
    }
    const clientMsg = inner as Dhcp6ClientMessage;
    const clientId = findOption(clientMsg.options, 'clientId');
    const key = clientId === undefined ? undefined : this.clientKeys.get(formatDuid(clientId.duid));
    // RFC 3315 §21.4.5.1: a client the server has a key for must authenticate; its Solicit
    // announces delayed authentication, everything after carries the MAC. Checked before the
    // server acts, so a message that fails never changes a lease.
    if (key !== undefined && !this.authenticated(d, clientMsg, relays.length === 0 ? d.payload : encodeDhcp6ToBytes(clientMsg), key, `server|${key.name}|${formatDuid(clientId!.duid)}`)) return;
    const linkName = relays.length === 0 ? ingress.name : this.linkFor(relays[relays.length - 1]!.linkAddress);
    if (linkName === null) return this.drop('unserved-link', d);
    if (this.stopped.has(linkName)) return this.drop('interface-stopped', d);
    const linkIface = this.iface(linkName);
    const subnet = linkIface === undefined ? parsePrefix(linkName) : null;
    const link: ServerLink = {
      name: linkName,
      // A subnet's own prefix is its on-link prefix (§18.3.3's Confirm test).
      onLink: linkIface ? linkIface.addresses.filter((a) => !isLinkLocal(a.addr)).map((a) => ({ addr: a.addr, len: a.prefixLen })) : subnet ? [subnet] : [],
      unicastAddress: linkIface?.globalAddress() ?? null,
      peer: relays.length === 0 ? { port: d.port, address: formatIpv6(d.src) } : null,
      relay: relays.length === 0 ? undefined : formatIpv6(d.src),
    };
    const unicast = relays.length === 0 && !isMulticast(d.dst);
    const verdict = this.server!.handle(linkName, link, clientMsg, unicast);
    if ('drop' in verdict) return this.drop(verdict.drop, d);
    this.syncRoutes();
    const clientDuid = clientId === undefined ? null : formatDuid(clientId.duid);
    // §18.3.11: the client's Renew, Rebind or Information-request answers our Reconfigure.
    if (clientDuid !== null) this.reconfigureAnswered(clientDuid, clientMsg.msgType);
    const hops = relays.map(relayHop);
    let reply: Dhcp6ClientMessage = verdict.reply;
    if (clientDuid !== null) reply = this.offerReconfigure(clientDuid, clientMsg, reply, d, hops, key !== undefined);
    // The delayed-authentication MAC covers the whole Reply, so it is signed last.
    if (key !== undefined) reply = signDelayed(reply, key, this.replayCounter!.next());
    this.send(d.port, d.src, hops.length === 0 ? DHCP6_CLIENT_PORT : DHCP6_SERVER_PORT, throughRelays(hops, reply), isMulticast(d.dst) ? undefined : d.dst);
  }

  /**
   * The link a relayed client is on, from the innermost link-address (§19.1.1): a configured
   * subnet or interface pool that holds it (Dhcp6Server.linkOf), else a served interface
   * whose own prefixes do.
   */
  private linkFor(linkAddress: Uint8Array): string | null {
    const byConfig = this.server!.linkOf(linkAddress);
    if (byConfig !== null) return byConfig;
    for (const s of this.config?.server?.interfaces ?? []) {
      const iface = this.iface(s.name);
      if (iface?.addresses.some((a) => !isLinkLocal(a.addr) && prefixContains({ addr: a.addr, len: a.prefixLen }, linkAddress))) return s.name;
    }
    return null;
  }

  /**
   * Routes each delegated prefix to the requesting router that holds it (RFC 8415 §6.3: the
   * delegating router routes the prefix toward the requesting router), and withdraws the
   * routes of prefixes released or expired. Derived from the durable leases, so a restart
   * restores them.
   */
  /**
   * Makes the RIB's dhcpv6 routes those of the delegated-prefix bindings. Both sides are
   * whole-table walks (every lease, every route of the RIB), so it runs only when a prefix
   * binding changed: once per message would make each lease cost O(RIB) beside a full table.
   */
  private syncRoutes(): void {
    const store = this.store;
    if (store === null || store.prefixGeneration === this.routesSyncedAt) return;
    this.routesSyncedAt = store.prefixGeneration;
    const api = this.api!;
    const wanted = new Map<string, { prefix: Uint8Array; len: number; port: number; gateway: Uint8Array }>();
    for (const l of this.server?.leases() ?? []) {
      if (l.kind !== 'pd' || l.via === undefined || l.declined) continue;
      wanted.set(`${l.address}/${l.prefixLen}`, { prefix: parseIpv6(l.address)!, len: l.prefixLen, port: l.via.port, gateway: parseIpv6(l.via.address)! });
    }
    for (const r of api.routes()) {
      // Reject routes belong to the client's delegated prefixes (applyClient).
      if (r.kind === 'unicast' && !wanted.has(`${formatIpv6(r.prefix)}/${r.prefixLen}`)) api.withdrawRoute(r.prefix, r.prefixLen);
    }
    const have = new Set(api.routes().map((r) => `${formatIpv6(r.prefix)}/${r.prefixLen}|${r.nexthops[0]?.port}|${r.nexthops[0]?.gateway ? formatIpv6(r.nexthops[0].gateway) : ''}`));
    for (const [key, w] of wanted) {
      if (have.has(`${key}|${w.port}|${formatIpv6(w.gateway)}`)) continue;
      api.addRoute({ prefix: w.prefix, prefixLen: w.len, preference: defaultPreference('dhcpv6'), metric: 0, kind: 'unicast', nexthops: [{ port: w.port, gateway: w.gateway }] });
    }
  }

  // ------------------------------------------------------------ client (§18.2)

  private startClient(ctx: ModuleContext, config: Dhcpv6Config): void {
    const cfg = config.client!;
    const api = ctx.api;
    if (!api.addInterfaceAddress || !api.removeInterfaceAddress || !api.publishDnsServers) throw new Error('the DHCPv6 client needs a stack that assigns addresses');
    const wan = this.iface(cfg.interface);
    if (wan === undefined) throw new Error(`dhcpv6 client: no interface ${cfg.interface}`);
    const key = cfg.key === undefined ? undefined : this.keys.get(cfg.key)!;
    this.unsubscribes.push(api.bindUdp(DHCP6_CLIENT_PORT, (d) => {
      if (d.port !== wan.port || this.client === null) return;
      const decoded = decodeDhcp6(d.payload);
      if (!decoded.ok || decoded.value.type !== 'client') return this.drop('malformed', d, decoded.ok ? 'relay message to a client' : decoded.reason);
      this.count(this.received, decoded.value.msgType);
      const serverId = findOption(decoded.value.options, 'serverId');
      if (decoded.value.msgType === DHCP6_MSG.RECONFIGURE) return this.clientReconfigure(d, decoded.value, serverId === undefined ? '-' : formatDuid(serverId.duid));
      // RFC 3315 §21.4.4.2, §21.4.4.3: with a key configured, Advertise and Reply must carry a
      // valid MAC from the server; replays are judged per server DUID.
      if (key !== undefined && !this.authenticated(d, decoded.value, d.payload, key, `client|${key.name}|${serverId ? formatDuid(serverId.duid) : '-'}`)) return;
      this.client?.receive(decoded.value);
    }));
    this.runClient();
  }

  /** A fresh client on the WAN interface (at start, and at `turtle6ctl dhcp start` after a stop). */
  private runClient(): void {
    const cfg = this.config!.client!;
    const api = this.api!;
    const wan = this.iface(cfg.interface)!;
    const key = cfg.key === undefined ? undefined : this.keys.get(cfg.key)!;
    this.client = new Dhcp6Client(cfg, this.duid!, {
      clock: api.clock,
      rng: api.rng,
      send: (unsigned, unicast) => {
        // RFC 3315 §21.4.4: Solicit (and Information-request) announce delayed authentication;
        // every later message carries the MAC under the configured key.
        const announce = unsigned.msgType === DHCP6_MSG.SOLICIT || unsigned.msgType === DHCP6_MSG.INFORMATION_REQUEST;
        const msg = key === undefined ? unsigned : announce ? announceDelayed(unsigned, this.replayCounter!.next()) : signDelayed(unsigned, key, this.replayCounter!.next());
        api.sendUdp({
          port: wan.port,
          // §18.2: "the client ... uses a link-local address" as the source of its messages.
          ...(unicast === null ? { src: wan.linkLocal() } : {}),
          dst: unicast ?? ALL_DHCP_RELAY_AGENTS_AND_SERVERS,
          srcPort: DHCP6_CLIENT_PORT,
          dstPort: DHCP6_SERVER_PORT,
          payload: encodeDhcp6ToBytes(msg),
        });
        this.count(this.sent, msg.msgType);
      },
      leasesChanged: (state) => this.applyClient(state),
      ignored: (reason) => {
        this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
        this.dropLog?.debug({ reason }, 'dhcpv6 client ignored a message');
      },
    });
    this.client.start();
  }

  /**
   * §18.2.11, §20.4.1: a Reconfigure is acted on only with a valid HMAC-MD5 under the
   * reconfigure key the bound server gave us, and a replay value above the last one. A client
   * with a delayed-authentication key gets no reconfigure key: its Reconfigure must carry a
   * valid MAC under that key instead (RFC 3315 §21.4.4.5), judged like its Replies.
   */
  private clientReconfigure(d: ReceivedUdp, msg: Dhcp6ClientMessage, server: string): void {
    const keyName = this.config?.client?.key;
    if (keyName !== undefined) {
      if (this.authenticated(d, msg, d.payload, this.keys.get(keyName)!, `client|${keyName}|${server}`)) this.client?.reconfigure(msg);
      return;
    }
    const key = this.client?.currentReconfigureKey() ?? null;
    if (key === null) return this.authDrop('auth-missing', d, msg, 'no reconfigure key from the server');
    const peer = `reconfigure|${server}`;
    const verdict = verifyReconfigure(msg, d.payload, key, this.replay!.last(peer));
    if (!verdict.ok) return this.authDrop(verdict.reason, d, msg, verdict.detail);
    this.replay!.record(peer, verdict.rd);
    this.client?.reconfigure(msg);
  }

  /**
   * Puts what the client holds on the interfaces: each IA_NA address on the WAN port (as a
   * /128: RFC 8415 §6.3 leaves on-link prefixes to RAs), each delegated prefix as a /64 per
   * prefix interface, announced in that port's RAs with the lease's remaining lifetimes,
   * and a reject route for the whole delegated prefix (RFC 7084 WPD-5) so unused parts do
   * not loop back upstream. Whatever is no longer held is removed: expiry or Release
   * withdraws it everywhere.
   */
  private applyClient(state: ClientState): void {
    const api = this.api!;
    const cfg = this.config!.client!;
    const wan = this.iface(cfg.interface)!;
    const now = api.clock.now();
    const wanted: Array<{ port: number; addr: Uint8Array; len: number; advertise?: { validLifetime: number; preferredLifetime: number } }> = [];
    const prefixes: Array<{ prefix: Uint8Array; len: number }> = [];
    for (const l of state.leases) {
      const left = (s: number) => (s === INFINITE_LIFETIME ? s : Math.max(0, Math.floor(s - (now - l.receivedAt) / 1000)));
      if (l.kind === 'na') {
        wanted.push({ port: wan.port, addr: l.address, len: 128 });
        continue;
      }
      prefixes.push({ prefix: l.address, len: l.prefixLen });
      for (const p of cfg.prefixInterfaces) {
        const lan = this.iface(p.name);
        const addr = subnetAddress(l.address, l.prefixLen, p.slaId, BigInt(p.hostId));
        if (lan === undefined || addr === null) {
          this.log?.warn({ interface: p.name, slaId: p.slaId, delegated: `${formatIpv6(l.address)}/${l.prefixLen}` }, 'sla-id does not fit the delegated prefix');
          continue;
        }
        wanted.push({ port: lan.port, addr, len: 64, advertise: { validLifetime: left(l.valid), preferredLifetime: left(l.preferred) } });
      }
    }
    const key = (port: number, addr: Uint8Array) => `${port}|${formatIpv6(addr)}`;
    const keep = new Set(wanted.map((w) => key(w.port, w.addr)));
    for (const a of this.clientAddresses) if (!keep.has(key(a.port, a.addr))) api.removeInterfaceAddress!(a.port, a.addr);
    for (const w of wanted) api.addInterfaceAddress!(w.port, w.addr, w.len, w.advertise ? { advertise: w.advertise } : {});
    this.clientAddresses = wanted.map((w) => ({ port: w.port, addr: w.addr }));
    const prefixKey = (p: { prefix: Uint8Array; len: number }) => `${formatIpv6(p.prefix)}/${p.len}`;
    const keepPrefixes = new Set(prefixes.map(prefixKey));
    for (const p of this.clientPrefixes) if (!keepPrefixes.has(prefixKey(p))) api.withdrawRoute(p.prefix, p.len);
    for (const p of prefixes) api.addRoute({ prefix: p.prefix, prefixLen: p.len, preference: defaultPreference('dhcpv6'), metric: 0, kind: 'reject', nexthops: [] });
    this.clientPrefixes = prefixes;
    this.offerDelegation(state);
    api.publishDnsServers!(DNS_SOURCE, state.dnsServers, state.domains);
  }

  /**
   * Hands the /64 each prefix interface got to the local server's delegated pool on that
   * interface (issue 5: the delegated prefix is "offered through the local DHCPv6 server's
   * pools"), with the lease's remaining lifetimes, which cap the addresses given from it.
   * When the delegation is released, expires or changes, the pool goes and the server ends
   * the bindings in it; the clients of those that accepted Reconfigure are told to Renew
   * now (§18.3.11), and the Reply takes the address back with lifetimes 0 (§18.3.4).
   */
  private offerDelegation(state: ClientState): void {
    const server = this.server;
    const cfg = this.config!;
    if (server === null || cfg.client === undefined) return;
    const now = this.api!.clock.now();
    const delegated = state.leases.find((l) => l.kind === 'pd');
    for (const s of cfg.server?.interfaces ?? []) {
      if (s.delegatedPool === undefined) continue;
      const lan = cfg.client.prefixInterfaces.find((p) => p.name === s.name)!;
      const prefix = delegated === undefined ? null : subnetAddress(delegated.address, delegated.prefixLen, lan.slaId, 0n);
      const left = (secs: number) => (secs === INFINITE_LIFETIME ? secs : Math.max(0, Math.floor(secs - (now - delegated!.receivedAt) / 1000)));
      const ended = server.setDelegatedPrefix(s.name, prefix === null ? null : { prefix, preferred: left(delegated!.preferred), valid: left(delegated!.valid) });
      if (ended.length === 0) continue;
      this.log?.info({ interface: s.name, ended: ended.map((l) => l.address) }, 'dhcpv6 delegated pool withdrawn: its bindings ended');
      for (const duid of new Set(ended.map((l) => l.duid))) {
        const entry = this.reconfigureKeys?.get(duid);
        if (entry !== undefined) this.sendReconfigure(duid, entry);
      }
    }
  }

  // ------------------------------------------------------------ relay agent (§19)

  private relayForward(ingress: RouterInterface, d: ReceivedUdp, msg: Dhcp6Message): void {
    const relay = this.config!.relay!;
    let hopCount = 0;
    if (msg.type === 'relay') {
      if (msg.msgType !== DHCP6_MSG.RELAY_FORW) return this.drop('not-for-a-relay', d);
      // §19.1.2: "If the hop-count in the message is greater than or equal to HOP_COUNT_LIMIT, the relay agent discards the received message."
      if (msg.hopCount >= HOP_COUNT_LIMIT) return this.drop('relay-hop-limit', d);
      hopCount = msg.hopCount + 1;
    } else if (msg.msgType === DHCP6_MSG.ADVERTISE || msg.msgType === DHCP6_MSG.REPLY || msg.msgType === DHCP6_MSG.RECONFIGURE) {
      return this.drop('not-for-a-relay', d);
    } else {
      this.relayRoutes?.forwarded(msg);
    }
    // §19.1.1: link-address is a global address of the client's link (or unspecified, with
    // an Interface-ID); the Interface-ID lets the reply find its way back either way.
    const forward: Dhcp6RelayMessage = {
      type: 'relay',
      msgType: DHCP6_MSG.RELAY_FORW,
      hopCount,
      linkAddress: ingress.globalAddress() ?? new Uint8Array(16),
      peerAddress: d.src,
      options: [{ kind: 'interfaceId', id: new TextEncoder().encode(ingress.name) }, { kind: 'relayMessage', message: msg }],
    };
    const upstream = this.iface(relay.upstream);
    if (upstream === undefined) return;
    if (relay.servers.length === 0) this.send(upstream.port, ALL_DHCP_RELAY_AGENTS_AND_SERVERS, DHCP6_SERVER_PORT, forward);
    for (const server of relay.servers) this.send(undefined, parseIpv6(server)!, DHCP6_SERVER_PORT, forward);
  }

  private relayReply(d: ReceivedUdp, msg: Dhcp6RelayMessage): void {
    const carried = findOption(msg.options, 'relayMessage');
    if (carried === undefined) return this.drop('relay-without-message', d);
    const id = findOption(msg.options, 'interfaceId');
    const name = id ? new TextDecoder().decode(id.id) : null;
    const out = name !== null && this.config!.relay!.interfaces.includes(name) ? this.iface(name) : undefined;
    if (out === undefined) return this.drop('relay-unknown-interface', d);
    // §19.2: the inner message goes to peer-address; to the client port, unless it is for
    // another relay (a Relay-repl), which listens on the server port.
    const dstPort = carried.message.type === 'relay' ? DHCP6_SERVER_PORT : DHCP6_CLIENT_PORT;
    // The route for a delegated prefix is installed before the Reply leaves, so the client's first packets from it are routed back.
    if (carried.message.type === 'client') this.relayRoutes?.reply(carried.message, name!, msg.peerAddress);
    this.send(out.port, msg.peerAddress, dstPort, carried.message);
  }

  /** Snooping of the prefixes delegated through the relay (relay-routes.ts): restored from disk, expired on a timer. */
  private startRelayRoutes(ctx: ModuleContext): void {
    const wallBase = Date.now() - ctx.api.clock.now();
    this.relayRoutes = new RelayPdRoutes(ctx.stateDir, {
      routes: ctx.api.routeSource(RELAY_PD_ORIGIN),
      portOf: (name) => this.iface(name)?.port,
      nowMs: () => wallBase + ctx.api.clock.now(),
    });
    this.relayRoutes.restore();
    const tick = () => {
      this.relayTimer = ctx.api.clock.setTimer(RELAY_EXPIRE_EVERY_MS, () => {
        this.relayRoutes?.expire();
        tick();
      });
    };
    tick();
  }

  // ------------------------------------------------------------ Reconfigure (§18.3.11)

  /**
   * RFC 8415 §20.4.1: a client that sent Reconfigure Accept gets the Reconfigure Accept
   * option back (§21.20: the server tells the client to accept Reconfigure) and, unless it
   * authenticates with a delayed-authentication key, a reconfigure key in an Authentication
   * option (protocol 3, type 1). A client with a delayed key gets none: a message carries one
   * Authentication option, and its Reconfigure is signed under the delayed key instead (RFC
   * 3315 §21.4.4.5, §19.1.1). The key is chosen once per client and kept, durably, with where
   * the client was: its address and port, and for a relayed client the relay chain, so the
   * Reconfigure a later reload sends can go back through the relays (§18.3.11). A Release
   * forgets it all.
   */
  private offerReconfigure(duid: string, msg: Dhcp6ClientMessage, reply: Dhcp6ClientMessage, d: ReceivedUdp, hops: readonly RelayHop[], delayed: boolean): Dhcp6ClientMessage {
    const store = this.reconfigureKeys;
    if (store === null) return reply;
    if (msg.msgType === DHCP6_MSG.RELEASE) {
      store.delete(duid);
      return reply;
    }
    const wants = this.config?.server?.reconfigure === true && findOption(msg.options, 'reconfAccept') !== undefined;
    if (!wants || reply.msgType !== DHCP6_MSG.REPLY || msg.msgType === DHCP6_MSG.INFORMATION_REQUEST) return reply;
    const known = store.get(duid);
    const knownKey = known === undefined ? undefined : (JSON.parse(known) as ReconfigureEntry).key;
    const keyHex = delayed ? undefined : knownKey ?? randomBytes(16).toString('hex');
    const entry: ReconfigureEntry = { ...(keyHex !== undefined ? { key: keyHex } : {}), port: d.port, address: formatIpv6(d.src), ...(hops.length > 0 ? { relays: hops.map(storedHop) } : {}) };
    store.set(duid, JSON.stringify(entry));
    const withAccept: Dhcp6ClientMessage = { ...reply, options: [...reply.options, { kind: 'reconfAccept' }] };
    return keyHex === undefined ? withAccept : withReconfigureKey(withAccept, Uint8Array.from(Buffer.from(keyHex, 'hex')), this.replayCounter!.next());
  }

  /**
   * A reload restarts the module; when the server's settings (pools, lifetimes, options)
   * differ from those of the previous run, every client holding a reconfigure key is sent a
   * Reconfigure asking it to Renew (§18.3.11), so it picks the change up now rather than at T1.
   */
  private reconfigureIfChanged(ctx: ModuleContext, server: NonNullable<Dhcpv6Config['server']>): void {
    const file = join(ctx.stateDir, 'server-settings.json');
    const current = JSON.stringify(server);
    const previous = existsSync(file) ? readFileSync(file, 'utf8') : null;
    if (previous === current) return;
    writeFileSync(file, current);
    if (previous === null || !server.reconfigure) return;
    for (const [duid, entry] of this.reconfigureKeys?.entries() ?? []) this.sendReconfigure(duid, entry);
    ctx.log.info({ clients: this.reconfiguring.size }, 'dhcpv6 server settings changed: Reconfigure sent');
  }

  /**
   * §18.3.11: Server ID, Client ID, Reconfigure Message (renew) and the Authentication option
   * (an HMAC-MD5 under the client's reconfigure key, or under its delayed-authentication key);
   * transaction-id 0; unicast to the client, or for a relayed client in Relay-repl messages to
   * the relay it was heard through ("the server uses a Relay-reply message ... to send the
   * Reconfigure message to a relay agent that will relay the message to the client");
   * retransmitted REC_MAX_RC times from REC_TIMEOUT until the client answers.
   */
  private sendReconfigure(duid: string, stored: string): void {
    const clientDuid = parseDuid(duid);
    const entry = JSON.parse(stored) as ReconfigureEntry;
    const delayed = this.clientKeys.get(duid);
    // A client whose reservation lost its key since has no key to check a Reconfigure with.
    if (clientDuid === null || (entry.key === undefined && delayed === undefined)) return;
    this.reconfiguring.get(duid)?.cancel();
    const unsigned: Dhcp6ClientMessage = {
      type: 'client',
      msgType: DHCP6_MSG.RECONFIGURE,
      transactionId: 0,
      options: [
        { kind: 'serverId', duid: this.duid! },
        { kind: 'clientId', duid: clientDuid },
        { kind: 'reconfMsg', msgType: DHCP6_MSG.RENEW },
      ],
    };
    const hops = (entry.relays ?? []).map(loadedHop);
    const address = parseIpv6(entry.address)!;
    const sign = (): Dhcp6ClientMessage => (entry.key !== undefined
      ? signReconfigure(unsigned, Uint8Array.from(Buffer.from(entry.key, 'hex')), this.replayCounter!.next())
      : signDelayed(unsigned, delayed!, this.replayCounter!.next()));
    const api = this.api!;
    this.reconfiguring.set(duid, new Retransmitter(api.clock, api.rng, { irt: REC_TIMEOUT_MS, mrt: 0, mrc: REC_MAX_RC, mrd: 0 }, () => {
      this.send(entry.port, address, hops.length === 0 ? DHCP6_CLIENT_PORT : DHCP6_SERVER_PORT, throughRelays(hops, sign()));
    }, () => this.reconfiguring.delete(duid)));
  }

  private reconfigureAnswered(duid: string, msgType: number): void {
    if (msgType !== DHCP6_MSG.RENEW && msgType !== DHCP6_MSG.REBIND && msgType !== DHCP6_MSG.INFORMATION_REQUEST) return;
    this.reconfiguring.get(duid)?.cancel();
    this.reconfiguring.delete(duid);
  }

  // ------------------------------------------------------------ authentication

  /**
   * Delayed authentication of a received message under `key` (RFC 3315 §21.4): a failure is
   * dropped, counted by reason and logged rate-limited; a success records the replay value
   * durably before the message is acted on. Solicit and Information-request only announce
   * the protocol (§21.4.2) and carry no MAC, so they record nothing.
   */
  private authenticated(d: ReceivedUdp, msg: Dhcp6ClientMessage, bytes: Uint8Array, key: DelayedKey, peer: string): boolean {
    const announceOnly = msg.msgType === DHCP6_MSG.SOLICIT || msg.msgType === DHCP6_MSG.INFORMATION_REQUEST;
    const verdict = verifyDelayed(msg, bytes, key, this.replay!.last(peer), announceOnly);
    if (!verdict.ok) {
      this.authDrop(verdict.reason, d, msg, verdict.detail);
      return false;
    }
    const hasMac = (findOption(msg.options, 'auth')?.info.length ?? 0) > 0;
    if (hasMac) this.replay!.record(peer, verdict.rd);
    return true;
  }

  private authDrop(reason: AuthDrop, d: ReceivedUdp, msg: Dhcp6ClientMessage, detail: string): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
    this.authLog?.warn({ reason, from: formatIpv6(d.src), port: d.port, type: DHCP6_MSG_NAMES[msg.msgType] ?? msg.msgType, detail }, 'dhcpv6 message failed authentication');
  }

  // ------------------------------------------------------------ helpers

  private send(port: number | undefined, dst: Uint8Array, dstPort: number, msg: Dhcp6Message, src?: Uint8Array): void {
    const linkScoped = isLinkLocal(dst) || isMulticast(dst);
    const useSrc = src ?? (port !== undefined && linkScoped ? this.ifaceByPort(port)?.linkLocal() : undefined);
    const send = {
      ...(port !== undefined ? { port } : {}),
      ...(useSrc !== undefined && !isUnspecified(useSrc) ? { src: useSrc } : {}),
      dst,
      srcPort: DHCP6_SERVER_PORT,
      dstPort,
      payload: encodeDhcp6ToBytes(msg),
    };
    if (this.store?.needsSync || this.held.length > 0) {
      this.held.push({ send, msgType: msg.msgType });
      this.queueFlush();
      return;
    }
    this.api!.sendUdp(send);
    this.count(this.sent, msg.msgType);
  }

  /** Group commit: one flushHeld() after the messages of this turn of the event loop. */
  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(() => this.flushHeld());
  }

  /** Makes the leases durable (one fdatasync), then sends what waited for them. */
  private flushHeld(): void {
    this.flushQueued = false;
    this.store?.sync();
    for (const { send, msgType } of this.held.splice(0)) {
      this.api?.sendUdp(send);
      this.count(this.sent, msgType);
    }
  }

  private drop(reason: ModuleDrop, d: ReceivedUdp, detail?: string): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
    this.dropLog?.debug({ reason, from: formatIpv6(d.src), port: d.port, ...(detail ? { detail } : {}) }, 'dhcpv6 message dropped');
  }

  private count(map: Map<string, number>, msgType: number): void {
    const name = DHCP6_MSG_NAMES[msgType] ?? 'unknown';
    map.set(name, (map.get(name) ?? 0) + 1);
  }

  private iface(name: string): RouterInterface | undefined {
    return this.api!.interfaces().find((i) => i.name === name);
  }

  private ifaceByPort(port: number): RouterInterface | undefined {
    return this.api!.interfaces().find((i) => i.port === port);
  }

  private join(port: number, group: Uint8Array): void {
    this.api!.joinGroup(port, group);
    this.joined.push([port, group]);
  }

  // ------------------------------------------------------------ dhcp stop|start (dhcp6ctl)

  /** What each DHCPv6 interface does, for `dhcp stop|start` and `show dhcp status`. */
  private roles(): Array<{ interface: string; role: 'server' | 'relay' | 'client' }> {
    const cfg = this.config;
    return [
      ...(cfg?.server?.interfaces ?? []).map((i) => ({ interface: i.name, role: 'server' as const })),
      ...(cfg?.relay?.interfaces ?? []).map((name) => ({ interface: name, role: 'relay' as const })),
      ...(cfg?.client ? [{ interface: cfg.client.interface, role: 'client' as const }] : []),
    ];
  }

  /**
   * dhcp6ctl's `stop interface` / `start interface`, without a config change. A served or
   * relayed interface ignores what reaches it, counted as `interface-stopped` (it stays in
   * All_DHCP_Relay_Agents_and_Servers so that an operator sees clients still asking); its
   * leases stay, as dhcp6s keeps its bindings. The client's WAN interface stops its client, which sends Release (§18.2.7)
   * and withdraws the delegated prefix everywhere; start runs a new client from Solicit.
   */
  private setServing(name: string, serving: boolean): string {
    const role = this.roles().find((r) => r.interface === name)?.role;
    if (role === undefined) {
      throw new Error(`${name} is not a DHCPv6 interface (${this.roles().map((r) => `${r.interface}: ${r.role}`).join(', ') || 'none is configured'})`);
    }
    if (serving !== this.stopped.has(name)) return `${name} (${role}) is already ${serving ? 'running' : 'stopped'}`;
    if (serving) this.stopped.delete(name);
    else this.stopped.add(name);
    if (role === 'client' && serving) this.runClient();
    if (role === 'client' && !serving) {
      this.client?.stop();
      this.client = null;
    }
    this.log?.info({ interface: name, role }, serving ? 'dhcpv6 interface started' : 'dhcpv6 interface stopped');
    return `${name} (${role}) ${serving ? 'started' : 'stopped'}`;
  }

  private scheduleExpiry(): void {
    this.expireTimer = this.api!.clock.setTimer(EXPIRE_EVERY_MS, () => {
      if (this.server?.expire()) this.syncRoutes();
      if (this.store?.needsSync) this.queueFlush();
      this.scheduleExpiry();
    });
  }

  /** The router's DUID-LLT (§11.2), made once from an interface MAC and kept in the state directory. */
  private loadDuid(ctx: ModuleContext): Duid {
    const file = join(ctx.stateDir, 'duid');
    if (existsSync(file)) {
      const d = parseDuid(readFileSync(file, 'utf8').trim());
      if (d !== null) return d;
      ctx.log.warn({ file }, 'unreadable DUID file: making a new DUID');
    }
    const mac = ctx.api.interfaces().find((i) => i.mac !== null)?.mac;
    const time = (Math.floor(Date.now() / 1000) - DUID_EPOCH_S) >>> 0;
    const duid: Duid = mac
      ? { type: 1, hwType: 1, time, linkLayer: Uint8Array.from(mac) }
      : { type: 2, enterprise: 32473, identifier: Uint8Array.from(Buffer.from(time.toString(16).padStart(8, '0'), 'hex')) };
    writeFileSync(file, `${formatDuid(duid)}\n`);
    return duid;
  }

  // ------------------------------------------------------------ control and metrics

  private registerCommands(ctx: ModuleContext): void {
    ctx.commands.register(['show', 'dhcp', 'leases'], () => {
      const rows = (this.server?.leases() ?? []).map((l) => ({
        lease: l.kind === 'na' ? l.address : `${l.address}/${l.prefixLen}`,
        kind: l.kind === 'na' ? 'IA_NA' : 'IA_PD',
        duid: l.duid,
        iaid: l.iaid,
        link: l.link ?? null,
        relay: l.relay ?? null,
        state: l.declined ? 'declined' : 'bound',
        expires: new Date(l.expiresAt).toISOString(),
      }));
      return { data: { leases: rows }, text: formatRows(['lease', 'kind', 'duid', 'iaid', 'link', 'relay', 'state', 'expires'], rows) };
    }, 'the DHCPv6 server\'s leases');
    ctx.commands.register(['show', 'dhcp', 'pools'], () => {
      // A delegated pool shows the /64 it is carved from, or "-" while no delegation is held.
      const from = new Map((this.server?.delegations() ?? []).map((d) => [delegatedPoolName(d.link), d.prefix ?? '-']));
      const rows = (this.server?.poolStats() ?? []).map((p) => ({ pool: p.pool, kind: p.kind, size: p.size.toString(), used: p.used, free: (p.size - BigInt(p.used)).toString(), ...(from.has(p.pool) ? { delegated: from.get(p.pool) } : {}) }));
      return { data: { pools: rows }, text: formatRows(['pool', 'kind', 'size', 'used', 'free', 'delegated'], rows) };
    }, 'the DHCPv6 server\'s pools and their use');
    ctx.commands.register(['show', 'dhcp', 'client'], () => {
      const st = this.client?.state();
      const now = ctx.api.clock.now();
      const rows = (st?.leases ?? []).map((l) => ({
        lease: l.kind === 'na' ? formatIpv6(l.address) : `${formatIpv6(l.address)}/${l.prefixLen}`,
        kind: l.kind === 'na' ? 'IA_NA' : 'IA_PD',
        preferred: l.preferred === INFINITE_LIFETIME ? 'infinite' : Math.max(0, Math.floor(l.preferred - (now - l.receivedAt) / 1000)),
        valid: l.valid === INFINITE_LIFETIME ? 'infinite' : Math.max(0, Math.floor(l.valid - (now - l.receivedAt) / 1000)),
      }));
      const lans = this.clientAddresses.filter((a) => this.ifaceByPort(a.port)?.name !== this.config?.client?.interface).map((a) => ({ interface: this.ifaceByPort(a.port)?.name ?? '-', address: `${formatIpv6(a.addr)}/64` }));
      const data = {
        phase: st?.phase ?? (this.config?.client !== undefined && this.stopped.has(this.config.client.interface) ? 'stopped' : 'off'),
        server: st?.server ? formatDuid(st.server) : null,
        leases: rows,
        prefixInterfaces: lans,
        dnsServers: (st?.dnsServers ?? []).map(formatIpv6),
        domains: st?.domains ?? [],
        renewIn: st?.renewAt != null ? Math.max(0, Math.round((st.renewAt - now) / 1000)) : null,
        rebindIn: st?.rebindAt != null ? Math.max(0, Math.round((st.rebindAt - now) / 1000)) : null,
      };
      const text = [
        `state: ${data.phase}   server: ${data.server ?? '-'}   renew in: ${data.renewIn ?? '-'} s   rebind in: ${data.rebindIn ?? '-'} s`,
        formatRows(['lease', 'kind', 'preferred', 'valid'], rows),
        formatRows(['interface', 'address'], lans),
        `DNS servers: ${data.dnsServers.join(' ') || '-'}   domains: ${data.domains.join(' ') || '-'}`,
      ].join('\n');
      return { data, text };
    }, 'the DHCPv6 client: its leases, the /64s on LAN interfaces and DNS information');
    ctx.commands.register(['show', 'dhcp', 'status'], () => {
      const received = Object.fromEntries(this.received);
      const sent = Object.fromEntries(this.sent);
      const drops = Object.fromEntries(this.drops);
      const rows = [...this.drops].filter(([, n]) => n > 0).map(([reason, n]) => ({ reason, dropped: n }));
      const interfaces = this.roles().map((r) => ({ ...r, state: this.stopped.has(r.interface) ? 'stopped' : 'running' }));
      const text = [
        `DUID ${this.duid ? formatDuid(this.duid) : '-'}   leases ${this.server?.leases().length ?? 0}   keys ${[...this.keys.keys()].join(' ') || '-'}`,
        formatRows(['interface', 'role', 'state'], interfaces),
        `received: ${Object.entries(received).map(([k, n]) => `${k} ${n}`).join(', ') || '-'}`,
        `sent: ${Object.entries(sent).map(([k, n]) => `${k} ${n}`).join(', ') || '-'}`,
        formatRows(['reason', 'dropped'], rows),
      ].join('\n');
      return { data: { interfaces, received, sent, drops }, text };
    }, 'DHCPv6 interfaces (running or stopped), messages received and sent by type, and drops by reason');
    ctx.commands.register(['dhcp', 'release'], (_req, rest) => {
      if (rest.length !== 1) throw new Error('usage: dhcp release ADDRESS|PREFIX/LEN');
      if (!this.server?.releaseLease(rest[0]!)) throw new Error(`no lease ${rest[0]}`);
      return { data: { released: rest[0] }, text: `released ${rest[0]}` };
    }, 'forget a DHCPv6 lease, as if the client had released it');
    for (const [verb, serving] of [['stop', false], ['start', true]] as const) {
      ctx.commands.register(['dhcp', verb], (_req, rest) => {
        if (rest.length !== 1) throw new Error(`usage: dhcp ${verb} INTERFACE`);
        const text = this.setServing(rest[0]!, serving);
        return { data: { interface: rest[0], state: serving ? 'running' : 'stopped' }, text };
      }, serving ? 'serve a DHCPv6 interface stopped by dhcp stop again (the client solicits anew)' : 'stop serving a DHCPv6 interface until dhcp start (the client releases its leases)');
    }
  }

  private registerMetrics(ctx: ModuleContext): void {
    ctx.metrics.counter({ name: 'dhcpv6_messages_total', help: 'DHCPv6 messages by direction and type', labelNames: ['direction', 'type'] }, (emit) => {
      for (const name of Object.values(DHCP6_MSG_NAMES)) {
        emit({ direction: 'in', type: name }, this.received.get(name) ?? 0);
        emit({ direction: 'out', type: name }, this.sent.get(name) ?? 0);
      }
    });
    ctx.metrics.counter({ name: 'dhcpv6_lease_journal_syncs_total', help: 'fdatasync calls on the DHCPv6 server\'s lease journal; one covers every lease decided in one event-loop turn' }, (emit) => {
      emit({}, this.store?.syncs ?? 0);
    });
    ctx.metrics.counter({ name: 'dhcpv6_drops_total', help: 'DHCPv6 messages dropped, by reason', labelNames: ['reason'] }, (emit) => {
      for (const [reason, n] of this.drops) emit({ reason }, n);
    });
    ctx.metrics.gauge({ name: 'dhcpv6_client_leases', help: 'Addresses (na) and delegated prefixes (pd) the DHCPv6 client holds', labelNames: ['kind'] }, (emit) => {
      const leases = this.client?.state().leases ?? [];
      emit({ kind: 'na' }, leases.filter((l) => l.kind === 'na').length);
      emit({ kind: 'pd' }, leases.filter((l) => l.kind === 'pd').length);
    });
    const pools = (what: 'size' | 'used' | 'free') => (emit: (l: { pool: string }, v: number) => void) => {
      for (const p of this.server?.poolStats() ?? []) {
        const size = Number(p.size);
        emit({ pool: p.pool }, what === 'size' ? size : what === 'used' ? p.used : size - p.used);
      }
    };
    ctx.metrics.gauge({ name: 'dhcpv6_pool_size', help: 'Addresses or prefixes in each DHCPv6 pool', labelNames: ['pool'] }, pools('size'));
    ctx.metrics.gauge({ name: 'dhcpv6_pool_used', help: 'Leases bound from each DHCPv6 pool', labelNames: ['pool'] }, pools('used'));
    ctx.metrics.gauge({ name: 'dhcpv6_pool_free', help: 'Free entries in each DHCPv6 pool', labelNames: ['pool'] }, pools('free'));
  }
}

/** What the server keeps of one relay of a relayed message, outermost first (§18.3.10). */
interface RelayHop {
  readonly hopCount: number;
  readonly linkAddress: Uint8Array;
  readonly peerAddress: Uint8Array;
  readonly interfaceId?: Uint8Array;
}

/** A RelayHop as JSON in reconfigure-keys.json: addresses as text, the Interface-ID as hex. */
interface StoredHop {
  readonly hopCount: number;
  readonly linkAddress: string;
  readonly peerAddress: string;
  readonly interfaceId?: string;
}

/** Where a client that accepts Reconfigure is, and its reconfigure key (absent with a delayed key). */
interface ReconfigureEntry {
  readonly key?: string;
  /** The port and address the client's messages came from: the client's, or the outermost relay's. */
  readonly port: number;
  readonly address: string;
  readonly relays?: readonly StoredHop[];
}

function relayHop(r: Dhcp6RelayMessage): RelayHop {
  const id = findOption(r.options, 'interfaceId');
  return { hopCount: r.hopCount, linkAddress: r.linkAddress, peerAddress: r.peerAddress, ...(id ? { interfaceId: id.id } : {}) };
}

function storedHop(h: RelayHop): StoredHop {
  return { hopCount: h.hopCount, linkAddress: formatIpv6(h.linkAddress), peerAddress: formatIpv6(h.peerAddress), ...(h.interfaceId ? { interfaceId: Buffer.from(h.interfaceId).toString('hex') } : {}) };
}

function loadedHop(h: StoredHop): RelayHop {
  return { hopCount: h.hopCount, linkAddress: parseIpv6(h.linkAddress)!, peerAddress: parseIpv6(h.peerAddress)!, ...(h.interfaceId !== undefined ? { interfaceId: Uint8Array.from(Buffer.from(h.interfaceId, 'hex')) } : {}) };
}

/**
 * `msg` wrapped in one Relay-repl per relay, innermost first (§18.3.10, §19.3): each copies
 * its Relay-forw's hop-count, link-address, peer-address and Interface-ID.
 */
function throughRelays(hops: readonly RelayHop[], msg: Dhcp6ClientMessage): Dhcp6Message {
  let out: Dhcp6Message = msg;
  for (let i = hops.length - 1; i >= 0; i--) {
    const h = hops[i]!;
    out = {
      type: 'relay',
      msgType: DHCP6_MSG.RELAY_REPL,
      hopCount: h.hopCount,
      linkAddress: h.linkAddress,
      peerAddress: h.peerAddress,
      options: [...(h.interfaceId ? [{ kind: 'interfaceId' as const, id: h.interfaceId }] : []), { kind: 'relayMessage', message: out }],
    };
  }
  return out;
}
