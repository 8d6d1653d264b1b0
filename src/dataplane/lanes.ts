/**
 * The main thread's side of the lanes: it allocates their shared memory, starts them as
 * long-lived piscina tasks, supervises them (restarts a lane that died, with backoff;
 * replaces a wedged one; releases what a dead lane left open), drains their punt rings,
 * feeds their inject rings, and publishes the tables they read. It implements the stack's
 * Datapath interface.
 */
import { Piscina } from 'piscina';
import { SpscRing } from '../shm/ring.js';
import { SnapshotWriter } from '../shm/snapshot.js';
import { encodeFib, fibByteLength, type FibNexthop, type FibRoute } from '../shm/fib.js';
import { encodeNeighbors, neighborsByteLength } from '../shm/neighbors.js';
import { encodeGroups, groupsByteLength, type GroupEntry } from '../shm/groups.js';
import { encodeMfc, mfcByteLength, MFC_BYTES, MFC_PACKETS, MFC_WRONG_PORT } from '../shm/mfc.js';
import { releaseOrphanedEngine } from '../io/engine.js';
import { encodeIpsecTables, ipsecTablesByteLength, IpsecState, type PolicyRecord, type SaRecord } from '../shm/ipsec-tables.js';
import type { Datapath, IpsecDatapath, MulticastDatapath, NeighborSnapshotEntry, PuntHandler } from '../shm/datapath.js';
import { encodePortTable, PORT_TABLE_BYTES, type PortEntry } from '../shm/port-table.js';
import { counterBytes, mfcCounter, PORT_STRIDE, portCounter, sumCounter } from './counters.js';
import { drainPunts } from './punt-drain.js';
import { POLICING_WORDS, writePuntPolicing, type PuntPolicing } from './punt-policer.js';
import {
  CMD_CRASH,
  CMD_NONE,
  CMD_STOP,
  CMD_WEDGE,
  CTRL_COMMAND,
  CTRL_ENGINE_HI,
  CTRL_ENGINE_LO,
  CTRL_STARTS,
  CTRL_STATE,
  CTRL_THREAD_ID,
  CTRL_WAKE_FD,
  CTRL_WORDS,
  CTRL_ICMP_BURST,
  CTRL_ICMP_GENERATION,
  CTRL_ICMP_RATE_MILLI,
  STATE_RUNNING,
  STATE_STOPPED,
  controlView,
  retireEngineHandle,
  retireWakeFd,
  wakeLane,
} from './lane-control.js';
import { FAILING_AFTER, HeartbeatWatch, RestartBackoff, WATCHDOG_INTERVAL_MS, WEDGED_AFTER_MS } from './lane-supervision.js';
import { handoverBytes, injectRingOffset, laneMemoryBytes, puntRingOffset, ringDataBytes, traceRingOffset, type LaneGeometry, type LaneTask } from './lane-task.js';
import { QueueTable, queuesApplied } from './lane-queues.js';
import { armTrace, disarmTrace, drainTraceRing, TRACE_ENTRY_BYTES, TRACE_RING_CAPACITY, TRACE_WORDS, type TraceFilter, type TraceRecord } from './trace.js';

export interface LaneSetOptions extends LaneGeometry {
  readonly lanes: number;
  readonly batch: number;
  readonly io: 'auto' | 'uring' | 'syscall';
  readonly icmpRate: number;
  readonly icmpBurst: number;
  readonly puntPolicing: PuntPolicing;
  /** The ECMP flow hash seed written into every FIB (`dataplane.ecmpSeed`); absent: drawn per process. */
  readonly flowSeed?: number;
}

/** Why a lane was restarted: it died (threw, or its thread exited), or the watchdog replaced it. */
export type LaneDeath = 'crash' | 'wedged';

export interface LaneEvents {
  /** A lane died; it starts again after restartInMs. */
  laneDied(lane: number, error: unknown, death?: { reason: LaneDeath; restartInMs: number; deaths: number }): void;
  /** A lane keeps dying: FAILING_AFTER deaths in a row soon after each start; again every FAILING_AFTER more. */
  laneFailing(lane: number, deaths: number, lastError: string): void;
}

