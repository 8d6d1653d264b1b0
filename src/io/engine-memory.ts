/**
 * An in-memory engine for unit tests of the lanes and the stack: tests inject() frames as if
 * they had arrived on a port and read back what was transmitted(). It behaves like the real
 * engines where a lane can tell: frames land at HEADROOM in pool slots it allocates, ports
 * keep arrival order, a full pool leaves frames queued, and receive() waits for its timeout
 * (or a wakeEngine() from another thread) on a real eventfd.
 *
 * Not for the data path: inject() and transmit() copy and allocate.
 */
import type { PacketPool } from '../shm/pool.js';
import { HEADROOM } from '../shm/pool.js';
import { EINTR, LibcError, POLLFD_SIZE, POLLIN, close as closeFd, errno, poll, read } from '../../native-bindings/libc.js';
import type { IoEngine, RxBatch } from './engine.js';
import { checkPort } from './ports.js';
import { createWakeFd } from './wake.js';

/** The longest frame a link can hand over: an Ethernet header and a 65,535-byte payload IPv6 packet. */
const MAX_LINK_FRAME = 14 + 40 + 65_535;

export interface MemoryFrame {
  readonly port: number;
  readonly frame: Uint8Array;
}

export class MemoryEngine implements IoEngine {
  readonly kind = 'memory' as const;
  readonly wakeFd: number;
  readonly nativeHandle = 0;
  private readonly pool: PacketPool;
  private readonly ports = new Set<number>();
  private readonly queue: MemoryFrame[] = [];
  private readonly sent: MemoryFrame[] = [];
  private readonly refused = new Set<number>();
  private readonly pollBuf = new Int32Array(POLLFD_SIZE / 4);
  private readonly wakeDrain = new BigUint64Array(1);
  private closed = false;

  constructor(pool: PacketPool) {
    this.pool = pool;
    this.wakeFd = createWakeFd();
    this.pollBuf[0] = this.wakeFd;
    new Int16Array(this.pollBuf.buffer)[2] = POLLIN;
  }

  addPort(port: number, _fd: number): void {
    checkPort(port);
    this.ports.add(port);
  }

  removePort(port: number): void {
    if (!this.ports.delete(port)) throw new RangeError(`port ${port} is not open`);
    for (let i = this.queue.length - 1; i >= 0; i--) if (this.queue[i]!.port === port) this.queue.splice(i, 1);
  }

  /**
   * Queues a copy of `frame` as received on `port` (which must have been added). A frame
   * longer than a slot's frame area is received as a TUN/TAP read into a short buffer is:
   * the bytes that fit are copied and the full length is reported (the lane drops it).
   */
  inject(port: number, frame: Uint8Array): void {
    if (!this.ports.has(port)) throw new RangeError(`inject: port ${port} is not open`);
    if (frame.length === 0 || frame.length > MAX_LINK_FRAME) throw new RangeError(`inject: frame length ${frame.length} is outside 1..${MAX_LINK_FRAME}`);
    this.queue.push({ port, frame: frame.slice() });
  }

  /** Frames still waiting to be received. */
  pending(): number {
    return this.queue.length;
  }

  /** Copies of every frame transmitted since construction or the last clearTransmitted(), in order. */
  transmitted(): MemoryFrame[] {
    return this.sent.slice();
  }

  clearTransmitted(): void {
    this.sent.length = 0;
  }

  receive(rx: RxBatch, max: number, timeoutMs: number): number {
    if (this.closed) throw new Error('io engine is closed');
    if (this.queue.length === 0 && timeoutMs !== 0) {
      // Blocks this thread like a real engine, but only until the timeout or a wake.
      if (poll(this.pollBuf, 1, timeoutMs) < 0 && errno() !== EINTR) throw new LibcError('poll', errno());
    }
    read(this.wakeFd, this.wakeDrain, 8);
    let n = 0;
    while (n < max && this.queue.length > 0) {
      const slot = this.pool.alloc();
      if (slot < 0) break;
      const { port, frame } = this.queue.shift()!;
      const fits = frame.length <= this.pool.frameCapacity ? frame : frame.subarray(0, this.pool.frameCapacity);
      this.pool.bytes.set(fits, this.pool.offsetOf(slot) + HEADROOM);
      rx.slot[n] = slot;
      rx.len[n] = frame.length;
      rx.port[n] = port;
      n++;
    }
    return n;
  }

  /** Makes writes to `port` fail (as a full TAP queue's ENOBUFS would) until called with false. */
  refuseWrites(port: number, refuse: boolean): void {
    if (refuse) this.refused.add(port);
    else this.refused.delete(port);
  }

  transmit(off: Int32Array, len: Int32Array, port: Int32Array, n: number, sent: Uint8Array): number {
    if (this.closed) throw new Error('io engine is closed');
    let written = 0;
    for (let i = 0; i < n; i++) {
      sent[i] = 0;
      if (!this.ports.has(port[i]!) || this.refused.has(port[i]!)) continue;
      if (off[i]! < 0 || len[i]! <= 0 || off[i]! + len[i]! > this.pool.bytes.byteLength) throw new RangeError(`transmit: frame ${i} [${off[i]}, +${len[i]}) is outside the pool`);
      this.sent.push({ port: port[i]!, frame: this.pool.bytes.slice(off[i]!, off[i]! + len[i]!) });
      sent[i] = 1;
      written++;
    }
    return written;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeFd(this.wakeFd);
  }
}
