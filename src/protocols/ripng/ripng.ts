/**
 * RIPng (RFC 2080) on the StackApi: KAME route6d's behaviour and flags, plus what FRR's
 * ripngd and BIRD add (passive interfaces, offsets, per-interface timers, ECMP,
 * redistribution filters, default-information originate).
 *
 * Input: every received message is validated in the order of §2.4 (port, link-local
 * source, hop limit, on-link sender, version, length), each failure counted and logged
 * (rate-limited) by reason; then each RTE (metric, prefix length, prefix kind) is checked
 * and, if bad, skipped and counted, as BIRD does, while the rest of the message is used.
 * Output: periodic updates per interface, jittered; triggered updates with a random 1–5 s
 * hold-down (§2.5.1); split horizon none/simple/poisoned; messages filled up to the MTU.
 * Time and randomness come from the StackApi, so the whole engine runs on a ManualClock.
 *
 * Demand circuits (RFC 2091, BIRD's `demand circuit`): on such an interface nothing is sent
 * periodically. The whole table goes out once (flush flag set) at start, on an Update
 * Request and when the neighbour comes back; after that only changes, each Update Response
 * retransmitted until acknowledged, one in flight at a time so they arrive in order. Routes
 * learned there never time out; they go when the neighbour withdraws them, flushes them, or
 * stops acknowledging (after `retries` retransmissions), and the circuit is then polled
 * with Update Requests every update interval until it answers.
 */
import { appendFileSync } from 'node:fs';
import { equalAddress, formatIpv6, isLinkLocal, isLoopback, isMulticast, isSiteLocal, isUnspecified, parseIpv6, parsePrefix, prefixMatch, type Prefix } from '../../lib/addr.js';
import type { TimerHandle } from '../../lib/clock.js';
import { uniform } from '../../lib/rng.js';
import type { RibRoute } from '../../stack/rib.js';
import type { ReceivedUdp, StackApi, Unsubscribe } from '../../stack/stack-api.js';
import type { RouterInterface } from '../../stack/interfaces.js';
import {
  decodeRipng,
  encodeRipng,
  encodingLengthRipng,
  hasUpdateHeader,
  isWholeTableRequest,
  maxRtesForMtu,
  RIPNG_COMMAND,
  RIPNG_INFINITY,
  RIPNG_NEXT_HOP_METRIC,
  RIPNG_PORT,
  RIPNG_UPDATE_VERSION,
  RIPNG_VERSION,
  type RipngPacket,
  type RipngRte,
} from '../../wire/ripng.js';
import type { ModuleContext, ModuleStatus, ProtocolModule } from '../module.js';
import type { RipngConfig, RipngInterfaceConfig } from './config.js';
import { RipTable, routeKey, type RipRoute } from './table.js';
import { renderStatus, renderTable } from './show.js';

/** RFC 2080 §2.3: the all-RIP-routers group. */
export const RIPNG_GROUP = parseIpv6('ff02::9')!;

/** Whole-message drops, in the order they are checked. */
export const RIPNG_BAD_PACKETS = [
  'bad_source_port',
  'not_link_local',
  'bad_hop_limit',
  'not_on_link',
  'bad_version',
  'bad_length',
  'bad_command',
  // RFC 2091 on a demand circuit, plain RIPng elsewhere (BIRD drops the other kind too).
  'demand_mismatch',
  // RFC 2091 §3: update header version other than 1, or a flush flag other than 0/1.
  'bad_update_header',
] as const;
export type RipngBadPacket = (typeof RIPNG_BAD_PACKETS)[number];

/** Per-RTE rejections: the entry is skipped, the rest of the message is used (as BIRD does). */
export const RIPNG_BAD_ROUTES = ['bad_metric', 'bad_prefix_length', 'bad_prefix', 'bad_next_hop'] as const;
export type RipngBadRoute = (typeof RIPNG_BAD_ROUTES)[number];

export interface RipngNeighbor {
  readonly port: number;
  readonly address: Uint8Array;
  lastHeard: number;
  responses: number;
  requests: number;
  badPackets: number;
  badRoutes: number;
  /** RFC 2091: the sequence number of the last Update Response used, so a retransmission is only acknowledged; -1: none yet. */
  lastSeq: number;
}

/** An Update Response waiting for its acknowledgement (RFC 2091 §3). */
interface DemandMessage {
  readonly flush: boolean;
  readonly rtes: RipngRte[];
}

/** Per-interface RFC 2091 state. */
interface Demand {
  /** Sequence number of the message at the head of `queue` (in flight), or of the next one. */
  seq: number;
  /** Unacknowledged messages, in order; the head is in flight. */
  queue: DemandMessage[];
  /** Consecutive retransmissions with nothing heard back. */
  retries: number;
  /** Our Update Request awaits an Update Response with the flush flag. */
  requestPending: boolean;
  /** Declared unreachable after `retries` retransmissions; polled with Update Requests. */
  down: boolean;
  timer: TimerHandle | null;
  retransmissions: number;
  acksSent: number;
}

interface Port {
  readonly iface: RouterInterface;
  readonly config: RipngInterfaceConfig;
  readonly accept: Prefix[];
  readonly advertise: Prefix[];
  readonly aggregate: Prefix[];
  periodic: TimerHandle | null;
  nextUpdateAt: number;
  sent: { periodic: number; triggered: number; response: number };
  received: { responses: number; requests: number };
  demand: Demand | null;
}

/** One entry of an outgoing response before packing: the next hop it goes with (null: us). */
interface OutRte {
  readonly prefix: Uint8Array;
  readonly prefixLen: number;
  readonly tag: number;
  readonly metric: number;
  readonly nextHop: Uint8Array | null;
}

const UNSPECIFIED_NEXT_HOP: RipngRte = { prefix: new Uint8Array(16), tag: 0, prefixLen: 0, metric: RIPNG_NEXT_HOP_METRIC };
/** Sweeps closer together than this are merged, so 10,000 routes refreshed a few ms apart cost one pass. */
const SWEEP_COALESCE_MS = 50;

