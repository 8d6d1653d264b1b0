/**
 * The DHCPv6 server's decisions (RFC 8415 §18.3), apart from sockets: a client message and
 * the link it came from go in, a Reply/Advertise or a drop reason comes out. Bindings live
 * in a LeaseStore, written before the reply that announces them leaves (§18.3.2: "the server
 * records the … leases assigned to the client").
 */
import { formatIpv6, parseIpv6, parsePrefix, prefixContains, type Prefix } from '../../lib/addr.js';
import {
  DHCP6_MSG,
  DHCP6_OPT,
  DHCP6_STATUS,
  filterOptions,
  findOption,
  formatDuid,
  type Dhcp6ClientMessage,
  type Dhcp6Option,
  type Duid,
} from '../../wire/dhcpv6.js';
import { addressPool, prefixPool, type Pool } from './pools.js';
import { leaseKey, type LeaseStore, type StoredLease } from './lease-store.js';

export interface ServerInterface {
  readonly name: string;
  readonly addressPool?: { readonly start: string; readonly end: string } | undefined;
  readonly prefixPool?: { readonly prefix: string; readonly delegatedLength: number } | undefined;
  /**
   * Addresses handed out of the /64 that the router's own DHCPv6 client puts on this link
   * from its delegated prefix: interface identifiers `start`..`end` (written as addresses
   * with the upper 64 bits zero, like ::1000). The pool exists only while the delegation does.
   */
  readonly delegatedPool?: { readonly start: string; readonly end: string } | undefined;
  readonly preference: number;
  readonly rapidCommit: boolean;
  readonly unicast: boolean;
}

/** A link behind relays, named by its prefix (RFC 8415 §19.1.1: the relay's link-address lies in it). */
export interface ServerSubnet {
  readonly prefix: string;
  readonly addressPool?: { readonly start: string; readonly end: string } | undefined;
  readonly prefixPool?: { readonly prefix: string; readonly delegatedLength: number } | undefined;
  readonly preference: number;
  readonly rapidCommit: boolean;
}

export interface ServerSettings {
  readonly interfaces: readonly ServerInterface[];
  readonly subnets: readonly ServerSubnet[];
  readonly preferredLifetime: number;
  readonly validLifetime: number;
  readonly t1: number;
  readonly t2: number;
  readonly dnsServers: readonly string[];
  readonly domains: readonly string[];
  readonly reservations: ReadonlyArray<{ readonly duid: string; readonly address?: string | undefined; readonly prefix?: string | undefined }>;
}

/** What the server knows of the link a message arrived on (directly or through relays). */
export interface ServerLink {
  readonly name: string;
  /** The link's own global prefixes, for Confirm's on-link test (§18.3.3). */
  readonly onLink: ReadonlyArray<{ readonly addr: Uint8Array; readonly len: number }>;
  /** The server's address clients may unicast to (§21.12), when the Unicast option is on. */
  readonly unicastAddress: Uint8Array | null;
  /** The client's address on a directly attached link: delegated prefixes are routed to it (RFC 8415 §6.3). */
  readonly peer: { readonly port: number; readonly address: string } | null;
  /** For a relayed message: the address of the relay agent it came from, recorded on the leases. */
  readonly relay?: string | undefined;
}

export const SERVER_DROPS = [
  'missing-client-id',
  'unexpected-server-id',
  'wrong-server-id',
  'unicast-not-allowed',
  'duplicate-ia',
  'ia-in-information-request',
  'not-for-a-server',
  'no-addresses-to-confirm',
  'unserved-link',
] as const;
export type ServerDrop = (typeof SERVER_DROPS)[number];

export type ServerVerdict = { readonly reply: Dhcp6ClientMessage } | { readonly drop: ServerDrop };

interface LinkState {
  readonly cfg: ServerInterface;
  /** The configured pools, then the delegated pool while a delegation is held. */
  pools: readonly Pool[];
  delegation: Delegation | null;
}

