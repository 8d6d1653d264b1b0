import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseIpv6, parseMac } from '../../src/lib/addr.js';
import {
  NBR_DELAY,
  NBR_FAILED,
  NBR_INCOMPLETE,
  NBR_PROBE,
  NBR_REACHABLE,
  NBR_STALE,
  NeighborView,
  encodeNeighbors,
  neighborsByteLength,
  type NeighborEntry,
} from '../../src/shm/neighbors.js';

/** Encodes at `offset` in a junk-filled (0xa5) buffer, so fields the encoder forgets show up. */
function build(entries: readonly NeighborEntry[], offset = 0): NeighborView {
  const size = neighborsByteLength(entries);
  const bytes = new Uint8Array(new SharedArrayBuffer(offset + size + 32)).fill(0xa5);
  assert.equal(encodeNeighbors(entries, bytes.subarray(offset)), size);
  const view = new NeighborView();
  view.bind(bytes, offset);
  return view;
}

function macAt(view: NeighborView, entry: number): Uint8Array {
  const at = view.macOffset(entry);
  return view.bytes.slice(at, at + 6);
}

test('neighbors: finds (port, address) with its state and MAC; the port is part of the key', () => {
  const addr = parseIpv6('fe80::1')!;
  const entries: NeighborEntry[] = [
    { port: 0, addr, mac: parseMac('02:00:00:00:00:01')!, state: NBR_REACHABLE },
    { port: 1, addr, mac: parseMac('02:00:00:00:00:02')!, state: NBR_STALE },
    { port: 1, addr: parseIpv6('2001:db8::7')!, mac: parseMac('02:00:00:00:00:03')!, state: NBR_PROBE },
  ];
  const view = build(entries, 4);
  assert.equal(view.count(), 3);
  const pkt = new Uint8Array(64);
  pkt.set(addr, 24);
  const e0 = view.lookup(0, pkt, 24);
  const e1 = view.lookup(1, pkt, 24);
  assert.ok(e0 >= 0 && e1 >= 0 && e0 !== e1);
  assert.equal(view.state(e0), NBR_REACHABLE);
  assert.deepEqual(macAt(view, e0), entries[0]!.mac);
  assert.equal(view.state(e1), NBR_STALE);
  assert.deepEqual(macAt(view, e1), entries[1]!.mac);
  assert.equal(view.lookup(2, pkt, 24), -1);
  pkt.set(parseIpv6('2001:db8::7')!, 24);
  assert.equal(view.state(view.lookup(1, pkt, 24)), NBR_PROBE);
  assert.equal(view.lookup(0, pkt, 24), -1);
});

test('neighbors: state codes are distinct and non-zero (zero is an empty slot)', () => {
  const codes = [NBR_INCOMPLETE, NBR_REACHABLE, NBR_STALE, NBR_DELAY, NBR_PROBE, NBR_FAILED];
  assert.equal(new Set(codes).size, codes.length);
  assert.ok(codes.every((c) => c > 0));
});

test('neighbors: an empty table, an unbound view and an all-zero region find nothing', () => {
  const addr = parseIpv6('fe80::1')!;
  assert.equal(build([]).lookup(0, addr, 0), -1);
  assert.equal(new NeighborView().lookup(0, addr, 0), -1);
  const zero = new NeighborView();
  zero.bind(new Uint8Array(new SharedArrayBuffer(1024)), 0);
  assert.equal(zero.lookup(0, addr, 0), -1);
  assert.equal(zero.count(), 0);
});

test('neighbors: a later entry for the same key replaces the earlier one', () => {
  const addr = parseIpv6('fe80::9')!;
  const view = build([
    { port: 3, addr, mac: parseMac('02:00:00:00:00:01')!, state: NBR_STALE },
    { port: 3, addr, mac: parseMac('02:00:00:00:00:02')!, state: NBR_REACHABLE },
  ]);
  const e = view.lookup(3, addr, 0);
  assert.equal(view.count(), 1);
  assert.equal(view.state(e), NBR_REACHABLE);
  assert.deepEqual(macAt(view, e), parseMac('02:00:00:00:00:02')!);
});

test('neighbors: rejects malformed entries', () => {
  const dst = new Uint8Array(4096);
  assert.throws(() => encodeNeighbors([{ port: 0, addr: new Uint8Array(4), mac: new Uint8Array(6), state: NBR_STALE }], dst), /16-byte/);
  assert.throws(() => encodeNeighbors([{ port: -1, addr: new Uint8Array(16), mac: new Uint8Array(6), state: NBR_STALE }], dst), /port/);
});

// Addresses share a prefix and differ in a few bytes of the interface ID, like a real link, and
// ports are few, so (port, address) collisions in the hash and in the key space are common.
const entryArb = fc.record({
  port: fc.nat({ max: 3 }),
  iid: fc.uint8Array({ minLength: 2, maxLength: 2 }),
  mac: fc.uint8Array({ minLength: 6, maxLength: 6 }),
  state: fc.constantFrom(NBR_INCOMPLETE, NBR_REACHABLE, NBR_STALE, NBR_DELAY, NBR_PROBE, NBR_FAILED),
});

function address(iid: Uint8Array): Uint8Array {
  const a = parseIpv6('2001:db8::')!;
  a[14] = iid[0]!;
  a[15] = iid[1]!;
  return a;
}

test('neighbors: agrees with a Map model', () => {
  fc.assert(
    fc.property(fc.array(entryArb, { maxLength: 200 }), fc.array(entryArb, { maxLength: 50 }), (specs, probes) => {
      const entries = specs.map((s) => ({ port: s.port, addr: address(s.iid), mac: s.mac, state: s.state }));
      const model = new Map<string, NeighborEntry>();
      for (const e of entries) model.set(`${e.port}/${e.addr.join('.')}`, e);
      const view = build(entries, 8);
      assert.equal(view.count(), model.size);
      for (const p of [...specs, ...probes]) {
        const addr = address(p.iid);
        const expected = model.get(`${p.port}/${addr.join('.')}`);
        const e = view.lookup(p.port, addr, 0);
        if (expected === undefined) {
          assert.equal(e, -1);
        } else {
          assert.ok(e >= 0);
          assert.equal(view.state(e), expected.state);
          assert.deepEqual(macAt(view, e), expected.mac);
        }
      }
    }),
    { seed: 42, numRuns: 300 },
  );
});
