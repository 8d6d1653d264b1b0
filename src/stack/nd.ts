/**
 * The router's Neighbor Discovery: the neighbour cache of RFC 4861 §7 and Duplicate Address
 * Detection for the router's own addresses (RFC 4862 §5.4).
 *
 * Pure logic on an injected Clock and Rng. Messages come in and go out decoded (the NdMessage
 * Repr of src/wire/nd.ts); the stack checks hop limit 255, the ICMPv6 checksum and code 0
 * (§7.1.1, §7.1.2) before calling receive(), and encodes what goes out through NdTransport.
 *
 * Neighbour Unreachability Detection deviates from §7.3.3 on purpose: the lanes forward with
 * the MAC from a table snapshot and cannot report per-packet use without a shared write per
 * packet, so every STALE entry is treated as in use and probed after DELAY_FIRST_PROBE_TIME.
 * Entries whose neighbour stopped answering are deleted. docs/stack.md explains the trade.
 */
import type { Clock, TimerHandle } from '../lib/clock.js';
import { ALL_NODES, equalAddress, isMulticast, isUnspecified, solicitedNodeMulticast, UNSPECIFIED } from '../lib/addr.js';
import type { Rng } from '../lib/rng.js';
import type { NdMessage, NdOption } from '../wire/nd.js';
import type { InterfaceTable, RouterInterface } from './interfaces.js';

export interface NdTransport {
  /** Sends an ND message out of `port`; dstMac null means "derive from the multicast dst". */
  sendNd(port: number, src: Uint8Array, dst: Uint8Array, dstMac: Uint8Array | null, msg: NdMessage): void;
  /** A queued packet can now go: the stack rewrites Ethernet and injects it. */
  sendResolved(port: number, dstMac: Uint8Array, ipPacket: Uint8Array): void;
  /** Resolution failed for this queued packet: the stack sends Destination Unreachable code 3 (RFC 4443 §3.1). */
  unreachable(port: number, ipPacket: Uint8Array): void;
  /** The forwarding-relevant content (which neighbours have which MAC) changed; the stack coalesces republishing. */
  neighborsChanged(): void;
}

export type NeighborState = 'INCOMPLETE' | 'REACHABLE' | 'STALE' | 'DELAY' | 'PROBE';

export interface NeighborView {
  readonly port: number;
  readonly addr: Uint8Array;
  readonly mac: Uint8Array | null;
  readonly state: NeighborState;
  readonly router: boolean;
  /** Until this entry's next timer: state change, retransmission or deletion. */
  readonly expiresInMs: number;
}

export interface NeighborCacheOptions {
  /** RetransTimer (§6.3.2, §10): spacing of solicitations, and of DAD probes. */
  retransTimerMs?: number;
  /** MAX_MULTICAST_SOLICIT (§10): multicast NS sent before address resolution fails. */
  maxMulticastSolicit?: number;
  /** MAX_UNICAST_SOLICIT (§10): unicast NUD probes sent before the entry is deleted. */
  maxUnicastSolicit?: number;
  /** BaseReachableTime (§6.3.2); each REACHABLE period is drawn from 0.5–1.5 × this. */
  reachableTimeMs?: number;
  /** DELAY_FIRST_PROBE_TIME (§10): time spent STALE/DELAY before the first unicast probe. */
  delayFirstProbeMs?: number;
  /** Packets queued per INCOMPLETE entry (§7.2.2: at least one). */
  queueLimit?: number;
  /**
   * INCOMPLETE entries per interface (RFC 6583 §7.1, as Linux's gc_thresh bounds its table):
   * past it, a packet for a new neighbour is refused rather than creating one, so a scan of
   * an on-link /64 costs a bounded cache and bounded solicitations.
   */
  maxIncomplete?: number;
}

/** RFC 4861 §10 protocol constants, the defaults of NeighborCacheOptions. */
export const ND_DEFAULTS: Readonly<Required<NeighborCacheOptions>> = {
  retransTimerMs: 1000,
  maxMulticastSolicit: 3,
  maxUnicastSolicit: 3,
  reachableTimeMs: 30_000,
  delayFirstProbeMs: 5000,
  queueLimit: 3,
  maxIncomplete: 256,
};

/** §6.3.2 MIN_RANDOM_FACTOR and MAX_RANDOM_FACTOR. */
const MIN_RANDOM_FACTOR = 0.5;
const MAX_RANDOM_FACTOR = 1.5;

