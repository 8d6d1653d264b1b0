/**
 * The DHCPv6 client (RFC 8415 §18.2) of the router's WAN interface, apart from sockets: it
 * asks for an address (IA_NA) and a delegated prefix (IA_PD) in one exchange, keeps them
 * with Renew (at T1) and Rebind (at T2), drops what expires, and releases on stop; or, in
 * stateless mode, only asks for configuration with Information-request (§18.2.6).
 *
 * Messages leave through ClientHost.send; what the client holds is reported through
 * ClientHost.leasesChanged after every change, and the module turns it into addresses, RA
 * prefixes and resolver information. Time is the injected clock (milliseconds); lease
 * lifetimes stay in seconds, as on the wire, with the clock time they were received.
 */
import type { Clock, TimerHandle } from '../../lib/clock.js';
import type { Rng } from '../../lib/rng.js';
import {
  DHCP6_MSG,
  DHCP6_OPT,
  DHCP6_STATUS,
  duidBytes,
  filterOptions,
  findOption,
  type Dhcp6ClientMessage,
  type Dhcp6Option,
  type Duid,
} from '../../wire/dhcpv6.js';
import {
  INF_MAX_DELAY,
  INF_MAX_RT,
  INF_TIMEOUT,
  REB_MAX_RT,
  REB_TIMEOUT,
  REN_MAX_RT,
  REN_TIMEOUT,
  REQ_MAX_RC,
  REQ_MAX_RT,
  REQ_TIMEOUT,
  Retransmitter,
  SOL_MAX_DELAY,
  SOL_MAX_RT,
  SOL_TIMEOUT,
  type RetransmitParams,
} from './retransmit.js';
import { reconfigureKeyIn } from './auth.js';

export interface ClientSettings {
  /** 'stateful': IA_NA and/or IA_PD; 'stateless': Information-request only (§18.2.6). */
  readonly mode: 'stateful' | 'stateless';
  readonly requestAddress: boolean;
  readonly requestPrefix: boolean;
  /** A prefix-length hint in the IA_PD (§18.2.1), or 0 for none. */
  readonly prefixLengthHint: number;
  /** §18.2.1: include Rapid Commit in the Solicit. */
  readonly rapidCommit: boolean;
  /** Send a Release for what is held when the client stops (§18.2.7). */
  readonly releaseOnStop: boolean;
  /** §18.2.11, §21.20: offer to accept Reconfigure (the module authenticates it with the reconfigure key). */
  readonly acceptReconfigure: boolean;
}

export interface ClientLease {
  readonly kind: 'na' | 'pd';
  readonly address: Uint8Array;
  /** 128 for addresses. */
  readonly prefixLen: number;
  /** Seconds, as received; 0xffffffff is infinity. */
  readonly preferred: number;
  readonly valid: number;
  /** Clock time (ms) of the Reply that gave these lifetimes. */
  readonly receivedAt: number;
}

export interface ClientState {
  readonly phase: ClientPhase;
  readonly server: Duid | null;
  readonly leases: readonly ClientLease[];
  readonly dnsServers: readonly Uint8Array[];
  readonly domains: readonly string[];
  /** Clock times (ms) of the next Renew and Rebind, when bound. */
  readonly renewAt: number | null;
  readonly rebindAt: number | null;
}

export type ClientPhase = 'idle' | 'soliciting' | 'requesting' | 'bound' | 'renewing' | 'rebinding' | 'informing' | 'informed' | 'stopped';

export interface ClientHost {
  readonly clock: Clock;
  readonly rng: Rng;
  /** Sends to All_DHCP_Relay_Agents_and_Servers, or to `unicast` when the server allowed it (§18.2.10). */
  send(msg: Dhcp6ClientMessage, unicast: Uint8Array | null): void;
  leasesChanged(state: ClientState): void;
  /** A reply ignored, with the reason (counted and logged by the module). */
  ignored(reason: ClientDrop): void;
}

