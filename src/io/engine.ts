/**
 * The batched packet I/O interface the lanes use (DESIGN.md, "The data path").
 *
 * A lane owns one queue fd of every TAP/TUN port and one engine. Each turn it calls
 * receive() to fill a batch of pool slots, processes the batch, and hands the frames to send
 * to transmit(). Frames live in the lane's PacketPool: received frames start HEADROOM bytes
 * into their slot so that headers can be prepended in place; transmitted frames may start
 * anywhere in the pool.
 *
 * Engines:
 * - 'uring' (engine-uring.ts): the C helper libt6io over io_uring, two FFI calls per batch.
 * - 'syscall' (engine-syscall.ts): pure koffi, poll then one readv per frame and one writev
 *   per frame; the fallback when the helper is not built.
 * - 'memory' (engine-memory.ts): frames injected and collected in memory, for unit tests.
 * docs/io.md has the numbers that rank them.
 */
import type { PacketPool } from '../shm/pool.js';
import { loadT6io } from '../../native-bindings/t6io.js';
import { close } from '../../native-bindings/libc.js';
import { UringEngine } from './engine-uring.js';
import { SyscallEngine } from './engine-syscall.js';

export { wakeEngine } from './wake.js';
export { MAX_PORTS } from './ports.js';

/** Where receive() reports a batch; each array needs room for the `max` passed to receive(). */
export interface RxBatch {
  readonly slot: Int32Array;
  readonly len: Int32Array;
  readonly port: Int32Array;
}

export interface IoEngine {
  readonly kind: 'uring' | 'syscall' | 'memory';
  /** Adds a queue fd of a TAP/TUN (non-blocking), known to the lane as `port` (0..255). */
  addPort(port: number, fd: number): void;
  removePort(port: number): void;
  /**
   * Waits up to timeoutMs (0: don't wait; negative: until a frame or a wake) for a readable
   * port or a wake(); then reads up to `max` frames into slots it allocates from the pool
   * (frame at pool.offsetOf(slot)+HEADROOM, at most pool.frameCapacity bytes written). Fills
   * rx.slot/len/port[0..n) and returns n; frames of one port keep their arrival order.
   * The caller frees the slots. Never allocates per packet. rx.len is the length the kernel
   * reported, which for a frame longer than the slot's frame area is larger than what was
   * copied (a TUN/TAP read truncates and still returns the full length): the lane drops
   * those as frame_too_long and never reads past the frame area.
   *
   * The uring engine keeps up to `max` free slots allocated between calls (the areas it
   * hands the kernel); close() returns them to the pool.
   */
  receive(rx: RxBatch, max: number, timeoutMs: number): number;
  /**
   * Writes n frames (frame i at pool.bytes[off[i] .. off[i]+len[i]) to port[i]), sets sent[i]
   * to 1 for each frame written whole and 0 for the others (unknown port, the kernel refused
   * it), and returns how many were written. Any frame may fail, not only the last ones, so
   * per-port counters follow sent[], never the count. Synchronous: when it returns, every
   * frame's memory may be reused.
   */
  transmit(off: Int32Array, len: Int32Array, port: Int32Array, n: number, sent: Uint8Array): number;
  /** An eventfd: any thread may call wakeEngine(wakeFd) to interrupt receive(). */
  readonly wakeFd: number;
  /**
   * The native state this engine holds besides wakeFd (the uring engine's t6io handle, as an
   * address), 0 for none: see releaseOrphanedEngine.
   */
  readonly nativeHandle: number;
  /** Releases the wake fd and the native state. */
  close(): void;
}

/**
 * Releases what an engine whose thread died without close() left behind (its wake fd and its
 * native handle, as published by that thread), from another thread. Only once that thread
 * has exited, and only if the dead thread had not closed them itself: an fd number is reused
 * by the next open(2), so closing one twice may close somebody else's.
 */
export function releaseOrphanedEngine(wakeFd: number, nativeHandle: number): void {
  if (wakeFd > 0) close(wakeFd);
  // A handle exists only where libt6io loaded, so the loader's cache answers here.
  if (nativeHandle !== 0) loadT6io()?.destroyAt(nativeHandle);
}


/**
 * 'auto' picks 'uring' when libt6io.so was built and io_uring works here, 'syscall' otherwise.
 * 'uring' throws when the helper is unavailable, naming the reason.
 */
export function createEngine(kind: 'auto' | 'uring' | 'syscall', pool: PacketPool): IoEngine {
  if (kind === 'syscall') return new SyscallEngine(pool);
  const t6io = loadT6io();
  if (t6io === null) {
    if (kind === 'auto') return new SyscallEngine(pool);
    throw new Error('io engine "uring" needs native-bindings/build/libt6io.so: run `npm run build` with gcc and liburing-dev installed');
  }
  try {
    return new UringEngine(pool, t6io);
  } catch (e) {
    // io_uring can be disabled (kernel.io_uring_disabled, seccomp in containers).
    if (kind === 'auto') return new SyscallEngine(pool);
    throw e;
  }
}
