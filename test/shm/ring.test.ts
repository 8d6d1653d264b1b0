import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpscRing } from '../../src/shm/ring.js';
import { runWorker } from './workers/run-worker.js';
import type { RingPeerData, RingPeerResult } from './workers/ring-peer.js';

const PEER = new URL('./workers/ring-peer.js', import.meta.url);

test('ring: entries come out in order with their meta words and inline data', () => {
  const sab = new SharedArrayBuffer(SpscRing.byteLength(4, 10) + 8);
  const producer = new SpscRing(sab, 8, 4, 10, true);
  const consumer = new SpscRing(sab, 8, 4, 10, false);
  assert.equal(consumer.peek(), -1);
  for (let i = 0; i < 4; i++) {
    const e = producer.tryReserve();
    assert.ok(e >= 0);
    producer.bytes.fill(i + 1, producer.dataOffset(e), producer.dataOffset(e) + 10);
    producer.setMeta(e, 100 + i, 10, i, -1 - i);
    producer.publish();
  }
  assert.equal(producer.tryReserve(), -1, 'a full ring reserves nothing');
  assert.equal(producer.size(), 4);
  for (let i = 0; i < 4; i++) {
    const e = consumer.peek();
    assert.deepEqual([consumer.slot(e), consumer.len(e), consumer.port(e), consumer.flags(e)], [100 + i, 10, i, -1 - i]);
    assert.deepEqual([...consumer.bytes.subarray(consumer.dataOffset(e), consumer.dataOffset(e) + 10)], new Array(10).fill(i + 1));
    consumer.release();
  }
  assert.equal(consumer.peek(), -1);
  assert.equal(consumer.size(), 0);
  assert.ok(producer.tryReserve() >= 0, 'released entries can be reused');
});

test('ring: reserving twice without publishing returns the same entry; wait() times out when empty', () => {
  const sab = new SharedArrayBuffer(SpscRing.byteLength(8, 0));
  const ring = new SpscRing(sab, 0, 8, 0, true);
  assert.equal(ring.tryReserve(), ring.tryReserve());
  assert.equal(ring.size(), 0);
  assert.equal(ring.wait(1), false);
  ring.setMeta(ring.tryReserve(), 7, 0, 0, 0);
  ring.publish();
  assert.equal(ring.wait(1000), true);
  assert.equal(ring.slot(ring.peek()), 7);
});

test('ring: rejects a capacity that is not a power of two and a buffer too small', () => {
  const sab = new SharedArrayBuffer(4096);
  assert.throws(() => new SpscRing(sab, 0, 6, 0, true), /power of two/);
  assert.throws(() => new SpscRing(sab, 0, 1024, 64, true), /needs/);
});

async function stress(capacity: number, dataBytes: number, count: number): Promise<[RingPeerResult, RingPeerResult]> {
  const sab = new SharedArrayBuffer(SpscRing.byteLength(capacity, dataBytes));
  new SpscRing(sab, 0, capacity, dataBytes, true);
  const data = (role: RingPeerData['role']): RingPeerData => ({ role, sab, capacity, dataBytes, count });
  const consumer = runWorker<RingPeerResult>(PEER, data('consumer'));
  const producer = runWorker<RingPeerResult>(PEER, data('producer'));
  return [await producer, await consumer];
}

// Capacity 2 runs full or empty at almost every entry, so it is the slowest; 2·10^5 entries
// already make ≈10^5 sleeps.
for (const [capacity, dataBytes, count] of [[8, 64, 1_000_000], [1024, 0, 1_000_000], [2, 16, 200_000]] as const) {
  test(`ring: ${count} entries cross two threads intact (capacity ${capacity}, ${dataBytes} bytes inline)`, async () => {
    const [sent, received] = await stress(capacity, dataBytes, count);
    assert.equal(received.error, null);
    assert.equal(received.entries, count);
    assert.equal(received.checksum, sent.checksum);
    // The first wait may start before the producer thread has booted; after that a live
    // producer always wakes the consumer within the 2 s timeout.
    assert.ok(received.timeouts <= 1, `${received.timeouts} waits timed out: a wake-up was lost`);
    if (capacity <= 8) {
      // The small rings must really have run full and empty, or the test proved little.
      assert.ok(sent.fullRetries > 0, 'producer never found the ring full');
      assert.ok(received.sleeps > 0, 'consumer never found the ring empty');
    }
  });
}

test('ring: waitAsync wakes on publish without blocking the event loop, and times out when empty', async () => {
  const sab = new SharedArrayBuffer(SpscRing.byteLength(8, 0));
  const ring = new SpscRing(sab, 0, 8, 0, true);
  assert.equal(await ring.waitAsync(5), false);
  const woken = ring.waitAsync(10_000);
  const e = ring.tryReserve();
  ring.setMeta(e, 42, 0, 0, 0);
  ring.publish(); // the same thread: only possible because waitAsync did not block it
  assert.equal(await woken, true);
  assert.equal(ring.slot(ring.peek()), 42);
});

test('ring: a main-thread consumer on waitAsync receives 10^5 entries from a worker in order', async () => {
  const capacity = 8;
  const count = 100_000;
  const sab = new SharedArrayBuffer(SpscRing.byteLength(capacity, 0));
  const ring = new SpscRing(sab, 0, capacity, 0, true);
  const producer = runWorker<RingPeerResult>(PEER, { role: 'producer', sab, capacity, dataBytes: 0, count } satisfies RingPeerData);
  const deadline = Date.now() + 30_000;
  for (let seq = 0; seq < count; ) {
    const e = ring.peek();
    if (e < 0) {
      assert.ok(Date.now() < deadline, `stalled at entry ${seq}`);
      await ring.waitAsync(1000);
      continue;
    }
    if (ring.slot(e) !== seq || ring.flags(e) !== (seq ^ 0x5a5a5a5a)) assert.fail(`entry ${seq}: got slot ${ring.slot(e)}`);
    ring.release();
    seq++;
  }
  assert.equal((await producer).entries, count);
  assert.equal(ring.peek(), -1);
});