export const CLIENT_DROPS = [
  'client-unexpected-message',
  'client-wrong-transaction',
  'client-missing-server-id',
  'client-wrong-client-id',
  'client-empty-advertise',
] as const;
export type ClientDrop = (typeof CLIENT_DROPS)[number];

/** The IAID of our one IA_NA and one IA_PD (each IA type has its own IAID space, §12). */
export const CLIENT_IAID = 1;
const INFINITY = 0xffffffff;
/** §21.23: IRT_DEFAULT and IRT_MINIMUM, seconds. */
const IRT_DEFAULT_S = 86_400;
const IRT_MINIMUM_S = 600;

interface Offer {
  readonly server: Duid;
  readonly preference: number;
  readonly leases: readonly ClientLease[];
  readonly unicast: Uint8Array | null;
}

export class Dhcp6Client {
  private phase: ClientPhase = 'idle';
  private transactionId = 0;
  private exchange: Retransmitter | null = null;
  private readonly timers: TimerHandle[] = [];
  private offers: Offer[] = [];
  private collectUntil = 0;
  private selectTimer: TimerHandle | null = null;
  private server: Duid | null = null;
  private serverUnicast: Uint8Array | null = null;
  private leases: ClientLease[] = [];
  private dnsServers: Uint8Array[] = [];
  private domains: string[] = [];
  private renewAt: number | null = null;
  private rebindAt: number | null = null;
  private readonly duidWire: Uint8Array;
  /** RFC 8415 §20.4.1: the reconfigure key from the bound server's last Reply that carried one. */
  private reconfigureKey: Uint8Array | null = null;

  constructor(
    private readonly settings: ClientSettings,
    readonly duid: Duid,
    private readonly host: ClientHost,
  ) {
    this.duidWire = duidBytes(duid);
  }

  /**
   * Starts after a random delay: §18.2.1 "the first Solicit message from the client on the
   * interface SHOULD be delayed by a random amount of time between 0 and SOL_MAX_DELAY"
   * (INF_MAX_DELAY for Information-request, §18.2.6).
   */
  start(): void {
    const stateless = this.settings.mode === 'stateless';
    this.phase = stateless ? 'informing' : 'soliciting';
    const delay = this.host.rng.next() * (stateless ? INF_MAX_DELAY : SOL_MAX_DELAY);
    this.later(delay, () => (stateless ? this.inform() : this.solicit()));
  }

  stop(): void {
    this.cancelAll();
    if (this.settings.releaseOnStop && this.server !== null && this.leases.length > 0) {
      // §18.2.7: Release names the server and the IAs being given back. The router is going
      // away, so it is sent once rather than retransmitted (REL_MAX_RC).
      this.newTransaction();
      this.host.send(this.message(DHCP6_MSG.RELEASE, 0, [{ kind: 'serverId', duid: this.server }, ...this.iaOptions(this.leases)]), this.serverUnicast);
    }
    this.leases = [];
    this.dnsServers = [];
    this.domains = [];
    this.phase = 'stopped';
    this.report();
  }

  state(): ClientState {
    return {
      phase: this.phase,
      server: this.server,
      leases: this.leases,
      dnsServers: this.dnsServers,
      domains: this.domains,
      renewAt: this.renewAt,
      rebindAt: this.rebindAt,
    };
  }

