/**
 * The router side of Router Discovery (RFC 4861 §6.2): periodic and solicited Router
 * Advertisements with prefixes (§4.6.2), MTU (§4.6.4), RDNSS and DNSSL (RFC 8106), final
 * advertisements when a port stops advertising, and the consistency check of other
 * routers' advertisements (§6.2.7).
 *
 * A port is an *advertising interface* (§6.2.2) while its RA config is enabled, its link is
 * up and its link-local address has passed DAD: RAs must come from the link-local address
 * (§6.1.2), and a tentative address may not be a source (RFC 4862 §5.4).
 *
 * Pure logic on an injected Clock and Rng; messages leave decoded, through NdTransport.
 */
import type { Clock, TimerHandle } from '../lib/clock.js';
import { ALL_NODES, equalAddress, formatIpv6, formatPrefix, isLinkLocal, isUnspecified, maskAddress } from '../lib/addr.js';
import { uniform, type Rng } from '../lib/rng.js';
import type { NdMessage, NdOption, RouterPreference } from '../wire/nd.js';
import type { InterfaceTable, RouterInterface } from './interfaces.js';
import type { NdTransport } from './nd.js';

export interface RaPrefix {
  readonly prefix: Uint8Array;
  readonly prefixLen: number;
  /** L flag (§4.6.2). */
  readonly onLink: boolean;
  /** A flag: hosts may form addresses by SLAAC (RFC 4862 §5.5.3). */
  readonly autonomous: boolean;
  /** Seconds; 0xffffffff is infinity. */
  readonly validLifetime: number;
  readonly preferredLifetime: number;
}

/** A Route Information option (RFC 4191 §2.3): a more-specific route through this router. */
export interface RaRoute {
  readonly prefix: Uint8Array;
  readonly prefixLen: number;
  /** Seconds; 0xffffffff is infinity. */
  readonly lifetime: number;
  readonly preference: RouterPreference;
}

/** Per-port configuration, with the RFC's units: seconds, except the two fields the RFC gives in milliseconds. */
export interface RaConfig {
  readonly enabled: boolean;
  /** MaxRtrAdvInterval, seconds. */
  readonly maxInterval: number;
  /** MinRtrAdvInterval, seconds. */
  readonly minInterval: number;
  /** AdvDefaultLifetime, seconds: 0 (not a default router) or MaxRtrAdvInterval..9000. */
  readonly defaultLifetime: number;
  /** AdvCurHopLimit; 0 means unspecified. */
  readonly hopLimit: number;
  readonly managed: boolean;
  readonly other: boolean;
  /** Advertise the port's MTU (AdvLinkMTU, §4.6.4). */
  readonly mtu: boolean;
  /** AdvReachableTime, milliseconds; 0 means unspecified. */
  readonly reachableTime: number;
  /** AdvRetransTimer, milliseconds; 0 means unspecified. */
  readonly retransTimer: number;
  readonly prefixes: readonly RaPrefix[];
  /** RFC 8106 §5.1; lifetime in seconds. */
  readonly rdnss?: { readonly servers: readonly Uint8Array[]; readonly lifetime: number };
  /** RFC 8106 §5.2; lifetime in seconds. */
  readonly dnssl?: { readonly domains: readonly string[]; readonly lifetime: number };
  /** Default Router Preference (RFC 4191 §2.2); medium when absent. */
  readonly preference?: RouterPreference;
  /** Route Information options (RFC 4191 §2.3). */
  readonly routes?: readonly RaRoute[];
}

/** §10 router constants. */
export const MAX_INITIAL_RTR_ADVERT_INTERVAL_MS = 16_000;
export const MAX_INITIAL_RTR_ADVERTISEMENTS = 3;
export const MIN_DELAY_BETWEEN_RAS_MS = 3000;
export const MAX_RA_DELAY_TIME_MS = 500;
const INFINITE_LIFETIME = 0xffffffff;

/** The defaults of §6.2.1: MaxRtrAdvInterval 600 s, MinRtrAdvInterval 0.33 × Max, AdvDefaultLifetime 3 × Max. */
export function defaultRaConfig(overrides: Partial<RaConfig> = {}): RaConfig {
  const maxInterval = overrides.maxInterval ?? 600;
  return {
    enabled: true,
    maxInterval,
    minInterval: maxInterval >= 9 ? 0.33 * maxInterval : maxInterval,
    defaultLifetime: Math.min(9000, 3 * maxInterval),
    hopLimit: 64,
    managed: false,
    other: false,
    mtu: true,
    reachableTime: 0,
    retransTimer: 0,
    prefixes: [],
    ...overrides,
  };
}