/** The /64 of a delegated prefix a link's pool is carved from, and when the delegation's lifetimes end. */
interface Delegation {
  readonly prefix: string;
  readonly pool: Pool;
  /** Wall-clock milliseconds; Infinity for an infinite lifetime. */
  readonly preferredUntil: number;
  readonly validUntil: number;
}

/** What the module knows of a delegated /64: the prefix and its remaining lifetimes in seconds (0xffffffff: infinite). */
export interface DelegatedPrefix {
  readonly prefix: Uint8Array;
  readonly preferred: number;
  readonly valid: number;
}

const INFINITE_LIFETIME = 0xffffffff;

/** Advertised leases are held this long for the Request that should follow (§18.2.1's MRT is 3600 s; clients ask within seconds). */
const OFFER_HOLD_MS = 60_000;
/** Declined addresses stay out of the pool this long at least (§18.3.8 leaves it to the server). */
const DECLINE_HOLD_S = 3600;

export class Dhcp6Server {
  private readonly links = new Map<string, LinkState>();
  /** "kind|duid|iaid" → lease keys. */
  private readonly bindings = new Map<string, Set<string>>();
  /** lease key → offer held for a client after Advertise. */
  private readonly offers = new Map<string, { owner: string; until: number }>();
  /** binding key → the lease key offered to it, so the Request gets what the Advertise showed. */
  private readonly offeredTo = new Map<string, string>();
  private readonly duidText: string;
  /** The current message's link, recorded on the leases it binds. */
  private link: ServerLink | null = null;
  /** The subnets' prefixes, by link name, for linkOf(). */
  private readonly subnets: Array<{ readonly name: string; readonly prefix: Prefix }> = [];

  constructor(
    private readonly settings: ServerSettings,
    readonly duid: Duid,
    private readonly store: LeaseStore,
    /** Wall-clock milliseconds (leases outlive the process, so their times are absolute). */
    private readonly now: () => number,
  ) {
    this.duidText = formatDuid(duid);
    for (const cfg of settings.interfaces) this.links.set(cfg.name, { cfg, pools: poolsOf(cfg), delegation: null });
    for (const sub of settings.subnets) {
      const prefix = parsePrefix(sub.prefix)!;
      const name = `${formatIpv6(prefix.addr)}/${prefix.len}`;
      const cfg: ServerInterface = { name, addressPool: sub.addressPool, prefixPool: sub.prefixPool, preference: sub.preference, rapidCommit: sub.rapidCommit, unicast: false };
      this.links.set(name, { cfg, pools: poolsOf(cfg), delegation: null });
      this.subnets.push({ name, prefix });
    }
    for (const lease of store.all()) this.index(lease);
  }

  /**
   * The link a relayed message is for, from the innermost relay's link-address (RFC 8415
   * §19.1.1, as Kea and dhcp6s match it): the subnet whose prefix holds it, else a served
   * interface whose address pool does (compared as numbers, so ::9 lies below ::10).
   */
  linkOf(linkAddress: Uint8Array): string | null {
    const sub = this.subnets.find((s) => prefixContains(s.prefix, linkAddress));
    if (sub !== undefined) return sub.name;
    const text = formatIpv6(linkAddress);
    for (const [name, state] of this.links) if (state.pools.some((p) => p.kind === 'na' && p.contains(text, 128))) return name;
    return null;
  }

  /** Every pool with its use, for `show dhcp pools` and the metrics (an empty pool reports 0). */
  poolStats(): Array<{ pool: string; kind: 'na' | 'pd'; size: bigint; used: number }> {
    const out: Array<{ pool: string; kind: 'na' | 'pd'; size: bigint; used: number }> = [];
    const at = this.now();
    for (const { cfg, pools, delegation } of this.links.values()) {
      for (const p of pools) {
        let used = 0;
        for (const l of this.store.all()) if (l.expiresAt > at && p.contains(l.address, l.prefixLen)) used++;
        out.push({ pool: p.name, kind: p.kind, size: p.size, used });
      }
      // A delegated pool without a delegation still has its series, at 0 (DESIGN.md, metrics).
      if (cfg.delegatedPool !== undefined && delegation === null) out.push({ pool: delegatedPoolName(cfg.name), kind: 'na', size: 0n, used: 0 });
    }
    return out;
  }