function prefixes(list: readonly string[]): Prefix[] {
  return list.map((p) => parsePrefix(p)!);
}

/** route6d's -L/-O matching: inside the filter prefix; a bare ::/0 filter matches only the default route. */
function matchesFilter(list: readonly Prefix[], prefix: Uint8Array, prefixLen: number): boolean {
  if (list.length === 0) return true;
  return list.some((f) => (f.len === 0 ? prefixLen === 0 : prefixLen >= f.len && prefixMatch(f.addr, 0, prefix, 0, f.len)));
}

function within(list: readonly Prefix[], prefix: Uint8Array, prefixLen: number): boolean {
  return list.length === 0 || list.some((f) => prefixLen >= f.len && prefixMatch(f.addr, 0, prefix, 0, f.len));
}

export class RipngModule implements ProtocolModule<RipngConfig> {
  readonly name = 'ripng';
  private ctx!: ModuleContext;
  private api!: StackApi;
  private config!: RipngConfig;
  private table!: RipTable;
  private readonly ports = new Map<number, Port>();
  private readonly neighbors = new Map<string, RipngNeighbor>();
  private readonly unsubscribe: Unsubscribe[] = [];
  private sweepTimer: TimerHandle | null = null;
  private sweepAt = Infinity;
  private holdDown: TimerHandle | null = null;
  private triggerPending = false;
  /** False until start() has sent its first messages: redistribution during start is not a change. */
  private started = false;
  /** Above 0 while a message or a sweep is processed: the RIB calls back into bestChanged() then, and one update must cover the whole batch. */
  private batching = 0;
  private stopped = false;
  readonly badPackets = Object.fromEntries(RIPNG_BAD_PACKETS.map((r) => [r, 0])) as Record<RipngBadPacket, number>;
  readonly badRoutes = Object.fromEntries(RIPNG_BAD_ROUTES.map((r) => [r, 0])) as Record<RipngBadRoute, number>;
  triggeredUpdates = 0;
  /** Route decisions rejected by a filter, by filter name (the decision log's counterpart). */
  readonly filtered: Record<string, number> = { accept: 0, self: 0, site_local: 0 };

  start(ctx: ModuleContext, config: RipngConfig): void {
    this.ctx = ctx;
    this.api = ctx.api;
    this.config = config;
    this.table = new RipTable(
      {
        install: (r) => this.install(r),
        uninstall: (r) => this.uninstall(r),
        changed: () => (this.triggerPending = true),
        decision: (r, what, detail) => this.decision(r, what, detail),
        deadline: (at) => this.scheduleSweep(at),
      },
      {
        // RFC 2091 §4: routes learned over a demand circuit do not time out.
        timeoutMs: (port) => (this.ports.get(port)?.demand != null ? Infinity : (this.ports.get(port)?.config.timers.timeout ?? 180) * 1000),
        garbageMs: (port) => (this.ports.get(port)?.config.timers.garbage ?? 120) * 1000,
      },
      config.ecmp,
    );
    const byName = new Map(this.api.interfaces().map((i) => [i.name, i]));
    for (const ic of config.interfaces) {
      const iface = byName.get(ic.name);
      if (iface === undefined) continue;
      this.ports.set(iface.port, {
        iface, config: ic, accept: prefixes(ic.accept), advertise: prefixes(ic.advertise), aggregate: prefixes(ic.aggregate),
        periodic: null, nextUpdateAt: Infinity, sent: { periodic: 0, triggered: 0, response: 0 }, received: { responses: 0, requests: 0 },
        demand: ic.demand === null ? null : { seq: 0, queue: [], retries: 0, requestPending: false, down: false, timer: null, retransmissions: 0, acksSent: 0 },
      });
      // §2.4: updates go to ff02::9, so every RIPng interface listens there.
      this.api.joinGroup(iface.port, RIPNG_GROUP);
    }
    this.registerObservability();
    this.unsubscribe.push(this.api.bindUdp(RIPNG_PORT, (d) => this.receive(d)));
    this.unsubscribe.push(this.api.onBestRouteChange((prefix, len, best) => this.bestChanged(prefix, len, best)));
    this.unsubscribe.push(this.api.onInterfaceEvent((ev) => {
      const p = this.ports.get(ev.iface.port);
      if (ev.type === 'link-down' && p !== undefined) {
        this.table.expirePort(ev.iface.port, this.api.clock.now());
        if (p.demand !== null) this.demandDown(p);
        this.flush();
      }
    }));
    for (const r of this.api.bestRoutes()) this.bestChanged(r.prefix, r.prefixLen, r);
    // Aggregates (route6d -A) hold a reject route, so traffic for their unused parts stops here.
    for (const agg of this.aggregates()) {
      this.api.addRoute({ prefix: agg.addr, prefixLen: agg.len, preference: config.preference, metric: 1, nexthops: [], kind: 'reject' });
    }
    this.table.clearChangeFlags();
    this.triggerPending = false;
    this.started = true;
    for (const p of this.ports.values()) {
      // §2.4.1: a router that starts asks its neighbours for their whole tables.
      this.sendRequest(p);
      if (p.demand !== null) {
        // RFC 2091 §4: the whole table once, flush set, then only changes.
        if (this.sends(p)) this.demandSendTable(p);
      } else if (this.sends(p)) {
        this.sendUpdate(p, 'periodic', null, RIPNG_PORT, false);
        this.schedulePeriodic(p);
      }
    }
  }

