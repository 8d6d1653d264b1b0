/**
 * Control-plane policing in the lane (punt-policer.ts, RFC 6583 §7): each ingress port has
 * its own budget per punt class, what is over it is counted `punt_policed_<class>`, budgets
 * refill with time and are rewritten in place; and the hand-over rings are drained from a
 * rotating start, so one lane's traffic cannot take every batch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { multicastMac, solicitedNodeMulticast } from '../../src/lib/addr.js';
import { C } from '../../src/dataplane/counters.js';
import { INJECT_ROUTE, PUNT_LOCAL, PUNT_MULTICAST, PUNT_RESOLVE } from '../../src/shm/punt.js';
import { PUNT_CLASSES, policedReason, writePuntPolicing, type PuntPolicing } from '../../src/dataplane/punt-policer.js';
import { SpscRing } from '../../src/shm/ring.js';
import { ringDataBytes } from '../../src/dataplane/lane-task.js';
import { MIN_SLOT_BYTES } from '../../src/shm/pool.js';
import { ethFrame, fromH1, H1, H1_LL, H1_MAC, H2, H3, ip, ipv6Packet, LaneHarness, LISTENED_GROUPS, R0_GLOBAL, TAP0, TAP1, TUN2, type HarnessOptions } from './harness.js';

function harness(t: { after(fn: () => void): void }, opts: HarnessOptions = {}): LaneHarness {
  const h = new LaneHarness(opts);
  t.after(() => h.close());
  return h;
}

function everyClass(rate: number, burst: number): PuntPolicing {
  return { resolve: { rate, burst }, nd: { rate, burst }, multicast: { rate, burst }, local: { rate, burst } };
}

const toRouter = ipv6Packet({ src: H1, dst: R0_GLOBAL });

test('each class has its drop reason, in counters.ts order', () => {
  PUNT_CLASSES.forEach((name, k) => assert.equal(policedReason(k), C[`punt_policed_${name}`]));
});

test('a flood to the router from one port is cut at its burst and refills at its rate; another port\'s budget is untouched', (t) => {
  const h = harness(t, { ringCapacity: 64, policing: everyClass(2, 3) });
  const before = h.snapshot();
  h.run(TAP0, ...new Array(10).fill(fromH1(toRouter)));
  // TUN2's host sends to the same address: its own port, its own bucket.
  h.run(TUN2, ipv6Packet({ src: H3, dst: R0_GLOBAL }), ipv6Packet({ src: H3, dst: R0_GLOBAL }));
  assert.deepEqual(h.punted().map((p) => [p.port, p.flags]), [[TAP0, PUNT_LOCAL], [TAP0, PUNT_LOCAL], [TAP0, PUNT_LOCAL], [TUN2, PUNT_LOCAL], [TUN2, PUNT_LOCAL]]);
  assert.deepEqual(h.moved(before), { '0:rx_packets': 10, '0:punted': 3, '0:punt_policed_local': 7, '2:rx_packets': 2, '2:punted': 2 });
  // Half a second at 2/s: one more token.
  h.now += 500;
  h.run(TAP0, fromH1(toRouter), fromH1(toRouter));
  assert.equal(h.punted().length, 1);
  assert.equal(h.counter(TAP0, C.punt_policed_local), 8);
});

test('the classes are apart: resolve, ND (types 133–137), other multicast, and local each spend their own budget', (t) => {
  const h = harness(t, { ringCapacity: 64, policing: everyClass(1, 1) });
  // RIPng's group, as the module joins it (the lane drops groups nobody joined).
  h.publishGroups([...LISTENED_GROUPS, { port: TAP0, group: ip('ff02::9') }]);
  const snm = solicitedNodeMulticast(R0_GLOBAL);
  const ns = ipv6Packet({ src: H1_LL, dst: snm, hopLimit: 255, raw: { nextHeader: 58, bytes: new Uint8Array([135, 0, 0, 0, 0, 0, 0, 0, ...R0_GLOBAL]) } });
  const na = ipv6Packet({ src: H1, dst: R0_GLOBAL, hopLimit: 255, raw: { nextHeader: 58, bytes: new Uint8Array([136, 0, 0, 0, 0x60, 0, 0, 0, ...H1]) } });
  // MLD (type 131) to a group is multicast, not ND.
  const mld = ipv6Packet({ src: H1_LL, dst: ip('ff02::1:3'), hopLimit: 1, raw: { nextHeader: 58, bytes: new Uint8Array([131, 0, 0, 0, 0, 0, 0, 0, ...ip('ff02::1:3')]) } });
  const ripng = ipv6Packet({ src: H1_LL, dst: ip('ff02::9'), hopLimit: 255, raw: { nextHeader: 17, bytes: new Uint8Array([2, 9, 2, 9, 0, 8, 0, 0]) } });
  const mcast = (pkt: Uint8Array) => ethFrame(multicastMac(pkt.subarray(24, 40)), H1_MAC, pkt);
  const before = h.snapshot();
  h.run(
    TAP0,
    mcast(ns),
    fromH1(na),
    mcast(mld),
    mcast(ripng),
    fromH1(toRouter),
    fromH1(ipv6Packet({ src: H1, dst: ip('2001:db8:2::a1') })),
    fromH1(ipv6Packet({ src: H1, dst: ip('2001:db8:2::a2') })),
  );
  const punted = h.punted();
  assert.deepEqual(punted.map((p) => p.flags), [PUNT_MULTICAST, PUNT_MULTICAST, PUNT_LOCAL, PUNT_RESOLVE]);
  assert.deepEqual(punted[0]!.packet, ns);
  assert.deepEqual(punted[1]!.packet, mld);
  assert.deepEqual(h.moved(before), {
    '0:rx_packets': 7,
    '0:punted': 4,
    '0:punt_policed_nd': 1, // the NA, after the NS
    '0:punt_policed_multicast': 1, // RIPng, after MLD
    '0:punt_policed_resolve': 1, // the second unknown neighbour
  });
});

test('what the router originates is not policed: injected packets to unresolved neighbours are all punted', (t) => {
  const h = harness(t, { ringCapacity: 64, policing: everyClass(1, 1) });
  for (const host of ['2001:db8:2::b1', '2001:db8:2::b2', '2001:db8:2::b3']) {
    assert.ok(h.inject(TAP1, INJECT_ROUTE, ipv6Packet({ src: R0_GLOBAL, dst: ip(host) })));
  }
  const before = h.snapshot();
  h.run(TAP0);
  assert.deepEqual(h.punted().map((p) => p.flags), [PUNT_RESOLVE, PUNT_RESOLVE, PUNT_RESOLVE]);
  assert.deepEqual(h.moved(before), { '1:injected': 3 });
});

test('rates rewritten in the shared block take effect at the next batch, keeping the tokens left', (t) => {
  const h = harness(t, { ringCapacity: 64, policing: everyClass(1, 1) });
  h.run(TAP0, fromH1(toRouter), fromH1(toRouter));
  assert.equal(h.punted().length, 1);
  writePuntPolicing(h.policing, everyClass(1000, 1000));
  // 10 ms at the new 1000/s: 10 tokens (at the old 1/s it would be none).
  h.now += 10;
  const before = h.snapshot();
  h.run(TAP0, ...new Array(12).fill(fromH1(toRouter)));
  assert.deepEqual(h.moved(before), { '0:rx_packets': 12, '0:punted': 10, '0:punt_policed_local': 2 });
});

test('hand-over rings are drained from a rotating start: a lane that keeps its ring full does not starve another', (t) => {
  const batch = 4;
  const h = harness(t, { batch, poolSlots: 64 });
  const dataBytes = ringDataBytes(MIN_SLOT_BYTES);
  const capacity = 16;
  const ringBytes = SpscRing.byteLength(capacity, dataBytes);
  const sab = new SharedArrayBuffer(2 * ringBytes);
  // Lanes 1 and 2 hand this lane (0) packets they received: from H1 on TAP0 and from H3 on TUN2.
  const producers = [new SpscRing(sab, 0, capacity, dataBytes, true), new SpscRing(sab, ringBytes, capacity, dataBytes, true)];
  const consumers = [new SpscRing(sab, 0, capacity, dataBytes, false), new SpscRing(sab, ringBytes, capacity, dataBytes, false)];
  h.lane.setHandover({ lane: 0, to: [null, null, null], from: consumers, wake: () => {} });
  const fill = (ring: SpscRing, port: number, pkt: Uint8Array, n: number) => {
    for (let i = 0; i < n; i++) {
      const e = ring.tryReserve();
      ring.bytes.set(pkt, ring.dataOffset(e));
      ring.setMeta(e, 0, pkt.length, port, 1 /* HANDOVER_RECEIVED */);
      ring.publish();
    }
  };
  fill(producers[0]!, TAP0, ipv6Packet({ src: H1, dst: H2 }), 3 * batch);
  fill(producers[1]!, TUN2, ipv6Packet({ src: H3, dst: H2 }), 3 * batch);
  const before = h.snapshot();
  h.run(TAP0);
  h.run(TAP0);
  const moved = h.moved(before);
  // Two batches: one from each ring, whichever goes first.
  assert.equal(moved['0:forwarded'], batch, JSON.stringify(moved));
  assert.equal(moved['2:forwarded'], batch, JSON.stringify(moved));
  assert.equal(moved['1:tx_packets'], 2 * batch);
});
