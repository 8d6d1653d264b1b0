/**
 * The group filter the lanes read: per port, the multicast groups the router listens to there
 * (all-nodes and all-routers, RFC 4291 §2.7.1; the solicited-node group of each address,
 * RFC 4861 §7.2.1; the groups modules joined through StackApi.joinGroup). A multicast packet
 * for a group not in it, with no forwarding entry (shm/mfc.ts), is dropped in the lane and
 * never copied to the control plane (docs/multicast.md).
 *
 * Its key is the neighbour table's, (port, 16-byte address), so it is that table's encoding
 * (shm/neighbors.ts: open addressing, load ≤ 1/2) with the MAC and state unused: one hash
 * table implementation for both, and a lookup that allocates nothing.
 */
import { encodeNeighbors, neighborsByteLength, NeighborView, type NeighborEntry } from './neighbors.js';

export interface GroupEntry {
  readonly port: number;
  /** The 16-byte group address. */
  readonly group: Uint8Array;
}

const NO_MAC = new Uint8Array(6);
/** The state word of a listened group (any non-zero value: the neighbour encoding's entry). */
const LISTENED = 1;

function asNeighbors(entries: readonly GroupEntry[]): NeighborEntry[] {
  return entries.map((e) => ({ port: e.port, addr: e.group, mac: NO_MAC, state: LISTENED }));
}

export function groupsByteLength(entries: readonly GroupEntry[]): number {
  return neighborsByteLength(asNeighbors(entries));
}

/** Encodes the filter into `dst` (4-byte aligned, groupsByteLength bytes); returns the bytes written. */
export function encodeGroups(entries: readonly GroupEntry[], dst: Uint8Array): number {
  return encodeNeighbors(asNeighbors(entries), dst);
}

/** Lane-side view of the group filter. */
export class GroupView {
  private readonly table = new NeighborView();

  bind(bytes: Uint8Array, offset: number): void {
    this.table.bind(bytes, offset);
  }

  /** True when the router listens on `port` to the group at pkt[groupOffset]. No allocation. */
  listens(port: number, pkt: Uint8Array, groupOffset: number): boolean {
    return this.table.lookup(port, pkt, groupOffset) >= 0;
  }

  count(): number {
    return this.table.count();
  }
}