interface LaneSlot {
  readonly id: number;
  readonly memory: SharedArrayBuffer;
  readonly counters: SharedArrayBuffer;
  readonly countersView: Float64Array;
  readonly punt: SpscRing;
  readonly inject: SpscRing;
  readonly trace: SpscRing;
  running: Promise<unknown> | null;
  /** Aborting it terminates the lane's thread (piscina); null while the lane is down. */
  abort: AbortController | null;
  /** The watchdog aborted the current run. */
  wedged: boolean;
  readonly restarts: Record<LaneDeath, number>;
  readonly backoff: RestartBackoff;
  readonly heartbeat: HeartbeatWatch;
  lastError: string | null;
  lastRestartDelayMs: number;
  restartTimer: NodeJS.Timeout | null;
}

const SNAPSHOT_MAX_BYTES = 512 * 1024 * 1024;
const FLUSH_INTERVAL_MS = 5;
/** How long stop() waits for the lanes to see CMD_STOP before it terminates their threads. */
const STOP_GRACE_MS = 2_000;

export interface LaneStatus {
  lane: number;
  running: boolean;
  starts: number;
  restarts: number;
  /** The restarts by why. */
  restartReasons: Record<LaneDeath, number>;
  /** Deaths in a row, each soon after the lane's start (lane-supervision.ts). */
  deaths: number;
  failing: boolean;
  /** The delay before the latest restart. */
  lastRestartDelayMs: number;
  lastError: string | null;
  puntRing: number;
  injectRing: number;
  queues: number;
}

export class LaneSet implements Datapath {
  private readonly pool: Piscina;
  private readonly lanes: LaneSlot[] = [];
  private readonly control: SharedArrayBuffer;
  private readonly policing = new Int32Array(new SharedArrayBuffer(POLICING_WORDS * 4));
  private readonly traceControl = new Int32Array(new SharedArrayBuffer(TRACE_WORDS * 4));
  private tracing = false;
  private readonly fib: SnapshotWriter;
  private readonly neighbors: SnapshotWriter;
  private readonly ports: SnapshotWriter;
  private readonly ipsecTables: SnapshotWriter;
  private readonly groups: SnapshotWriter;
  private readonly mfc: SnapshotWriter;
  readonly multicast: MulticastDatapath;
  /** Per-SA sequence numbers, replay windows and counters: written by home lanes, read here. */
  private readonly ipsecState = IpsecState.create();
  readonly ipsec: IpsecDatapath;
  private readonly handover: SharedArrayBuffer | null;
  private readonly queueTable: QueueTable;
  private puntHandler: PuntHandler = () => {};
  private stopping = false;
  private flushTimer: NodeJS.Timeout | null = null;
  private watchdogTimer: NodeJS.Timeout | null = null;
  /** Resolves when the thread with this threadId has exited; set when piscina creates it. */
  private readonly threadExits = new Map<number, Promise<void>>();

