/**
 * Router ports and the addresses assigned to them.
 *
 * Scope zones (RFC 4007 §6): a link-local address means nothing without the port it lives
 * on, so every lookup that can meet a link-local address is keyed by port as well. Each
 * port gets its link-local address automatically when it is added: the modified EUI-64
 * identifier of its MAC on a TAP (RFC 4291 Appendix A), and on a TUN, which has no MAC, a
 * stable identifier hashed from the port name (in the spirit of RFC 7217), so the address
 * survives restarts and neighbours' caches and routes stay valid.
 */
import { createHash } from 'node:crypto';
import { equalAddress, isLinkLocal, linkLocalFromMac, maskAddress, prefixMatch, type Prefix } from '../lib/addr.js';
import { MAX_PORTS } from '../shm/port-table.js';

/**
 * `tentative` until Duplicate Address Detection finishes (RFC 4862 §5.4): a tentative address
 * is not yet assigned, so it is never used as a source and only ND may mention it.
 */
export type AddressState = 'tentative' | 'preferred' | 'duplicate';
export type AddressOrigin = 'config' | 'link-local' | 'dhcpv6' | 'slaac';

export interface InterfaceAddress {
  readonly addr: Uint8Array;
  readonly prefixLen: number;
  state: AddressState;
  readonly origin: AddressOrigin;
}

export interface InterfaceConfig {
  readonly name: string;
  /** The index lanes and tables use for this port, 0..63. */
  readonly port: number;
  readonly kind: 'tap' | 'tun';
  /** Required for a TAP; ignored for a TUN. */
  readonly mac?: Uint8Array | null;
  readonly mtu?: number;
  readonly up?: boolean;
  /** State of the automatic link-local address; `tentative` (the default) means the stack runs DAD on it. */
  readonly linkLocalState?: AddressState;
}

/** One router port per lane port slot (src/dataplane/counters.ts sizes the tables). */
export { MAX_PORTS };
/** RFC 8200 §5: every IPv6 link carries at least 1280 octets; 1500 is Ethernet's (RFC 2464 §2). */
export const MIN_IPV6_MTU = 1280;
export const DEFAULT_MTU = 1500;

/** One router port. */
export class RouterInterface {
  readonly name: string;
  readonly port: number;
  readonly kind: 'tap' | 'tun';
  mac: Uint8Array | null;
  mtu: number;
  up: boolean;
  readonly addresses: InterfaceAddress[] = [];

  constructor(cfg: InterfaceConfig) {
    this.name = cfg.name;
    this.port = cfg.port;
    this.kind = cfg.kind;
    this.mac = cfg.kind === 'tap' ? Uint8Array.from(cfg.mac!) : null;
    this.mtu = cfg.mtu ?? DEFAULT_MTU;
    this.up = cfg.up ?? true;
  }

  /** The port's automatic link-local address, whatever its DAD state. */
  linkLocal(): Uint8Array {
    return this.addresses.find((a) => a.origin === 'link-local')!.addr;
  }

  findAddress(addr: Uint8Array): InterfaceAddress | undefined {
    return this.addresses.find((a) => equalAddress(a.addr, addr));
  }

  /**
   * True when `addr` is assigned here. Tentative addresses are not assigned (RFC 4862 §5.4:
   * packets to them are dropped, except the ND messages DAD needs), nor are duplicates.
   */
  hasAddress(addr: Uint8Array): boolean {
    return this.findAddress(addr)?.state === 'preferred';
  }

  /** The first preferred address wider than link-local scope, or null. */
  globalAddress(): Uint8Array | null {
    return this.addresses.find((a) => a.state === 'preferred' && !isLinkLocal(a.addr))?.addr ?? null;
  }