  /** A message received on UDP port 546 of the client's interface. */
  receive(msg: Dhcp6ClientMessage): void {
    if (msg.msgType !== DHCP6_MSG.ADVERTISE && msg.msgType !== DHCP6_MSG.REPLY) return this.host.ignored('client-unexpected-message');
    // §16.10 (Advertise), §16.11 (Reply): the transaction-id must match, a Server Identifier
    // must be present and the Client Identifier must be ours.
    if (this.exchange === null || msg.transactionId !== this.transactionId) return this.host.ignored('client-wrong-transaction');
    const serverId = findOption(msg.options, 'serverId');
    if (serverId === undefined) return this.host.ignored('client-missing-server-id');
    const clientId = findOption(msg.options, 'clientId');
    if (clientId === undefined || !equalBytes(duidBytes(clientId.duid), this.duidWire)) return this.host.ignored('client-wrong-client-id');
    if (msg.msgType === DHCP6_MSG.ADVERTISE) {
      if (this.phase !== 'soliciting') return this.host.ignored('client-unexpected-message');
      return this.advertised(msg, serverId.duid);
    }
    switch (this.phase) {
      case 'soliciting':
        // §18.2.1: a Reply to a Solicit is accepted only when both asked for Rapid Commit.
        if (!this.settings.rapidCommit || findOption(msg.options, 'rapidCommit') === undefined) return this.host.ignored('client-unexpected-message');
        return this.replied(msg, serverId.duid);
      case 'requesting':
      case 'renewing':
      case 'rebinding':
        return this.replied(msg, serverId.duid);
      case 'informing':
        return this.informed(msg);
      default:
        return this.host.ignored('client-unexpected-message');
    }
  }

  /** The reconfigure key a Reconfigure must be signed with, once a server gave one (§20.4). */
  currentReconfigureKey(): Uint8Array | null {
    return this.settings.acceptReconfigure ? this.reconfigureKey : null;
  }

  /**
   * A Reconfigure whose reconfigure-key MAC the module has already checked (§18.2.11, §16.11):
   * from the server we are bound to, naming us, with a Reconfigure Message option. The client
   * answers with the exchange the server asks for. One that arrives while an exchange is in
   * progress is ignored ("the client ... ignores any additional Reconfigure messages").
   */
  reconfigure(msg: Dhcp6ClientMessage): void {
    const serverId = findOption(msg.options, 'serverId');
    const clientId = findOption(msg.options, 'clientId');
    const what = findOption(msg.options, 'reconfMsg')?.msgType;
    if (!this.settings.acceptReconfigure || this.server === null || serverId === undefined || !equalBytes(duidBytes(serverId.duid), duidBytes(this.server))) {
      return this.host.ignored('client-unexpected-message');
    }
    if (clientId === undefined || !equalBytes(duidBytes(clientId.duid), this.duidWire)) return this.host.ignored('client-wrong-client-id');
    if (what === DHCP6_MSG.RENEW && this.phase === 'bound') return this.renew();
    if (what === DHCP6_MSG.REBIND && this.phase === 'bound') return this.rebind();
    if (what === DHCP6_MSG.INFORMATION_REQUEST && this.phase === 'informed') return this.inform();
    return this.host.ignored('client-unexpected-message');
  }

  // ---------------------------------------------------------------- exchanges

  private solicit(): void {
    this.resetBinding();
    this.phase = 'soliciting';
    this.offers = [];
    this.newTransaction();
    const extra: Dhcp6Option[] = this.settings.rapidCommit ? [{ kind: 'rapidCommit' }] : [];
    this.begin({ irt: SOL_TIMEOUT, mrt: SOL_MAX_RT, mrc: 0, mrd: 0 }, (elapsed) => this.message(DHCP6_MSG.SOLICIT, elapsed, [...this.iaOptions([]), ...extra]), () => undefined, true);
    // §18.2.1: the client collects Advertise messages until the first RT elapses.
    this.collectUntil = this.host.clock.now() + (this.exchange?.timeout ?? SOL_TIMEOUT);
  }