  prepareReconfigure(next: RipngConfig): (() => void) | null {
    // Only the knobs that change no table or timer apply in place; the rest restart the
    // module, which withdraws its routes and relearns them from a whole-table request.
    const { preference: _p, install: _i, routeLog: _r, ecmp: _e, ...restNext } = next;
    const { preference: _p2, install: _i2, routeLog: _r2, ecmp: _e2, ...restNow } = this.config;
    if (JSON.stringify(restNext) !== JSON.stringify(restNow)) return null;
    return () => {
      const reinstall = next.preference !== this.config.preference || next.install !== this.config.install;
      this.config = next;
      this.table.setEcmp(next.ecmp);
      if (reinstall) {
        for (const r of this.table.routes.values()) {
          if (r.source !== 'rip' || r.garbageAt !== null) continue;
          if (next.install) this.install(r);
          else this.api.withdrawRoute(r.prefix, r.prefixLen);
        }
      }
    };
  }

  stop(): void {
    if (this.stopped) return;
    // Tell neighbours at once rather than let them wait out the timeout: everything we
    // advertised goes out once more at metric 16 (as route6d does when it exits).
    for (const r of this.table.routes.values()) r.metric = RIPNG_INFINITY;
    for (const p of this.ports.values()) {
      if (!this.sends(p)) continue;
      // On a demand circuit an empty flushing Update Response withdraws everything at once;
      // no acknowledgement is awaited (BIRD's rip_send_flush does the same).
      if (p.demand !== null) this.sendDemand(p, RIPNG_COMMAND.UPDATE_RESPONSE, { version: RIPNG_UPDATE_VERSION, flush: 1, seq: p.demand.seq }, []);
      else this.sendUpdate(p, 'triggered', null, RIPNG_PORT, false);
    }
    this.stopped = true;
    for (const off of this.unsubscribe.splice(0)) off();
    for (const p of this.ports.values()) {
      p.periodic?.cancel();
      p.demand?.timer?.cancel();
      this.api.leaveGroup(p.iface.port, RIPNG_GROUP);
    }
    this.sweepTimer?.cancel();
    this.holdDown?.cancel();
    for (const r of this.api.routes()) this.api.withdrawRoute(r.prefix, r.prefixLen);
  }

  status(): ModuleStatus {
    return renderStatus(this.statusData());
  }

  /** `turtle6ctl show ripng`: neighbours and routes. */
  show(): ModuleStatus {
    return renderTable(this.tableData());
  }

  /** `turtle6ctl clear ripng`: forget learned routes and neighbours, and ask every neighbour again. */
  clear(): ModuleStatus {
    const removed = this.table.clearLearned();
    this.neighbors.clear();
    for (const p of this.ports.values()) this.sendRequest(p);
    return { data: { removed }, text: `cleared ${removed} learned routes; whole-table requests sent\n` };
  }

  // ---- receive --------------------------------------------------------------------------

  private receive(d: ReceivedUdp): void {
    if (this.stopped) return;
    const command = d.payload.length > 0 ? d.payload[0]! : -1;
    const port = this.ports.get(d.port);
    const neighbor = port === undefined ? undefined : this.neighbor(d.port, d.src);
    if (command === RIPNG_COMMAND.RESPONSE || command === RIPNG_COMMAND.UPDATE_RESPONSE || command === RIPNG_COMMAND.UPDATE_ACK) {
      // §2.4.2, in order: responses come from port 521, from a link-local source, with hop
      // limit 255 (so from this link), from a neighbour on a RIPng interface.
      if (d.srcPort !== RIPNG_PORT) return this.bad('bad_source_port', d, neighbor);
      if (!isLinkLocal(d.src)) return this.bad('not_link_local', d, neighbor);
      if (d.hopLimit !== 255) return this.bad('bad_hop_limit', d, neighbor);
      if (port === undefined || this.isOwnAddress(d.src)) return this.bad('not_on_link', d, neighbor);
    } else if (command === RIPNG_COMMAND.REQUEST || command === RIPNG_COMMAND.UPDATE_REQUEST) {
      if (port === undefined) return this.bad('not_on_link', d, neighbor);
    }
    if (d.payload.length >= 2 && d.payload[1] !== RIPNG_VERSION) return this.bad('bad_version', d, neighbor);
    const decoded = decodeRipng(d.payload);
    if (!decoded.ok) return this.bad('bad_length', d, neighbor);
    if (hasUpdateHeader(command)) {
      if (port!.demand === null) return this.bad('demand_mismatch', d, neighbor);
      const u = decoded.value.update!;
      if (u.version !== RIPNG_UPDATE_VERSION || u.flush > 1) return this.bad('bad_update_header', d, neighbor);
      this.receiveDemand(port!, d, decoded.value, neighbor!);
      return;
    }
    // A plain response on a demand circuit would be aged like a periodic one: refuse it.
    if (command === RIPNG_COMMAND.RESPONSE && port!.demand !== null) return this.bad('demand_mismatch', d, neighbor);
    if (command === RIPNG_COMMAND.RESPONSE) {
      port!.received.responses++;
      neighbor!.responses++;
      neighbor!.lastHeard = this.api.clock.now();
      this.receiveResponse(port!, d, decoded.value, neighbor!);
    } else if (command === RIPNG_COMMAND.REQUEST) {
      port!.received.requests++;
      if (neighbor !== undefined) {
        neighbor.requests++;
        neighbor.lastHeard = this.api.clock.now();
      }
      this.receiveRequest(port!, d, decoded.value);
    } else {
      this.bad('bad_command', d, neighbor);
    }
  }

