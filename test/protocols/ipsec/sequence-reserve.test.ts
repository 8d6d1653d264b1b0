/**
 * The write-ahead reservation of outbound ESP sequence numbers (sequence-store.ts), on a
 * ManualClock with the real lane stage (EspStage.encapsulate) and no kernel: the lane never
 * uses a number at or above its limit; the limit rises only after the durable write; a
 * restart begins at the high-water mark; a stalled control plane costs counted drops, never
 * a reused number; at a steady rate the reservation stays ahead of the lane.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ipsecSection, type IpsecConfig } from '../../../src/config/sections/ipsec.js';
import { SaSlots, saRecord, policyRecords, type InstalledSa } from '../../../src/ipsec/model.js';
import { NO_LANES } from '../../helpers/esp-stage.js';
import { IpsecState, IpsecView, ST, encodeIpsecTables, ipsecTablesByteLength, readSeqLimit, setSeqLimit } from '../../../src/shm/ipsec-tables.js';
import { EspStage } from '../../../src/dataplane/esp.js';
import { C } from '../../../src/dataplane/counters.js';
import { ManualClock } from '../../../src/lib/clock.js';
import { FileMarkStore, MIN_RESERVATION, RESERVE_AHEAD_MS, RESERVE_CHECK_MS, SequenceReserver, type MarkStore } from '../../../src/protocols/ipsec/sequence-store.js';
import { ipv6Packet } from '../../dataplane/harness.js';
import { parseIpv6 } from '../../../src/lib/addr.js';
import { PacketContext } from '../../../src/dataplane/packet-context.js';

/** Where the ESP stage leaves what it found out about a packet (its position after encapsulation or decapsulation). */
const pc = new PacketContext();

const stateRoot = mkdtempSync(join(tmpdir(), 't6-seqres-'));
process.on('exit', () => rmSync(stateRoot, { recursive: true, force: true }));

function config(extra: Record<string, unknown> = {}): IpsecConfig {
  const r = ipsecSection.schema.safeParse({
    sas: [{ spi: 0x1000, direction: 'out', mode: 'tunnel', src: '2001:db8:2::1', dst: '2001:db8:2::20', encryption: 'aes-gcm-128', encKey: '0x' + '41'.repeat(16) + '01020304', ...extra }],
    policies: [{ direction: 'out', src: '2001:db8:1::/64', dst: '2001:db8:3::/64', sa: 0x1000 }],
  });
  if (!r.success) throw new Error(JSON.stringify(r.error.issues));
  return r.data as IpsecConfig;
}

/** A store in memory whose writes the test sees (and can fail). */
class MemoryStore implements MarkStore {
  readonly marks = new Map<number, number>();
  writes = 0;
  onRaise: () => void = () => {};
  mark(sa: IpsecConfig['sas'][number]): number | null {
    return this.marks.get(sa.spi) ?? null;
  }
  raise(marks: ReadonlyArray<{ sa: IpsecConfig['sas'][number]; mark: number }>): void {
    this.onRaise();
    for (const { sa, mark } of marks) this.marks.set(sa.spi, Math.max(mark, this.marks.get(sa.spi) ?? 0));
    this.writes++;
  }
}

/**
 * One outbound SA as the module installs it (state slot, first reservation, then the
 * tables), and its lane: send(n) encapsulates n packets (the seal deferred: the crypto is not
 * what is tested) and returns the numbers used; drops are counted by reason.
 */
function setup(store: MarkStore, cfg = config(), clock = new ManualClock(1_000)) {
  const state = IpsecState.create();
  const [sa] = new SaSlots(state, NO_LANES).assign(cfg.sas, 1, 0) as [InstalledSa];
  const reserver = new SequenceReserver(state, store);
  reserver.admit(sa, clock.now());
  reserver.reserve(clock.now());
  const records = [saRecord(sa)];
  const policies = policyRecords(cfg.policies, [sa]);
  const region = new Uint8Array(ipsecTablesByteLength(records, policies));
  encodeIpsecTables(records, policies, region);
  const view = new IpsecView();
  view.bind(region, 0);
  const stage = new EspStage(state, 0);
  stage.bind(view);
  const pkt = ipv6Packet({ src: parseIpv6('2001:db8:1::10')!, dst: parseIpv6('2001:db8:3::30')!, echoData: 8 });
  const b = new Uint8Array(1024);
  const drops = new Map<number, number>();
  const send = (n: number): number[] => {
    const used: number[] = [];
    for (let i = 0; i < n; i++) {
      b.set(pkt, 256);
      const out = stage.encapsulate(b, 256, pkt.length, 0, pc, true);
      if (out < 0) drops.set(-out, (drops.get(-out) ?? 0) + 1);
      else used.push(new DataView(b.buffer).getUint32(out + 44));
    }
    return used;
  };
  return { state, sa, reserver, clock, send, drops, limit: () => state.seqLimit(sa.slot), seqOut: () => state.field(sa.slot, ST.seqOut) };
}