  private advertised(msg: Dhcp6ClientMessage, server: Duid): void {
    const leases = this.leasesIn(msg);
    // §18.2.9: "The client MUST ignore any Advertise message that contains no addresses ...
    // and no delegated prefixes", unless it asked for neither.
    if (leases.length === 0) return this.host.ignored('client-empty-advertise');
    const preference = findOption(msg.options, 'preference')?.value ?? 0;
    const unicast = findOption(msg.options, 'unicast')?.address ?? null;
    this.offers.push({ server, preference, leases, unicast });
    // §18.2.1: retransmission is for when no Advertise came within the first RT; with one in
    // hand the client only waits out that RT (the exchange stays open for more Advertises).
    this.exchange?.cancel();
    // §18.2.1: "If the client receives a valid Advertise message that includes a Preference
    // option with a preference value of 255, the client immediately begins a client-initiated
    // message exchange ... by sending a Request."
    if (preference === 255 || this.host.clock.now() >= this.collectUntil) return this.request();
    if (this.selectTimer === null) this.selectTimer = this.host.clock.setTimer(this.collectUntil - this.host.clock.now(), () => this.request());
  }

  /** §18.2.9: the offer with the highest preference (the first received among equals). */
  private request(): void {
    this.selectTimer?.cancel();
    this.selectTimer = null;
    let best: Offer | undefined;
    for (const o of this.offers) if (best === undefined || o.preference > best.preference) best = o;
    if (best === undefined) return;
    this.server = best.server;
    this.serverUnicast = best.unicast;
    this.phase = 'requesting';
    this.newTransaction();
    const ias = this.iaOptions(best.leases);
    // §18.2.2: a Request that fails REQ_MAX_RC times sends the client back to Solicit.
    this.begin({ irt: REQ_TIMEOUT, mrt: REQ_MAX_RT, mrc: REQ_MAX_RC, mrd: 0 }, (elapsed) =>
      this.message(DHCP6_MSG.REQUEST, elapsed, [{ kind: 'serverId', duid: best.server }, ...ias]), () => this.solicit());
  }

  private renew(): void {
    if (this.server === null) return;
    const server = this.server;
    this.phase = 'renewing';
    this.newTransaction();
    // §18.2.4: Renew goes on until T2, when the T2 timer turns it into a Rebind.
    this.begin({ irt: REN_TIMEOUT, mrt: REN_MAX_RT, mrc: 0, mrd: 0 }, (elapsed) =>
      this.message(DHCP6_MSG.RENEW, elapsed, [{ kind: 'serverId', duid: server }, ...this.iaOptions(this.leases)]), () => undefined);
  }

  private rebind(): void {
    this.phase = 'rebinding';
    this.serverUnicast = null;
    this.newTransaction();
    // §18.2.5: "the message exchange fails once the valid lifetimes of all the addresses
    // ... have expired"; the expiry timer removes them and starts over with a Solicit.
    this.begin({ irt: REB_TIMEOUT, mrt: REB_MAX_RT, mrc: 0, mrd: 0 }, (elapsed) =>
      this.message(DHCP6_MSG.REBIND, elapsed, this.iaOptions(this.leases)), () => undefined);
  }

  private inform(): void {
    this.phase = 'informing';
    this.newTransaction();
    this.begin({ irt: INF_TIMEOUT, mrt: INF_MAX_RT, mrc: 0, mrd: 0 }, (elapsed) =>
      this.message(DHCP6_MSG.INFORMATION_REQUEST, elapsed, [{ kind: 'oro', codes: [DHCP6_OPT.DNS_SERVERS, DHCP6_OPT.DOMAIN_LIST, DHCP6_OPT.INFORMATION_REFRESH_TIME] }]), () => undefined);
  }

  // ---------------------------------------------------------------- replies