  private receiveResponse(port: Port, d: ReceivedUdp, msg: RipngPacket, neighbor: RipngNeighbor): void {
    const now = this.api.clock.now();
    let nextHop = d.src;
    for (const rte of msg.rtes) {
      if (rte.metric === RIPNG_NEXT_HOP_METRIC) {
        // §2.1.1: a next hop that is not link-local "SHOULD be treated as 0:0:0:0:0:0:0:0",
        // i.e. the message's source.
        if (isUnspecified(rte.prefix)) nextHop = d.src;
        else if (isLinkLocal(rte.prefix)) nextHop = rte.prefix;
        else {
          this.badRoute('bad_next_hop', rte, d, neighbor);
          nextHop = d.src;
        }
        continue;
      }
      if (rte.metric < 1 || rte.metric > RIPNG_INFINITY) {
        this.badRoute('bad_metric', rte, d, neighbor);
        continue;
      }
      if (rte.prefixLen > 128) {
        this.badRoute('bad_prefix_length', rte, d, neighbor);
        continue;
      }
      // route6d riprecv() drops RTEs for link-local, multicast and loopback (::1) destinations.
      if (isLinkLocal(rte.prefix) || isMulticast(rte.prefix) || isLoopback(rte.prefix)) {
        this.badRoute('bad_prefix', rte, d, neighbor);
        continue;
      }
      // route6d riprecv() skips site-local RTEs (fec0::/10, RFC 3879) unless -l: a site's
      // boundary is not something RIPng can know.
      if (isSiteLocal(rte.prefix) && !this.config.siteLocal) {
        this.filtered['site_local']!++;
        this.decision(rte, 'rejected: site-local without siteLocal (-l)', { interface: port.iface.name, from: formatIpv6(d.src) });
        continue;
      }
      if (!matchesFilter(port.accept, rte.prefix, rte.prefixLen)) {
        this.filtered['accept']!++;
        this.decision(rte, 'rejected by filter accept (-L)', { interface: port.iface.name, from: formatIpv6(d.src) });
        continue;
      }
      const metric = Math.min(rte.metric + port.config.metricIn, RIPNG_INFINITY);
      this.batching++;
      const what = this.table.learn(rte.prefix, rte.prefixLen, metric, rte.tag, port.iface.port, nextHop, now, this.config.ageStatic);
      this.batching--;
      this.decision(rte, what, { interface: port.iface.name, from: formatIpv6(d.src), metric });
    }
    this.flush();
  }

  /** RFC 2091 §3: Update Request, Update Response and Update Acknowledge on a demand circuit. */
  private receiveDemand(port: Port, d: ReceivedUdp, msg: RipngPacket, neighbor: RipngNeighbor): void {
    const demand = port.demand!;
    const u = msg.update!;
    neighbor.lastHeard = this.api.clock.now();
    // Anything the neighbour says means it is there again.
    demand.retries = 0;
    const wasDown = demand.down;
    demand.down = false;
    if (msg.command === RIPNG_COMMAND.UPDATE_REQUEST) {
      port.received.requests++;
      neighbor.requests++;
      // §3: an Update Request is answered with the whole table, flush set.
      if (isWholeTableRequest(msg) && this.sends(port)) this.demandSendTable(port);
      return;
    }
    if (msg.command === RIPNG_COMMAND.UPDATE_ACK) {
      const head = demand.queue[0];
      if (head === undefined || u.seq !== demand.seq) {
        this.ctx.limited('ripng.demand-ack').debug({ interface: port.iface.name, seq: u.seq, expected: demand.seq }, 'RIPng acknowledgement for no pending update');
        if (wasDown && this.sends(port)) this.demandSendTable(port);
        return;
      }
      demand.queue.shift();
      demand.seq = (demand.seq + 1) & 0xffff;
      this.demandTransmit(port);
      return;
    }
    // Update Response: acknowledge every copy (ours may have been lost), use it once.
    port.received.responses++;
    neighbor.responses++;
    this.sendDemand(port, RIPNG_COMMAND.UPDATE_ACK, { version: RIPNG_UPDATE_VERSION, flush: u.flush, seq: u.seq }, []);
    demand.acksSent++;
    if (u.flush === 1) {
      demand.requestPending = false;
      this.batching++;
      this.table.flushNeighbor(port.iface.port, d.src, this.api.clock.now());
      this.batching--;
    } else if (u.seq === neighbor.lastSeq) return;
    neighbor.lastSeq = u.seq;
    if (wasDown && this.sends(port)) this.demandSendTable(port);
    this.receiveResponse(port, d, msg, neighbor);
  }

  private receiveRequest(port: Port, d: ReceivedUdp, msg: RipngPacket): void {
    // route6d -q and passive interfaces never speak, not even to answer.
    if (!this.sends(port)) return;
    // §2.4.1: a query from a router's port (521) gets a normal update, split horizon and
    // all; a query from elsewhere (a monitoring tool) sees the table as it is.
    const fromRouter = d.srcPort === RIPNG_PORT;
    if (isWholeTableRequest(msg)) {
      this.sendUpdate(port, 'response', d.src, d.srcPort, !fromRouter);
      return;
    }
    // "Examine the list of RTEs in the Request one by one. For each entry, look up the
    // destination in the router's routing database and, if there is a route, put that
    // route's metric in the metric field of the RTE. If there is no explicit route to the
    // specified destination, put infinity in the metric field."
    const rtes: RipngRte[] = msg.rtes.map((q) => {
      const r = q.prefixLen <= 128 ? this.table.routes.get(routeKey(q.prefix, q.prefixLen)) : undefined;
      return { prefix: q.prefix, tag: r?.tag ?? q.tag, prefixLen: q.prefixLen, metric: r === undefined ? RIPNG_INFINITY : Math.min(r.metric + port.config.offsetOut, RIPNG_INFINITY) };
    });
    const max = maxRtesForMtu(port.iface.mtu);
    for (let i = 0; i < rtes.length; i += max) this.send(port, d.src, d.srcPort, rtes.slice(i, i + max), 'response');
  }

  private bad(reason: RipngBadPacket, d: ReceivedUdp, neighbor: RipngNeighbor | undefined): void {
    this.badPackets[reason]++;
    if (neighbor !== undefined) neighbor.badPackets++;
    this.ctx.limited(`ripng.${reason}`).warn(
      { reason, port: d.port, src: formatIpv6(d.src), srcPort: d.srcPort, hopLimit: d.hopLimit, length: d.payload.length },
      'RIPng message dropped',
    );
  }

