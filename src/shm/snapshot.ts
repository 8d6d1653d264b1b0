/**
 * Table snapshots: the control plane is their only writer; lanes read them with no lock.
 *
 * A snapshot has two data regions (growable SharedArrayBuffers) and a control block:
 *
 *   control (int32):  [0] generation  [1] size of region 0  [2] size of region 1
 *                     [16 + r] ack of reader r: the generation it reads, or IDLE (-1)
 *
 * Generation g lives in region g & 1. Readers call acquire() at the start of each batch: one
 * Atomics.load of the generation; when it changed, the reader switches region and stores its
 * ack. The writer builds generation g+1 in region (g+1) & 1, the region of g-1, and then
 * stores the new generation.
 *
 * Why a reader never sees a half-written table: the writer writes region (g+1) & 1 only when
 * every reader's ack is g or IDLE, i.e. no reader is on g-1, which used the same region. A
 * busy reader's ack is its generation, so the writer can get at most one generation ahead of
 * the slowest reader; a publish that would need two is kept pending and retried by
 * flushPending() (the control plane runs it on a short timer) — the writer never waits.
 *
 * Readers that are about to block (a lane waiting on an empty ring) call idle() so that they
 * hold nothing back. Leaving idle needs care: between the reader's load of the generation and
 * its ack store, the writer (seeing IDLE) may publish and then start on the region the reader
 * picked. So the reader stores its ack and re-reads the generation until the two agree. All
 * of these are seq-cst Atomics: if the writer's ack check saw IDLE, its earlier generation
 * store precedes the reader's re-read, which therefore sees the change and retries; if it saw
 * the ack, the writer is held back. At most one retry happens, because a non-idle ack blocks
 * the writer after one more generation.
 *
 * A lane that dies holds its ack; the control plane calls releaseReader() for it before the
 * replacement lane attaches.
 */
import { growableSab, type GrowableSharedArrayBuffer } from './sab.js';

const GENERATION = 0;
const REGION_SIZE = 1;
const ACKS = 16;
const IDLE = -1;
const GROW_QUANTUM = 64 * 1024;

/** What a lane needs to attach to a snapshot; structured-clonable for workerData/postMessage. */
export interface SnapshotHandle {
  readonly control: SharedArrayBuffer;
  readonly regions: readonly [SharedArrayBuffer, SharedArrayBuffer];
  readonly readers: number;
}

export interface SnapshotOptions {
  readers: number;
  /** Initial size of each region; it grows in 64 KiB steps up to maxBytes. */
  initialBytes: number;
  maxBytes: number;
  /**
   * Write every table into both regions (the second time as soon as the readers leave the
   * other one), so that no region keeps an older table: for tables that hold keys, which
   * must not outlive their SA in shared memory (docs/ipsec.md, "Secrets").
   */
  scrub?: boolean;
}

interface Pending {
  encode: (dst: Uint8Array) => number;
  size: number;
  /** The scrub copy of a table already published. */
  copy: boolean;
}

export class SnapshotWriter {
  readonly handle: SnapshotHandle;
  private readonly control: Int32Array;
  private readonly regions: readonly [GrowableSharedArrayBuffer, GrowableSharedArrayBuffer];
  private readonly maxBytes: number;
  private readonly scrub: boolean;
  private pending: Pending | null = null;

  constructor(options: SnapshotOptions) {
    const { readers, initialBytes, maxBytes } = options;
    if (!Number.isInteger(readers) || readers < 1) throw new RangeError(`snapshot readers must be ≥ 1, got ${readers}`);
    if (initialBytes > maxBytes) throw new RangeError(`snapshot initialBytes ${initialBytes} exceeds maxBytes ${maxBytes}`);
    const control = new SharedArrayBuffer(4 * (ACKS + readers));
    this.control = new Int32Array(control);
    for (let r = 0; r < readers; r++) this.control[ACKS + r] = IDLE;
    const initial = roundUp(Math.max(initialBytes, 4), 8);
    const maxRounded = roundUp(maxBytes, 8);
    this.regions = [growableSab(initial, maxRounded), growableSab(initial, maxRounded)];
    this.maxBytes = maxRounded;
    this.scrub = options.scrub ?? false;
    this.handle = { control, regions: this.regions, readers };
  }

  generation(): number {
    return Atomics.load(this.control, GENERATION);
  }

  /**
   * Publishes a new table: `encode` writes it into `dst` (exactly `size` bytes, zero-filled)
   * and returns the bytes written. Returns true when
   * applied now; false when a reader is still on the region it needs, in which case this
   * table is kept pending (replacing any older pending one) for flushPending(). With
   * `scrub`, false also while the copy into the other region waits for the readers.
   */
  publish(encode: (dst: Uint8Array) => number, size: number): boolean {
    if (size > this.maxBytes) throw new RangeError(`snapshot of ${size} bytes exceeds the region limit ${this.maxBytes}`);
    this.pending = { encode, size, copy: false };
    return this.flushPending();
  }