  /** The /64 each link with a delegated pool currently hands addresses from, for `show dhcp pools`. */
  delegations(): Array<{ link: string; prefix: string | null }> {
    return [...this.links.values()].filter((l) => l.cfg.delegatedPool !== undefined).map((l) => ({ link: l.cfg.name, prefix: l.delegation?.prefix ?? null }));
  }

  /**
   * The router's client got, renewed, lost or changed the delegated prefix whose /64 is on
   * `linkName` (issue 5: the delegated prefix is "offered through the local DHCPv6 server's
   * pools, and withdrawn everywhere on expiry or Release"). A new /64 becomes the link's
   * delegated pool; the same one only refreshes the lifetimes that cap its leases; null or
   * a different /64 withdraws the old pool and ends every binding in it, which are returned
   * so that the module can send Reconfigure to the clients that accepted it. The others
   * learn at their next Renew or Rebind, which gets the address back with lifetimes 0
   * (§18.3.4, §18.3.5: the address is no longer appropriate for the link).
   */
  setDelegatedPrefix(linkName: string, delegated: DelegatedPrefix | null): StoredLease[] {
    const state = this.links.get(linkName);
    const range = state?.cfg.delegatedPool;
    if (state === undefined || range === undefined) return [];
    const prefix = delegated === null ? null : `${formatIpv6(withSuffix(delegated.prefix, new Uint8Array(16)))}/64`;
    const old = state.delegation;
    const ended: StoredLease[] = [];
    if (old !== null && old.prefix !== prefix) {
      for (const lease of [...this.store.all()]) {
        if (lease.kind !== 'na' || !old.pool.contains(lease.address, lease.prefixLen)) continue;
        this.forget(lease);
        ended.push(lease);
      }
      for (const [key, offer] of this.offers) {
        const [, address] = key.split('/');
        if (!old.pool.contains(address!, 128)) continue;
        this.offers.delete(key);
        if (this.offeredTo.get(offer.owner) === key) this.offeredTo.delete(offer.owner);
      }
    }
    if (delegated === null) {
      state.delegation = null;
    } else {
      const until = (s: number) => (s === INFINITE_LIFETIME ? Infinity : this.now() + s * 1000);
      const pool = old !== null && old.prefix === prefix
        ? old.pool
        : addressPool(delegatedPoolName(linkName), formatIpv6(withSuffix(delegated.prefix, parseIpv6(range.start)!)), formatIpv6(withSuffix(delegated.prefix, parseIpv6(range.end)!)));
      state.delegation = { prefix: prefix!, pool, preferredUntil: until(delegated.preferred), validUntil: until(delegated.valid) };
    }
    state.pools = [...state.pools.filter((p) => p !== old?.pool), ...(state.delegation ? [state.delegation.pool] : [])];
    return ended;
  }

  leases(): StoredLease[] {
    return [...this.store.all()];
  }

  /** `turtle6ctl dhcp release <address|prefix>`: forgets a binding as a Release would. */
  releaseLease(text: string): boolean {
    const p = parsePrefix(text.includes('/') ? text : `${text}/128`);
    if (p === null) return false;
    const address = formatIpv6(p.addr);
    for (const kind of ['na', 'pd'] as const) {
      const key = leaseKey({ kind, address, prefixLen: p.len });
      const lease = this.store.get(key);
      if (lease) {
        this.forget(lease);
        return true;
      }
    }
    return false;
  }

  /** Removes leases whose valid lifetime ended (§18.3.7: the server may reuse them). */
  expire(): number {
    const at = this.now();
    let n = 0;
    for (const lease of [...this.store.all()]) {
      if (lease.expiresAt <= at) {
        this.forget(lease);
        n++;
      }
    }
    for (const [key, offer] of this.offers) {
      if (offer.until > at) continue;
      this.offers.delete(key);
      if (this.offeredTo.get(offer.owner) === key) this.offeredTo.delete(offer.owner);
    }
    return n;
  }