  private badRoute(reason: RipngBadRoute, rte: RipngRte, d: ReceivedUdp, neighbor: RipngNeighbor): void {
    this.badRoutes[reason]++;
    neighbor.badRoutes++;
    this.ctx.limited(`ripng.${reason}`).warn(
      { reason, port: d.port, src: formatIpv6(d.src), prefix: formatIpv6(rte.prefix), prefixLen: rte.prefixLen, metric: rte.metric },
      'RIPng route entry ignored',
    );
  }

  private neighbor(port: number, src: Uint8Array): RipngNeighbor {
    const key = `${port}/${formatIpv6(src)}`;
    let n = this.neighbors.get(key);
    if (n === undefined) {
      n = { port, address: Uint8Array.from(src), lastHeard: this.api.clock.now(), responses: 0, requests: 0, badPackets: 0, badRoutes: 0, lastSeq: -1 };
      this.neighbors.set(key, n);
    }
    return n;
  }

  private isOwnAddress(a: Uint8Array): boolean {
    return this.api.interfaces().some((i) => i.addresses.some((x) => equalAddress(x.addr, a)));
  }

  // ---- the RIB --------------------------------------------------------------------------

  private install(r: RipRoute): void {
    if (!this.config.install || r.garbageAt !== null) return;
    const rib: Omit<RibRoute, 'origin'> = {
      prefix: r.prefix, prefixLen: r.prefixLen, preference: this.config.preference, metric: r.metric, kind: 'unicast',
      nexthops: r.nexthops.map((n) => ({ port: n.port, gateway: n.gateway })), tag: r.tag,
    };
    this.api.addRoute(rib);
  }

  private uninstall(r: RipRoute): void {
    if (this.config.install) this.api.withdrawRoute(r.prefix, r.prefixLen);
  }

  /** Redistribution (route6d's interface routes, -s/-S, FRR's `redistribute`). */
  private bestChanged(prefix: Uint8Array, prefixLen: number, best: RibRoute | undefined): void {
    if (this.stopped) return;
    const now = this.api.clock.now();
    const red = best === undefined ? undefined
      : best.origin === 'connected' ? this.config.redistribute.connected
      // route6d tobeadv(): static reject and blackhole routes are never advertised.
      : best.origin === 'static' && best.kind === 'unicast' ? this.config.redistribute.static
      : undefined;
    if (best !== undefined && red !== undefined && red.enabled && within(prefixes(red.prefixes), prefix, prefixLen)) {
      const isStatic = best.origin === 'static';
      const age = isStatic && this.config.ageStatic && best.nexthops.some((n) => n.gateway !== null);
      const expiresAt = age ? now + (this.ports.get(best.nexthops[0]!.port)?.config.timers.timeout ?? 180) * 1000 : Infinity;
      this.table.originate(prefix, prefixLen, isStatic ? 'static' : 'connected', red.metric, red.tag, best.nexthops, isStatic ? this.config.redistribute.static.splitHorizon : false, expiresAt);
    } else {
      this.table.unoriginate(prefix, prefixLen, now);
    }
    this.flush();
  }

  // ---- timers -----------------------------------------------------------------------------

  private scheduleSweep(at: number): void {
    if (this.stopped || at >= this.sweepAt) return;
    this.sweepTimer?.cancel();
    this.sweepAt = at;
    this.sweepTimer = this.api.clock.setTimer(at - this.api.clock.now(), () => {
      this.sweepTimer = null;
      this.sweepAt = Infinity;
      this.batching++;
      const next = this.table.sweep(this.api.clock.now());
      this.batching--;
      if (next !== Infinity) this.scheduleSweep(Math.max(next, this.api.clock.now() + SWEEP_COALESCE_MS));
      this.flush();
    });
  }

  /** §2.3: "The 30-second timer is offset by a small random time (+/- 0 to 15 seconds) each time it is set." */
  private schedulePeriodic(p: Port): void {
    const interval = p.config.timers.update * 1000;
    const delay = uniform(this.api.rng, interval / 2, interval * 1.5);
    p.nextUpdateAt = this.api.clock.now() + delay;
    p.periodic = this.api.clock.setTimer(delay, () => {
      this.sendUpdate(p, 'periodic', null, RIPNG_PORT, false);
      this.schedulePeriodic(p);
    });
  }

  /**
   * §2.5.1: a change sends a triggered update at once, then holds further triggered updates
   * for a random 1–5 s; changes in the meantime go out together when the hold-down ends.
   */
  private flush(): void {
    if (!this.triggerPending || this.holdDown !== null || this.batching > 0 || !this.started || this.stopped) return;
    this.triggerPending = false;
    const changed = [...this.table.routes.values()].filter((r) => r.changed);
    this.table.clearChangeFlags();
    if (changed.length === 0) return;
    this.triggeredUpdates++;
    for (const p of this.ports.values()) {
      if (!this.sends(p)) continue;
      if (p.demand !== null) this.demandEnqueue(p, this.pack(p, this.outputFor(p, changed, false), true).map((rtes) => ({ flush: false, rtes })));
      else this.sendUpdate(p, 'triggered', null, RIPNG_PORT, false, changed);
    }
    this.holdDown = this.api.clock.setTimer(uniform(this.api.rng, 1000, 5000), () => {
      this.holdDown = null;
      this.flush();
    });
  }

  // ---- send -----------------------------------------------------------------------------

  private sends(p: Port): boolean {
    return !this.config.receiveOnly && !p.config.passive;
  }

  private sendRequest(p: Port): void {
    const whole: RipngRte[] = [{ prefix: new Uint8Array(16), tag: 0, prefixLen: 0, metric: RIPNG_INFINITY }];
    if (p.demand === null) {
      this.send(p, null, RIPNG_PORT, whole, 'request');
      return;
    }
    // RFC 2091 §3: repeated until an Update Response with the flush flag answers it.
    p.demand.requestPending = true;
    this.sendDemand(p, RIPNG_COMMAND.UPDATE_REQUEST, { version: RIPNG_UPDATE_VERSION, flush: 0, seq: 0 }, whole);
    this.demandArm(p);
  }