/**
 * The §6.2.1 limits, each broken one as a sentence. The interval floors are those of RFC 6275
 * §7.5 (MinRtrAdvInterval 0.03 s, MaxRtrAdvInterval 0.07 s), which Mobile IPv6 links need.
 */
export function validateRaConfig(cfg: RaConfig): string[] {
  const errors: string[] = [];
  if (!(cfg.maxInterval >= 0.07 && cfg.maxInterval <= 1800)) errors.push(`maxInterval ${cfg.maxInterval} s is outside 0.07..1800 s`);
  if (!(cfg.minInterval >= 0.03 && cfg.minInterval <= 0.75 * cfg.maxInterval)) {
    errors.push(`minInterval ${cfg.minInterval} s is outside 0.03 s..0.75 × maxInterval (${0.75 * cfg.maxInterval} s)`);
  }
  if (cfg.defaultLifetime !== 0 && !(cfg.defaultLifetime >= cfg.maxInterval && cfg.defaultLifetime <= 9000)) {
    errors.push(`defaultLifetime ${cfg.defaultLifetime} s must be 0 or between maxInterval (${cfg.maxInterval} s) and 9000 s`);
  }
  if (!Number.isInteger(cfg.defaultLifetime)) errors.push(`defaultLifetime ${cfg.defaultLifetime} must be whole seconds`);
  if (!(Number.isInteger(cfg.hopLimit) && cfg.hopLimit >= 0 && cfg.hopLimit <= 255)) errors.push(`hopLimit ${cfg.hopLimit} is outside 0..255`);
  if (!(Number.isInteger(cfg.reachableTime) && cfg.reachableTime >= 0 && cfg.reachableTime <= 3_600_000)) {
    errors.push(`reachableTime ${cfg.reachableTime} ms is outside 0..3600000 ms`);
  }
  if (!(Number.isInteger(cfg.retransTimer) && cfg.retransTimer >= 0 && cfg.retransTimer <= INFINITE_LIFETIME)) {
    errors.push(`retransTimer ${cfg.retransTimer} ms is not a 32-bit count of milliseconds`);
  }
  for (const p of cfg.prefixes) {
    const name = p.prefixLen >= 0 && p.prefixLen <= 128 ? formatPrefix({ addr: maskAddress(p.prefix, p.prefixLen), len: p.prefixLen }) : 'prefix';
    if (!(Number.isInteger(p.prefixLen) && p.prefixLen >= 0 && p.prefixLen <= 128)) errors.push(`${name}: prefix length ${p.prefixLen} is outside 0..128`);
    if (!isU32(p.validLifetime) || !isU32(p.preferredLifetime)) errors.push(`${name}: lifetimes must be 32-bit counts of seconds`);
    // RFC 4862 §5.5.3 (c): hosts ignore a prefix whose preferred lifetime exceeds its valid lifetime.
    if (p.preferredLifetime > p.validLifetime) errors.push(`${name}: preferredLifetime ${p.preferredLifetime} exceeds validLifetime ${p.validLifetime}`);
  }
  if (cfg.rdnss !== undefined && (cfg.rdnss.servers.length === 0 || !isU32(cfg.rdnss.lifetime))) {
    errors.push('rdnss needs at least one server and a 32-bit lifetime (RFC 8106 §5.1)');
  }
  if (cfg.dnssl !== undefined && (cfg.dnssl.domains.length === 0 || !isU32(cfg.dnssl.lifetime))) {
    errors.push('dnssl needs at least one domain and a 32-bit lifetime (RFC 8106 §5.2)');
  }
  return errors;
}

function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= INFINITE_LIFETIME;
}

export interface RaCounters {
  /** Multicast RAs, periodic and solicited, final ones excluded. */
  raSent: number;
  /** Of raSent, those answering a solicitation. */
  raSolicitedSent: number;
  /** Router-lifetime-0 RAs of §6.2.5. */
  finalRaSent: number;
  rsReceived: number;
  /** RS from :: with a source link-layer address (§6.1.1). */
  rsInvalid: number;
  /** RS on a port that is not advertising (§6.2.6: routers answer only on advertising interfaces). */
  rsIgnored: number;
  /** RS answered by an RA already scheduled no later than the reply would go. */
  rsCoalesced: number;
  raReceived: number;
  /** RA whose source is not link-local (§6.1.2). */
  raInvalid: number;
  inconsistencies: number;
}

