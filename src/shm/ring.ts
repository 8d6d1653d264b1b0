/**
 * Single-producer/single-consumer descriptor ring in a SharedArrayBuffer.
 *
 * Lanes and the main thread exchange packets through these rings: descriptor rings carry
 * pool slot indices (dataBytes = 0); punt and inject rings carry a copy of the frame inline
 * (dataBytes > 0), so control traffic never holds a lane's slot.
 *
 * Layout from `byteOffset` (C = capacity, a power of two; D = dataBytes rounded up to 8):
 *
 *   +0    tail      int32  written by the producer only    ┐ each on its own 64-byte line,
 *   +64   head      int32  written by the consumer only    │ so the two sides never
 *   +128  sleeping  int32  consumer sets it before waiting ┘ false-share a cache line
 *   +192  meta      int32 × 4 × C   (slot, len, port, flags) per entry
 *   +192+16C  data  D × C bytes
 *
 * head and tail are free-running int32 counters (they wrap at 2^32; `(tail - head) | 0` is the
 * occupancy), and entry = counter & (C - 1).
 *
 * Ordering: the producer fills an entry with plain stores, then Atomics.store(tail); the
 * consumer Atomics.load(tail) before reading the entry. Atomics are sequentially consistent
 * in the ECMAScript memory model, so the store→load pair orders the plain accesses too.
 *
 * Sleeping (an Atomics.wait/notify round trip costs ≈29 µs here, DESIGN.md): the consumer
 * sets `sleeping`, re-reads tail, and waits on the tail word with the tail it saw. The
 * producer stores tail, then reads `sleeping` and notifies only when it is set. Both orders
 * are seq-cst, so either the consumer sees the new tail (and Atomics.wait returns
 * "not-equal" at once) or the producer sees the flag and wakes it: no lost wake-up, and no
 * notify syscall while the consumer is busy.
 */

/** Atomics.waitAsync (ES2024, in Node 20's V8); typed here since tsconfig's library is ES2022. */
interface AtomicsWaitAsync {
  waitAsync(
    view: Int32Array,
    index: number,
    value: number,
    timeoutMs: number,
  ): { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
}
const atomicsWaitAsync = Atomics as unknown as AtomicsWaitAsync;

const TAIL = 0;
const HEAD = 16;
const SLEEPING = 32;
const HEADER_BYTES = 192;
const META_WORDS = 4;

function dataStride(dataBytes: number): number {
  return (dataBytes + 7) & ~7;
}

export class SpscRing {
  readonly bytes: Uint8Array;
  readonly capacity: number;
  readonly dataBytes: number;
  private readonly control: Int32Array;
  private readonly meta: Int32Array;
  private readonly mask: number;
  private readonly dataBase: number;
  private readonly stride: number;
  // Each side keeps its own counter locally and a cached copy of the other side's, so the
  // common case costs one atomic store per entry and an atomic load only near full/empty.
  private localTail: number;
  private cachedHead: number;
  private localHead: number;
  private cachedTail: number;

  static byteLength(capacity: number, dataBytes: number): number {
    return HEADER_BYTES + capacity * (META_WORDS * 4 + dataStride(dataBytes));
  }

  constructor(sab: SharedArrayBuffer, byteOffset: number, capacity: number, dataBytes: number, init: boolean) {
    if (!Number.isInteger(capacity) || capacity < 2 || capacity > 1 << 30 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`ring capacity must be a power of two in 2..2^30, got ${capacity}`);
    }
    if (!Number.isInteger(dataBytes) || dataBytes < 0) throw new RangeError(`ring dataBytes must be ≥ 0, got ${dataBytes}`);
    if (byteOffset % 8 !== 0) throw new RangeError(`ring byteOffset must be 8-aligned, got ${byteOffset}`);
    if (byteOffset + SpscRing.byteLength(capacity, dataBytes) > sab.byteLength) {
      throw new RangeError(`ring needs ${SpscRing.byteLength(capacity, dataBytes)} bytes at ${byteOffset}, buffer has ${sab.byteLength}`);
    }
    this.capacity = capacity;
    this.dataBytes = dataBytes;
    this.mask = capacity - 1;
    this.stride = dataStride(dataBytes);
    this.bytes = new Uint8Array(sab);
    this.control = new Int32Array(sab, byteOffset, HEADER_BYTES / 4);
    this.meta = new Int32Array(sab, byteOffset + HEADER_BYTES, META_WORDS * capacity);
    this.dataBase = byteOffset + HEADER_BYTES + META_WORDS * 4 * capacity;
    if (init) {
      Atomics.store(this.control, TAIL, 0);
      Atomics.store(this.control, HEAD, 0);
      Atomics.store(this.control, SLEEPING, 0);
    }
    this.localTail = Atomics.load(this.control, TAIL);
    this.localHead = Atomics.load(this.control, HEAD);
    this.cachedHead = this.localHead;
    this.cachedTail = this.localTail;
  }

