/**
 * The punt drain on the main thread (punt-drain.ts): every entry is delivered in order with
 * its metadata, and a ring that is refilled as fast as it is drained (a flood) still lets
 * timers run between batches.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpscRing } from '../../src/shm/ring.js';
import { DRAIN_BATCH, drainPunts } from '../../src/dataplane/punt-drain.js';

const CAPACITY = 64;
const DATA_BYTES = 64;

function rings(): { producer: SpscRing; consumer: SpscRing } {
  const sab = new SharedArrayBuffer(SpscRing.byteLength(CAPACITY, DATA_BYTES));
  return { producer: new SpscRing(sab, 0, CAPACITY, DATA_BYTES, true), consumer: new SpscRing(sab, 0, CAPACITY, DATA_BYTES, false) };
}

/** Entry n: 4 bytes of n, port n % 7, flags n % 5, aux n % 3. */
function produce(ring: SpscRing, n: number): boolean {
  const e = ring.tryReserve();
  if (e < 0) return false;
  new DataView(ring.bytes.buffer).setUint32(ring.dataOffset(e), n);
  ring.setMeta(e, n % 3, 4, n % 7, n % 5);
  ring.publish();
  return true;
}

test('a ring kept full by a flood is drained in order, and a timer runs within a batch or two, not after the flood', async () => {
  const { producer, consumer } = rings();
  const total = 50 * DRAIN_BATCH;
  let produced = 0;
  while (produced < total && produce(producer, produced)) produced++;
  let delivered = 0;
  let timerAt = -1;
  setTimeout(() => (timerAt = delivered), 0);
  await drainPunts(
    consumer,
    (pkt, port, flags, aux) => {
      const n = new DataView(pkt.buffer, pkt.byteOffset).getUint32(0);
      assert.deepEqual([n, pkt.length, port, flags, aux], [delivered, 4, n % 7, n % 5, n % 3]);
      delivered++;
      // The lane refills the ring as fast as the control plane drains it.
      if (produced < total && produce(producer, produced)) produced++;
    },
    () => delivered < total,
  );
  assert.equal(delivered, total);
  assert.ok(timerAt >= 0 && timerAt <= 2 * DRAIN_BATCH, `the timer ran after ${timerAt} of ${total} punts`);
});