  constructor(private readonly opts: LaneSetOptions, private readonly events: LaneEvents) {
    const readers = opts.lanes;
    this.fib = new SnapshotWriter({ readers, initialBytes: 64 * 1024, maxBytes: SNAPSHOT_MAX_BYTES });
    this.neighbors = new SnapshotWriter({ readers, initialBytes: 64 * 1024, maxBytes: SNAPSHOT_MAX_BYTES });
    this.ports = new SnapshotWriter({ readers, initialBytes: PORT_TABLE_BYTES, maxBytes: PORT_TABLE_BYTES * 2 });
    // Scrubbed: the tables carry keys, which must not stay in the other region once an SA is gone.
    this.ipsecTables = new SnapshotWriter({ readers, initialBytes: 4 * 1024, maxBytes: SNAPSHOT_MAX_BYTES, scrub: true });
    this.groups = new SnapshotWriter({ readers, initialBytes: 4 * 1024, maxBytes: SNAPSHOT_MAX_BYTES });
    this.mfc = new SnapshotWriter({ readers, initialBytes: 4 * 1024, maxBytes: SNAPSHOT_MAX_BYTES });
    this.multicast = {
      publishMfc: (entries) => this.publish(this.mfc, (dst) => encodeMfc(entries, dst), mfcByteLength(entries)),
      mfcCounters: (slot) => {
        const blocks = this.counterBlocks();
        return {
          packets: sumCounter(blocks, mfcCounter(slot, MFC_PACKETS)),
          bytes: sumCounter(blocks, mfcCounter(slot, MFC_BYTES)),
          wrongPort: sumCounter(blocks, mfcCounter(slot, MFC_WRONG_PORT)),
        };
      },
    };
    this.ipsec = {
      lanes: opts.lanes,
      state: this.ipsecState,
      publishIpsec: (sas, policies) => this.publishIpsec(sas, policies),
      ipsecGeneration: () => this.ipsecTables.generation(),
      lanesPast: (generation) => this.ipsecTables.readersPast(generation),
    };
    this.control = new SharedArrayBuffer(opts.lanes * CTRL_WORDS * 4);
    this.queueTable = new QueueTable(opts.lanes);
    // Zero-filled, so every hand-over ring starts empty (head = tail = 0).
    this.handover = opts.lanes > 1 ? new SharedArrayBuffer(handoverBytes(opts.lanes, opts.slotBytes)) : null;
    this.setIcmpLimits(opts.icmpRate, opts.icmpBurst);
    this.setPuntPolicing(opts.puntPolicing);
    const ringData = ringDataBytes(opts.slotBytes);
    for (let id = 0; id < opts.lanes; id++) {
      const memory = new SharedArrayBuffer(laneMemoryBytes(opts));
      const counters = new SharedArrayBuffer(counterBytes());
      this.lanes.push({
        id,
        memory,
        counters,
        countersView: new Float64Array(counters),
        punt: new SpscRing(memory, puntRingOffset(opts), opts.ringCapacity, ringData, true),
        inject: new SpscRing(memory, injectRingOffset(opts), opts.ringCapacity, ringData, true),
        trace: new SpscRing(memory, traceRingOffset(opts), TRACE_RING_CAPACITY, TRACE_ENTRY_BYTES, true),
        running: null,
        abort: null,
        wedged: false,
        restarts: { crash: 0, wedged: 0 },
        backoff: new RestartBackoff(),
        heartbeat: new HeartbeatWatch(),
        lastError: null,
        lastRestartDelayMs: 0,
        restartTimer: null,
      });
    }
    this.pool = new Piscina({
      filename: new URL('./lane-worker.js', import.meta.url).href,
      minThreads: opts.lanes,
      maxThreads: opts.lanes,
      idleTimeout: Infinity,
      concurrentTasksPerWorker: 1,
      // Lanes block in the kernel while idle; they never need piscina's task queue.
      maxQueue: opts.lanes,
    });
    // piscina runs a task only on a thread it has announced, so every lane's thread is here.
    this.pool.on('workerCreate', (created: { id: number }) => {
      const worker = this.pool.threads.find((w) => w.threadId === created.id);
      if (worker === undefined) return;
      const id = created.id;
      this.threadExits.set(id, new Promise((resolve) => worker.once('exit', () => {
        this.threadExits.delete(id);
        resolve();
      })));
    });
  }

