import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CounterBlock,
  CounterLayout,
  HistogramBlock,
  powersOfTwo,
  sumCounters,
  sumHistograms,
} from '../../src/shm/counters.js';

test('counters: global and per-port indices are distinct and described back', () => {
  const layout = new CounterLayout(['rx', 'drop_no_route'], ['tx_packets', 'tx_bytes'], 3);
  assert.equal(layout.size, 2 + 2 * 3);
  const seen = new Set<number>();
  for (const name of layout.globals) seen.add(layout.globalIndex(name));
  for (let port = 0; port < 3; port++) {
    for (const name of layout.perPort) {
      const i = layout.portIndex(port, layout.perPortOrdinal(name));
      assert.deepEqual(layout.describe(i), { name, port });
      seen.add(i);
    }
  }
  assert.equal(seen.size, layout.size);
  assert.equal(Math.max(...seen), layout.size - 1);
  assert.deepEqual(layout.describe(layout.globalIndex('drop_no_route')), { name: 'drop_no_route', port: -1 });
  assert.throws(() => layout.globalIndex('nope'), /unknown global counter/);
  assert.throws(() => new CounterLayout(['a', 'a'], [], 1), /unique/);
});

test('counters: blocks in one buffer are independent and sum across lanes', () => {
  const layout = new CounterLayout(['rx'], ['tx'], 2);
  const sab = new SharedArrayBuffer(3 * layout.byteLength());
  const lanes = [0, 1, 2].map((i) => new CounterBlock(layout, sab, i * layout.byteLength()));
  const rx = layout.globalIndex('rx');
  const tx1 = lanes[0]!.portIndex(1, layout.perPortOrdinal('tx'));
  assert.equal(tx1, layout.portIndex(1, 0));
  lanes.forEach((block, i) => {
    for (let n = 0; n <= i; n++) block.inc(rx);
    block.add(tx1, 1500 * (i + 1));
  });
  assert.deepEqual(lanes.map((b) => b.get(rx)), [1, 2, 3]);
  assert.equal(sumCounters(lanes, rx), 6);
  assert.equal(sumCounters(lanes, tx1), 1500 * 6);
  assert.equal(sumCounters(lanes, layout.portIndex(0, 0)), 0);
  // A reader on another thread builds its own view over the same memory.
  const reader = new CounterBlock(layout, sab, 2 * layout.byteLength());
  assert.equal(reader.get(rx), 3);
});

test('counters: histogram buckets by inclusive upper bound, with an overflow bucket', () => {
  const bounds = powersOfTwo(256);
  assert.deepEqual(bounds, [1, 2, 4, 8, 16, 32, 64, 128, 256]);
  const sab = new SharedArrayBuffer(2 * HistogramBlock.byteLength(bounds.length));
  const a = new HistogramBlock(bounds, sab, 0);
  const b = new HistogramBlock(bounds, sab, HistogramBlock.byteLength(bounds.length));
  for (const v of [1, 2, 3, 4, 5, 256, 257]) a.observe(v);
  b.observe(64);
  const h = sumHistograms([a, b]);
  // le=1:1  le=2:2  le=4:4  le=8:5  le=16:5  le=32:5  le=64:6  le=128:6  le=256:7  +Inf:8
  assert.deepEqual(h.cumulative, [1, 2, 4, 5, 5, 5, 6, 6, 7, 8]);
  assert.equal(h.count, 8);
  assert.equal(h.sum, 1 + 2 + 3 + 4 + 5 + 256 + 257 + 64);
  assert.throws(() => new HistogramBlock([2, 1], sab), /increase/);
});
