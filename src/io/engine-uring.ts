/**
 * The io_uring engine: receive() and transmit() are one FFI call each into libt6io
 * (native-bindings/t6io.c), which poll()s the ports and moves the whole batch in one
 * io_uring_enter (docs/io.md has the contract and the numbers).
 *
 * The C side only reads into frame areas it is given, so this class keeps a stash of free
 * slots (allocated ahead from the pool) whose frame areas it offers on every receive; the
 * slots that received a frame leave the stash, the others wait for the next call.
 */
import type { PacketPool } from '../shm/pool.js';
import { HEADROOM } from '../shm/pool.js';
import { LibcError, close as closeFd } from '../../native-bindings/libc.js';
import type { T6io, T6ioHandle } from '../../native-bindings/t6io.js';
import type { IoEngine, RxBatch } from './engine.js';
import { createWakeFd } from './wake.js';

/** Submission ring size: a batch of up to this many frames takes one io_uring_enter. */
const RING_ENTRIES = 256;

export class UringEngine implements IoEngine {
  readonly kind = 'uring' as const;
  readonly wakeFd: number;
  readonly nativeHandle: number;
  private readonly pool: PacketPool;
  private readonly t6io: T6io;
  private handle: T6ioHandle | null;
  /** stashSlot[0..stashCount): free slots owned by the engine; stashOff: their frame offsets. */
  private stashSlot = new Int32Array(64);
  private stashOff = new Int32Array(64);
  private stashCount = 0;
  private outIdx = new Int32Array(64);
  private outLen = new Int32Array(64);
  private outPort = new Int32Array(64);

  constructor(pool: PacketPool, t6io: T6io) {
    this.pool = pool;
    this.t6io = t6io;
    const handle = t6io.create(RING_ENTRIES);
    if (handle === null) throw new Error('t6io_create failed: io_uring is unavailable (kernel.io_uring_disabled or a seccomp filter?)');
    this.handle = handle;
    this.nativeHandle = t6io.address(handle);
    const fixed = t6io.registerPool(handle, pool.bytes, pool.bytes.byteLength);
    if (fixed < 0) {
      t6io.destroy(handle);
      throw new LibcError('t6io_register_pool', -fixed);
    }
    this.wakeFd = createWakeFd();
    t6io.setWake(handle, this.wakeFd);
  }

  addPort(port: number, fd: number): void {
    const rc = this.t6io.addPort(this.live(), port, fd);
    if (rc < 0) throw new LibcError(`t6io_add_port(port ${port}, fd ${fd})`, -rc);
  }

  removePort(port: number): void {
    const rc = this.t6io.removePort(this.live(), port);
    if (rc < 0) throw new LibcError(`t6io_remove_port(port ${port})`, -rc);
  }

  receive(rx: RxBatch, max: number, timeoutMs: number): number {
    const handle = this.live();
    if (max > this.stashSlot.length) this.grow(max);
    const pool = this.pool;
    while (this.stashCount < max) {
      const slot = pool.alloc();
      if (slot < 0) break;
      this.stashSlot[this.stashCount] = slot;
      this.stashOff[this.stashCount] = pool.offsetOf(slot) + HEADROOM;
      this.stashCount++;
    }
    const offered = this.stashCount < max ? this.stashCount : max;
    const n = this.t6io.receive(handle, offered, this.stashOff, pool.frameCapacity, timeoutMs, this.outIdx, this.outLen, this.outPort);
    if (n < 0) throw new LibcError('t6io_receive', -n);
    const stashSlot = this.stashSlot;
    for (let i = 0; i < n; i++) {
      const area = this.outIdx[i]!;
      rx.slot[i] = stashSlot[area]!;
      rx.len[i] = this.outLen[i]!;
      rx.port[i] = this.outPort[i]!;
      stashSlot[area] = -1;
    }
    if (n > 0) this.compactStash();
    return n;
  }

  transmit(off: Int32Array, len: Int32Array, port: Int32Array, n: number, sent: Uint8Array): number {
    if (n <= 0) return 0;
    const written = this.t6io.transmit(this.live(), n, off, len, port, sent);
    if (written < 0) throw new LibcError('t6io_transmit', -written);
    return written;
  }

  close(): void {
    if (this.handle === null) return;
    this.t6io.destroy(this.handle);
    this.handle = null;
    closeFd(this.wakeFd);
    for (let i = 0; i < this.stashCount; i++) this.pool.free(this.stashSlot[i]!);
    this.stashCount = 0;
  }

  private live(): T6ioHandle {
    if (this.handle === null) throw new Error('io engine is closed');
    return this.handle;
  }

  /** Drops the slots that received a frame (marked -1), keeping the others in order. */
  private compactStash(): void {
    const slot = this.stashSlot;
    const off = this.stashOff;
    let w = 0;
    for (let r = 0; r < this.stashCount; r++) {
      const s = slot[r]!;
      if (s < 0) continue;
      slot[w] = s;
      off[w] = off[r]!;
      w++;
    }
    this.stashCount = w;
  }

  /** Only when a caller asks for a larger batch than ever before: never on a steady path. */
  private grow(max: number): void {
    const grown = (a: Int32Array): Int32Array<ArrayBuffer> => {
      const b = new Int32Array(max);
      b.set(a);
      return b;
    };
    this.stashSlot = grown(this.stashSlot);
    this.stashOff = grown(this.stashOff);
    this.outIdx = new Int32Array(max);
    this.outLen = new Int32Array(max);
    this.outPort = new Int32Array(max);
  }
}
