/**
 * RFC 4861 §7.2.2: while a next hop is being resolved, a node queues only a few packets for
 * it. The queue lives in the control plane (nd.queueLimit); this throttle keeps a lane from
 * punting more than that can use: at most RESOLVE_BURST packets per next hop per
 * RESOLVE_WINDOW_MS are handed over, the rest are dropped and counted
 * (`neighbor_unresolved`). Without it a flood towards an unresolved neighbour fills the punt
 * ring, and the ND messages that would resolve it wait behind the flood.
 *
 * A direct-mapped table keyed by (port, next-hop address): a collision only costs an extra
 * punt. No allocation per packet.
 */
export const RESOLVE_BURST = 8;
export const RESOLVE_WINDOW_MS = 1000;
const ENTRIES = 256;

export class ResolveThrottle {
  private readonly addrs = new Uint8Array(ENTRIES * 16);
  private readonly ports = new Int32Array(ENTRIES).fill(-1);
  private readonly counts = new Int32Array(ENTRIES);
  private readonly since = new Float64Array(ENTRIES);

  /** True when a packet for next hop (port, addr at bytes[off]) may be punted for resolution. */
  admit(port: number, bytes: Uint8Array, off: number, now: number): boolean {
    const h = ((port * 2654435761) ^ (bytes[off + 13]! << 16) ^ (bytes[off + 14]! << 8) ^ bytes[off + 15]!) & (ENTRIES - 1);
    const base = h * 16;
    let same = this.ports[h] === port && now - this.since[h]! < RESOLVE_WINDOW_MS;
    for (let i = 0; same && i < 16; i++) if (this.addrs[base + i] !== bytes[off + i]) same = false;
    if (same) {
      if (this.counts[h]! >= RESOLVE_BURST) return false;
      this.counts[h]!++;
      return true;
    }
    for (let i = 0; i < 16; i++) this.addrs[base + i] = bytes[off + i]!;
    this.ports[h] = port;
    this.counts[h] = 1;
    this.since[h] = now;
    return true;
  }
}
