import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HEADROOM, MAX_PORT_MTU, MIN_SLOT_BYTES, PacketPool, slotBytesForMtu } from '../../src/shm/pool.js';

function pool(slots: number, slotBytes = MIN_SLOT_BYTES): PacketPool {
  return new PacketPool(new SharedArrayBuffer(PacketPool.byteLength(slots, slotBytes)), slots, slotBytes, true);
}

test('pool: slots are slotBytes apart and leave HEADROOM in front of a frameCapacity frame', () => {
  for (const slotBytes of [MIN_SLOT_BYTES, slotBytesForMtu(MAX_PORT_MTU)]) {
    const p = pool(4, slotBytes);
    assert.equal(HEADROOM + p.frameCapacity, slotBytes);
    assert.equal(p.offsetOf(3), 3 * slotBytes);
    assert.equal(p.bytes.length, 4 * slotBytes);
    assert.ok(PacketPool.byteLength(4, slotBytes) > 4 * slotBytes, 'the free list lives after the slots');
  }
});

test('pool: the slot size follows the largest MTU, an Ethernet header and the headroom', () => {
  assert.equal(slotBytesForMtu(1500), MIN_SLOT_BYTES, 'standard Ethernet keeps 2 KiB slots');
  assert.equal(slotBytesForMtu(1280), MIN_SLOT_BYTES);
  for (const mtu of [1905, 1906, 1907, 4000, 8962, 9000]) {
    const slotBytes = slotBytesForMtu(mtu);
    assert.ok(slotBytes - HEADROOM > 14 + mtu, `a ${mtu}-byte MTU's Ethernet frame fits with a byte to spare`);
    assert.equal(slotBytes % 64, 0, 'slots start on cache lines');
    assert.ok(slotBytes - HEADROOM - 64 <= 14 + mtu || slotBytes === MIN_SLOT_BYTES, 'no more than one line to spare');
  }
  assert.throws(() => slotBytesForMtu(MAX_PORT_MTU + 1), /MTU must be/);
  assert.throws(() => pool(1, 2000), /multiple of 64/);
});

test('pool: hands out every slot once, then -1; freed slots come back', () => {
  const p = pool(8);
  const got = Array.from({ length: 8 }, () => p.alloc());
  assert.deepEqual([...got].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(p.alloc(), -1);
  assert.equal(p.available(), 0);
  p.free(5);
  assert.equal(p.available(), 1);
  assert.equal(p.alloc(), 5);
  p.checkFreeList();
});

test('pool: frames written in one slot do not touch the neighbours', () => {
  const p = pool(3);
  p.bytes.fill(0x11);
  const s = p.alloc();
  p.bytes.fill(0xee, p.offsetOf(s) + HEADROOM, p.offsetOf(s) + HEADROOM + p.frameCapacity);
  const others = [0, 1, 2].filter((x) => x !== s);
  for (const o of others) assert.ok(p.bytes.subarray(p.offsetOf(o), p.offsetOf(o) + p.slotBytes).every((b) => b === 0x11));
  assert.equal(p.available(), 2, 'frame bytes never reach the free list');
});

test('pool: a second view with init=false shares the free list; a replacement lane can rebuild it', () => {
  const sab = new SharedArrayBuffer(PacketPool.byteLength(16, MIN_SLOT_BYTES));
  const first = new PacketPool(sab, 16, MIN_SLOT_BYTES, true);
  first.alloc();
  first.alloc();
  const attached = new PacketPool(sab, 16, MIN_SLOT_BYTES, false);
  assert.equal(attached.available(), 14);
  const replacement = new PacketPool(sab, 16, MIN_SLOT_BYTES, true);
  assert.equal(replacement.available(), 16);
  assert.throws(() => new PacketPool(sab, 8, MIN_SLOT_BYTES, false), /does not match 8 slots/);
  assert.throws(() => new PacketPool(sab, 4, 4096, false), /does not match 4 slots of 4096/);
});

test('pool: the debug check catches a double free', () => {
  const p = pool(4);
  const s = p.alloc();
  p.alloc();
  p.free(s);
  p.checkFreeList();
  p.free(s);
  assert.throws(() => p.checkFreeList(), /free twice/);
  const full = pool(2);
  full.free(0);
  assert.throws(() => full.checkFreeList(), /double free/);
});

test('pool: random alloc/free sequences match a set model', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.nat()), { maxLength: 300 }), (ops) => {
      const p = pool(16);
      const held = new Set<number>();
      for (const [allocate, pick] of ops) {
        if (allocate) {
          const s = p.alloc();
          if (held.size === 16) assert.equal(s, -1);
          else {
            assert.ok(s >= 0 && s < 16 && !held.has(s));
            held.add(s);
          }
        } else if (held.size > 0) {
          const s = [...held][pick % held.size]!;
          held.delete(s);
          p.free(s);
        }
        assert.equal(p.available(), 16 - held.size);
      }
      p.checkFreeList();
    }),
    { seed: 42, numRuns: 200 },
  );
});