  // ---- producer ----

  /** The entry to fill next, or -1 when the ring is full. Reserving twice returns the same entry. */
  tryReserve(): number {
    if (((this.localTail - this.cachedHead) | 0) >= this.capacity) {
      this.cachedHead = Atomics.load(this.control, HEAD);
      if (((this.localTail - this.cachedHead) | 0) >= this.capacity) return -1;
    }
    return this.localTail & this.mask;
  }

  dataOffset(entry: number): number {
    return this.dataBase + entry * this.stride;
  }

  setMeta(entry: number, slot: number, len: number, port: number, flags: number): void {
    const at = entry * META_WORDS;
    this.meta[at] = slot;
    this.meta[at + 1] = len;
    this.meta[at + 2] = port;
    this.meta[at + 3] = flags;
  }

  /** Makes the reserved entry visible to the consumer, waking it if it sleeps. */
  publish(): void {
    this.localTail = (this.localTail + 1) | 0;
    Atomics.store(this.control, TAIL, this.localTail);
    if (Atomics.load(this.control, SLEEPING) !== 0) Atomics.notify(this.control, TAIL, 1);
  }

  // ---- consumer ----

  /** The entry at the head, or -1 when the ring is empty. */
  peek(): number {
    if (this.localHead === this.cachedTail) {
      this.cachedTail = Atomics.load(this.control, TAIL);
      if (this.localHead === this.cachedTail) return -1;
    }
    return this.localHead & this.mask;
  }

  slot(entry: number): number {
    return this.meta[entry * META_WORDS]!;
  }

  len(entry: number): number {
    return this.meta[entry * META_WORDS + 1]!;
  }

  port(entry: number): number {
    return this.meta[entry * META_WORDS + 2]!;
  }

  flags(entry: number): number {
    return this.meta[entry * META_WORDS + 3]!;
  }

  /** Consumes the head entry; its slot and inline data may be reused by the producer after this. */
  release(): void {
    this.localHead = (this.localHead + 1) | 0;
    Atomics.store(this.control, HEAD, this.localHead);
  }

  /** Occupancy, for metrics; safe from any thread (a momentary value). */
  size(): number {
    return (Atomics.load(this.control, TAIL) - Atomics.load(this.control, HEAD)) | 0;
  }

  /**
   * Consumer: blocks while the ring is empty, up to timeoutMs. Returns true when an entry is
   * available, false on timeout. Only for worker threads or a main thread that may block.
   *
   * A notify can arrive for an entry the consumer already took (the producer read `sleeping`
   * just as the consumer went back to sleep), so a wake-up with the ring still empty waits
   * again for the rest of the time.
   */
  wait(timeoutMs: number): boolean {
    if (this.peek() >= 0) return true;
    const deadline = performance.now() + timeoutMs;
    Atomics.store(this.control, SLEEPING, 1);
    for (;;) {
      const seen = Atomics.load(this.control, TAIL);
      if (seen !== this.localHead) break;
      const left = deadline - performance.now();
      if (left <= 0 || Atomics.wait(this.control, TAIL, seen, left) === 'timed-out') break;
    }
    Atomics.store(this.control, SLEEPING, 0);
    return this.peek() >= 0;
  }

  /**
   * Consumer on the main thread, which must not block its event loop: the same protocol as
   * wait() through Atomics.waitAsync. Resolves true when an entry is available, false on
   * timeout or on an early wake-up with the ring still empty (the caller loops). It allocates
   * a promise, which is fine on the control plane's idle path and never used by a lane.
   */
  async waitAsync(timeoutMs: number): Promise<boolean> {
    if (this.peek() >= 0) return true;
    Atomics.store(this.control, SLEEPING, 1);
    const seen = Atomics.load(this.control, TAIL);
    if (seen === this.localHead) {
      const waiting = atomicsWaitAsync.waitAsync(this.control, TAIL, seen, timeoutMs);
      if (waiting.async) {
        // A pending waitAsync does not keep Node's event loop alive; the timer does, and
        // settles the wait on time even if the loop has nothing else to do.
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)));
        await Promise.race([waiting.value, timedOut]);
        clearTimeout(timer);
      }
    }
    Atomics.store(this.control, SLEEPING, 0);
    return this.peek() >= 0;
  }
}