  // ---- demand circuits (RFC 2091) -----------------------------------------------------------

  /** The whole table, flush set on its first message; it replaces whatever was queued. */
  private demandSendTable(p: Port): void {
    const demand = p.demand!;
    const messages = this.pack(p, this.outputFor(p, null, false), true);
    if (messages.length === 0) messages.push([]);
    // A message in flight is abandoned: the next gets a fresh sequence number, so a late
    // acknowledgement of the old one cannot be taken for the new one.
    if (demand.queue.length > 0) demand.seq = (demand.seq + 1) & 0xffff;
    demand.queue = messages.map((rtes, i) => ({ flush: i === 0, rtes }));
    this.demandTransmit(p);
  }

  private demandEnqueue(p: Port, messages: DemandMessage[]): void {
    const demand = p.demand!;
    // While the neighbour is unreachable nothing is queued: it gets the whole table when it answers.
    if (demand.down || messages.length === 0) return;
    const idle = demand.queue.length === 0;
    demand.queue.push(...messages);
    if (idle) this.demandTransmit(p);
  }

  /** Sends the head of the queue (if any) and arms the retransmission timer. */
  private demandTransmit(p: Port): void {
    const demand = p.demand!;
    const head = demand.queue[0];
    if (head === undefined) {
      if (!demand.requestPending) {
        demand.timer?.cancel();
        demand.timer = null;
      }
      return;
    }
    this.sendDemand(p, RIPNG_COMMAND.UPDATE_RESPONSE, { version: RIPNG_UPDATE_VERSION, flush: head.flush ? 1 : 0, seq: demand.seq }, head.rtes);
    p.sent.triggered++;
    demand.timer?.cancel();
    demand.timer = null;
    this.demandArm(p);
  }

  private demandArm(p: Port): void {
    const demand = p.demand!;
    if (demand.timer !== null) return;
    // Polling a circuit that is down goes at the update interval, not the retransmission one.
    const delay = (demand.down ? p.config.timers.update : p.config.demand!.retransmit) * 1000;
    demand.timer = this.api.clock.setTimer(delay, () => {
      demand.timer = null;
      this.demandRetransmit(p);
    });
  }

  private demandRetransmit(p: Port): void {
    const demand = p.demand!;
    // Everything was answered since the timer was armed.
    if (!demand.down && !demand.requestPending && demand.queue.length === 0) return;
    if (!demand.down && demand.retries >= p.config.demand!.retries) {
      this.demandDown(p);
      this.ctx.log.warn({ interface: p.iface.name, retries: demand.retries }, 'RIPng demand circuit neighbour unreachable: routes flushed');
      this.table.expirePort(p.iface.port, this.api.clock.now());
      this.flush();
      this.sendRequest(p);
      return;
    }
    if (!demand.down) demand.retries++;
    demand.retransmissions++;
    if (demand.requestPending || demand.down) this.sendRequest(p);
    if (demand.queue.length > 0) this.demandTransmit(p);
    else this.demandArm(p);
  }

  /** The neighbour is gone: nothing stays queued, and the circuit is polled until it answers. */
  private demandDown(p: Port): void {
    const demand = p.demand!;
    if (demand.queue.length > 0) demand.seq = (demand.seq + 1) & 0xffff;
    demand.queue = [];
    demand.down = true;
    demand.requestPending = true;
    demand.timer?.cancel();
    demand.timer = null;
  }

  private sendDemand(p: Port, command: number, update: { version: number; flush: number; seq: number }, rtes: RipngRte[]): void {
    const body = rtes[0] === UNSPECIFIED_NEXT_HOP ? rtes.slice(1) : rtes;
    const msg: RipngPacket = { command, version: RIPNG_VERSION, reserved: 0, update, rtes: body };
    const payload = new Uint8Array(encodingLengthRipng(msg));
    encodeRipng(msg, payload, 0);
    // RFC 2091 keeps RFC 2080's transport: ff02::9 from the link-local address, port 521, hop limit 255.
    this.api.sendUdp({ port: p.iface.port, src: p.iface.linkLocal(), dst: RIPNG_GROUP, hopLimit: 255, srcPort: RIPNG_PORT, dstPort: RIPNG_PORT, payload });
  }

  private aggregates(): Prefix[] {
    const seen = new Map<string, Prefix>();
    for (const p of this.ports.values()) for (const a of p.aggregate) seen.set(routeKey(a.addr, a.len), a);
    return [...seen.values()];
  }

