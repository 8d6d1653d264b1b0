/**
 * The lane's thread: a piscina worker that runs one long task — the lane loop — until the
 * main thread says stop. piscina starts the thread and replaces it if it dies; the main
 * thread then submits the same LaneTask again (lanes.ts).
 */
import { threadId } from 'node:worker_threads';
import { PacketPool } from '../shm/pool.js';
import { SpscRing } from '../shm/ring.js';
import { SnapshotReader } from '../shm/snapshot.js';
import { FibView } from '../shm/fib.js';
import { NeighborView } from '../shm/neighbors.js';
import { IpsecState, IpsecView } from '../shm/ipsec-tables.js';
import { createEngine } from '../io/engine.js';
import { Lane, type LaneHandover, type LaneTables } from './lane.js';
import { EspStage } from './esp.js';
import { PortTableView } from '../shm/port-table.js';
import { GroupView } from '../shm/groups.js';
import { MfcView } from '../shm/mfc.js';
import { handoverOffset, HANDOVER_CAPACITY, injectRingOffset, puntRingOffset, ringDataBytes, traceRingOffset, type LaneTask } from './lane-task.js';
import { TRACE_ENTRY_BYTES, TRACE_RING_CAPACITY } from './trace.js';
import { LaneQueues } from './lane-queues.js';
import {
  CMD_CRASH,
  CMD_STOP,
  CMD_WEDGE,
  CTRL_COMMAND,
  CTRL_STARTS,
  CTRL_ICMP_BURST,
  CTRL_ICMP_GENERATION,
  CTRL_ICMP_RATE_MILLI,
  CTRL_STATE,
  CTRL_THREAD_ID,
  STATE_RUNNING,
  STATE_STOPPED,
  controlView,
  publishEngineHandle,
  publishWakeFd,
  retireEngineHandle,
  retireWakeFd,
  wakeLane,
} from './lane-control.js';

/**
 * How long an idle lane sleeps before it looks at its control word again; also how often an
 * idle lane's heartbeat moves, which the main thread's watchdog expects well within its 3 s.
 */
const IDLE_WAIT_MS = 100;

/**
 * Table views rebound when the control plane publishes a new generation. The ESP stage is
 * attached to the lane only while the SPD or SAD holds anything, so a router without IPsec
 * runs the lane without it (and ESP addressed to it is punted like any other protocol).
 */
class SnapshotTables implements LaneTables {
  readonly fib = new FibView();
  readonly neighbors = new NeighborView();
  readonly ports = new PortTableView();
  readonly groups = new GroupView();
  readonly mfc = new MfcView();
  private readonly ipsec = new IpsecView();
  private readonly esp: EspStage;
  private lane: Lane | null = null;
  private readonly readers: SnapshotReader[];

  constructor(task: LaneTask) {
    this.readers = [
      new SnapshotReader(task.fib, task.lane),
      new SnapshotReader(task.neighbors, task.lane),
      new SnapshotReader(task.ports, task.lane),
      new SnapshotReader(task.ipsec, task.lane),
      new SnapshotReader(task.groups, task.lane),
      new SnapshotReader(task.mfc, task.lane),
    ];
    this.esp = new EspStage(new IpsecState(task.ipsecState), task.lane);
  }

  /** The lane whose ESP stage follows the IPsec snapshot; binds the current one. */
  attach(lane: Lane): void {
    this.lane = lane;
    this.bindIpsec();
  }

  private bindIpsec(): void {
    // Binding builds cipher state for new SAs: once per table generation, never per packet.
    this.esp.bind(this.ipsec);
    const any = this.ipsec.saCount > 0 || this.ipsec.policyCount > 0;
    this.lane?.setEsp(any ? this.esp : null);
  }

  beforeWait(): void {
    for (const r of this.readers) r.idle();
  }

  refresh(): void {
    const [fib, nbr, ports, ipsec, groups, mfc] = this.readers as [SnapshotReader, SnapshotReader, SnapshotReader, SnapshotReader, SnapshotReader, SnapshotReader];
    if (fib.acquire()) this.fib.bind(fib.bytes, 0);
    if (nbr.acquire()) this.neighbors.bind(nbr.bytes, 0);
    if (ports.acquire()) this.ports.bind(ports.bytes, 0);
    if (groups.acquire()) this.groups.bind(groups.bytes, 0);
    if (mfc.acquire()) this.mfc.bind(mfc.bytes, 0);
    if (ipsec.acquire()) {
      this.ipsec.bind(ipsec.bytes, 0);
      this.bindIpsec();
    }
  }
}

