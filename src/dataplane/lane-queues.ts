/**
 * Which queue fd of which port each lane holds, in one SharedArrayBuffer: a row of MAX_PORTS
 * Int32 fds per lane (-1: none). The main thread writes a row and bumps the lane's
 * CTRL_QUEUES_GENERATION; the lane, between two batches, opens and closes ports in its
 * engine until it holds exactly its row, then stores the generation it applied in
 * CTRL_QUEUES_ACK. A lane (re)started later reads its row whole. So ports come and go while
 * the lanes run (a reload adding or removing a port), and the main thread closes a removed
 * port's fds only once every running lane acknowledged that it no longer reads or writes them.
 */
import { MAX_PORTS } from '../shm/port-table.js';
import type { IoEngine } from '../io/engine.js';
import { CTRL_QUEUES_ACK, CTRL_QUEUES_GENERATION } from './lane-control.js';

const NONE = -1;

export function queueTableBytes(lanes: number): number {
  return lanes * MAX_PORTS * 4;
}

function row(table: SharedArrayBuffer, lane: number): Int32Array {
  return new Int32Array(table, lane * MAX_PORTS * 4, MAX_PORTS);
}

/** The main thread's side. */
export class QueueTable {
  readonly sab: SharedArrayBuffer;
  private readonly rows: Int32Array[] = [];

  constructor(lanes: number) {
    this.sab = new SharedArrayBuffer(queueTableBytes(lanes));
    for (let lane = 0; lane < lanes; lane++) this.rows.push(row(this.sab, lane).fill(NONE));
  }

  /** Sets lane `lane`'s fd of `port` (null: none) and bumps the lane's generation; returns it. */
  set(ctl: Int32Array, lane: number, port: number, fd: number | null): number {
    Atomics.store(this.rows[lane]!, port, fd ?? NONE);
    return Atomics.add(ctl, CTRL_QUEUES_GENERATION, 1) + 1;
  }

  /** How many ports lane `lane` is to hold. */
  count(lane: number): number {
    let n = 0;
    for (const fd of this.rows[lane]!) if (fd !== NONE) n++;
    return n;
  }
}

/** True once the lane applied generation `generation` or a later one (the words wrap as int32). */
export function queuesApplied(ctl: Int32Array, generation: number): boolean {
  return ((Atomics.load(ctl, CTRL_QUEUES_ACK) - generation) | 0) >= 0;
}

/** The lane's side: what its engine holds, brought in line with its row between batches. */
export class LaneQueues {
  private readonly wanted: Int32Array;
  private readonly held = new Int32Array(MAX_PORTS).fill(NONE);
  private seen: number;

  constructor(table: SharedArrayBuffer, lane: number, private readonly ctl: Int32Array, private readonly engine: IoEngine) {
    this.wanted = row(table, lane);
    // Below any generation, so the first sync() reads the whole row.
    this.seen = Atomics.load(ctl, CTRL_QUEUES_GENERATION) - 1;
  }

  /** Called between batches: one Atomics.load when nothing changed. */
  sync(): void {
    const generation = Atomics.load(this.ctl, CTRL_QUEUES_GENERATION);
    if (generation === this.seen) return;
    // The generation is read before the row: a change written after this read bumps it again.
    for (let port = 0; port < MAX_PORTS; port++) {
      const fd = Atomics.load(this.wanted, port);
      if (fd === this.held[port]) continue;
      if (this.held[port] !== NONE) this.engine.removePort(port);
      if (fd !== NONE) this.engine.addPort(port, fd);
      this.held[port] = fd;
    }
    this.seen = generation;
    Atomics.store(this.ctl, CTRL_QUEUES_ACK, generation);
  }
}
