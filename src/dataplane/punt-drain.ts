/**
 * The main thread's side of a punt ring: hand each entry to the control plane, in batches,
 * yielding to the event loop between them.
 */
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { SpscRing } from '../shm/ring.js';

/**
 * Punts handled before the drain yields (setImmediate: timers and I/O run first), so a ring a
 * flood refills as fast as it is drained delays a RIPng timer or a control-socket reply by one
 * batch, never starves them; with several lanes their drains take turns the same way.
 */
export const DRAIN_BATCH = 64;

/** Drains `ring` into `deliver` (a copy of each packet) until `running()` turns false. */
export async function drainPunts(
  ring: SpscRing,
  deliver: (pkt: Uint8Array, port: number, flags: number, aux: number) => void,
  running: () => boolean,
): Promise<void> {
  while (running()) {
    let handled = 0;
    for (let e = ring.peek(); e >= 0 && handled < DRAIN_BATCH; e = ring.peek(), handled++) {
      const off = ring.dataOffset(e);
      const pkt = ring.bytes.slice(off, off + ring.len(e));
      const port = ring.port(e);
      const flags = ring.flags(e);
      const aux = ring.slot(e);
      ring.release();
      deliver(pkt, port, flags, aux);
    }
    // After any work, the event loop goes first; only an empty ring waits for the lane.
    if (handled > 0) await yieldToEventLoop();
    else await ring.waitAsync(250);
  }
}