test('the lane never uses a number at or above its limit; at the limit it drops and counts esp_seq_reserve_wait, per port and per SA', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 1, max: 3000 }), (initialSeq, ahead, n) => {
      const s = setup(new MemoryStore(), config({ initialSeq }));
      const limit = initialSeq + 1 + ahead;
      s.state.setSeqLimit(s.sa.slot, limit);
      const used = s.send(n);
      assert.deepEqual(used, Array.from({ length: Math.min(n, ahead) }, (_, i) => initialSeq + 1 + i));
      assert.equal(s.drops.get(C.esp_seq_reserve_wait) ?? 0, n - used.length);
      assert.equal(s.state.field(s.sa.slot, ST.seqReserveWait), n - used.length);
      assert.ok(s.seqOut() < limit);
    }),
    { seed: 0x5e9, numRuns: 60 },
  );
});

test('the limit is raised only once the store says the write is durable; a failed write raises nothing', () => {
  const store = new MemoryStore();
  const s = setup(store);
  assert.equal(s.limit(), 1 + MIN_RESERVATION, 'the first reservation');
  assert.equal(s.send(MIN_RESERVATION / 2 + 1).length, MIN_RESERVATION / 2 + 1, 'past half of it: the next check reserves');
  const seen: number[] = [];
  store.onRaise = () => seen.push(s.limit());
  s.clock.advance(RESERVE_CHECK_MS);
  s.reserver.reserve(s.clock.now());
  assert.deepEqual(seen, [1 + MIN_RESERVATION], 'during the write the lane still had the old limit');
  assert.equal(s.limit(), store.marks.get(0x1000), 'after it, exactly the durable mark');
  assert.ok(s.limit() > 1 + MIN_RESERVATION);

  const before = s.limit();
  s.send(before - 1 - s.seqOut());
  store.onRaise = () => {
    throw new Error('EIO');
  };
  s.clock.advance(RESERVE_CHECK_MS);
  assert.throws(() => s.reserver.reserve(s.clock.now()), /EIO/);
  assert.equal(s.limit(), before, 'unchanged');
  assert.deepEqual(s.send(3), [], 'the lane waits at the limit');
  assert.equal(s.drops.get(C.esp_seq_reserve_wait), 3);
});

test('a restart begins at the high-water mark on disk, above every number the crashed lane could use', () => {
  const dir = mkdtempSync(join(stateRoot, 'restart-'));
  const all = new Set<number>();
  let lastLimit = 0;
  for (let run = 0; run < 4; run++) {
    // A new process: new state block, the file read again.
    const s = setup(new FileMarkStore(dir));
    const first = s.send(1)[0]!;
    assert.equal(first, run === 0 ? 1 : lastLimit, 'the first number is the mark the previous run left');
    all.add(first);
    // Traffic and reservations, then kill -9 at an arbitrary point: whatever was reserved is the bound.
    for (let tick = 0; tick < run + 1; tick++) {
      for (const seq of s.send(40_000)) {
        assert.ok(!all.has(seq), `sequence number ${seq} repeated`);
        all.add(seq);
      }
      s.clock.advance(RESERVE_CHECK_MS);
      s.reserver.reserve(s.clock.now());
    }
    lastLimit = s.limit();
  }
});

test('a stalled control plane: the lane drops at its limit and counts it; when the checks resume it goes on with no number used twice', () => {
  const s = setup(new MemoryStore());
  const used: number[] = [];
  // 300 000 packets a second, 30 000 per check; then the control plane stalls for 2 s.
  for (let tick = 0; tick < 40; tick++) {
    used.push(...s.send(30_000));
    if (tick < 10 || tick >= 30) {
      s.clock.advance(RESERVE_CHECK_MS);
      s.reserver.reserve(s.clock.now());
    }
  }
  const waits = s.drops.get(C.esp_seq_reserve_wait) ?? 0;
  assert.ok(waits > 0, 'the stall outlasted the reservation');
  assert.equal(used.length + waits, 40 * 30_000, 'every packet either used a number or was counted');
  assert.equal(new Set(used).size, used.length, 'no number used twice');
  for (let i = 1; i < used.length; i++) assert.equal(used[i], used[i - 1]! + 1, 'consecutive: a wait skips no number');
  assert.ok(s.seqOut() < s.limit());
});