  /**
   * The source for a packet this router originates to `dst` on this port: the link-local
   * address for link-local destinations, else a preferred address on the destination's
   * prefix, else any preferred global one (a reduced RFC 6724 §5: same scope, then longest
   * match). Falls back to the link-local address so that ND keeps working while DAD runs.
   */
  sourceAddressFor(dst: Uint8Array): Uint8Array {
    if (!isLinkLocal(dst)) {
      const onPrefix = this.addresses.find(
        (a) => a.state === 'preferred' && !isLinkLocal(a.addr) && prefixMatch(a.addr, 0, dst, 0, a.prefixLen),
      );
      const chosen = onPrefix?.addr ?? this.globalAddress();
      if (chosen !== null) return chosen;
    }
    return this.linkLocal();
  }

  /**
   * The Subnet-Router anycast address of each on-link prefix (RFC 4291 §2.6.1: the prefix
   * with an all-zero interface identifier), which every router on the link answers to. None
   * for a /127 (RFC 6164 §6), nor where that address is assigned here as a unicast one.
   */
  subnetAnycast(): Uint8Array[] {
    return this.onLinkPrefixes()
      .filter((p) => p.len < 127 && this.findAddress(p.addr) === undefined)
      .map((p) => p.addr);
  }

  isSubnetAnycast(addr: Uint8Array): boolean {
    return this.subnetAnycast().some((a) => equalAddress(a, addr));
  }

  /** Prefixes of the preferred non-link-local addresses, host bits cleared, without repeats; /128s are not prefixes. */
  onLinkPrefixes(): Prefix[] {
    const out: Prefix[] = [];
    for (const a of this.addresses) {
      if (a.state !== 'preferred' || isLinkLocal(a.addr) || a.prefixLen >= 128) continue;
      const masked = maskAddress(a.addr, a.prefixLen);
      if (!out.some((p) => p.len === a.prefixLen && equalAddress(p.addr, masked))) out.push({ addr: masked, len: a.prefixLen });
    }
    return out;
  }
}

export interface InterfaceEvents {
  'address-added': (iface: RouterInterface, address: InterfaceAddress) => void;
  'address-removed': (iface: RouterInterface, address: InterfaceAddress) => void;
  /** DAD finished: the address went tentative → preferred or → duplicate. */
  'address-state': (iface: RouterInterface, address: InterfaceAddress) => void;
  'link-up': (iface: RouterInterface) => void;
  'link-down': (iface: RouterInterface) => void;
}

/** The stable interface identifier of a TUN port: the first 64 bits of SHA-256 over its name, with the u bit clear (RFC 4291 App. A: local scope). */
export function tunLinkLocal(name: string): Uint8Array {
  const digest = createHash('sha256').update(`turtle6 link-local ${name}`).digest();
  const out = new Uint8Array(16);
  out[0] = 0xfe;
  out[1] = 0x80;
  out.set(digest.subarray(0, 8), 8);
  out[8] = out[8]! & ~0x02;
  return out;
}

export class InterfaceTable {
  private readonly byPortIndex: Array<RouterInterface | undefined> = new Array(MAX_PORTS);
  private readonly listeners: { [K in keyof InterfaceEvents]: Array<InterfaceEvents[K]> } = {
    'address-added': [],
    'address-removed': [],
    'address-state': [],
    'link-up': [],
    'link-down': [],
  };

  /** Adds a port with its automatic link-local address; throws on a bad or repeated port or name. */
  add(cfg: InterfaceConfig): RouterInterface {
    if (!Number.isInteger(cfg.port) || cfg.port < 0 || cfg.port >= MAX_PORTS) {
      throw new RangeError(`interface ${cfg.name}: port ${cfg.port} is outside 0..${MAX_PORTS - 1}`);
    }
    if (this.byPortIndex[cfg.port] !== undefined) throw new RangeError(`interface ${cfg.name}: port ${cfg.port} is already used`);
    if (this.byName(cfg.name) !== undefined) throw new RangeError(`interface ${cfg.name} already exists`);
    if (cfg.kind === 'tap' && (cfg.mac === undefined || cfg.mac === null || cfg.mac.length !== 6)) {
      throw new RangeError(`interface ${cfg.name}: a tap port needs a 6-byte MAC`);
    }
    if (cfg.mtu !== undefined && cfg.mtu < MIN_IPV6_MTU) throw new RangeError(`interface ${cfg.name}: MTU ${cfg.mtu} is below ${MIN_IPV6_MTU} (RFC 8200 §5)`);
    const iface = new RouterInterface(cfg);
    this.byPortIndex[cfg.port] = iface;
    const ll = iface.kind === 'tap' ? linkLocalFromMac(iface.mac!) : tunLinkLocal(iface.name);
    this.addAddress(iface.port, ll, 64, 'link-local', cfg.linkLocalState ?? 'tentative');
    return iface;
  }