export interface NdCounters {
  nsSent: number;
  naSent: number;
  nsReceived: number;
  naReceived: number;
  /** Address resolution gave up after MAX_MULTICAST_SOLICIT solicitations. */
  resolutionFailures: number;
  /** A queued packet displaced by a newer one (§7.2.2: the new arrival replaces the oldest). */
  queueDrops: number;
  /** A REACHABLE-once neighbour stopped answering unicast probes and was deleted. */
  nudFailures: number;
  dadStarted: number;
  dadSucceeded: number;
  dadFailures: number;
  /** An NA claimed an address this router already uses (RFC 4862 §5.4.4 after DAD). */
  ownAddressConflicts: number;
  /** Failed the §7.1.1/§7.1.2 checks that need the IP header, or a source-less SLLA rule. */
  invalid: number;
  /** NS for an address that is not ours on that port (§7.2.3: silently discarded). */
  notForUs: number;
  /** NA for an address with no cache entry (§7.2.5: silently discarded). */
  naUnmatched: number;
  /** A unicast NS with no SLLA from a neighbour we have no MAC for: the NA has nowhere to go. */
  naUndeliverable: number;
  /** Redirects arrive at routers only by mistake: §8 has hosts act on them, routers send them. */
  redirectsIgnored: number;
}

interface Entry {
  readonly port: number;
  readonly addr: Uint8Array;
  mac: Uint8Array | null;
  state: NeighborState;
  router: boolean;
  /** Packets waiting for resolution, oldest first. */
  queue: Uint8Array[];
  /** Solicitations sent in the current INCOMPLETE or PROBE phase. */
  solicitsSent: number;
  timer: TimerHandle | null;
  deadline: number;
}

interface DadRun {
  readonly port: number;
  readonly addr: Uint8Array;
  remaining: number;
  timer: TimerHandle | null;
}

const EMPTY_MAC = new Uint8Array(0);

function keyOf(port: number, addr: Uint8Array): string {
  return `${port}|${Buffer.from(addr.buffer, addr.byteOffset, 16).toString('hex')}`;
}

function optionMac(options: readonly NdOption[], type: 'sourceLinkLayerAddress' | 'targetLinkLayerAddress'): Uint8Array | null {
  for (const o of options) if (o.type === type) return o.mac;
  return null;
}