test('at a steady rate the reservation stays ahead: after the first check nothing waits, the window is the rate times RESERVE_AHEAD_MS', () => {
  const store = new MemoryStore();
  const s = setup(store);
  const perTick = 50_000; // 500 000 a second
  s.send(perTick - 1); // the first reservation, 2^16, covers the first check's worth
  for (let tick = 0; tick < 30; tick++) {
    s.clock.advance(RESERVE_CHECK_MS);
    s.reserver.reserve(s.clock.now());
    s.send(perTick);
  }
  assert.equal(s.drops.get(C.esp_seq_reserve_wait) ?? 0, 0);
  const ahead = s.limit() - (s.seqOut() + 1);
  const window = (perTick * 1000 / RESERVE_CHECK_MS) * (RESERVE_AHEAD_MS / 1000);
  assert.ok(ahead >= window / 2 - perTick && ahead <= window, `${ahead} numbers reserved ahead for a window of ${window}`);
  // The start's, the first check's (the rate is measured), then one whenever half a window is used.
  assert.equal(store.writes, 2 + Math.floor((30 * perTick - MIN_RESERVATION) / (window / 2)), 'about one durable write a second, not one per check');
});

test('without ESN the reservation never goes past 2^32; with ESN it does', () => {
  const s = setup(new MemoryStore(), config({ initialSeq: 0xffff_0000 }));
  s.send(0xffff);
  s.clock.advance(RESERVE_CHECK_MS);
  s.reserver.reserve(s.clock.now());
  assert.equal(s.limit(), 2 ** 32);
  const e = setup(new MemoryStore(), config({ initialSeq: 0xffff_0000, esn: true }));
  e.send(0xffff);
  e.clock.advance(RESERVE_CHECK_MS);
  e.reserver.reserve(e.clock.now());
  assert.ok(e.limit() > 2 ** 32);
  assert.deepEqual(e.send(2), [0, 1], 'past 2^32: the low 32 bits on the wire start again, Seq-hi counts (RFC 4303 §2.2.1)');
});

test('a lane racing with a limit update reads a limit that was published or one below it, never above (store low then high, load high then low)', () => {
  const words = new Uint32Array(new SharedArrayBuffer(256));
  // The order of the halves is what makes a torn read safe: record it.
  const order: string[] = [];
  const { store, load } = Atomics;
  const half = (i: number) => (i % 2 === 0 ? 'lo' : 'hi');
  Object.assign(Atomics, {
    store: (a: Uint32Array, i: number, v: number) => (order.push(`store ${half(i)}`), store(a, i, v)),
    load: (a: Uint32Array, i: number) => (order.push(`load ${half(i)}`), load(a, i)),
  });
  try {
    setSeqLimit(words, 0, 5);
    readSeqLimit(words, 0);
  } finally {
    Object.assign(Atomics, { store, load });
  }
  assert.deepEqual(order, ['store lo', 'store hi', 'load hi', 'load lo']);
  // Every interleaving of one update (old → new, rising) with one read, in that order.
  fc.assert(
    fc.property(fc.nat({ max: 2 ** 40 }), fc.nat({ max: 2 ** 40 }), fc.integer({ min: 0, max: 2 }), (a, d, readAt) => {
      const old = a;
      const next = a + d;
      const lo = (v: number) => v % 2 ** 32;
      const hi = (v: number) => Math.floor(v / 2 ** 32);
      // The writer's steps: 0 = nothing yet, 1 = low stored, 2 = both. The reader loads the high
      // half at step readAt and the low half at some step ≥ readAt.
      for (let loadLoAt = readAt; loadLoAt <= 2; loadLoAt++) {
        const h = readAt === 2 ? hi(next) : hi(old);
        const l = loadLoAt >= 1 ? lo(next) : lo(old);
        const seen = h * 2 ** 32 + l;
        assert.ok(seen <= next, `read ${seen} above the new limit ${next}`);
      }
    }),
    { seed: 7 },
  );
});