  /**
   * Gives each lane its queue fd of `port` (fds[lane], one queue of a multi-queue TAP/TUN per
   * lane; a lane without one does not serve the port), or with null takes the port from every
   * lane. Resolves once every lane that runs applied it between two batches (lane-queues.ts):
   * after a removal no lane reads or writes the port's fds any more, so they may be closed
   * and the port index given to another port. A lane that is down reads its row when it starts.
   */
  async setPortQueues(port: number, fds: ReadonlyArray<number> | null, timeoutMs = 10_000): Promise<void> {
    const pending = this.lanes.map((l) => {
      const ctl = controlView(this.control, l.id);
      const generation = this.queueTable.set(ctl, l.id, port, fds?.[l.id] ?? null);
      wakeLane(ctl);
      return { lane: l, ctl, generation };
    });
    const deadline = Date.now() + timeoutMs;
    while (!pending.every(({ lane, ctl, generation }) => lane.abort === null || queuesApplied(ctl, generation))) {
      if (Date.now() > deadline) throw new Error(`lanes did not take up the queue change of port ${port} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /**
   * Zeroes every lane's counters of `port`, for a port added at an index another port held
   * before: call it before the port gets its queues, when no lane counts for that index.
   */
  resetPortCounters(port: number): void {
    const start = portCounter(port, 0);
    for (const l of this.lanes) l.countersView.fill(0, start, start + PORT_STRIDE);
  }

  start(): void {
    for (const lane of this.lanes) {
      this.submit(lane);
      void this.drainLoop(lane);
    }
    this.watchdogTimer = setInterval(() => this.watchdog(), WATCHDOG_INTERVAL_MS).unref();
  }

  /** Resolves when every lane has reported running. */
  async ready(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.lanes.every((l) => Atomics.load(controlView(this.control, l.id), CTRL_STATE) === STATE_RUNNING)) {
      if (Date.now() > deadline) throw new Error('lanes did not start in time');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  private submit(lane: LaneSlot): void {
    const ctl = controlView(this.control, lane.id);
    Atomics.store(ctl, CTRL_COMMAND, CMD_NONE);
    const task: LaneTask = {
      lane: lane.id,
      memory: lane.memory,
      poolSlots: this.opts.poolSlots,
      slotBytes: this.opts.slotBytes,
      ringCapacity: this.opts.ringCapacity,
      counters: lane.counters,
      control: this.control,
      policing: this.policing.buffer as SharedArrayBuffer,
      trace: this.traceControl.buffer as SharedArrayBuffer,
      fib: this.fib.handle,
      neighbors: this.neighbors.handle,
      ports: this.ports.handle,
      groups: this.groups.handle,
      mfc: this.mfc.handle,
      ipsec: this.ipsecTables.handle,
      ipsecState: this.ipsecState.sab,
      handover: this.handover,
      lanes: this.opts.lanes,
      queues: this.queueTable.sab,
      io: this.opts.io,
      batch: this.opts.batch,
    };
    const abort = new AbortController();
    lane.abort = abort;
    lane.wedged = false;
    lane.heartbeat.reset();
    lane.backoff.started(Date.now());
    lane.running = this.pool.run(task, { signal: abort.signal }).then(
      () => {
        lane.abort = null;
      },
      (err: unknown) => this.laneEnded(lane, err),
    );
  }

  /**
   * A lane's task failed: it threw (its thread lives on, and its finally released its
   * engine), its thread exited (process.exit: the thread's 'exit' listener released it), or
   * the watchdog had piscina terminate the thread (nothing of the lane ran: the engine is
   * still open). Once the thread is gone, release what it left, then start the lane again
   * after its backoff delay on whichever thread piscina offers.
   */
  private async laneEnded(lane: LaneSlot, err: unknown): Promise<void> {
    lane.abort = null;
    const ctl = controlView(this.control, lane.id);
    Atomics.store(ctl, CTRL_STATE, STATE_STOPPED);
    await this.releaseOrphans(ctl);
    // Its snapshot acks are stale: release them so publishing goes on.
    for (const w of this.writers()) w.releaseReader(lane.id);
    if (this.stopping) return;
    const reason: LaneDeath = lane.wedged ? 'wedged' : 'crash';
    lane.restarts[reason]++;
    lane.lastError = reason === 'wedged' ? `no heartbeat for ${WEDGED_AFTER_MS} ms; thread terminated` : err instanceof Error ? err.message : String(err);
    const delay = lane.backoff.died(Date.now());
    lane.lastRestartDelayMs = delay;
    this.events.laneDied(lane.id, err, { reason, restartInMs: delay, deaths: lane.backoff.deaths });
    if (lane.backoff.failing && lane.backoff.deaths % FAILING_AFTER === 0) this.events.laneFailing(lane.id, lane.backoff.deaths, lane.lastError);
    lane.restartTimer = setTimeout(() => {
      lane.restartTimer = null;
      if (!this.stopping) this.submit(lane);
    }, delay);
  }

  /**
   * Closes what a dead lane's thread left open. The lane unpublishes its wake fd and engine
   * handle before it closes them, so whatever is still published was never closed, and its
   * fd numbers cannot have been reused; but only once the thread has exited is nothing
   * using them. A thread killed between the two steps leaks them, never closes twice.
   */
  private async releaseOrphans(ctl: Int32Array): Promise<void> {
    const left = Atomics.load(ctl, CTRL_WAKE_FD) > 0 || Atomics.load(ctl, CTRL_ENGINE_LO) !== 0 || Atomics.load(ctl, CTRL_ENGINE_HI) !== 0;
    if (!left) return;
    await this.threadExits.get(Atomics.load(ctl, CTRL_THREAD_ID));
    releaseOrphanedEngine(retireWakeFd(ctl), retireEngineHandle(ctl));
  }

  /**
   * Every WATCHDOG_INTERVAL_MS: a running lane whose heartbeat stood still for
   * WEDGED_AFTER_MS is stuck (an endless loop cannot be interrupted from inside), so its
   * thread is terminated and the lane restarted; a lane that has run long enough is healthy.
   */
  private watchdog(): void {
    const now = Date.now();
    for (const lane of this.lanes) {
      lane.backoff.check(now);
      const running = Atomics.load(controlView(this.control, lane.id), CTRL_STATE) === STATE_RUNNING;
      if (lane.abort === null || !running) {
        lane.heartbeat.reset();
        continue;
      }
      if (lane.heartbeat.stuck(lane.countersView, now)) {
        lane.wedged = true;
        lane.abort.abort(new Error(`lane ${lane.id} wedged`));
      }
    }
  }

  private writers(): SnapshotWriter[] {
    return [this.fib, this.neighbors, this.ports, this.ipsecTables, this.groups, this.mfc];
  }

  // ---- Datapath ------------------------------------------------------------------------


  onPunt(handler: PuntHandler): void {
    this.puntHandler = handler;
  }

  /** Injects through lane 0: control traffic is light, and one lane keeps its order. */
  inject(port: number, flags: number, data: Uint8Array): boolean {
    const lane = this.lanes[0]!;
    const ring = lane.inject;
    if (data.length > ring.dataBytes) return false;
    const e = ring.tryReserve();
    if (e < 0) return false;
    ring.bytes.set(data, ring.dataOffset(e));
    ring.setMeta(e, -1, data.length, port, flags);
    ring.publish();
    wakeLane(controlView(this.control, lane.id));
    return true;
  }

  publishFib(routes: readonly FibRoute[], nexthops: readonly FibNexthop[]): void {
    this.publish(this.fib, (dst) => encodeFib(routes, nexthops, dst, this.opts.flowSeed), fibByteLength(routes, nexthops));
  }

  publishNeighbors(entries: readonly NeighborSnapshotEntry[]): void {
    this.publish(this.neighbors, (dst) => encodeNeighbors(entries, dst), neighborsByteLength(entries));
  }

  publishPorts(entries: readonly PortEntry[]): void {
    this.publish(this.ports, (dst) => encodePortTable(entries, dst), PORT_TABLE_BYTES);
  }

  publishGroups(entries: readonly GroupEntry[]): void {
    this.publish(this.groups, (dst) => encodeGroups(entries, dst), groupsByteLength(entries));
  }

  publishIpsec(sas: readonly SaRecord[], policies: readonly PolicyRecord[]): void {
    this.publish(this.ipsecTables, (dst) => encodeIpsecTables(sas, policies, dst), ipsecTablesByteLength(sas, policies));
  }

  private publish(writer: SnapshotWriter, encode: (dst: Uint8Array) => number, size: number): void {
    if (writer.publish(encode, size)) return;
    // A lane is still on the generation before last: retry shortly (the writer never waits).
    if (this.flushTimer !== null) return;
    this.flushTimer = setInterval(() => {
      let pending = false;
      for (const w of this.writers()) {
        w.flushPending();
        pending ||= w.hasPending();
      }
      if (!pending && this.flushTimer !== null) {
        clearInterval(this.flushTimer);
        this.flushTimer = null;
      }
    }, FLUSH_INTERVAL_MS);
  }

  // ---- punt ------------------------------------------------------------------------------

  private drainLoop(lane: LaneSlot): Promise<void> {
    return drainPunts(
      lane.punt,
      (pkt, port, flags, aux) => {
        try {
          this.puntHandler(pkt, port, flags, aux);
        } catch (err) {
          // A control-plane bug must not stop the punt path; the stack counts and logs.
          this.events.laneDied(-1, err);
        }
      },
      () => !this.stopping,
    );
  }

  /** ICMPv6 error rate limit (RFC 4443 §2.4(f)) per lane; lanes pick it up at their next batch. */
  setIcmpLimits(rate: number, burst: number): void {
    for (let id = 0; id < this.opts.lanes; id++) {
      const ctl = controlView(this.control, id);
      Atomics.store(ctl, CTRL_ICMP_RATE_MILLI, Math.round(rate * 1000));
      Atomics.store(ctl, CTRL_ICMP_BURST, burst);
      Atomics.add(ctl, CTRL_ICMP_GENERATION, 1);
    }
  }

  /** Control-plane policing rates (punt-policer.ts); lanes pick them up at their next batch. */
  setPuntPolicing(policing: PuntPolicing): void {
    writePuntPolicing(this.policing, policing);
  }

  // ---- packet trace ------------------------------------------------------------------------

  /**
   * Records the next `count` frames matching `filter` across all lanes, waiting up to
   * timeoutMs; returns what was recorded, in time order. One trace at a time.
   */
  async trace(count: number, filter: TraceFilter, timeoutMs: number): Promise<TraceRecord[]> {
    if (this.tracing) throw new Error('a trace is already running');
    this.tracing = true;
    const records: TraceRecord[] = [];
    try {
      for (const l of this.lanes) while (l.trace.peek() >= 0) l.trace.release();
      armTrace(this.traceControl, count, filter);
      const deadline = Date.now() + timeoutMs;
      while (records.length < count && Date.now() < deadline) {
        for (const l of this.lanes) drainTraceRing(l.trace, l.id, records);
        if (records.length < count) await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      disarmTrace(this.traceControl);
      this.tracing = false;
    }
    // Records claimed just before the disarm are still published: collect them too.
    for (const l of this.lanes) drainTraceRing(l.trace, l.id, records);
    return records.sort((a, b) => a.timestampMs - b.timestampMs).slice(0, count);
  }

  // ---- status, tests, shutdown -------------------------------------------------------------

  counterBlocks(): Float64Array[] {
    return this.lanes.map((l) => l.countersView);
  }

  status(): LaneStatus[] {
    return this.lanes.map((l) => {
      const ctl = controlView(this.control, l.id);
      return {
        lane: l.id,
        running: Atomics.load(ctl, CTRL_STATE) === STATE_RUNNING,
        starts: Atomics.load(ctl, CTRL_STARTS),
        restarts: l.restarts.crash + l.restarts.wedged,
        restartReasons: { ...l.restarts },
        deaths: l.backoff.deaths,
        failing: l.backoff.failing,
        lastRestartDelayMs: l.lastRestartDelayMs,
        lastError: l.lastError,
        puntRing: l.punt.size(),
        injectRing: l.inject.size(),
        queues: this.queueTable.count(l.id),
      };
    });
  }

  ringCapacity(): number {
    return this.opts.ringCapacity;
  }

  /** Test hook: makes a lane's thread exit as if it had crashed. */
  crashLane(id: number): void {
    this.command(id, CMD_CRASH);
  }

  /** Test hook: makes a lane spin forever, for the watchdog to find. */
  wedgeLane(id: number): void {
    this.command(id, CMD_WEDGE);
  }

  /** A command to a running lane (a lane waiting for its restart would never see it). */
  private command(id: number, cmd: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.lanes.length) throw new RangeError(`no lane ${id}: lanes are 0..${this.lanes.length - 1}`);
    const ctl = controlView(this.control, id);
    if (Atomics.load(ctl, CTRL_STATE) !== STATE_RUNNING) throw new Error(`lane ${id} is not running`);
    Atomics.store(ctl, CTRL_COMMAND, cmd);
    wakeLane(ctl);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.watchdogTimer !== null) clearInterval(this.watchdogTimer);
    for (const l of this.lanes) {
      if (l.restartTimer !== null) clearTimeout(l.restartTimer);
      const ctl = controlView(this.control, l.id);
      Atomics.store(ctl, CTRL_COMMAND, CMD_STOP);
      wakeLane(ctl);
    }
    // A wedged lane never reads its command: past a grace period, its thread is terminated.
    const stopped = Promise.allSettled(this.lanes.map((l) => l.running));
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([stopped, new Promise((r) => (grace = setTimeout(r, STOP_GRACE_MS)))]);
    clearTimeout(grace);
    for (const l of this.lanes) l.abort?.abort(new Error('stopping'));
    await stopped;
    if (this.flushTimer !== null) clearInterval(this.flushTimer);
    await this.pool.destroy();
  }
}
