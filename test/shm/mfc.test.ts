/** The MFC snapshot (shm/mfc.ts): lookups straight from packet bytes, (S,G) before (*,G), outgoing sets past 32 ports. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeMfc, mfcByteLength, MfcView, MFC_MAX_ENTRIES, OUT_WORDS, type MfcEntry } from '../../src/shm/mfc.js';
import { MAX_PORTS } from '../../src/shm/port-table.js';
import { ip } from '../helpers/addr.js';

function view(entries: readonly MfcEntry[]): MfcView {
  const bytes = new Uint8Array(mfcByteLength(entries));
  encodeMfc(entries, bytes);
  const v = new MfcView();
  v.bind(bytes, 0);
  return v;
}

/** A fake packet: the source at offset 8 and the group at 24, as in an IPv6 header. */
function pkt(src: string | Uint8Array, group: string | Uint8Array): Uint8Array {
  const p = new Uint8Array(40);
  p.set(typeof src === 'string' ? ip(src) : src, 8);
  p.set(typeof group === 'string' ? ip(group) : group, 24);
  return p;
}

function outPorts(v: MfcView, e: number): number[] {
  const out: number[] = [];
  for (let w = 0; w < OUT_WORDS; w++) for (let b = 0; b < 32; b++) if ((v.outWord(e, w) >>> b) & 1) out.push(w * 32 + b);
  return out;
}

test('(S,G) wins over (*,G); (*,G) serves the other sources; other groups miss', () => {
  const v = view([
    { source: null, group: ip('ff0e::1'), inPort: 1, outPorts: [2], counter: 4 },
    { source: ip('2001:db8::10'), group: ip('ff0e::1'), inPort: 3, outPorts: [5, 6], counter: 9 },
  ]);
  const sg = v.lookup(pkt('2001:db8::10', 'ff0e::1'), 8, 24);
  assert.deepEqual([v.inPort(sg), v.counterSlot(sg), outPorts(v, sg)], [3, 9, [5, 6]]);
  const star = v.lookup(pkt('2001:db8::11', 'ff0e::1'), 8, 24);
  assert.deepEqual([v.inPort(star), v.counterSlot(star), outPorts(v, star)], [1, 4, [2]]);
  assert.equal(v.lookup(pkt('2001:db8::10', 'ff0e::2'), 8, 24), -1);
  assert.equal(v.count(), 2);
});

test('an outgoing set may name any port up to MAX_PORTS - 1, not only the first 32', () => {
  const all = Array.from({ length: MAX_PORTS - 1 }, (_, i) => i + 1);
  const v = view([{ source: null, group: ip('ff05::7'), inPort: 0, outPorts: all, counter: 0 }]);
  assert.deepEqual(outPorts(v, v.lookup(pkt('2001:db8::1', 'ff05::7'), 8, 24)), all);
});

test('a full table finds each of its entries and misses what it lacks (seeded)', () => {
  const entries: MfcEntry[] = [];
  let seed = 99;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  for (let i = 0; i < MFC_MAX_ENTRIES; i++) {
    const g = `ff0e::${(next() & 0xffff).toString(16)}:${i.toString(16)}`;
    entries.push({ source: i % 3 === 0 ? null : ip(`2001:db8::${(i + 1).toString(16)}`), group: ip(g), inPort: i % MAX_PORTS, outPorts: [(i + 1) % MAX_PORTS], counter: i });
  }
  const v = view(entries);
  assert.equal(v.count(), MFC_MAX_ENTRIES);
  for (const e of entries) {
    const found = v.lookup(pkt(e.source ?? '2001:db8:ffff::1', e.group), 8, 24);
    assert.ok(found >= 0);
    assert.equal(v.counterSlot(found), e.counter);
  }
  assert.equal(v.lookup(pkt('2001:db8::1', 'ff0e::abcd:ffff'), 8, 24), -1);
});

test('an unpublished region reads as an empty table; more entries than the lanes count are refused', () => {
  const v = new MfcView();
  v.bind(new Uint8Array(64), 0);
  assert.equal(v.lookup(pkt('2001:db8::1', 'ff0e::1'), 8, 24), -1);
  const many = Array.from({ length: MFC_MAX_ENTRIES + 1 }, (_, i): MfcEntry => ({ source: null, group: ip(`ff0e::${i.toString(16)}`), inPort: 0, outPorts: [1], counter: 0 }));
  assert.throws(() => encodeMfc(many, new Uint8Array(mfcByteLength(many))), /at most 1024 entries/);
});