  /** The entries port `p` advertises, from `routes` (all when null), after every output rule. */
  private outputFor(p: Port, routes: readonly RipRoute[] | null, noSplitHorizon: boolean): OutRte[] {
    const out: OutRte[] = [];
    const full = routes === null;
    const offset = p.config.offsetOut;
    const withOffset = (m: number) => Math.min(m + offset, RIPNG_INFINITY);
    const origTag = this.config.tag;
    const defaultOriginate = this.config.defaultOriginate;
    if (p.config.defaultOnly) {
      // route6d -T: only a default route toward this interface.
      if (full) out.push({ prefix: new Uint8Array(16), prefixLen: 0, tag: origTag, metric: withOffset(defaultOriginate?.metric ?? 1), nextHop: null });
      return out;
    }
    if (full && defaultOriginate !== null) {
      out.push({ prefix: new Uint8Array(16), prefixLen: 0, tag: origTag, metric: withOffset(defaultOriginate.metric), nextHop: null });
    }
    if (full) for (const a of p.aggregate) out.push({ prefix: a.addr, prefixLen: a.len, tag: origTag, metric: withOffset(1), nextHop: null });
    for (const r of routes ?? this.table.routes.values()) {
      if (defaultOriginate !== null && r.prefixLen === 0) continue;
      if (p.aggregate.some((a) => r.prefixLen >= a.len && prefixMatch(a.addr, 0, r.prefix, 0, a.len))) continue;
      if (!matchesFilter(p.advertise, r.prefix, r.prefixLen)) continue;
      let metric = withOffset(r.metric);
      let nextHop: Uint8Array | null = null;
      const onThisPort = r.nexthops.filter((n) => n.port === p.iface.port);
      if (onThisPort.length > 0 && r.splitHorizon && !noSplitHorizon) {
        // route6d tobeadv() with -s: a static route is not advertised at all on the
        // interface it goes through, whatever -h says.
        if (r.source === 'static') continue;
        // §2.5 split horizon: never tell a neighbour about routes it gave us; with poisoned
        // reverse, tell it they are unreachable through us.
        if (p.config.splitHorizon === 'simple') continue;
        if (p.config.splitHorizon === 'poisoned') metric = RIPNG_INFINITY;
      } else if (r.source === 'static' && onThisPort.length > 0) {
        // §2.1.1: a static route through a neighbour on this link goes out with that
        // neighbour as next hop, so routers here skip the extra hop through us.
        const gw = onThisPort[0]!.gateway;
        if (gw !== null && isLinkLocal(gw)) nextHop = gw;
      }
      out.push({ prefix: r.prefix, prefixLen: r.prefixLen, tag: r.tag, metric, nextHop });
    }
    return out;
  }

  /**
   * Sends port `p`'s update: to ff02::9 (dst null) or unicast to a requester. Entries are
   * grouped by next hop and packed up to the MTU; each message that carries third-party
   * next hops starts its groups with a next-hop RTE (§2.1.1), and a group of ours after one
   * of theirs starts with the unspecified next hop.
   */
  private sendUpdate(p: Port, kind: 'periodic' | 'triggered' | 'response', dst: Uint8Array | null, dstPort: number, noSplitHorizon: boolean, routes: readonly RipRoute[] | null = null): void {
    const entries = this.outputFor(p, routes, noSplitHorizon);
    if (entries.length === 0 && kind !== 'response') return;
    const messages = this.pack(p, entries, false);
    for (const rtes of messages) this.send(p, dst, dstPort, rtes, kind);
    if (messages.length === 0 && kind === 'response') this.send(p, dst, dstPort, [], kind);
  }

  /** Packs `entries` into messages that fit the MTU (with RFC 2091's header when `demand`). */
  private pack(p: Port, entries: readonly OutRte[], demand: boolean): RipngRte[][] {
    const messages: RipngRte[][] = [];
    const groups = new Map<string, OutRte[]>();
    for (const e of entries) {
      const k = e.nextHop === null ? '' : formatIpv6(e.nextHop);
      let g = groups.get(k);
      if (g === undefined) groups.set(k, (g = []));
      g.push(e);
    }
    const max = maxRtesForMtu(p.iface.mtu, demand);
    let rtes: RipngRte[] = [];
    let current = '';
    const emit = () => {
      messages.push(rtes);
      rtes = [];
      current = '';
    };
    for (const [k, group] of groups) {
      for (const e of group) {
        if (k !== current) {
          if (rtes.length + 2 > max) emit();
          rtes.push(k === '' ? UNSPECIFIED_NEXT_HOP : { prefix: e.nextHop!, tag: 0, prefixLen: 0, metric: RIPNG_NEXT_HOP_METRIC });
          current = k;
        }
        if (rtes.length + 1 > max) {
          emit();
          if (k !== '') {
            rtes.push({ prefix: e.nextHop!, tag: 0, prefixLen: 0, metric: RIPNG_NEXT_HOP_METRIC });
            current = k;
          }
        }
        rtes.push({ prefix: e.prefix, tag: e.tag, prefixLen: e.prefixLen, metric: e.metric });
      }
    }
    if (rtes.length > 0) emit();
    return messages;
  }

  private send(p: Port, dst: Uint8Array | null, dstPort: number, rtes: RipngRte[], kind: 'periodic' | 'triggered' | 'response' | 'request'): void {
    // A message that starts with the unspecified next hop says nothing: drop that RTE.
    const body = rtes[0] === UNSPECIFIED_NEXT_HOP ? rtes.slice(1) : rtes;
    const msg: RipngPacket = { command: kind === 'request' ? RIPNG_COMMAND.REQUEST : RIPNG_COMMAND.RESPONSE, version: RIPNG_VERSION, reserved: 0, rtes: body };
    const payload = new Uint8Array(encodingLengthRipng(msg));
    encodeRipng(msg, payload, 0);
    // §2.4: from the link-local address, on port 521, hop limit 255 (receivers check it).
    this.api.sendUdp({ port: p.iface.port, src: p.iface.linkLocal(), dst: dst ?? RIPNG_GROUP, hopLimit: 255, srcPort: RIPNG_PORT, dstPort, payload });
    if (kind !== 'request') p.sent[kind]++;
  }

  // ---- observability -----------------------------------------------------------------------

  private decision(r: { prefix: Uint8Array; prefixLen: number }, what: string, detail?: object): void {
    const route = `${formatIpv6(r.prefix)}/${r.prefixLen}`;
    this.ctx.log.debug({ route, decision: what, ...detail }, 'RIPng route decision');
    if (this.config.routeLog !== null && (what.startsWith('accepted') || what.startsWith('originated') || what === 'timed out' || what === 'garbage-collected')) {
      // route6d -R: one line per route change.
      try {
        appendFileSync(this.config.routeLog, `${new Date().toISOString()} ${route} ${what}${detail && 'from' in detail ? ` from ${String(detail.from)}` : ''}\n`);
      } catch (e) {
        this.ctx.limited('ripng.route-log').warn({ file: this.config.routeLog, error: String(e) }, 'RIPng route log not written');
      }
    }
  }

  private routeState(r: RipRoute): 'active' | 'garbage' {
    return r.garbageAt === null ? 'active' : 'garbage';
  }