export interface RouterAdvertiserOptions {
  /** §6.2.7: "log this inconsistency"; `what` is a sentence naming the field, both values and the sender. */
  onInconsistency?: (port: number, what: string) => void;
}

interface PortState {
  cfg: RaConfig;
  advertising: boolean;
  /** Multicast RAs sent since the port became advertising (or was reconfigured). */
  initialSent: number;
  lastMulticastAt: number;
  unsolicitedTimer: TimerHandle | null;
  unsolicitedAt: number;
  solicitedTimer: TimerHandle | null;
}

export class RouterAdvertiser {
  readonly counters: RaCounters = {
    raSent: 0, raSolicitedSent: 0, finalRaSent: 0, rsReceived: 0, rsInvalid: 0, rsIgnored: 0, rsCoalesced: 0,
    raReceived: 0, raInvalid: 0, inconsistencies: 0,
  };
  private readonly ports = new Map<number, PortState>();
  private readonly unsubscribe: Array<() => void>;
  private readonly onInconsistency: ((port: number, what: string) => void) | undefined;

  constructor(
    private readonly ifaces: InterfaceTable,
    private readonly transport: Pick<NdTransport, 'sendNd'>,
    private readonly clock: Clock,
    private readonly rng: Rng,
    opts: RouterAdvertiserOptions = {},
  ) {
    this.onInconsistency = opts.onInconsistency;
    const refresh = (iface: RouterInterface) => this.refresh(iface.port);
    this.unsubscribe = [
      ifaces.on('link-up', refresh),
      ifaces.on('link-down', refresh),
      ifaces.on('address-state', refresh),
    ];
  }

  /**
   * (Re)configures a port in place. A port that stops advertising sends a final RA with
   * router lifetime 0 (§6.2.5); one whose advertised information changed restarts the fast
   * initial sequence, as §6.2.4 allows, so hosts learn the change quickly.
   */
  configure(port: number, cfg: RaConfig): void {
    const errors = validateRaConfig(cfg);
    if (errors.length > 0) throw new RangeError(`RA config for port ${port}: ${errors.join('; ')}`);
    if (this.ifaces.byPort(port) === undefined) throw new RangeError(`RA config for port ${port}: no such interface`);
    const state = this.ports.get(port);
    if (state === undefined) {
      this.ports.set(port, {
        cfg, advertising: false, initialSent: 0, lastMulticastAt: -Infinity,
        unsolicitedTimer: null, unsolicitedAt: Infinity, solicitedTimer: null,
      });
      this.refresh(port);
      return;
    }
    if (state.advertising && !cfg.enabled) this.cease(port, state, true);
    state.cfg = cfg;
    if (state.advertising) {
      state.initialSent = 0;
      this.scheduleUnsolicited(port, state);
    } else {
      this.refresh(port);
    }
  }

  /** §6.2.6: answer a solicitation with a multicast RA after a random delay, at most one per MIN_DELAY_BETWEEN_RAS. */
  receiveSolicitation(port: number, src: Uint8Array, msg: NdMessage): void {
    if (msg.type !== 'routerSolicitation') return;
    this.counters.rsReceived++;
    if (isUnspecified(src) && msg.options.some((o) => o.type === 'sourceLinkLayerAddress')) {
      this.counters.rsInvalid++;
      return;
    }
    const state = this.ports.get(port);
    if (state === undefined || !state.advertising) {
      this.counters.rsIgnored++;
      return;
    }
    if (state.solicitedTimer !== null) {
      this.counters.rsCoalesced++;
      return;
    }
    const now = this.clock.now();
    const delay = uniform(this.rng, 0, MAX_RA_DELAY_TIME_MS);
    // "If the router sent a multicast Router Advertisement (solicited or unsolicited) within
    // the last MIN_DELAY_BETWEEN_RAS seconds, the next multicast Router Advertisement is
    // scheduled to be sent at a time corresponding to MIN_DELAY_BETWEEN_RAS plus the random
    // value after the previous advertisement was sent."
    const minDelay = this.minDelayBetweenRas(state.cfg);
    const sendAt = now - state.lastMulticastAt < minDelay ? state.lastMulticastAt + minDelay + delay : now + delay;
    // "...if the next multicast RA is scheduled sooner than the computed time, the RS is answered by it."
    if (state.unsolicitedAt <= sendAt) {
      this.counters.rsCoalesced++;
      return;
    }
    state.solicitedTimer = this.clock.setTimer(sendAt - now, () => {
      state.solicitedTimer = null;
      this.counters.raSolicitedSent++;
      this.sendMulticast(port, state);
    });
  }

