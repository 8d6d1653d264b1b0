/**
 * The control block each lane shares with the main thread: a few Int32 words per lane in
 * one SharedArrayBuffer. The main thread writes commands; the lane writes its state, its
 * engine's wake fd, and reads commands once per batch (one Atomics.load).
 */
export const CTRL_WORDS = 8;
export const CTRL_COMMAND = 0; // main → lane: CMD_*
export const CTRL_STATE = 1; // lane → main: STATE_*
export const CTRL_WAKE_FD = 2; // lane → main: eventfd that interrupts the lane's wait
export const CTRL_STARTS = 3; // lane: incremented at every (re)start
export const CTRL_ICMP_RATE_MILLI = 4; // main → lane: ICMPv6 error rate, per 1000 s
export const CTRL_ICMP_BURST = 5; // main → lane: ICMPv6 error bucket size
export const CTRL_ICMP_GENERATION = 6; // main → lane: bumped after the two words above change

export const CMD_NONE = 0;
export const CMD_STOP = 1;
/** Test hook: the lane's thread exits abruptly, as a crash would. */
export const CMD_CRASH = 2;

export const STATE_STARTING = 0;
export const STATE_RUNNING = 1;
export const STATE_STOPPED = 2;

export function controlView(sab: SharedArrayBuffer, lane: number): Int32Array {
  return new Int32Array(sab, lane * CTRL_WORDS * 4, CTRL_WORDS);
}