  handle(linkName: string, link: ServerLink, msg: Dhcp6ClientMessage, unicast: boolean): ServerVerdict {
    const state = this.links.get(linkName);
    if (state === undefined) return { drop: 'unserved-link' };
    const clientId = findOption(msg.options, 'clientId');
    const serverId = findOption(msg.options, 'serverId');
    const t = msg.msgType;
    if (t === DHCP6_MSG.ADVERTISE || t === DHCP6_MSG.REPLY || t === DHCP6_MSG.RECONFIGURE || t > DHCP6_MSG.INFORMATION_REQUEST) {
      return { drop: 'not-for-a-server' };
    }
    // §16: the validation every server applies before acting.
    if (t !== DHCP6_MSG.INFORMATION_REQUEST && clientId === undefined) return { drop: 'missing-client-id' };
    const mustNameUs = t === DHCP6_MSG.REQUEST || t === DHCP6_MSG.RENEW || t === DHCP6_MSG.RELEASE || t === DHCP6_MSG.DECLINE;
    const mustNotNameServer = t === DHCP6_MSG.SOLICIT || t === DHCP6_MSG.CONFIRM || t === DHCP6_MSG.REBIND;
    if (mustNotNameServer && serverId !== undefined) return { drop: 'unexpected-server-id' };
    if ((mustNameUs || serverId !== undefined) && (serverId === undefined || formatDuid(serverId.duid) !== this.duidText)) {
      return { drop: 'wrong-server-id' };
    }
    // §16.2, §16.7: Solicit, Confirm, Rebind and Information-request sent unicast are discarded.
    if (unicast && (mustNotNameServer || t === DHCP6_MSG.INFORMATION_REQUEST)) return { drop: 'unicast-not-allowed' };
    if (hasDuplicateIa(msg.options)) return { drop: 'duplicate-ia' };
    if (t === DHCP6_MSG.INFORMATION_REQUEST && msg.options.some((o) => o.kind === 'iaNa' || o.kind === 'iaTa' || o.kind === 'iaPd')) {
      return { drop: 'ia-in-information-request' };
    }

    const reply = (msgType: number, options: Dhcp6Option[]): ServerVerdict => ({
      reply: {
        type: 'client',
        msgType,
        transactionId: msg.transactionId,
        options: [...(clientId ? [clientId] : []), { kind: 'serverId', duid: this.duid }, ...options, ...this.configOptions(msg, state, link)],
      },
    });
    // §18.3.2, §18.3.4, §18.3.7, §18.3.8: unicast without the Unicast option → UseMulticast.
    if (unicast && mustNameUs && !state.cfg.unicast) {
      return reply(DHCP6_MSG.REPLY, [status(DHCP6_STATUS.USE_MULTICAST, 'use multicast')]);
    }

    const duid = formatDuid(clientId?.duid ?? this.duid);
    this.link = link;
    switch (t) {
      case DHCP6_MSG.SOLICIT: {
        const rapid = state.cfg.rapidCommit && findOption(msg.options, 'rapidCommit') !== undefined;
        const ias = this.assign(state, duid, msg.options, rapid);
        const extra: Dhcp6Option[] = [];
        if (state.cfg.preference !== 0 && !rapid) extra.push({ kind: 'preference', value: state.cfg.preference });
        if (rapid) extra.push({ kind: 'rapidCommit' });
        // §18.3.9: with nothing to give at all, say so at the top level too.
        if (!ias.some((ia) => 'options' in ia && ia.options.some((o) => o.kind === 'iaAddr' || o.kind === 'iaPrefix')) && ias.length > 0) {
          extra.push(status(DHCP6_STATUS.NO_ADDRS_AVAIL, 'no addresses or prefixes available'));
        }
        return reply(rapid ? DHCP6_MSG.REPLY : DHCP6_MSG.ADVERTISE, [...ias, ...extra]);
      }
      case DHCP6_MSG.REQUEST:
        return reply(DHCP6_MSG.REPLY, this.assign(state, duid, msg.options, true));
      case DHCP6_MSG.RENEW:
      case DHCP6_MSG.REBIND:
        return reply(DHCP6_MSG.REPLY, this.extend(state, duid, msg.options, t === DHCP6_MSG.REBIND));
      case DHCP6_MSG.RELEASE:
      case DHCP6_MSG.DECLINE:
        return reply(DHCP6_MSG.REPLY, this.releaseOrDecline(duid, msg.options, t === DHCP6_MSG.DECLINE));
      case DHCP6_MSG.CONFIRM: {
        const addresses = msg.options.flatMap((o) => (o.kind === 'iaNa' || o.kind === 'iaTa' ? filterOptions(o.options, 'iaAddr') : []));
        // §18.3.3: "If the Confirm message received from the client does not include any IA
        // options with addresses, the server MUST NOT send a reply."
        if (addresses.length === 0) return { drop: 'no-addresses-to-confirm' };
        const onLink = addresses.every((a) => this.appropriate(state, link, formatIpv6(a.address), 128));
        return reply(DHCP6_MSG.REPLY, [onLink ? status(DHCP6_STATUS.SUCCESS, 'all addresses on link') : status(DHCP6_STATUS.NOT_ON_LINK, 'not on link')]);
      }
      default:
        return reply(DHCP6_MSG.REPLY, []);
    }
  }