  /**
   * Removes a port: its addresses go first, each with its 'address-removed' event, so that
   * whoever keeps state per address (DAD runs, the host port's addresses) lets go of it.
   */
  remove(port: number): void {
    const iface = this.requirePort(port);
    for (const address of iface.addresses.splice(0)) this.emit('address-removed', iface, address);
    this.byPortIndex[port] = undefined;
  }

  byName(name: string): RouterInterface | undefined {
    return this.byPortIndex.find((i) => i?.name === name);
  }

  byPort(port: number): RouterInterface | undefined {
    return this.byPortIndex[port];
  }

  all(): RouterInterface[] {
    return this.byPortIndex.filter((i): i is RouterInterface => i !== undefined);
  }

  /** Subscribes to an event; returns the function that unsubscribes. */
  on<K extends keyof InterfaceEvents>(event: K, fn: InterfaceEvents[K]): () => void {
    const list = this.listeners[event] as Array<InterfaceEvents[K]>;
    list.push(fn);
    return () => {
      const at = list.indexOf(fn);
      if (at >= 0) list.splice(at, 1);
    };
  }

  /**
   * Assigns an address. New addresses start `tentative` so that the stack runs DAD on them
   * (RFC 4862 §5.4: "MUST be performed on all unicast addresses prior to assigning them").
   */
  addAddress(port: number, addr: Uint8Array, prefixLen: number, origin: AddressOrigin, state: AddressState = 'tentative'): InterfaceAddress {
    const iface = this.requirePort(port);
    if (addr.length !== 16 || !Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > 128) {
      throw new RangeError(`interface ${iface.name}: bad address or prefix length ${prefixLen}`);
    }
    if (iface.findAddress(addr) !== undefined) throw new RangeError(`interface ${iface.name}: address already assigned`);
    const address: InterfaceAddress = { addr: Uint8Array.from(addr), prefixLen, state, origin };
    iface.addresses.push(address);
    this.emit('address-added', iface, address);
    return address;
  }

  /** Removes an address; the automatic link-local one stays for the life of the port. */
  removeAddress(port: number, addr: Uint8Array): boolean {
    const iface = this.requirePort(port);
    const at = iface.addresses.findIndex((a) => equalAddress(a.addr, addr) && a.origin !== 'link-local');
    if (at < 0) return false;
    const [address] = iface.addresses.splice(at, 1);
    this.emit('address-removed', iface, address!);
    return true;
  }

  /** Records a DAD outcome (RFC 4862 §5.4.5) and tells subscribers. */
  setAddressState(port: number, addr: Uint8Array, state: AddressState): void {
    const iface = this.requirePort(port);
    const address = iface.findAddress(addr);
    if (address === undefined || address.state === state) return;
    address.state = state;
    this.emit('address-state', iface, address);
  }

  setLinkUp(port: number, up: boolean): void {
    const iface = this.requirePort(port);
    if (iface.up === up) return;
    iface.up = up;
    if (up) this.emit('link-up', iface);
    else this.emit('link-down', iface);
  }

  private requirePort(port: number): RouterInterface {
    const iface = this.byPortIndex[port];
    if (iface === undefined) throw new RangeError(`no interface on port ${port}`);
    return iface;
  }

  private emit<K extends keyof InterfaceEvents>(event: K, ...args: Parameters<InterfaceEvents[K]>): void {
    // A copy, so that a listener may unsubscribe itself while being called.
    for (const fn of [...this.listeners[event]]) (fn as (...a: Parameters<InterfaceEvents[K]>) => void)(...args);
  }
}