  private replied(msg: Dhcp6ClientMessage, server: Duid): void {
    const status = findOption(msg.options, 'statusCode')?.status ?? DHCP6_STATUS.SUCCESS;
    if (status === DHCP6_STATUS.USE_MULTICAST) {
      // §18.2.10: "the client MUST use multicast ... for all future messages to this server".
      this.serverUnicast = null;
      return;
    }
    if (status !== DHCP6_STATUS.SUCCESS) {
      // §18.2.10: NotOnLink to a Request → Solicit again; UnspecFail → retransmit (keep waiting).
      if (status === DHCP6_STATUS.NOT_ON_LINK && this.phase === 'requesting') this.solicit();
      return;
    }
    const previous = this.phase;
    this.exchange?.cancel();
    this.exchange = null;
    // §18.2.10.1: NoBinding for an IA in a Renew/Rebind Reply → send a Request for it.
    const noBinding = [...filterOptions(msg.options, 'iaNa'), ...filterOptions(msg.options, 'iaPd')].some(
      (ia) => findOption(ia.options, 'statusCode')?.status === DHCP6_STATUS.NO_BINDING,
    );
    const received = this.leasesIn(msg);
    const merged = new Map<string, ClientLease>();
    for (const l of this.leases) merged.set(leaseKey(l), l);
    for (const l of received) {
      // §18.2.10.1: a valid lifetime of 0 means the server is taking the lease back.
      if (l.valid === 0) merged.delete(leaseKey(l));
      else merged.set(leaseKey(l), l);
    }
    this.leases = [...merged.values()];
    if (this.server === null || !equalBytes(duidBytes(this.server), duidBytes(server))) this.reconfigureKey = null;
    this.server = server;
    this.reconfigureKey = reconfigureKeyIn(msg) ?? this.reconfigureKey;
    const unicast = findOption(msg.options, 'unicast');
    if (unicast !== undefined) this.serverUnicast = unicast.address;
    this.takeConfiguration(msg);
    if (this.leases.length === 0) {
      this.report();
      return this.later(0, () => this.solicit());
    }
    if (noBinding && previous !== 'requesting') {
      this.offers = [{ server, preference: 0, leases: this.leases, unicast: this.serverUnicast }];
      this.report();
      return this.request();
    }
    this.phase = 'bound';
    this.schedule(msg);
    this.report();
  }

  private informed(msg: Dhcp6ClientMessage): void {
    this.exchange?.cancel();
    this.exchange = null;
    this.takeConfiguration(msg);
    this.phase = 'informed';
    // §21.23: refresh after Information Refresh Time (default IRT_DEFAULT, at least IRT_MINIMUM).
    const irt = findOption(msg.options, 'infoRefreshTime')?.value ?? IRT_DEFAULT_S;
    if (irt !== INFINITY) this.later(Math.max(irt, IRT_MINIMUM_S) * 1000, () => this.inform());
    this.report();
  }

  private takeConfiguration(msg: Dhcp6ClientMessage): void {
    const dns = findOption(msg.options, 'dnsServers');
    const domains = findOption(msg.options, 'domainList');
    if (dns !== undefined) this.dnsServers = dns.servers.map((s) => Uint8Array.from(s));
    if (domains !== undefined) this.domains = [...domains.domains];
  }

  /**
   * T1/T2 from the IAs (§21.4, §21.21); where the server left them 0, the client picks
   * 0.5 and 0.8 × the shortest preferred lifetime (§18.2.4: "at the client's discretion",
   * with the values §14.2 recommends to servers). Then a timer per lease expiry.
   */
  private schedule(msg: Dhcp6ClientMessage): void {
    this.cancelTimers();
    const now = this.host.clock.now();
    const ias = [...filterOptions(msg.options, 'iaNa'), ...filterOptions(msg.options, 'iaPd')];
    const shortestPreferred = Math.min(...this.leases.map((l) => l.preferred));
    const nonZero = (values: number[]) => values.filter((v) => v > 0);
    const t1 = Math.min(...nonZero(ias.map((ia) => ia.t1)), shortestPreferred === INFINITY ? INFINITY : shortestPreferred * 0.5);
    const t2 = Math.max(t1, Math.min(...nonZero(ias.map((ia) => ia.t2)), shortestPreferred === INFINITY ? INFINITY : shortestPreferred * 0.8));
    this.renewAt = t1 >= INFINITY ? null : now + t1 * 1000;
    this.rebindAt = t2 >= INFINITY ? null : now + t2 * 1000;
    if (this.renewAt !== null) this.later(t1 * 1000, () => this.renew());
    if (this.rebindAt !== null) this.later(t2 * 1000, () => this.rebind());
    const nextExpiry = Math.min(...this.leases.filter((l) => l.valid !== INFINITY).map((l) => l.receivedAt + l.valid * 1000));
    if (Number.isFinite(nextExpiry)) this.later(nextExpiry - now, () => this.expire());
  }