  private configOptions(msg: Dhcp6ClientMessage, state: LinkState, link: ServerLink): Dhcp6Option[] {
    const oro = findOption(msg.options, 'oro')?.codes ?? [];
    const out: Dhcp6Option[] = [];
    const wants = (code: number) => oro.includes(code) || msg.msgType === DHCP6_MSG.INFORMATION_REQUEST;
    if (this.settings.dnsServers.length > 0 && wants(DHCP6_OPT.DNS_SERVERS)) {
      out.push({ kind: 'dnsServers', servers: this.settings.dnsServers.map((s) => parseIpv6(s)!) });
    }
    if (this.settings.domains.length > 0 && wants(DHCP6_OPT.DOMAIN_LIST)) out.push({ kind: 'domainList', domains: [...this.settings.domains] });
    if (state.cfg.unicast && link.unicastAddress !== null && msg.msgType !== DHCP6_MSG.INFORMATION_REQUEST) {
      out.push({ kind: 'unicast', address: link.unicastAddress });
    }
    return out;
  }

  /**
   * T1 and T2 for an IA whose shortest preferred lifetime is `preferred` (§21.4: 0.5 and 0.8
   * times it when the server picks). A configured value longer than a lifetime cut short by
   * a delegation is shortened the same way, so the client renews before its address lapses.
   */
  private timers(preferred = this.settings.preferredLifetime): { t1: number; t2: number } {
    const cut = preferred < this.settings.preferredLifetime;
    const pick = (configured: number, derived: number) => (configured === 0 ? derived : cut ? Math.min(configured, derived) : configured);
    return { t1: pick(this.settings.t1, Math.floor(preferred * 0.5)), t2: pick(this.settings.t2, Math.floor(preferred * 0.8)) };
  }

  private lease(kind: 'na' | 'pd', duid: string, iaid: number, address: string, prefixLen: number, state: LinkState): StoredLease {
    let { preferredLifetime, validLifetime } = this.settings;
    // An address from a delegated /64 must not outlive the delegation (RFC 8415 §6.3: the
    // requesting router's own lease bounds what it hands on), so its lifetimes are capped.
    const d = state.delegation;
    if (kind === 'na' && d !== null && d.pool.contains(address, prefixLen)) {
      const left = (until: number) => (until === Infinity ? INFINITE_LIFETIME - 1 : Math.max(0, Math.floor((until - this.now()) / 1000)));
      validLifetime = Math.min(validLifetime, left(d.validUntil));
      preferredLifetime = Math.min(preferredLifetime, left(d.preferredUntil), validLifetime);
    }
    const link = this.link!;
    const lease: StoredLease = { kind, duid, iaid, address, prefixLen, preferredLifetime, validLifetime, expiresAt: this.now() + validLifetime * 1000, link: link.name, ...(link.relay !== undefined ? { relay: link.relay } : {}) };
    return kind === 'pd' && link.peer !== null ? { ...lease, via: link.peer } : lease;
  }

