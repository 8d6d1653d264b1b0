/**
 * The wake-up eventfd every engine includes in its poll set, so that another thread (the
 * control plane, or a lane stopping) can interrupt a receive() that is waiting.
 */
import { EFD_CLOEXEC, EFD_NONBLOCK, check, eventfd, write } from '../../native-bindings/libc.js';

/** eventfd(2) adds the 8-byte value written to its counter; any non-zero counter is readable. */
const ONE = new BigUint64Array([1n]);

/** Interrupts a receive() waiting on this wake fd; callable from any thread. */
export function wakeEngine(wakeFd: number): void {
  // EAGAIN only happens when the counter is about to overflow, i.e. a wake is pending anyway.
  write(wakeFd, ONE, 8);
}

/** A non-blocking eventfd: a non-blocking drain of it never stalls a lane. */
export function createWakeFd(): number {
  return check('eventfd', eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
}