  /** §18.2.10.1: leases whose valid lifetime ended are dropped; with none left, start over. */
  private expire(): void {
    const now = this.host.clock.now();
    this.leases = this.leases.filter((l) => l.valid === INFINITY || l.receivedAt + l.valid * 1000 > now);
    this.report();
    if (this.leases.length === 0) return this.solicit();
    const nextExpiry = Math.min(...this.leases.filter((l) => l.valid !== INFINITY).map((l) => l.receivedAt + l.valid * 1000));
    if (Number.isFinite(nextExpiry)) this.later(nextExpiry - now, () => this.expire());
  }

  // ---------------------------------------------------------------- helpers

  private leasesIn(msg: Dhcp6ClientMessage): ClientLease[] {
    const now = this.host.clock.now();
    const out: ClientLease[] = [];
    for (const ia of filterOptions(msg.options, 'iaNa')) {
      if (ia.iaid !== CLIENT_IAID || !this.wantsAddress()) continue;
      for (const a of filterOptions(ia.options, 'iaAddr')) {
        // §18.2.10.1: "discard any leases from the IA ... that have a valid lifetime of 0"
        // is applied by the caller; preferred > valid is invalid (§21.6).
        if (a.preferred > a.valid) continue;
        out.push({ kind: 'na', address: Uint8Array.from(a.address), prefixLen: 128, preferred: a.preferred, valid: a.valid, receivedAt: now });
      }
    }
    for (const ia of filterOptions(msg.options, 'iaPd')) {
      if (ia.iaid !== CLIENT_IAID || !this.wantsPrefix()) continue;
      for (const p of filterOptions(ia.options, 'iaPrefix')) {
        if (p.preferred > p.valid || p.prefixLen === 0) continue;
        out.push({ kind: 'pd', address: Uint8Array.from(p.prefix), prefixLen: p.prefixLen, preferred: p.preferred, valid: p.valid, receivedAt: now });
      }
    }
    return out;
  }

  private wantsAddress(): boolean {
    return this.settings.mode === 'stateful' && this.settings.requestAddress;
  }

  private wantsPrefix(): boolean {
    return this.settings.mode === 'stateful' && this.settings.requestPrefix;
  }

  /** Our IA_NA and IA_PD, carrying `leases` as hints or as what is renewed (§18.2.2, §18.2.4). */
  private iaOptions(leases: readonly ClientLease[]): Dhcp6Option[] {
    const out: Dhcp6Option[] = [];
    if (this.wantsAddress()) {
      const addrs = leases.filter((l) => l.kind === 'na').map((l): Dhcp6Option => ({ kind: 'iaAddr', address: l.address, preferred: 0, valid: 0, options: [] }));
      out.push({ kind: 'iaNa', iaid: CLIENT_IAID, t1: 0, t2: 0, options: addrs });
    }
    if (this.wantsPrefix()) {
      let prefixes = leases.filter((l) => l.kind === 'pd').map((l): Dhcp6Option => ({ kind: 'iaPrefix', preferred: 0, valid: 0, prefixLen: l.prefixLen, prefix: l.address, options: [] }));
      // §18.2.1: a hint "with the prefix field set to 0 and the prefix-length field set to the desired length".
      if (prefixes.length === 0 && this.settings.prefixLengthHint > 0) {
        prefixes = [{ kind: 'iaPrefix', preferred: 0, valid: 0, prefixLen: this.settings.prefixLengthHint, prefix: new Uint8Array(16), options: [] }];
      }
      out.push({ kind: 'iaPd', iaid: CLIENT_IAID, t1: 0, t2: 0, options: prefixes });
    }
    return out;
  }