  /** Solicit/Request: the client's IA_NAs and IA_PDs, filled from its binding, reservation or a pool. */
  private assign(state: LinkState, duid: string, options: readonly Dhcp6Option[], commit: boolean): Dhcp6Option[] {
    const out: Dhcp6Option[] = [];
    const reservation = this.settings.reservations.find((r) => r.duid === duid);
    for (const ia of options) {
      if (ia.kind !== 'iaNa' && ia.kind !== 'iaPd') continue;
      const kind = ia.kind === 'iaNa' ? 'na' : 'pd';
      const bindingKey = `${kind}|${duid}|${ia.iaid}`;
      let chosen: { address: string; prefixLen: number } | null = null;
      const existing = this.bindings.get(bindingKey);
      if (existing !== undefined && existing.size > 0) {
        const l = this.store.get([...existing][0]!)!;
        if (!l.declined) chosen = { address: l.address, prefixLen: l.prefixLen };
      }
      const offered = this.offeredTo.get(bindingKey);
      const offer = offered === undefined ? undefined : this.offers.get(offered);
      if (chosen === null && offer !== undefined && offer.owner === bindingKey && offer.until > this.now()) {
        const [, address, len] = offered!.split('/');
        chosen = { address: address!, prefixLen: Number(len) };
      }
      if (chosen === null && reservation !== undefined) {
        if (kind === 'na' && reservation.address !== undefined && !this.inUse('na', reservation.address, 128, bindingKey)) {
          chosen = { address: reservation.address, prefixLen: 128 };
        } else if (kind === 'pd' && reservation.prefix !== undefined) {
          const p = parsePrefix(reservation.prefix)!;
          const address = formatIpv6(p.addr);
          if (!this.inUse('pd', address, p.len, bindingKey)) chosen = { address, prefixLen: p.len };
        }
      }
      if (chosen === null) {
        const pool = state.pools.find((p) => p.kind === kind);
        const address = pool?.allocate((a) => this.inUse(kind, a, pool.prefixLen, bindingKey) || this.isReserved(kind, a));
        if (pool && address) chosen = { address, prefixLen: pool.prefixLen };
      }
      if (chosen === null) {
        const code = kind === 'na' ? DHCP6_STATUS.NO_ADDRS_AVAIL : DHCP6_STATUS.NO_PREFIX_AVAIL;
        const noneLeft = [status(code, kind === 'na' ? 'no addresses available' : 'no prefixes available')];
        out.push(ia.kind === 'iaNa' ? { kind: 'iaNa', iaid: ia.iaid, t1: 0, t2: 0, options: noneLeft } : { kind: 'iaPd', iaid: ia.iaid, t1: 0, t2: 0, options: noneLeft });
        continue;
      }
      const lease = this.lease(kind, duid, ia.iaid, chosen.address, chosen.prefixLen, state);
      const { t1, t2 } = this.timers(lease.preferredLifetime);
      if (commit) this.bind(lease);
      else {
        this.offers.set(leaseKey(lease), { owner: bindingKey, until: this.now() + OFFER_HOLD_MS });
        this.offeredTo.set(bindingKey, leaseKey(lease));
      }
      out.push(iaWith(ia.kind, ia.iaid, t1, t2, [leaseOption(lease, lease.preferredLifetime, lease.validLifetime)]));
    }
    return out;
  }

