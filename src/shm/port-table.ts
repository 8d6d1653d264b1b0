/**
 * The port table the lanes read: per port, what the forwarding stages need to know about
 * it (kind, state, MTU, MAC, the addresses to source ICMPv6 errors from). Written by the
 * control plane into a snapshot region; read by lanes through PortTableView without
 * allocation.
 *
 * Entry layout (PORT_ENTRY_BYTES each, entry i at i * PORT_ENTRY_BYTES):
 *   0  u8  kind (0 none, 1 tap, 2 tun)
 *   1  u8  flags (bit 0: up; bit 1: host port, the TUN to the appliance's own kernel stack)
 *   2  u16 mtu (little endian)
 *   4  6B  MAC (tap)
 *  16  16B link-local address
 *  32  16B error source: a global address of the port, else of the router, else link-local
 */
/** Ports a router may have: the lanes' per-port counters and tables are sized for it. */
export const MAX_PORTS = 64;

export const PORT_KIND_NONE = 0;
export const PORT_KIND_TAP = 1;
export const PORT_KIND_TUN = 2;
export const PORT_ENTRY_BYTES = 48;
export const PORT_TABLE_BYTES = PORT_ENTRY_BYTES * MAX_PORTS;

const OFF_KIND = 0;
const OFF_FLAGS = 1;
const OFF_MTU = 2;
const OFF_MAC = 4;
const OFF_LINK_LOCAL = 16;
const OFF_ERROR_SOURCE = 32;

export interface PortEntry {
  readonly port: number;
  readonly kind: 'tap' | 'tun';
  readonly up: boolean;
  /** The host TUN (t6host): packets from it are the router's own, not forwarded ones. */
  readonly host?: boolean;
  /** The lanes send ICMPv6 Redirects from this port (RFC 4861 §8.2). */
  readonly redirects?: boolean;
  readonly mtu: number;
  readonly mac: Uint8Array | null;
  readonly linkLocal: Uint8Array;
  readonly errorSource: Uint8Array;
}

export function encodePortTable(entries: readonly PortEntry[], dst: Uint8Array): number {
  dst.fill(0, 0, PORT_TABLE_BYTES);
  for (const e of entries) {
    if (e.port < 0 || e.port >= MAX_PORTS) throw new RangeError(`port ${e.port} out of range`);
    const o = e.port * PORT_ENTRY_BYTES;
    dst[o + OFF_KIND] = e.kind === 'tap' ? PORT_KIND_TAP : PORT_KIND_TUN;
    dst[o + OFF_FLAGS] = (e.up ? 1 : 0) | (e.host ? 2 : 0) | (e.redirects ? 4 : 0);
    dst[o + OFF_MTU] = e.mtu & 0xff;
    dst[o + OFF_MTU + 1] = e.mtu >> 8;
    if (e.mac) dst.set(e.mac, o + OFF_MAC);
    dst.set(e.linkLocal, o + OFF_LINK_LOCAL);
    dst.set(e.errorSource, o + OFF_ERROR_SOURCE);
  }
  return PORT_TABLE_BYTES;
}

/** Lane-side accessors; `bind` is called when the snapshot generation changes. */
export class PortTableView {
  bytes: Uint8Array = new Uint8Array(PORT_TABLE_BYTES);
  base = 0;

  /**
   * A fixed-length view of the table at bind time (once per port-table generation): per-packet
   * reads through a view over a growable SharedArrayBuffer re-check its length every time.
   */
  bind(bytes: Uint8Array, offset: number): void {
    this.bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.base = offset;
  }
  kind(port: number): number {
    return port >= 0 && port < MAX_PORTS ? this.bytes[this.base + port * PORT_ENTRY_BYTES + OFF_KIND]! : PORT_KIND_NONE;
  }
  isUp(port: number): boolean {
    return (this.bytes[this.base + port * PORT_ENTRY_BYTES + OFF_FLAGS]! & 1) === 1;
  }
  isHost(port: number): boolean {
    return (this.bytes[this.base + port * PORT_ENTRY_BYTES + OFF_FLAGS]! & 2) === 2;
  }
  redirects(port: number): boolean {
    return (this.bytes[this.base + port * PORT_ENTRY_BYTES + OFF_FLAGS]! & 4) === 4;
  }
  mtu(port: number): number {
    const o = this.base + port * PORT_ENTRY_BYTES + OFF_MTU;
    return this.bytes[o]! | (this.bytes[o + 1]! << 8);
  }
  /** Byte offset of the port's MAC in `bytes`. */
  macOffset(port: number): number {
    return this.base + port * PORT_ENTRY_BYTES + OFF_MAC;
  }
  linkLocalOffset(port: number): number {
    return this.base + port * PORT_ENTRY_BYTES + OFF_LINK_LOCAL;
  }
  errorSourceOffset(port: number): number {
    return this.base + port * PORT_ENTRY_BYTES + OFF_ERROR_SOURCE;
  }
}
