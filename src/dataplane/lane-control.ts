/**
 * The control block each lane shares with the main thread: a few Int32 words per lane in
 * one SharedArrayBuffer. The main thread writes commands; the lane writes its state, what it
 * holds open (so that the main thread can release it should the lane's thread die without
 * closing it), and reads commands once per batch (one Atomics.load).
 */
import { wakeEngine } from '../io/engine.js';

export const CTRL_WORDS = 16;
export const CTRL_COMMAND = 0; // main → lane: CMD_*
export const CTRL_STATE = 1; // lane → main: STATE_*
export const CTRL_WAKE_FD = 2; // lane → main: eventfd that interrupts the lane's wait; ≤ 0: none
export const CTRL_STARTS = 3; // lane: incremented at every (re)start
export const CTRL_ICMP_RATE_MILLI = 4; // main → lane: ICMPv6 error rate, per 1000 s
export const CTRL_ICMP_BURST = 5; // main → lane: ICMPv6 error bucket size
export const CTRL_ICMP_GENERATION = 6; // main → lane: bumped after the two words above change
export const CTRL_WAKE_WRITERS = 7; // any thread: writers between reading CTRL_WAKE_FD and writing to it
export const CTRL_THREAD_ID = 8; // lane → main: worker_threads.threadId of the lane's thread
export const CTRL_ENGINE_LO = 9; // lane → main: the engine's native handle, low 32 bits (0,0: none)
export const CTRL_ENGINE_HI = 10; // lane → main: … high bits
export const CTRL_QUEUES_GENERATION = 11; // main → lane: bumped after the lane's row of the queue table changed (lane-queues.ts)
export const CTRL_QUEUES_ACK = 12; // lane → main: the queue-table generation the lane's engine holds

export const CMD_NONE = 0;
export const CMD_STOP = 1;
/** Test hook: the lane's thread exits abruptly (process.exit), as a crash would. */
export const CMD_CRASH = 2;
/** Test hook: the lane spins forever, as a lane stuck in an endless loop would. */
export const CMD_WEDGE = 3;

export const STATE_STARTING = 0;
export const STATE_RUNNING = 1;
export const STATE_STOPPED = 2;

/** No wake fd published. fd 0 is never an eventfd of ours either (it is stdin). */
const NO_FD = -1;
/** How long retireWakeFd waits for writers: a writer holds the word for one write(2). */
const RETIRE_WAIT_MS = 100;

export function controlView(sab: SharedArrayBuffer, lane: number): Int32Array {
  return new Int32Array(sab, lane * CTRL_WORDS * 4, CTRL_WORDS);
}

/**
 * Interrupts the lane's wait, from any thread. The fd is read once, inside the writers
 * count, so retireWakeFd can wait until no writer still holds a number it is about to close:
 * an fd number is reused by the next open(2), and a late wake must never land in whatever
 * got it (a TAP queue would send the 8 bytes as a frame). A write that fails (EBADF, EAGAIN)
 * is ignored: a wake is a hint.
 */
export function wakeLane(ctl: Int32Array): void {
  Atomics.add(ctl, CTRL_WAKE_WRITERS, 1);
  const fd = Atomics.load(ctl, CTRL_WAKE_FD);
  if (fd > 0) wakeEngine(fd);
  Atomics.sub(ctl, CTRL_WAKE_WRITERS, 1);
}

/** The lane publishes its wake fd once it is open. */
export function publishWakeFd(ctl: Int32Array, fd: number): void {
  Atomics.store(ctl, CTRL_WAKE_FD, fd);
}

/**
 * Unpublishes the wake fd and waits until no writer may still write to it; the caller then
 * closes it. Returns the fd that was published (≤ 0: none). A writer killed between its
 * load and its decrement would hold the count up forever, so the wait is bounded; past it
 * the writer is taken for dead.
 */
export function retireWakeFd(ctl: Int32Array): number {
  const fd = Atomics.exchange(ctl, CTRL_WAKE_FD, NO_FD);
  const deadline = Date.now() + RETIRE_WAIT_MS;
  for (let w = Atomics.load(ctl, CTRL_WAKE_WRITERS); w !== 0 && Date.now() < deadline; w = Atomics.load(ctl, CTRL_WAKE_WRITERS)) {
    Atomics.wait(ctl, CTRL_WAKE_WRITERS, w, 1);
  }
  return fd;
}

const TWO_32 = 0x1_0000_0000;

/** The lane publishes its engine's native handle (an address below 2^53), 0 for none. */
export function publishEngineHandle(ctl: Int32Array, handle: number): void {
  Atomics.store(ctl, CTRL_ENGINE_HI, Math.floor(handle / TWO_32));
  Atomics.store(ctl, CTRL_ENGINE_LO, handle % TWO_32 | 0);
}

/** Unpublishes the engine's native handle and returns it (0: none). */
export function retireEngineHandle(ctl: Int32Array): number {
  const lo = Atomics.exchange(ctl, CTRL_ENGINE_LO, 0) >>> 0;
  const hi = Atomics.exchange(ctl, CTRL_ENGINE_HI, 0);
  return hi * TWO_32 + lo;
}