  tableData() {
    const now = this.api.clock.now();
    const name = (port: number) => this.ports.get(port)?.iface.name ?? String(port);
    return {
      neighbors: [...this.neighbors.values()].map((n) => ({
        interface: name(n.port), address: formatIpv6(n.address), lastHeardSecondsAgo: Math.round((now - n.lastHeard) / 1000),
        responses: n.responses, requests: n.requests, badPackets: n.badPackets, badRoutes: n.badRoutes,
      })),
      routes: [...this.table.routes.values()].map((r) => ({
        prefix: `${formatIpv6(r.prefix)}/${r.prefixLen}`, metric: r.metric, tag: r.tag, source: r.source, state: this.routeState(r),
        nexthops: r.nexthops.map((n) => ({ interface: name(n.port), gateway: n.gateway === null ? null : formatIpv6(n.gateway) })),
        expiresInSeconds: r.garbageAt !== null ? null : Math.min(...r.nexthops.map((n) => n.expiresAt)) === Infinity ? null : Math.round((Math.min(...r.nexthops.map((n) => n.expiresAt)) - now) / 1000),
        garbageInSeconds: r.garbageAt === null ? null : Math.round((r.garbageAt - now) / 1000),
      })),
    };
  }

  statusData() {
    const now = this.api.clock.now();
    const counts = { active: 0, garbage: 0 };
    for (const r of this.table.routes.values()) counts[this.routeState(r)]++;
    return {
      receiveOnly: this.config.receiveOnly, install: this.config.install, preference: this.config.preference, ecmp: this.config.ecmp,
      routes: counts, triggeredUpdates: this.triggeredUpdates, badPackets: { ...this.badPackets }, badRoutes: { ...this.badRoutes }, filtered: { ...this.filtered },
      interfaces: [...this.ports.values()].map((p) => ({
        name: p.iface.name, port: p.iface.port, passive: p.config.passive, splitHorizon: p.config.splitHorizon, metricIn: p.config.metricIn, offsetOut: p.config.offsetOut,
        timers: p.config.timers, nextUpdateInSeconds: p.periodic === null ? null : Math.max(0, Math.round((p.nextUpdateAt - now) / 1000)),
        sent: { ...p.sent }, received: { ...p.received },
        demand: p.demand === null ? null : {
          state: p.demand.down ? 'down' : 'up', seq: p.demand.seq, queued: p.demand.queue.length, retransmissions: p.demand.retransmissions, acksSent: p.demand.acksSent,
        },
      })),
    };
  }

  /**
   * A neighbour counts as present while its routes would still be valid: heard within the
   * port's timeout (§2.3), or, on a demand circuit where silence is normal (RFC 2091 §2),
   * while the circuit is not declared unreachable.
   */
  private neighborAlive(p: Port, n: RipngNeighbor, now: number): boolean {
    if (p.demand !== null) return !p.demand.down;
    return now - n.lastHeard < p.config.timers.timeout * 1000;
  }

  private registerObservability(): void {
    const m = this.ctx.metrics;
    m.gauge({ name: 'ripng_routes', help: 'RIPng routes by state (active, garbage: unreachable and awaiting garbage collection)', labelNames: ['state'] }, (emit) => {
      const counts = { active: 0, garbage: 0 };
      for (const r of this.table.routes.values()) counts[this.routeState(r)]++;
      emit({ state: 'active' }, counts.active);
      emit({ state: 'garbage' }, counts.garbage);
    });
    m.counter({ name: 'ripng_updates_sent_total', help: 'RIPng responses sent, by interface and kind (periodic, triggered, response to a request)', labelNames: ['interface', 'kind'] }, (emit) => {
      for (const p of this.ports.values()) for (const [kind, n] of Object.entries(p.sent)) emit({ interface: p.iface.name, kind }, n);
    });
    m.counter({ name: 'ripng_messages_received_total', help: 'Valid RIPng messages received, by interface and command', labelNames: ['interface', 'command'] }, (emit) => {
      for (const p of this.ports.values()) {
        emit({ interface: p.iface.name, command: 'response' }, p.received.responses);
        emit({ interface: p.iface.name, command: 'request' }, p.received.requests);
      }
    });
    m.counter({ name: 'ripng_triggered_updates_total', help: 'RIPng triggered updates (each covers every interface)' }, (emit) => emit({}, this.triggeredUpdates));
    m.counter({ name: 'ripng_bad_packets_total', help: 'RIPng messages dropped whole, by reason', labelNames: ['reason'] }, (emit) => {
      for (const r of RIPNG_BAD_PACKETS) emit({ reason: r }, this.badPackets[r]);
    });
    m.counter({ name: 'ripng_bad_routes_total', help: 'RIPng route entries ignored, by reason', labelNames: ['reason'] }, (emit) => {
      for (const r of RIPNG_BAD_ROUTES) emit({ reason: r }, this.badRoutes[r]);
    });
    // Per interface, never per neighbour: a label per link-local address would let any host on
    // a link grow the series without bound (`show ripng` lists the neighbours themselves).
    m.gauge({ name: 'ripng_neighbors', help: 'RIPng neighbours heard from within the interface\'s route timeout (on a demand circuit: while it is up)', labelNames: ['interface'] }, (emit) => {
      const now = this.api.clock.now();
      for (const p of this.ports.values()) {
        let heard = 0;
        for (const n of this.neighbors.values()) if (n.port === p.iface.port && this.neighborAlive(p, n, now)) heard++;
        emit({ interface: p.iface.name }, heard);
      }
    });
    this.ctx.commands.register(['show', 'ripng'], (_req, rest) => (rest[0] === 'status' ? this.status() : this.show()), 'RIPng neighbours and routes (`show ripng status`: interfaces, timers, counters)');
    this.ctx.commands.register(['clear', 'ripng'], () => this.clear(), 'Forget RIPng-learned routes and ask every neighbour for its table again');
  }
}

