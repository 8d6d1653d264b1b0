import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { SnapshotReader, SnapshotWriter } from '../../src/shm/snapshot.js';
import { runWorker } from './workers/run-worker.js';
import type { SnapshotReaderData, SnapshotReaderResult } from './workers/snapshot-reader.js';

/** An encoder writing `size` bytes of `value` in every int32 word. */
function fillWith(value: number, size: number): (dst: Uint8Array) => number {
  return (dst) => {
    new Int32Array(dst.buffer, dst.byteOffset, size >>> 2).fill(value);
    return size;
  };
}

function firstWord(reader: SnapshotReader): number {
  return new Int32Array(reader.bytes.buffer, 0, 1)[0]!;
}

test('snapshot: before any publish a reader sees generation 0 and an empty table', () => {
  const writer = new SnapshotWriter({ readers: 1, initialBytes: 64, maxBytes: 1024 });
  const reader = new SnapshotReader(writer.handle, 0);
  assert.equal(reader.acquire(), true);
  assert.equal(reader.generation, 0);
  assert.equal(reader.size, 0);
  assert.equal(reader.acquire(), false);
});

test('snapshot: a reader on the older generation holds the writer back until it acquires again', () => {
  const writer = new SnapshotWriter({ readers: 2, initialBytes: 64, maxBytes: 1024 });
  const busy = new SnapshotReader(writer.handle, 0);
  new SnapshotReader(writer.handle, 1); // never acquires: idle from the start, holds nothing
  assert.equal(writer.publish(fillWith(1, 16), 16), true);
  assert.equal(busy.acquire(), true);
  assert.equal(firstWord(busy), 1);
  // Generation 2 goes to the other region: allowed while `busy` reads generation 1.
  assert.equal(writer.publish(fillWith(2, 16), 16), true);
  // Generation 3 would overwrite generation 1's region, which `busy` may still be reading.
  assert.equal(writer.publish(fillWith(3, 16), 16), false);
  assert.equal(writer.hasPending(), true);
  assert.equal(writer.flushPending(), false);
  assert.equal(firstWord(busy), 1, 'the region being read is untouched');
  assert.equal(busy.acquire(), true);
  assert.equal([busy.generation, firstWord(busy)].join(), '2,2');
  assert.equal(writer.flushPending(), true);
  assert.equal(writer.hasPending(), false);
  assert.equal(busy.acquire(), true);
  assert.equal([busy.generation, firstWord(busy), busy.size].join(), '3,3,16');
});

test('snapshot: a newer pending table replaces an older one', () => {
  const writer = new SnapshotWriter({ readers: 1, initialBytes: 64, maxBytes: 1024 });
  const reader = new SnapshotReader(writer.handle, 0);
  writer.publish(fillWith(1, 8), 8);
  reader.acquire();
  writer.publish(fillWith(2, 8), 8);
  assert.equal(writer.publish(fillWith(30, 8), 8), false);
  assert.equal(writer.publish(fillWith(40, 8), 8), false);
  reader.acquire();
  assert.equal(writer.flushPending(), true);
  reader.acquire();
  assert.equal(firstWord(reader), 40);
  assert.equal(writer.generation(), 3);
});

test('snapshot: idle readers and released readers do not hold the writer back', () => {
  const writer = new SnapshotWriter({ readers: 2, initialBytes: 64, maxBytes: 1024 });
  const a = new SnapshotReader(writer.handle, 0);
  const b = new SnapshotReader(writer.handle, 1);
  writer.publish(fillWith(1, 8), 8);
  a.acquire();
  b.acquire();
  a.idle();
  writer.publish(fillWith(2, 8), 8);
  assert.equal(writer.publish(fillWith(3, 8), 8), false, 'b still reads generation 1');
  writer.releaseReader(1); // b's lane died
  assert.equal(writer.flushPending(), true);
  for (let g = 4; g < 10; g++) assert.equal(writer.publish(fillWith(g, 8), 8), true);
  assert.equal(a.acquire(), true);
  assert.equal([a.generation, firstWord(a)].join(), '9,9');
});