  private message(msgType: number, elapsedMs: number, options: Dhcp6Option[]): Dhcp6ClientMessage {
    return {
      type: 'client',
      msgType,
      transactionId: this.transactionId,
      options: [
        { kind: 'clientId', duid: this.duid },
        // §21.9: hundredths of a second since the exchange began, 0xffff when it does not fit.
        { kind: 'elapsedTime', centiseconds: Math.min(0xffff, Math.floor(elapsedMs / 10)) },
        ...(msgType === DHCP6_MSG.INFORMATION_REQUEST ? [] : [{ kind: 'oro', codes: [DHCP6_OPT.DNS_SERVERS, DHCP6_OPT.DOMAIN_LIST] } as const]),
        // §18.2.1, §18.2.2, §18.2.4, §18.2.5: a client willing to be reconfigured says so in each of these.
        ...(this.settings.acceptReconfigure && msgType !== DHCP6_MSG.RELEASE && msgType !== DHCP6_MSG.DECLINE ? [{ kind: 'reconfAccept' } as const] : []),
        ...options,
      ],
    };
  }

  private begin(params: RetransmitParams, build: (elapsedMs: number) => Dhcp6ClientMessage, giveUp: () => void, positiveFirstRand = false): void {
    this.exchange?.cancel();
    const unicast = this.phase === 'renewing' || this.phase === 'requesting' ? this.serverUnicast : null;
    this.exchange = new Retransmitter(this.host.clock, this.host.rng, params, (elapsed) => this.host.send(build(elapsed), unicast), () => {
      this.exchange = null;
      giveUp();
    }, positiveFirstRand);
  }

  private newTransaction(): void {
    // §16.1: a new transaction-id for every exchange, chosen at random.
    this.transactionId = Math.floor(this.host.rng.next() * 0x1000000) & 0xffffff;
  }

  private resetBinding(): void {
    this.cancelAll();
    this.server = null;
    this.serverUnicast = null;
    this.renewAt = null;
    this.rebindAt = null;
  }

  private later(ms: number, fn: () => void): void {
    this.timers.push(this.host.clock.setTimer(Math.max(0, ms), fn));
  }

  private cancelTimers(): void {
    for (const t of this.timers.splice(0)) t.cancel();
  }

  private cancelAll(): void {
    this.cancelTimers();
    this.exchange?.cancel();
    this.exchange = null;
    this.selectTimer?.cancel();
    this.selectTimer = null;
  }

  private report(): void {
    this.host.leasesChanged(this.state());
  }
}

function leaseKey(l: ClientLease): string {
  return `${l.kind}|${Buffer.from(l.address).toString('hex')}/${l.prefixLen}`;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * The /64 of a delegated prefix for sub-prefix `slaId` (WIDE's `sla-id`): the SLA ID fills
 * the bits between the delegated length and 64 (RFC 3633 §12.1's example of a requesting
 * router numbering its links), and `hostId` the interface identifier. Null when the
 * delegated prefix is longer than /64 or the SLA ID does not fit in the bits it leaves.
 */
export function subnetAddress(delegated: Uint8Array, delegatedLen: number, slaId: number, hostId: bigint): Uint8Array | null {
  if (delegatedLen > 64 || slaId < 0 || BigInt(slaId) >= 1n << BigInt(64 - delegatedLen)) return null;
  let value = 0n;
  for (const b of delegated) value = (value << 8n) | BigInt(b);
  const keep = delegatedLen === 0 ? 0n : ((1n << BigInt(delegatedLen)) - 1n) << BigInt(128 - delegatedLen);
  value = (value & keep) | (BigInt(slaId) << 64n) | (hostId & ((1n << 64n) - 1n));
  const out = new Uint8Array(16);
  for (let i = 15; i >= 0; i--) {
    out[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return out;
}
