/**
 * The anti-replay window (RFC 4303 §3.4.3, Appendix A2; RFC 6479 blocks) against a naive
 * model — a set of every accepted sequence number and the highest one — over seeded random
 * arrivals, for 32-bit and 64-bit (ESN) numbers, windows of 64 to 4096, and across 2³².
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { replayBlocks, replayCheck, replayUpdate, REPLAY_DUPLICATE, REPLAY_TOO_OLD } from '../../src/ipsec/replay.js';

const TWO_32 = 2 ** 32;

class Window {
  readonly bitmap: Uint32Array;
  top: number;
  constructor(readonly bits: number, start = 0) {
    this.bitmap = new Uint32Array(3 + replayBlocks(bits)).fill(0);
    this.top = start;
  }
  /** Check, then (the ICV having verified) update; returns the verdict. */
  receive(seqLo: number, esn: boolean): number {
    const r = replayCheck(this.bitmap, 3, this.bits, this.top, seqLo, esn);
    if (r >= 0) this.top = replayUpdate(this.bitmap, 3, this.bits, this.top, r);
    return r;
  }
}

test('in order, duplicates, out of order within the window, and left of the window', () => {
  const w = new Window(64);
  assert.equal(w.receive(0, false), REPLAY_TOO_OLD, 'sequence number 0 is never sent (RFC 4303 §3.3.3)');
  for (let s = 1; s <= 100; s++) assert.equal(w.receive(s, false), s);
  assert.equal(w.receive(100, false), REPLAY_DUPLICATE);
  assert.equal(w.receive(37, false), REPLAY_DUPLICATE, 'inside the window, already seen');
  assert.equal(w.receive(36, false), REPLAY_TOO_OLD, 'left of the window (100 - 64)');
  assert.equal(w.receive(150, false), 150, 'jump ahead');
  assert.equal(w.receive(120, false), 120, 'late but inside the window: accepted once');
  assert.equal(w.receive(120, false), REPLAY_DUPLICATE);
  assert.equal(w.receive(86, false), REPLAY_TOO_OLD);
  assert.equal(w.receive(87, false), REPLAY_DUPLICATE, 'the window still remembers 87');
  assert.equal(w.receive(101, false), 101, 'never received, inside the window');
  assert.equal(w.bitmap[0], 0, 'nothing written outside the SA’s words');
});

test('a check alone never moves the window (forged packets fail the ICV after it)', () => {
  const w = new Window(64);
  w.receive(10, false);
  assert.equal(replayCheck(w.bitmap, 3, 64, w.top, 5000, false), 5000);
  assert.equal(w.receive(9, false), 9, 'still inside the window');
});

test('matches a naive model over random arrivals (windows 64…4096, with and without ESN)', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(64, 128, 1024, 4096),
      fc.boolean(),
      fc.constantFrom(0, TWO_32 - 3000, 5 * TWO_32 - 100),
      fc.array(fc.integer({ min: -5000, max: 200 }), { minLength: 1, maxLength: 300 }),
      (bits, esn, start, rawSteps) => {
        // With ESN a low half left of the window reads as the next 2³² subspace (Appendix
        // A2.2: the receiver cannot tell), and only the ICV rejects it; the model covers
        // arrivals inside the window and ahead of it there.
        const steps = esn ? rawSteps.map((s) => Math.max(s, 1 - bits)) : rawSteps;
        const base = esn ? start : 0;
        const w = new Window(bits, base);
        const seen = new Set<number>();
        let top = base;
        for (const step of steps) {
          // Arrivals wander around the top, mostly forward.
          const seq = top + step;
          if (seq < 1 || (!esn && seq >= TWO_32)) continue;
          // Numbers at or below the starting top that the window still covers were never
          // received, so they are accepted once, like any other.
          const want = seq > top ? seq : seq + bits <= top ? REPLAY_TOO_OLD : seen.has(seq) ? REPLAY_DUPLICATE : seq;
          const got = w.receive(seq % TWO_32, esn);
          assert.equal(got, want, `seq ${seq} top ${top}`);
          if (want >= 0) {
            seen.add(seq);
            if (seq > top) top = seq;
          }
        }
      },
    ),
    { seed: 42, numRuns: 300 },
  );
});

test('ESN: the window crosses 2³² and infers the high half (RFC 4303 Appendix A2.2)', () => {
  const w = new Window(64, TWO_32 - 10);
  assert.equal(w.receive(TWO_32 - 5, true), TWO_32 - 5);
  assert.equal(w.receive(3, true), TWO_32 + 3, 'low value after the top: next subspace (case A)');
  assert.equal(w.receive(0xfffffffa, true), TWO_32 - 6, 'high value while the window straddles: previous subspace (case B)');
  assert.equal(w.receive(0xfffffffb, true), REPLAY_DUPLICATE, 'the same packet as TWO_32 - 5');
  assert.equal(w.receive(0, true), TWO_32, 'low half 0 is valid once the high half is 1');
  // Far left of the straddling window: inferred as the next subspace, so the ICV (which
  // covers Seq-hi) is what rejects a replay of it; the check alone must not move the window.
  assert.equal(replayCheck(w.bitmap, 3, 64, w.top, TWO_32 - 200, true), 2 * TWO_32 - 200);
  assert.equal(w.top, TWO_32 + 3);
  // Without ESN the same numbers are plain 32-bit ones.
  const plain = new Window(64, 0);
  assert.equal(plain.receive(0xffffffff, false), 0xffffffff);
  assert.equal(plain.receive(3, false), REPLAY_TOO_OLD);
});