  /**
   * An RA from another router on `port` (already checked for hop limit, checksum and code).
   * §6.2.7: compare it with what this router advertises there and report disagreements.
   */
  receiveAdvertisement(port: number, src: Uint8Array, msg: NdMessage): void {
    if (msg.type !== 'routerAdvertisement') return;
    this.counters.raReceived++;
    if (!isLinkLocal(src)) {
      this.counters.raInvalid++;
      return;
    }
    const state = this.ports.get(port);
    if (state === undefined || !state.advertising) return;
    const ours = state.cfg;
    const from = formatIpv6(src);
    const report = (what: string) => {
      this.counters.inconsistencies++;
      this.onInconsistency?.(port, `${what} (RA from ${from})`);
    };
    if (msg.curHopLimit !== 0 && ours.hopLimit !== 0 && msg.curHopLimit !== ours.hopLimit) report(`CurHopLimit ${msg.curHopLimit}, ours ${ours.hopLimit}`);
    if (msg.managed !== ours.managed) report(`M flag ${msg.managed}, ours ${ours.managed}`);
    if (msg.other !== ours.other) report(`O flag ${msg.other}, ours ${ours.other}`);
    if (msg.reachableTime !== 0 && ours.reachableTime !== 0 && msg.reachableTime !== ours.reachableTime) {
      report(`ReachableTime ${msg.reachableTime} ms, ours ${ours.reachableTime} ms`);
    }
    if (msg.retransTimer !== 0 && ours.retransTimer !== 0 && msg.retransTimer !== ours.retransTimer) {
      report(`RetransTimer ${msg.retransTimer} ms, ours ${ours.retransTimer} ms`);
    }
    const iface = this.ifaces.byPort(port)!;
    for (const o of msg.options) {
      if (o.type === 'mtu' && ours.mtu && o.mtu !== iface.mtu) report(`MTU ${o.mtu}, ours ${iface.mtu}`);
      if (o.type !== 'prefixInformation') continue;
      const mine = ours.prefixes.find((p) => p.prefixLen === o.prefixLength && equalAddress(maskAddress(p.prefix, p.prefixLen), maskAddress(o.prefix, o.prefixLength)));
      if (mine === undefined) continue;
      // Our lifetimes do not count down, so any difference is an inconsistency.
      const name = formatPrefix({ addr: maskAddress(o.prefix, o.prefixLength), len: o.prefixLength });
      if (o.validLifetime !== mine.validLifetime) report(`${name} valid lifetime ${o.validLifetime} s, ours ${mine.validLifetime} s`);
      if (o.preferredLifetime !== mine.preferredLifetime) report(`${name} preferred lifetime ${o.preferredLifetime} s, ours ${mine.preferredLifetime} s`);
    }
  }

  /** A port that is being removed: a final RA if it advertised (§6.2.5), then its timers stop. */
  removePort(port: number): void {
    const state = this.ports.get(port);
    if (state === undefined) return;
    if (state.advertising) this.cease(port, state, true);
    this.ports.delete(port);
  }

  /** Sends final RAs on every advertising port (§6.2.5) and stops every timer. */
  stop(): void {
    for (const [port, state] of this.ports) if (state.advertising) this.cease(port, state, true);
    for (const fn of this.unsubscribe) fn();
    this.ports.clear();
  }

  /** The RA this router sends on `port` now: SLLA (TAP), MTU, prefixes, RDNSS, DNSSL. */
  buildAdvertisement(port: number): NdMessage {
    const state = this.ports.get(port);
    if (state === undefined) throw new RangeError(`no RA config for port ${port}`);
    return this.advertisement(port, state.cfg, state.cfg.defaultLifetime);
  }

  isAdvertising(port: number): boolean {
    return this.ports.get(port)?.advertising ?? false;
  }

