/**
 * A recording Datapath for stack tests: it keeps every injected packet and every published
 * table, and delivers punts to the stack as a lane's punt ring would (a private copy each).
 */
import type { Datapath, NeighborSnapshotEntry, PuntHandler } from '../../src/shm/datapath.js';
import type { PortEntry } from '../../src/shm/port-table.js';
import type { GroupEntry } from '../../src/shm/groups.js';
import { FibView, encodeFib, fibByteLength, type FibNexthop, type FibRoute } from '../../src/shm/fib.js';

export interface Injected {
  readonly port: number;
  readonly flags: number;
  readonly data: Uint8Array;
}

export interface PublishedFib {
  readonly routes: readonly FibRoute[];
  readonly nexthops: readonly FibNexthop[];
}

export class FakeDatapath implements Datapath {
  readonly injected: Injected[] = [];
  readonly fibs: PublishedFib[] = [];
  readonly neighborTables: NeighborSnapshotEntry[][] = [];
  readonly portTables: PortEntry[][] = [];
  readonly groupTables: GroupEntry[][] = [];
  /** While true, inject() reports a full ring. */
  ringFull = false;
  private handler: PuntHandler | null = null;

  inject(port: number, flags: number, data: Uint8Array): boolean {
    if (this.ringFull) return false;
    this.injected.push({ port, flags, data: data.slice() });
    return true;
  }

  publishFib(routes: readonly FibRoute[], nexthops: readonly FibNexthop[]): void {
    this.fibs.push({ routes: [...routes], nexthops: [...nexthops] });
  }

  publishNeighbors(entries: readonly NeighborSnapshotEntry[]): void {
    this.neighborTables.push([...entries]);
  }

  publishPorts(entries: readonly PortEntry[]): void {
    this.portTables.push([...entries]);
  }

  publishGroups(entries: readonly GroupEntry[]): void {
    this.groupTables.push([...entries]);
  }

  onPunt(handler: PuntHandler): void {
    this.handler = handler;
  }

  /** Hands the stack a packet as a lane would punt it. */
  punt(packet: Uint8Array, ingressPort: number, flags: number, aux = -1): void {
    if (this.handler === null) throw new Error('no punt handler registered: construct the Stack first');
    this.handler(packet.slice(), ingressPort, flags, aux);
  }

  /** Removes and returns what was injected since the last call. */
  take(): Injected[] {
    return this.injected.splice(0);
  }

  lastFib(): PublishedFib {
    const fib = this.fibs.at(-1);
    if (fib === undefined) throw new Error('no FIB was published');
    return fib;
  }

  lastNeighbors(): NeighborSnapshotEntry[] {
    const table = this.neighborTables.at(-1);
    if (table === undefined) throw new Error('no neighbour table was published');
    return table;
  }

  lastPorts(): PortEntry[] {
    const table = this.portTables.at(-1);
    if (table === undefined) throw new Error('no port table was published');
    return table;
  }

  /** The last published FIB, encoded and bound as a lane reads it. */
  fibView(): FibView {
    const { routes, nexthops } = this.lastFib();
    const bytes = new Uint8Array(fibByteLength(routes, nexthops));
    encodeFib(routes, nexthops, bytes);
    const view = new FibView();
    view.bind(bytes, 0);
    return view;
  }
}