  /** Renew (§18.3.4) and Rebind (§18.3.5). */
  private extend(state: LinkState, duid: string, options: readonly Dhcp6Option[], rebind: boolean): Dhcp6Option[] {
    const out: Dhcp6Option[] = [];
    for (const ia of options) {
      if (ia.kind !== 'iaNa' && ia.kind !== 'iaPd') continue;
      const kind = ia.kind === 'iaNa' ? 'na' : 'pd';
      const bindingKey = `${kind}|${duid}|${ia.iaid}`;
      const keys = this.bindings.get(bindingKey);
      let shortest = this.settings.preferredLifetime;
      const asked = ia.options.flatMap((o) => (o.kind === 'iaAddr' ? [{ address: formatIpv6(o.address), prefixLen: 128 }] : o.kind === 'iaPrefix' ? [{ address: formatIpv6(o.prefix), prefixLen: o.prefixLen }] : []));
      const granted: Dhcp6Option[] = [];
      for (const key of keys ?? []) {
        const old = this.store.get(key)!;
        if (old.declined) continue;
        const lease = this.lease(kind, duid, ia.iaid, old.address, old.prefixLen, state);
        this.bind(lease);
        shortest = Math.min(shortest, lease.preferredLifetime);
        granted.push(leaseOption(lease, lease.preferredLifetime, lease.validLifetime));
      }
      for (const a of asked) {
        if (keys?.has(leaseKey({ kind, ...a }))) continue;
        // §18.3.4/§18.3.5: a lease the client holds that the server will not extend is
        // returned with lifetimes 0 (Rebind: when it is not appropriate for the link);
        // a free lease that fits the link is bound to the client (it may have lost its binding with us).
        if (rebind && this.appropriateForPool(state, kind, a.address, a.prefixLen) && !this.inUse(kind, a.address, a.prefixLen, bindingKey)) {
          const lease = this.lease(kind, duid, ia.iaid, a.address, a.prefixLen, state);
          this.bind(lease);
          shortest = Math.min(shortest, lease.preferredLifetime);
          granted.push(leaseOption(lease, lease.preferredLifetime, lease.validLifetime));
        } else {
          granted.push(leaseOption({ kind, address: a.address, prefixLen: a.prefixLen }, 0, 0));
        }
      }
      if (granted.length === 0) {
        out.push(iaWith(ia.kind, ia.iaid, 0, 0, [status(DHCP6_STATUS.NO_BINDING, 'no binding for this IA')]));
      } else {
        const { t1, t2 } = this.timers(shortest);
        out.push(iaWith(ia.kind, ia.iaid, t1, t2, granted));
      }
    }
    return out;
  }

  /** Release (§18.3.7) and Decline (§18.3.8). */
  private releaseOrDecline(duid: string, options: readonly Dhcp6Option[], decline: boolean): Dhcp6Option[] {
    const out: Dhcp6Option[] = [];
    for (const ia of options) {
      if (ia.kind !== 'iaNa' && ia.kind !== 'iaPd') continue;
      const kind = ia.kind === 'iaNa' ? 'na' : 'pd';
      const keys = this.bindings.get(`${kind}|${duid}|${ia.iaid}`);
      let found = false;
      for (const o of ia.options) {
        const a = o.kind === 'iaAddr' ? { address: formatIpv6(o.address), prefixLen: 128 } : o.kind === 'iaPrefix' ? { address: formatIpv6(o.prefix), prefixLen: o.prefixLen } : null;
        if (a === null) continue;
        const key = leaseKey({ kind, ...a });
        const lease = keys?.has(key) ? this.store.get(key) : undefined;
        if (lease === undefined) continue;
        found = true;
        if (decline) this.store.put({ ...lease, declined: true, expiresAt: this.now() + Math.max(lease.validLifetime, DECLINE_HOLD_S) * 1000 });
        else this.forget(lease);
      }
      if (!found) out.push(iaWith(ia.kind, ia.iaid, 0, 0, [status(DHCP6_STATUS.NO_BINDING, 'no binding for this IA')]));
    }
    out.push(status(DHCP6_STATUS.SUCCESS, decline ? 'declined' : 'released'));
    return out;
  }

  private bind(lease: StoredLease): void {
    const key = leaseKey(lease);
    this.offers.delete(key);
    this.offeredTo.delete(`${lease.kind}|${lease.duid}|${lease.iaid}`);
    this.store.put(lease);
    this.index(lease);
  }

  private index(lease: StoredLease): void {
    const bindingKey = `${lease.kind}|${lease.duid}|${lease.iaid}`;
    let set = this.bindings.get(bindingKey);
    if (set === undefined) this.bindings.set(bindingKey, (set = new Set()));
    set.add(leaseKey(lease));
  }