test('snapshot: a table larger than the region grows it, and the reader view follows', () => {
  const writer = new SnapshotWriter({ readers: 1, initialBytes: 64, maxBytes: 1 << 20 });
  const reader = new SnapshotReader(writer.handle, 0);
  const size = 200_000;
  assert.equal(writer.publish(fillWith(7, size), size), true);
  reader.acquire();
  assert.equal(reader.size, size);
  assert.ok(reader.bytes.length >= size);
  const words = new Int32Array(reader.bytes.buffer, 0, size / 4);
  assert.ok(words.every((w) => w === 7));
  assert.throws(() => writer.publish(fillWith(1, 8), 2 << 20), /exceeds the region limit/);
  assert.throws(() => writer.publish(() => 100, 8), /wrote 100 bytes/);
});

test('snapshot: under real threads no reader ever sees a torn table', async () => {
  const readers = 2;
  const writer = new SnapshotWriter({ readers, initialBytes: 4096, maxBytes: 1 << 20 });
  const stop = new SharedArrayBuffer(8);
  const flags = new Int32Array(stop);
  const results = Array.from({ length: readers }, (_, reader) =>
    runWorker<SnapshotReaderResult>(new URL('./workers/snapshot-reader.js', import.meta.url), {
      handle: writer.handle,
      reader,
      stop,
      idleEvery: reader === 0 ? 50 : 1_000_000,
    } satisfies SnapshotReaderData),
  );
  const deadline = Date.now() + 30_000;
  while (Atomics.load(flags, 1) < readers) {
    assert.ok(Date.now() < deadline, 'reader workers did not start');
    await yieldToLoop();
  }
  let applied = 0;
  let deferred = 0;
  let publishes = 0;
  while (applied < 3000 && Date.now() < deadline) {
    if (!writer.hasPending()) {
      // Sizes vary from 4 bytes to 256 KiB so that the regions grow while readers run.
      const size = 4 * (1 + ((publishes * 7919) % (publishes % 100 === 99 ? 65536 : 2048)));
      publishes++;
      // Only this writer advances the generation, one publication at a time, so the table
      // applied now or later (pending) becomes exactly this generation.
      const generation = writer.generation() + 1;
      if (writer.publish(fillWith(generation, size), size)) applied++;
      else deferred++;
    } else if (writer.flushPending()) {
      applied++;
    }
    if (applied % 64 === 0) await yieldToLoop();
  }
  Atomics.store(flags, 0, 1);
  const seen = await Promise.all(results);
  for (const r of seen) assert.equal(r.error, null);
  assert.ok(applied >= 3000, `only ${applied} publications applied in 30 s`);
  assert.ok(deferred > 0, 'the writer was never held back, so the protocol went untested');
  for (const r of seen) assert.ok(r.generationsSeen > 10, `a reader saw only ${r.generationsSeen} generations`);
});

test('snapshot: readersPast(g) once a later generation is published and every reader has acknowledged one or is idle, across the wrap at 2^31', () => {
  const writer = new SnapshotWriter({ readers: 2, initialBytes: 64, maxBytes: 1024 });
  const busy = new SnapshotReader(writer.handle, 0);
  const other = new SnapshotReader(writer.handle, 1);
  const control = new Int32Array(writer.handle.control);
  // Just before the wrap (generations count modulo 2^31 and stay non-negative).
  control[0] = 0x7ffffffe;
  busy.acquire();
  other.acquire();
  assert.equal(writer.readersPast(0x7ffffffe), false, 'nothing later is published');
  writer.publish(fillWith(1, 16), 16);
  assert.equal(writer.generation(), 0x7fffffff);
  assert.equal(writer.readersPast(0x7ffffffe), false, 'both readers still hold the older generation');
  busy.acquire();
  assert.equal(writer.readersPast(0x7ffffffe), false, 'one reader still holds it');
  other.idle();
  assert.equal(writer.readersPast(0x7ffffffe), true, 'one acknowledged the later generation, the other is idle');
  writer.publish(fillWith(2, 16), 16);
  assert.equal(writer.generation(), 0, 'wrapped');
  assert.equal(writer.readersPast(0x7fffffff), false, 'generation 0 comes after 0x7fffffff, but a reader is still on it');
  busy.acquire();
  assert.equal(writer.readersPast(0x7fffffff), true);
  assert.equal(writer.readersPast(0), false, 'the current generation is never past');
});
