/**
 * What the stack needs from the data plane, as an interface: the lanes in production
 * (dataplane/lanes.ts), a recording fake in unit tests. The stack is the only writer of the
 * tables the lanes read; it never touches lane memory except through this.
 */
import type { FibNexthop, FibRoute } from './fib.js';
import type { PortEntry } from './port-table.js';
import type { IpsecState, PolicyRecord, SaRecord } from './ipsec-tables.js';
import type { GroupEntry } from './groups.js';
import type { MfcEntry } from './mfc.js';

export interface NeighborSnapshotEntry {
  readonly port: number;
  readonly addr: Uint8Array;
  readonly mac: Uint8Array;
  readonly state: number; // NBR_* from shm/neighbors.ts
}

export type PuntHandler = (packet: Uint8Array, ingressPort: number, flags: number, aux: number) => void;

export interface Datapath {
  /** Queues a packet for a lane to send (flags: INJECT_RAW or INJECT_ROUTE). False when the ring is full. */
  inject(port: number, flags: number, data: Uint8Array): boolean;
  publishFib(routes: readonly FibRoute[], nexthops: readonly FibNexthop[]): void;
  publishNeighbors(entries: readonly NeighborSnapshotEntry[]): void;
  publishPorts(entries: readonly PortEntry[]): void;
  /** The groups the router listens to, per port: the lanes drop multicast for others (shm/groups.ts). */
  publishGroups(entries: readonly GroupEntry[]): void;
  /** Registers the receiver of punted packets (one; the stack). The packet is a private copy. */
  onPunt(handler: PuntHandler): void;
  /** The ESP tables, when this data path runs ESP (the lanes do; recording fakes may not). */
  readonly ipsec?: IpsecDatapath;
  /** The multicast forwarding cache, when this data path forwards multicast (the lanes do). */
  readonly multicast?: MulticastDatapath;
}

/**
 * An MFC counter slot's totals, summed over the lanes. They only grow: a caller that gives a
 * slot to another entry keeps the totals it had then as that entry's zero.
 */
export interface MfcCounters {
  readonly packets: number;
  readonly bytes: number;
  readonly wrongPort: number;
}

/** The MFC side of the data path (shm/mfc.ts): the table the control plane publishes, and the counters the lanes keep per entry. */
export interface MulticastDatapath {
  publishMfc(entries: readonly MfcEntry[]): void;
  /** The counters of counter slot `slot` (MfcEntry.counter), summed over the lanes. */
  mfcCounters(slot: number): MfcCounters;
}

/**
 * The SPD/SAD side of the data path (shm/ipsec-tables.ts): a snapshot the control plane
 * publishes, and the per-SA state block the lanes write and the control plane reads
 * (sequence numbers, counters, bytes for lifetimes).
 */
export interface IpsecDatapath {
  /** How many lanes there are: an SA's home lane is chosen among them. */
  readonly lanes: number;
  readonly state: IpsecState;
  publishIpsec(sas: readonly SaRecord[], policies: readonly PolicyRecord[]): void;
  /** The generation of the IPsec tables published last (shm/snapshot.ts). */
  ipsecGeneration(): number;
  /**
   * True once every lane has moved past IPsec table `generation`: none reads it or an older
   * one, nor ever will again (SnapshotWriter.readersPast). A state slot that only such
   * generations name may then serve a new SA (ipsec/model.ts, SaSlots).
   */
  lanesPast(generation: number): boolean;
}