  /** Applies the pending table if the readers allow it. True when nothing remains pending. */
  flushPending(): boolean {
    const pending = this.pending;
    if (pending === null) return true;
    const current = Atomics.load(this.control, GENERATION);
    if (!this.readersReleased(current)) return false;
    // Generations stay non-negative so they never collide with IDLE; 0x7fffffff is odd, so
    // the wrap to 0 still alternates regions.
    const next = (current + 1) & 0x7fffffff;
    const index = next & 1;
    const region = this.regions[index];
    if (region.byteLength < pending.size) region.grow(Math.min(this.maxBytes, roundUp(pending.size, GROW_QUANTUM)));
    // Zeroed as far as the table it replaces reached, so none of that outlives it past the new end.
    const previous = Atomics.load(this.control, REGION_SIZE + index);
    new Uint8Array(region, 0, Math.max(pending.size, previous)).fill(0);
    const dst = new Uint8Array(region, 0, pending.size);
    const written = pending.encode(dst);
    if (!(written >= 0 && written <= pending.size)) {
      throw new RangeError(`snapshot encoder wrote ${written} bytes into a ${pending.size}-byte region`);
    }
    this.pending = this.scrub && !pending.copy ? { ...pending, copy: true } : null;
    Atomics.store(this.control, REGION_SIZE + index, written);
    Atomics.store(this.control, GENERATION, next);
    // Idle readers let the scrub copy go at once; busy ones leave it to the retry timer.
    return this.pending === null || this.flushPending();
  }

  hasPending(): boolean {
    return this.pending !== null;
  }

  /**
   * True once no reader can still be using `generation` or an earlier one: a later
   * generation is published and every reader's ack is later too, or IDLE (a reader leaving
   * idle binds the generation it then reads, which is a later one). The IPsec state slots
   * use it to know when an SA that only older tables name can no longer be used by a lane
   * (ipsec/model.ts). An ack can lag the published generation by at most one, so a
   * comparison modulo the wrap is exact.
   */
  readersPast(generation: number): boolean {
    if (!isAfter(Atomics.load(this.control, GENERATION), generation)) return false;
    for (let at = ACKS; at < this.control.length; at++) {
      const ack = Atomics.load(this.control, at);
      if (ack !== IDLE && !isAfter(ack, generation)) return false;
    }
    return true;
  }

  /** Forgets reader r's ack (its lane died), so it no longer holds the writer back. */
  releaseReader(reader: number): void {
    Atomics.store(this.control, ACKS + reader, IDLE);
  }

  private readersReleased(current: number): boolean {
    for (let at = ACKS; at < this.control.length; at++) {
      const ack = Atomics.load(this.control, at);
      if (ack !== current && ack !== IDLE) return false;
    }
    return true;
  }
}

export class SnapshotReader {
  /** The current table's bytes: a length-tracking view of its region (offset 0). */
  bytes: Uint8Array;
  /** The generation being read. */
  generation = -1;
  /** Bytes the encoder wrote into the current region. */
  size = 0;
  private readonly control: Int32Array;
  private readonly views: readonly [Uint8Array, Uint8Array];
  private readonly ackAt: number;
  private isIdle = true;

  constructor(handle: SnapshotHandle, reader: number) {
    if (!Number.isInteger(reader) || reader < 0 || reader >= handle.readers) {
      throw new RangeError(`snapshot reader index ${reader} outside 0..${handle.readers - 1}`);
    }
    this.control = new Int32Array(handle.control);
    this.views = [new Uint8Array(handle.regions[0]), new Uint8Array(handle.regions[1])];
    this.bytes = this.views[0];
    this.ackAt = ACKS + reader;
  }

  /**
   * Call at the start of each batch. Returns true when the table changed since the last call
   * (the caller rebinds its view of it). No allocation.
   */
  acquire(): boolean {
    if (this.isIdle) return this.leaveIdle();
    const seen = Atomics.load(this.control, GENERATION);
    if (seen === this.generation) return false;
    Atomics.store(this.control, this.ackAt, seen);
    this.switchTo(seen);
    return true;
  }

  /** Call before blocking: the writer stops waiting for this reader until its next acquire(). */
  idle(): void {
    this.isIdle = true;
    Atomics.store(this.control, this.ackAt, IDLE);
  }

  private leaveIdle(): boolean {
    let seen = Atomics.load(this.control, GENERATION);
    for (;;) {
      Atomics.store(this.control, this.ackAt, seen);
      const again = Atomics.load(this.control, GENERATION);
      if (again === seen) break;
      seen = again;
    }
    this.isIdle = false;
    if (seen === this.generation) return false;
    this.switchTo(seen);
    return true;
  }

  private switchTo(generation: number): void {
    this.generation = generation;
    this.bytes = this.views[generation & 1]!;
    this.size = Atomics.load(this.control, REGION_SIZE + (generation & 1));
  }
}

/** Generation `a` comes after `b` (generations count modulo 2³¹, see flushPending). */
function isAfter(a: number, b: number): boolean {
  const d = (a - b) & 0x7fffffff;
  return d !== 0 && d < 0x40000000;
}

function roundUp(n: number, quantum: number): number {
  return Math.ceil(n / quantum) * quantum;
}