function sameMac(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class NeighborCache {
  readonly counters: NdCounters = {
    nsSent: 0, naSent: 0, nsReceived: 0, naReceived: 0, resolutionFailures: 0, queueDrops: 0, nudFailures: 0,
    dadStarted: 0, dadSucceeded: 0, dadFailures: 0, ownAddressConflicts: 0, invalid: 0, notForUs: 0,
    naUnmatched: 0, naUndeliverable: 0, redirectsIgnored: 0,
  };
  private readonly opts: Required<NeighborCacheOptions>;
  private readonly table = new Map<string, Entry>();
  /** INCOMPLETE entries per port, for maxIncomplete. */
  private readonly incomplete = new Map<number, number>();
  private readonly dadRuns = new Map<string, DadRun>();
  private readonly unsubscribe: Array<() => void>;

  constructor(
    private readonly ifaces: InterfaceTable,
    private readonly transport: NdTransport,
    private readonly clock: Clock,
    private readonly rng: Rng,
    opts: NeighborCacheOptions = {},
  ) {
    this.opts = { ...ND_DEFAULTS, ...opts };
    if (this.opts.queueLimit < 1) throw new RangeError('queueLimit must be at least 1 (RFC 4861 §7.2.2)');
    this.unsubscribe = [
      // A link that went down may come back on another segment: nothing learned on it still holds.
      ifaces.on('link-down', (iface) => this.flush(iface.port)),
      ifaces.on('address-removed', (iface, address) => this.cancelDad(iface.port, address.addr)),
    ];
  }

  /** Cancels every timer and drops every entry; the cache is unusable afterwards. */
  close(): void {
    for (const fn of this.unsubscribe) fn();
    for (const run of this.dadRuns.values()) run.timer?.cancel();
    this.dadRuns.clear();
    for (const e of this.table.values()) e.timer?.cancel();
    this.table.clear();
    this.incomplete.clear();
  }

  /**
   * A lane could not forward `ipPacket` (a copy the cache keeps) to next hop `addr` on `port`
   * because its snapshot has no MAC for it: queue it and resolve (§7.2.2), or send it at once
   * when the entry has a MAC by now. A TUN port has no link-layer addresses, so its packets
   * pass straight through with an empty MAC. False: the packet was dropped because the port
   * already has maxIncomplete entries being resolved (the caller counts it).
   */
  resolve(port: number, addr: Uint8Array, ipPacket: Uint8Array): boolean {
    const iface = this.ifaces.byPort(port);
    if (iface === undefined || !iface.up) {
      this.transport.unreachable(port, ipPacket);
      return true;
    }
    if (iface.kind === 'tun') {
      this.transport.sendResolved(port, EMPTY_MAC, ipPacket);
      return true;
    }
    const entry = this.table.get(keyOf(port, addr));
    if (entry === undefined) {
      // Refused, not evicted: the entries being resolved are the older claims, and a scan
      // would otherwise churn out every genuine resolution (Linux refuses likewise).
      if ((this.incomplete.get(port) ?? 0) >= this.opts.maxIncomplete) return false;
      const created = this.createEntry(port, addr, null, 'INCOMPLETE', false);
      created.queue.push(ipPacket);
      this.sendMulticastSolicit(iface, created, ipPacket);
      return true;
    }
    if (entry.state === 'INCOMPLETE') {
      if (entry.queue.length >= this.opts.queueLimit) {
        entry.queue.shift();
        this.counters.queueDrops++;
      }
      entry.queue.push(ipPacket);
      return true;
    }
    this.transport.sendResolved(port, entry.mac!, ipPacket);
    // §7.3.3: the first packet to a STALE neighbour moves it to DELAY; the probe timer the
    // STALE entry already runs is at most DELAY_FIRST_PROBE_TIME away, so it is kept.
    if (entry.state === 'STALE') entry.state = 'DELAY';
    return true;
  }

  /** An ND message arrived on `port` from `src` to `dst`, already checked for hop limit, checksum and code. */
  receive(port: number, src: Uint8Array, dst: Uint8Array, msg: NdMessage): void {
    const iface = this.ifaces.byPort(port);
    if (iface === undefined) return;
    switch (msg.type) {
      case 'neighborSolicitation':
        this.counters.nsReceived++;
        this.receiveSolicitation(iface, src, dst, msg.target, optionMac(msg.options, 'sourceLinkLayerAddress'));
        return;
      case 'neighborAdvertisement':
        this.counters.naReceived++;
        this.receiveAdvertisement(iface, dst, msg);
        return;
      case 'routerSolicitation':
      case 'routerAdvertisement': {
        // §6.2.6 and §6.3.4: an RS or RA with a source link-layer address creates or updates
        // the sender's entry like an NS would; RouterAdvertiser handles the rest of them.
        const slla = optionMac(msg.options, 'sourceLinkLayerAddress');
        if (isUnspecified(src)) {
          if (slla !== null) this.counters.invalid++; // §6.1.1
          return;
        }
        if (slla !== null) this.learnLinkLayerAddress(iface, src, slla, msg.type === 'routerAdvertisement');
        return;
      }
      case 'redirect':
        this.counters.redirectsIgnored++;
        return;
    }
  }

  entries(): NeighborView[] {
    return [...this.table.values()].map((e) => this.view(e));
  }

  lookup(port: number, addr: Uint8Array): NeighborView | undefined {
    const e = this.table.get(keyOf(port, addr));
    return e === undefined ? undefined : this.view(e);
  }

  /** Deletes every entry (of one port, or all); queued packets are discarded without errors. */
  flush(port?: number): void {
    let hadMac = false;
    for (const [key, e] of this.table) {
      if (port !== undefined && e.port !== port) continue;
      e.timer?.cancel();
      hadMac ||= e.mac !== null;
      this.deleteEntry(key, e);
    }
    if (hadMac) this.transport.neighborsChanged();
  }

  /**
   * Runs DAD on an own address (RFC 4862 §5.4.2): `transmits` NS from ::, target `addr`, to
   * its solicited-node group, RetransTimer apart; no conflict by RetransTimer after the last
   * one makes it preferred. With 0 transmits DAD is off and the address is preferred at once.
   * The stack must already receive the solicited-node group on the port (§5.4.2 joins it first).
   *
   * The address keeps the state it has: normally `tentative`, but an address the operator
   * asserted may stay `preferred` while DAD runs only to detect and report a conflict (as in
   * Optimistic DAD, RFC 4429 §3); a conflict found during the run makes it `duplicate` either way.
   */
  startDad(port: number, addr: Uint8Array, transmits: number): void {
    const iface = this.ifaces.byPort(port);
    const address = iface?.findAddress(addr);
    if (iface === undefined || address === undefined) throw new RangeError(`startDad: address is not on port ${port}`);
    this.cancelDad(port, addr);
    this.counters.dadStarted++;
    if (transmits <= 0) {
      this.counters.dadSucceeded++;
      this.ifaces.setAddressState(port, addr, 'preferred');
      return;
    }
    const run: DadRun = { port, addr: address.addr, remaining: transmits, timer: null };
    this.dadRuns.set(keyOf(port, addr), run);
    this.sendDadProbe(iface, run);
  }

  private sendDadProbe(iface: RouterInterface, run: DadRun): void {
    run.remaining--;
    this.counters.nsSent++;
    this.transport.sendNd(iface.port, UNSPECIFIED, solicitedNodeMulticast(run.addr), null, {
      type: 'neighborSolicitation', target: run.addr, options: [],
    });
    run.timer = this.clock.setTimer(this.opts.retransTimerMs, () => {
      if (run.remaining > 0) {
        this.sendDadProbe(iface, run);
        return;
      }
      this.dadRuns.delete(keyOf(run.port, run.addr));
      this.counters.dadSucceeded++;
      this.ifaces.setAddressState(run.port, run.addr, 'preferred');
    });
  }

  private cancelDad(port: number, addr: Uint8Array): void {
    const key = keyOf(port, addr);
    this.dadRuns.get(key)?.timer?.cancel();
    this.dadRuns.delete(key);
  }

  /** RFC 4862 §5.4.5: the address is not assigned; the stack decides what else to do (disabling IP on the port for a duplicate EUI-64 link-local). */
  private dadFailed(port: number, addr: Uint8Array): void {
    this.cancelDad(port, addr);
    this.counters.dadFailures++;
    this.ifaces.setAddressState(port, addr, 'duplicate');
  }

  private receiveSolicitation(iface: RouterInterface, src: Uint8Array, dst: Uint8Array, target: Uint8Array, slla: Uint8Array | null): void {
    const fromUnspecified = isUnspecified(src);
    // §7.1.1: the target is not multicast; a DAD solicitation (source ::) goes to a
    // solicited-node group and carries no source link-layer address.
    if (isMulticast(target) || (fromUnspecified && (slla !== null || !equalAddress(dst, solicitedNodeMulticast(target))))) {
      this.counters.invalid++;
      return;
    }
    const own = iface.findAddress(target);
    // §7.2.3 and RFC 4291 §2.6.1: the Subnet-Router anycast address of each prefix is ours too.
    const anycast = own === undefined && iface.isSubnetAnycast(target);
    if (own === undefined && !anycast) {
      this.counters.notForUs++;
      return;
    }
    if (own !== undefined && fromUnspecified && this.dadRuns.has(keyOf(iface.port, target))) {
      // RFC 4862 §5.4.3: another node runs DAD for the same address at the same time.
      this.dadFailed(iface.port, target);
      return;
    }
    // A tentative address is not ours yet (RFC 4862 §5.4.3: resolution for it is ignored);
    // a duplicate one is not ours at all. Otherwise a solicitation from :: is someone's DAD,
    // which the NA below defends against.
    if (own !== undefined && own.state !== 'preferred') return;
    if (!fromUnspecified && slla !== null) this.learnLinkLayerAddress(iface, src, slla, false);

    // §7.2.4: Router flag set (we are a router), Override set unless the target is anycast
    // (§7.2.7: the other routers' answers must not be overridden; not proxied either),
    // Solicited set unless the solicitation came from :: — then the answer goes to all-nodes.
    // An anycast answer is not delayed by up to MAX_ANYCAST_DELAY_TIME (§7.2.7's SHOULD):
    // with Override clear, a host keeps the first answer of the routers on the link anyway.
    const na: NdMessage = {
      type: 'neighborAdvertisement',
      router: true,
      solicited: !fromUnspecified,
      override: !anycast,
      target: Uint8Array.from(target),
      options: iface.mac === null ? [] : [{ type: 'targetLinkLayerAddress', mac: iface.mac }],
    };
    // For an anycast target the NA comes from a unicast address of the port (§7.2.4).
    const from = own?.addr ?? iface.sourceAddressFor(src);
    if (fromUnspecified) {
      this.counters.naSent++;
      this.transport.sendNd(iface.port, from, ALL_NODES, null, na);
      return;
    }
    const dstMac = iface.kind === 'tun' ? EMPTY_MAC : slla ?? this.table.get(keyOf(iface.port, src))?.mac ?? null;
    if (dstMac === null) {
      this.counters.naUndeliverable++;
      return;
    }
    this.counters.naSent++;
    this.transport.sendNd(iface.port, from, src, dstMac, na);
  }

  /**
   * §7.2.3 (NS), §6.2.6 (RS), §6.3.4 (RA): a message with a source link-layer address creates
   * a STALE entry, or replaces a different cached address and makes the entry STALE. An
   * INCOMPLETE entry thereby completes, so its queue goes out (§7.2.2).
   */
  private learnLinkLayerAddress(iface: RouterInterface, src: Uint8Array, mac: Uint8Array, isRouter: boolean): void {
    if (iface.kind === 'tun') return;
    const entry = this.table.get(keyOf(iface.port, src));
    if (entry === undefined) {
      this.createEntry(iface.port, src, mac, 'STALE', isRouter);
      this.transport.neighborsChanged();
      return;
    }
    if (isRouter) entry.router = true;
    const wasIncomplete = entry.state === 'INCOMPLETE';
    if (!wasIncomplete && sameMac(entry.mac, mac)) return;
    entry.mac = Uint8Array.from(mac);
    this.enterStale(entry);
    if (wasIncomplete) this.releaseQueue(entry);
    this.transport.neighborsChanged();
  }

  private receiveAdvertisement(iface: RouterInterface, dst: Uint8Array, msg: Extract<NdMessage, { type: 'neighborAdvertisement' }>): void {
    // §7.1.2: the target is not multicast; an NA to a multicast group is never "solicited".
    if (isMulticast(msg.target) || (isMulticast(dst) && msg.solicited)) {
      this.counters.invalid++;
      return;
    }
    const own = iface.findAddress(msg.target);
    if (own !== undefined) {
      // RFC 4862 §5.4.4: an NA for an address under DAD means another node holds it; after
      // DAD it is a conflict the operator must hear about, but nothing to act on.
      if (this.dadRuns.has(keyOf(iface.port, msg.target))) this.dadFailed(iface.port, msg.target);
      else this.counters.ownAddressConflicts++;
      return;
    }
    const entry = this.table.get(keyOf(iface.port, msg.target));
    if (entry === undefined) {
      this.counters.naUnmatched++;
      return;
    }
    const tlla = iface.kind === 'tun' ? null : optionMac(msg.options, 'targetLinkLayerAddress');
    if (entry.state === 'INCOMPLETE') {
      // §7.2.5: without a link-layer address the advertisement cannot complete resolution.
      if (tlla === null) return;
      entry.mac = Uint8Array.from(tlla);
      entry.router = msg.router;
      if (msg.solicited) this.enterReachable(entry);
      else this.enterStale(entry);
      this.releaseQueue(entry);
      this.transport.neighborsChanged();
      return;
    }
    const differs = tlla !== null && !sameMac(tlla, entry.mac);
    if (!msg.override && differs) {
      // §7.2.5: a non-override NA with another address does not replace ours, but casts doubt on it.
      if (entry.state === 'REACHABLE') this.enterStale(entry);
      return;
    }
    entry.router = msg.router;
    if (differs) entry.mac = Uint8Array.from(tlla!);
    if (msg.solicited) this.enterReachable(entry);
    else if (differs) this.enterStale(entry);
    if (differs) this.transport.neighborsChanged();
  }

  private createEntry(port: number, addr: Uint8Array, mac: Uint8Array | null, state: NeighborState, router: boolean): Entry {
    const entry: Entry = {
      port, addr: Uint8Array.from(addr), mac: mac === null ? null : Uint8Array.from(mac), state, router,
      queue: [], solicitsSent: 0, timer: null, deadline: this.clock.now(),
    };
    this.table.set(keyOf(port, addr), entry);
    if (state === 'INCOMPLETE') this.countIncomplete(port, 1);
    if (state === 'STALE') this.enterStale(entry);
    return entry;
  }

  private countIncomplete(port: number, delta: number): void {
    this.incomplete.set(port, (this.incomplete.get(port) ?? 0) + delta);
  }

  /** Every entry leaves the table here, so the INCOMPLETE count stays true. */
  private deleteEntry(key: string, entry: Entry): void {
    if (entry.state === 'INCOMPLETE') this.countIncomplete(entry.port, -1);
    this.table.delete(key);
  }

  private arm(entry: Entry, ms: number, fn: () => void): void {
    entry.timer?.cancel();
    entry.deadline = this.clock.now() + ms;
    entry.timer = this.clock.setTimer(ms, fn);
  }

  private enterReachable(entry: Entry): void {
    if (entry.state === 'INCOMPLETE') this.countIncomplete(entry.port, -1);
    entry.state = 'REACHABLE';
    entry.solicitsSent = 0;
    // §6.3.2: ReachableTime is drawn from 0.5–1.5 × BaseReachableTime. Drawing it per entry
    // rather than per interface also spreads the probes of entries confirmed together.
    const factor = MIN_RANDOM_FACTOR + (MAX_RANDOM_FACTOR - MIN_RANDOM_FACTOR) * this.rng.next();
    this.arm(entry, Math.round(this.opts.reachableTimeMs * factor), () => this.enterStale(entry));
  }

  /** STALE doubles as DELAY here: the lanes may be using the entry, and cannot say so. */
  private enterStale(entry: Entry): void {
    if (entry.state === 'INCOMPLETE') this.countIncomplete(entry.port, -1);
    entry.state = 'STALE';
    entry.solicitsSent = 0;
    this.arm(entry, this.opts.delayFirstProbeMs, () => {
      entry.state = 'PROBE';
      this.sendUnicastProbe(entry);
    });
  }

  private sendMulticastSolicit(iface: RouterInterface, entry: Entry, prompting: Uint8Array): void {
    entry.solicitsSent++;
    this.counters.nsSent++;
    this.transport.sendNd(iface.port, this.solicitSource(iface, entry.addr, prompting), solicitedNodeMulticast(entry.addr), null, {
      type: 'neighborSolicitation',
      target: entry.addr,
      options: [{ type: 'sourceLinkLayerAddress', mac: iface.mac! }],
    });
    this.arm(entry, this.opts.retransTimerMs, () => {
      if (entry.solicitsSent < this.opts.maxMulticastSolicit) {
        this.sendMulticastSolicit(iface, entry, prompting);
        return;
      }
      // §7.2.2: resolution failed; each queued packet earns an ICMPv6 address unreachable.
      this.deleteEntry(keyOf(entry.port, entry.addr), entry);
      this.counters.resolutionFailures++;
      const queued = entry.queue;
      entry.queue = [];
      for (const p of queued) this.transport.unreachable(entry.port, p);
    });
  }

  private sendUnicastProbe(entry: Entry): void {
    const iface = this.ifaces.byPort(entry.port)!;
    entry.solicitsSent++;
    this.counters.nsSent++;
    // §7.2.2: a unicast probe goes to the cached address; it carries our SLLA so the neighbour need not resolve us.
    this.transport.sendNd(entry.port, iface.sourceAddressFor(entry.addr), entry.addr, entry.mac, {
      type: 'neighborSolicitation',
      target: entry.addr,
      options: [{ type: 'sourceLinkLayerAddress', mac: iface.mac! }],
    });
    this.arm(entry, this.opts.retransTimerMs, () => {
      if (entry.solicitsSent < this.opts.maxUnicastSolicit) {
        this.sendUnicastProbe(entry);
        return;
      }
      // §7.3.3: "If no response is received after waiting RetransTimer milliseconds after
      // sending the MAX_UNICAST_SOLICIT solicitations, ... the entry SHOULD be deleted."
      this.deleteEntry(keyOf(entry.port, entry.addr), entry);
      this.counters.nudFailures++;
      this.transport.neighborsChanged();
    });
  }

  /**
   * §7.2.2: "If the source address of the packet prompting the solicitation is the same as one
   * of the addresses assigned to the outgoing interface, that address SHOULD be placed in the
   * IP Source Address of the outgoing solicitation"; otherwise one suited to the target.
   */
  private solicitSource(iface: RouterInterface, target: Uint8Array, prompting: Uint8Array): Uint8Array {
    if (prompting.length >= 40) {
      const promptingSource = prompting.subarray(8, 24);
      const own = iface.findAddress(promptingSource);
      if (own?.state === 'preferred') return own.addr;
    }
    return iface.sourceAddressFor(target);
  }

  private releaseQueue(entry: Entry): void {
    const queued = entry.queue;
    entry.queue = [];
    for (const p of queued) this.transport.sendResolved(entry.port, entry.mac!, p);
  }

  private view(e: Entry): NeighborView {
    return {
      port: e.port, addr: e.addr, mac: e.mac, state: e.state, router: e.router,
      expiresInMs: Math.max(0, e.deadline - this.clock.now()),
    };
  }
}