/** This lane's ends of the hand-over rings: it produces into [lane][j] and consumes [j][lane]. */
function handoverRings(task: LaneTask, handover: SharedArrayBuffer): LaneHandover {
  const to: (SpscRing | null)[] = [];
  const from: SpscRing[] = [];
  const ringData = ringDataBytes(task.slotBytes);
  const controls: Int32Array[] = [];
  for (let j = 0; j < task.lanes; j++) {
    controls.push(controlView(task.control, j));
    to.push(j === task.lane ? null : new SpscRing(handover, handoverOffset(task.lanes, task.slotBytes, task.lane, j), HANDOVER_CAPACITY, ringData, false));
    if (j !== task.lane) from.push(new SpscRing(handover, handoverOffset(task.lanes, task.slotBytes, j, task.lane), HANDOVER_CAPACITY, ringData, false));
  }
  return {
    lane: task.lane,
    to,
    from,
    wake: (j) => wakeLane(controls[j]!),
  };
}

export default function runLane(task: LaneTask): string {
  const ctl = controlView(task.control, task.lane);
  Atomics.add(ctl, CTRL_STARTS, 1);
  Atomics.store(ctl, CTRL_THREAD_ID, threadId);
  const pool = new PacketPool(task.memory, task.poolSlots, task.slotBytes, true);
  const ringData = ringDataBytes(task.slotBytes);
  const punt = new SpscRing(task.memory, puntRingOffset(task), task.ringCapacity, ringData, false);
  const inject = new SpscRing(task.memory, injectRingOffset(task), task.ringCapacity, ringData, false);
  const traceRing = new SpscRing(task.memory, traceRingOffset(task), TRACE_RING_CAPACITY, TRACE_ENTRY_BYTES, false);
  const engine = createEngine(task.io, pool);
  // What the engine holds is published at once: if this thread dies without release() (the
  // watchdog terminates it), the main thread releases both once the thread has exited.
  publishEngineHandle(ctl, engine.nativeHandle);
  publishWakeFd(ctl, engine.wakeFd);
  // Unpublish before closing, so the main thread never closes a number reused since.
  const release = (): void => {
    Atomics.store(ctl, CTRL_STATE, STATE_STOPPED);
    retireEngineHandle(ctl);
    retireWakeFd(ctl);
    engine.close();
  };
  // process.exit() in this thread (CMD_CRASH, or any library's) runs 'exit' listeners, not finally blocks.
  process.once('exit', release);
  try {
    const queues = new LaneQueues(task.queues, task.lane, ctl, engine);
    queues.sync();
    const tables = new SnapshotTables(task);
    tables.refresh();
    const lane = new Lane(pool, engine, punt, inject, new Float64Array(task.counters), tables, {
      batch: task.batch,
      icmpRate: Atomics.load(ctl, CTRL_ICMP_RATE_MILLI) / 1000,
      icmpBurst: Atomics.load(ctl, CTRL_ICMP_BURST),
      policing: new Int32Array(task.policing),
      now: () => performance.now(),
    }, { control: new Int32Array(task.trace), ring: traceRing });
    tables.attach(lane);
    if (task.handover !== null) lane.setHandover(handoverRings(task, task.handover));
    Atomics.store(ctl, CTRL_STATE, STATE_RUNNING);
    let icmpGeneration = Atomics.load(ctl, CTRL_ICMP_GENERATION);
    for (;;) {
      const cmd = Atomics.load(ctl, CTRL_COMMAND);
      if (Atomics.load(ctl, CTRL_ICMP_GENERATION) !== icmpGeneration) {
        icmpGeneration = Atomics.load(ctl, CTRL_ICMP_GENERATION);
        lane.reconfigureIcmp(Atomics.load(ctl, CTRL_ICMP_RATE_MILLI) / 1000, Atomics.load(ctl, CTRL_ICMP_BURST));
      }
      if (cmd === CMD_STOP) break;
      // Ports added or removed by a reload: between batches, so no frame of a batch is
      // written to a port whose fd was taken out under it.
      queues.sync();
      if (cmd === CMD_CRASH) {
        Atomics.store(ctl, CTRL_COMMAND, 0);
        // Ends this worker thread only, as an uncaught fault would.
        process.exit(70);
      }
      if (cmd === CMD_WEDGE) {
        Atomics.store(ctl, CTRL_COMMAND, 0);
        // Stuck as an endless loop would be: the heartbeat stops, and only terminating the thread ends this.
        for (;;);
      }
      lane.runOnce(IDLE_WAIT_MS);
    }
  } finally {
    process.off('exit', release);
    release();
  }
  return `lane ${task.lane} stopped`;
}