  private forget(lease: StoredLease): void {
    const key = leaseKey(lease);
    this.store.delete(key);
    const bindingKey = `${lease.kind}|${lease.duid}|${lease.iaid}`;
    const set = this.bindings.get(bindingKey);
    set?.delete(key);
    if (set?.size === 0) this.bindings.delete(bindingKey);
  }

  /** In use by anyone but `owner` (a live lease, a declined address, or an offer still held). */
  private inUse(kind: 'na' | 'pd', address: string, prefixLen: number, owner: string): boolean {
    const key = leaseKey({ kind, address, prefixLen });
    const lease = this.store.get(key);
    if (lease !== undefined && lease.expiresAt > this.now() && (lease.declined || `${kind}|${lease.duid}|${lease.iaid}` !== owner)) return true;
    const offer = this.offers.get(key);
    return offer !== undefined && offer.until > this.now() && offer.owner !== owner;
  }

  private isReserved(kind: 'na' | 'pd', address: string): boolean {
    return this.settings.reservations.some((r) => (kind === 'na' ? r.address === address : r.prefix?.startsWith(`${address}/`)));
  }

  private appropriateForPool(state: LinkState, kind: 'na' | 'pd', address: string, prefixLen: number): boolean {
    return state.pools.some((p) => p.kind === kind && p.contains(address, prefixLen));
  }

  private appropriate(state: LinkState, link: ServerLink, address: string, prefixLen: number): boolean {
    if (this.appropriateForPool(state, 'na', address, prefixLen)) return true;
    const a = parseIpv6(address)!;
    return link.onLink.some((p) => prefixContains({ addr: p.addr, len: p.len }, a));
  }
}

function poolsOf(cfg: ServerInterface): Pool[] {
  const pools: Pool[] = [];
  if (cfg.addressPool) pools.push(addressPool(`${cfg.name}/na`, cfg.addressPool.start, cfg.addressPool.end));
  if (cfg.prefixPool) pools.push(prefixPool(`${cfg.name}/pd`, cfg.prefixPool.prefix, cfg.prefixPool.delegatedLength));
  return pools;
}

export function delegatedPoolName(linkName: string): string {
  return `${linkName}/delegated`;
}

/** The upper 64 bits of `prefix` with the lower 64 of `suffix` (a /64 and an interface identifier). */
function withSuffix(prefix: Uint8Array, suffix: Uint8Array): Uint8Array {
  const out = new Uint8Array(16);
  out.set(prefix.subarray(0, 8), 0);
  out.set(suffix.subarray(8, 16), 8);
  return out;
}

function status(code: number, message: string): Dhcp6Option {
  return { kind: 'statusCode', status: code, message };
}

function iaWith(kind: 'iaNa' | 'iaPd', iaid: number, t1: number, t2: number, options: Dhcp6Option[]): Dhcp6Option {
  return kind === 'iaNa' ? { kind: 'iaNa', iaid, t1, t2, options } : { kind: 'iaPd', iaid, t1, t2, options };
}

function leaseOption(l: Pick<StoredLease, 'kind' | 'address' | 'prefixLen'>, preferred: number, valid: number): Dhcp6Option {
  const address = parseIpv6(l.address)!;
  return l.kind === 'na'
    ? { kind: 'iaAddr', address, preferred, valid, options: [] }
    : { kind: 'iaPrefix', preferred, valid, prefixLen: l.prefixLen, prefix: address, options: [] };
}

/** §21.4, §21.21: IAIDs are unique per IA type within a message. */
function hasDuplicateIa(options: readonly Dhcp6Option[]): boolean {
  const seen = new Set<string>();
  for (const o of options) {
    if (o.kind !== 'iaNa' && o.kind !== 'iaTa' && o.kind !== 'iaPd') continue;
    const key = `${o.kind}/${o.iaid}`;
    if (seen.has(key)) return true;
    seen.add(key);
  }
  return false;
}