  private advertisement(port: number, cfg: RaConfig, routerLifetime: number): NdMessage {
    const iface = this.ifaces.byPort(port)!;
    const options: NdOption[] = [];
    if (iface.mac !== null) options.push({ type: 'sourceLinkLayerAddress', mac: iface.mac });
    if (cfg.mtu) options.push({ type: 'mtu', mtu: iface.mtu });
    for (const p of cfg.prefixes) {
      options.push({
        type: 'prefixInformation', prefixLength: p.prefixLen, onLink: p.onLink, autonomous: p.autonomous,
        validLifetime: p.validLifetime, preferredLifetime: p.preferredLifetime, prefix: maskAddress(p.prefix, p.prefixLen),
      });
    }
    for (const r of cfg.routes ?? []) {
      options.push({ type: 'routeInformation', prefixLength: r.prefixLen, preference: r.preference, lifetime: r.lifetime, prefix: maskAddress(r.prefix, r.prefixLen) });
    }
    if (cfg.rdnss !== undefined) options.push({ type: 'rdnss', lifetime: cfg.rdnss.lifetime, servers: cfg.rdnss.servers });
    if (cfg.dnssl !== undefined) options.push({ type: 'dnssl', lifetime: cfg.dnssl.lifetime, domains: cfg.dnssl.domains });
    // RFC 4191 §2.2: a router that is not a default router (lifetime 0) sends medium.
    const preference = routerLifetime === 0 ? 'medium' : cfg.preference ?? 'medium';
    return {
      type: 'routerAdvertisement', curHopLimit: cfg.hopLimit, managed: cfg.managed, other: cfg.other, routerLifetime,
      reachableTime: cfg.reachableTime, retransTimer: cfg.retransTimer, ...(preference === 'medium' ? {} : { preference }), options,
    };
  }

  /** Starts or stops advertising on `port` to match config, link state and the link-local address's DAD state. */
  private refresh(port: number): void {
    const state = this.ports.get(port);
    if (state === undefined) return;
    const iface = this.ifaces.byPort(port)!;
    const usable = iface.up && iface.hasAddress(iface.linkLocal());
    const should = state.cfg.enabled && usable;
    if (should && !state.advertising) {
      state.advertising = true;
      state.initialSent = 0;
      this.sendMulticast(port, state);
    } else if (!should && state.advertising) {
      // With the link down or the link-local address lost there is no way to say goodbye.
      this.cease(port, state, usable);
    }
  }

  private cease(port: number, state: PortState, sendFinal: boolean): void {
    state.advertising = false;
    state.unsolicitedTimer?.cancel();
    state.unsolicitedTimer = null;
    state.unsolicitedAt = Infinity;
    state.solicitedTimer?.cancel();
    state.solicitedTimer = null;
    if (!sendFinal) return;
    this.counters.finalRaSent++;
    this.transport.sendNd(port, this.ifaces.byPort(port)!.linkLocal(), ALL_NODES, null, this.advertisement(port, state.cfg, 0));
  }

  private sendMulticast(port: number, state: PortState): void {
    state.solicitedTimer?.cancel();
    state.solicitedTimer = null;
    this.counters.raSent++;
    state.initialSent++;
    state.lastMulticastAt = this.clock.now();
    this.transport.sendNd(port, this.ifaces.byPort(port)!.linkLocal(), ALL_NODES, null, this.buildAdvertisement(port));
    this.scheduleUnsolicited(port, state);
  }

  /**
   * §6.2.4: the next unsolicited RA goes a uniform random time in [Min, Max]RtrAdvInterval
   * after any multicast RA; the first MAX_INITIAL_RTR_ADVERTISEMENTS are at most
   * MAX_INITIAL_RTR_ADVERT_INTERVAL apart.
   */
  private scheduleUnsolicited(port: number, state: PortState): void {
    let interval = uniform(this.rng, state.cfg.minInterval * 1000, state.cfg.maxInterval * 1000);
    if (state.initialSent < MAX_INITIAL_RTR_ADVERTISEMENTS) interval = Math.min(interval, MAX_INITIAL_RTR_ADVERT_INTERVAL_MS);
    state.unsolicitedTimer?.cancel();
    state.unsolicitedAt = this.clock.now() + interval;
    state.unsolicitedTimer = this.clock.setTimer(interval, () => {
      state.unsolicitedTimer = null;
      this.sendMulticast(port, state);
    });
  }

  /** RFC 6275 §7.5 lets MinDelayBetweenRAs fall below 3 s with MinRtrAdvInterval; it never exceeds the interval. */
  private minDelayBetweenRas(cfg: RaConfig): number {
    return Math.min(MIN_DELAY_BETWEEN_RAS_MS, cfg.minInterval * 1000);
  }
}
