import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_NODES, solicitedNodeMulticast, UNSPECIFIED } from '../../src/lib/addr.js';
import { ManualClock } from '../../src/lib/clock.js';
import { SeededRng } from '../../src/lib/rng.js';
import type { NdMessage } from '../../src/wire/nd.js';
import { NeighborCache, type NeighborCacheOptions } from '../../src/stack/nd.js';
import type { InterfaceTable } from '../../src/stack/interfaces.js';
import { HOST, HOST_LL, HOST_MAC, HOST_MAC_2, RecordingTransport, ROUTER_GLOBAL, ROUTER_MAC, ip, packet, twoPorts } from './fixtures.js';

function setup(opts: NeighborCacheOptions = {}, ifaces: InterfaceTable = twoPorts()) {
  const clock = new ManualClock(0);
  const transport = new RecordingTransport(() => clock.now());
  const nd = new NeighborCache(ifaces, transport, clock, new SeededRng(42), opts);
  return { clock, transport, nd, ifaces };
}

function ns(target: Uint8Array, slla: Uint8Array | null): NdMessage {
  return { type: 'neighborSolicitation', target, options: slla === null ? [] : [{ type: 'sourceLinkLayerAddress', mac: slla }] };
}

function na(target: Uint8Array, flags: { solicited: boolean; override: boolean; router?: boolean }, tlla: Uint8Array | null): NdMessage {
  return {
    type: 'neighborAdvertisement', router: flags.router ?? false, solicited: flags.solicited, override: flags.override, target,
    options: tlla === null ? [] : [{ type: 'targetLinkLayerAddress', mac: tlla }],
  };
}

/** Resolves HOST on port 0 with one packet and answers with a solicited NA: the entry ends REACHABLE. */
function reachableHost(s: ReturnType<typeof setup>): void {
  s.nd.resolve(0, HOST, packet(HOST_LL, HOST, 1));
  s.nd.receive(0, HOST, ROUTER_GLOBAL, na(HOST, { solicited: true, override: true }, HOST_MAC));
  assert.equal(s.nd.lookup(0, HOST)?.state, 'REACHABLE');
}

test('a unicast NS for an own address gets a solicited NA with R and O set, and the solicitor becomes STALE', () => {
  const s = setup();
  s.nd.receive(0, HOST, ROUTER_GLOBAL, ns(ROUTER_GLOBAL, HOST_MAC));
  const [reply] = s.transport.ofType('neighborAdvertisement');
  assert.ok(reply);
  assert.deepEqual(reply.msg, {
    type: 'neighborAdvertisement', router: true, solicited: true, override: true, target: ROUTER_GLOBAL,
    options: [{ type: 'targetLinkLayerAddress', mac: ROUTER_MAC }],
  });
  assert.deepEqual([reply.port, reply.src, reply.dst, reply.dstMac], [0, ROUTER_GLOBAL, HOST, HOST_MAC]);
  const entry = s.nd.lookup(0, HOST);
  assert.equal(entry?.state, 'STALE');
  assert.deepEqual(entry?.mac, HOST_MAC);
  assert.equal(entry?.router, false);
  assert.equal(s.transport.changes, 1);
  assert.deepEqual([s.nd.counters.nsReceived, s.nd.counters.naSent], [1, 1]);
});

test('an NS from :: (another node\'s DAD) is answered to all-nodes without the S flag and creates no entry', () => {
  const s = setup();
  s.nd.receive(0, UNSPECIFIED, solicitedNodeMulticast(ROUTER_GLOBAL), ns(ROUTER_GLOBAL, null));
  const [reply] = s.transport.ofType('neighborAdvertisement');
  assert.ok(reply);
  assert.deepEqual([reply.dst, reply.dstMac, reply.msg.solicited, reply.msg.router, reply.msg.override], [ALL_NODES, null, false, true, true]);
  assert.equal(s.nd.entries().length, 0);
});

test('solicitations that are not for us, or break §7.1.1, get no answer', () => {
  const s = setup();
  s.nd.receive(0, HOST, ROUTER_GLOBAL, ns(ip('2001:db8:1::77'), HOST_MAC));
  // The router's global address lives on port 0, not on the TUN port 1 (RFC 4007 zones).
  s.nd.receive(1, HOST, ROUTER_GLOBAL, ns(ROUTER_GLOBAL, null));
  s.nd.receive(0, UNSPECIFIED, solicitedNodeMulticast(ROUTER_GLOBAL), ns(ROUTER_GLOBAL, HOST_MAC));
  s.nd.receive(0, UNSPECIFIED, ALL_NODES, ns(ROUTER_GLOBAL, null));
  s.nd.receive(0, HOST, ROUTER_GLOBAL, ns(ALL_NODES, HOST_MAC));
  assert.equal(s.transport.nd.length, 0);
  assert.deepEqual([s.nd.counters.notForUs, s.nd.counters.invalid], [2, 3]);
  assert.equal(s.nd.entries().length, 0);
});

test('a unicast NS without SLLA is answered to the cached MAC, or counted when there is none', () => {
  const s = setup();
  s.nd.receive(0, HOST, ROUTER_GLOBAL, ns(ROUTER_GLOBAL, null));
  assert.equal(s.nd.counters.naUndeliverable, 1);
  assert.equal(s.transport.nd.length, 0);
  reachableHost(s);
  s.nd.receive(0, HOST, ROUTER_GLOBAL, ns(ROUTER_GLOBAL, null));
  const [reply] = s.transport.ofType('neighborAdvertisement');
  assert.deepEqual(reply?.dstMac, HOST_MAC);
});

test('resolution: one multicast NS, then the queued packets go out in order on a solicited NA', () => {
  const s = setup();
  const packets = [1, 2, 3].map((m) => packet(HOST_LL, HOST, m));
  for (const p of packets) s.nd.resolve(0, HOST, p);
  const solicits = s.transport.ofType('neighborSolicitation');
  assert.equal(solicits.length, 1);
  assert.deepEqual(solicits[0]!.dst, solicitedNodeMulticast(HOST));
  assert.equal(solicits[0]!.dstMac, null);
  // §7.2.2: the prompting packet's source is not ours, so an address on the target's prefix is used.
  assert.deepEqual(solicits[0]!.src, ROUTER_GLOBAL);
  assert.deepEqual(solicits[0]!.msg.options, [{ type: 'sourceLinkLayerAddress', mac: ROUTER_MAC }]);
  assert.equal(s.nd.lookup(0, HOST)?.state, 'INCOMPLETE');
  assert.equal(s.transport.changes, 0);

  s.clock.advance(400);
  s.nd.receive(0, HOST, ROUTER_GLOBAL, na(HOST, { solicited: true, override: true, router: true }, HOST_MAC));
  assert.deepEqual(s.transport.resolved.map((r) => r.packet[40]), [1, 2, 3]);
  assert.ok(s.transport.resolved.every((r) => r.port === 0 && r.dstMac.every((b, i) => b === HOST_MAC[i])));
  const entry = s.nd.lookup(0, HOST);
  assert.deepEqual([entry?.state, entry?.router], ['REACHABLE', true]);
  assert.equal(s.transport.changes, 1);
  // Later packets go straight out.
  s.nd.resolve(0, HOST, packet(HOST_LL, HOST, 4));
  assert.equal(s.transport.resolved.length, 4);
  s.clock.advance(5000);
  assert.equal(s.transport.ofType('neighborSolicitation').length, 1, 'no retransmission after success');
});

test('the NS source is the prompting packet\'s source when that is ours, else suited to the target', () => {
  const s = setup();
  const ourLl = s.ifaces.byPort(0)!.linkLocal();
  s.nd.resolve(0, HOST, packet(ourLl, HOST, 1));
  s.nd.resolve(0, HOST_LL, packet(HOST, HOST_LL, 2));
  const [first, second] = s.transport.ofType('neighborSolicitation');
  assert.deepEqual(first?.src, ourLl);
  assert.deepEqual(second?.src, ourLl);
});

test('resolution fails after 3 multicast NS 1 s apart: every queued packet is reported unreachable', () => {
  const s = setup();
  s.nd.resolve(0, HOST, packet(HOST_LL, HOST, 1));
  s.clock.advance(500);
  s.nd.resolve(0, HOST, packet(HOST_LL, HOST, 2));
  s.clock.advance(2499);
  assert.deepEqual(s.transport.ofType('neighborSolicitation').map((x) => x.at), [0, 1000, 2000]);
  assert.equal(s.transport.unreachables.length, 0);
  s.clock.advance(1);
  assert.deepEqual(s.transport.unreachables.map((u) => [u.at, u.port, u.packet[40]]), [[3000, 0, 1], [3000, 0, 2]]);
  assert.equal(s.nd.lookup(0, HOST), undefined);
  assert.equal(s.nd.counters.resolutionFailures, 1);
  assert.equal(s.nd.counters.nsSent, 3);
  assert.equal(s.clock.pendingTimers(), 0);
});

test('a full queue drops its oldest packet for the new one and counts it', () => {
  const s = setup({ queueLimit: 3 });
  for (let m = 1; m <= 5; m++) s.nd.resolve(0, HOST, packet(HOST_LL, HOST, m));
  assert.equal(s.nd.counters.queueDrops, 2);
  s.nd.receive(0, HOST, ROUTER_GLOBAL, na(HOST, { solicited: true, override: true }, HOST_MAC));
  assert.deepEqual(s.transport.resolved.map((r) => r.packet[40]), [3, 4, 5]);
});

test('an NA without a link-layer address cannot complete resolution', () => {
  const s = setup();
  s.nd.resolve(0, HOST, packet(HOST_LL, HOST, 1));
  s.nd.receive(0, HOST, ROUTER_GLOBAL, na(HOST, { solicited: true, override: true }, null));
  assert.equal(s.nd.lookup(0, HOST)?.state, 'INCOMPLETE');
  assert.equal(s.transport.resolved.length, 0);
});

test('an NS with SLLA from the neighbour being resolved completes resolution as STALE', () => {
  const s = setup();
  s.nd.resolve(0, HOST, packet(HOST_LL, HOST, 1));
  s.nd.receive(0, HOST, ROUTER_GLOBAL, ns(ROUTER_GLOBAL, HOST_MAC));
  assert.equal(s.nd.lookup(0, HOST)?.state, 'STALE');
  assert.deepEqual(s.transport.resolved.map((r) => r.packet[40]), [1]);
});

test('NUD: REACHABLE lapses to STALE, is probed by unicast after 5 s, and is deleted after 3 unanswered probes', () => {
  const s = setup({ reachableTimeMs: 10_000, delayFirstProbeMs: 5000, retransTimerMs: 1000 });
  reachableHost(s);
  const reachableFor = s.nd.lookup(0, HOST)!.expiresInMs;
  assert.ok(reachableFor >= 5000 && reachableFor <= 15_000, `ReachableTime ${reachableFor} is 0.5–1.5 × base (§6.3.2)`);
  const changesBefore = s.transport.changes;
  s.clock.advance(reachableFor - 1);
  assert.equal(s.nd.lookup(0, HOST)?.state, 'REACHABLE');
  s.clock.advance(1);
  assert.equal(s.nd.lookup(0, HOST)?.state, 'STALE');
  assert.equal(s.nd.lookup(0, HOST)?.expiresInMs, 5000);
  const solicitsBefore = s.transport.ofType('neighborSolicitation').length;
  s.clock.advance(5000);
  assert.equal(s.nd.lookup(0, HOST)?.state, 'PROBE');
  s.clock.advance(2000);
  const probes = s.transport.ofType('neighborSolicitation').slice(solicitsBefore);
  assert.equal(probes.length, 3);
  const t0 = reachableFor + 5000;
  assert.deepEqual(probes.map((p) => p.at), [t0, t0 + 1000, t0 + 2000]);
  for (const p of probes) {
    assert.deepEqual([p.dst, p.dstMac, p.src, p.msg.target], [HOST, HOST_MAC, ROUTER_GLOBAL, HOST], 'probes are unicast to the cached MAC');
  }
  assert.equal(s.transport.changes, changesBefore, 'no republish while the MAC still holds');
  s.clock.advance(999);
  assert.ok(s.nd.lookup(0, HOST) !== undefined);
  s.clock.advance(1);
  assert.equal(s.nd.lookup(0, HOST), undefined);
  assert.equal(s.transport.changes, changesBefore + 1);
  assert.equal(s.nd.counters.nudFailures, 1);
  assert.equal(s.clock.pendingTimers(), 0);
});

test('NUD: a solicited NA to a probe makes the entry REACHABLE again', () => {
  const s = setup({ reachableTimeMs: 10_000, delayFirstProbeMs: 5000 });
  reachableHost(s);
  s.clock.advance(s.nd.lookup(0, HOST)!.expiresInMs + 5000);
  assert.equal(s.nd.lookup(0, HOST)?.state, 'PROBE');
  s.nd.receive(0, HOST, ROUTER_GLOBAL, na(HOST, { solicited: true, override: false }, null));
  assert.equal(s.nd.lookup(0, HOST)?.state, 'REACHABLE');
  s.clock.advance(4000);
  assert.ok(s.nd.lookup(0, HOST) !== undefined);
  assert.equal(s.nd.counters.nudFailures, 0);
});

test('a packet for a STALE neighbour goes at once and moves it to DELAY without postponing the probe', () => {
  const s = setup();
  s.nd.receive(0, HOST, ROUTER_GLOBAL, ns(ROUTER_GLOBAL, HOST_MAC));
  s.clock.advance(2000);
  s.nd.resolve(0, HOST, packet(HOST_LL, HOST, 9));
  assert.deepEqual(s.transport.resolved.map((r) => r.packet[40]), [9]);
  assert.equal(s.nd.lookup(0, HOST)?.state, 'DELAY');
  assert.equal(s.nd.lookup(0, HOST)?.expiresInMs, 3000);
  s.clock.advance(3000);
  assert.equal(s.nd.lookup(0, HOST)?.state, 'PROBE');
});

test('§7.2.5 override rules for an established entry', () => {
  const s = setup();
  reachableHost(s);
  const changes = s.transport.changes;
  // O clear with another address: the cached one stays, but is now in doubt.
  s.nd.receive(0, HOST, ROUTER_GLOBAL, na(HOST, { solicited: false, override: false }, HOST_MAC_2));
  assert.deepEqual([s.nd.lookup(0, HOST)?.state, s.nd.lookup(0, HOST)?.mac], ['STALE', HOST_MAC]);
  assert.equal(s.transport.changes, changes);
  // O set, unsolicited, another address: replaced, STALE, lanes told.
  s.nd.receive(0, HOST, ALL_NODES, na(HOST, { solicited: false, override: true }, HOST_MAC_2));
  assert.deepEqual([s.nd.lookup(0, HOST)?.state, s.nd.lookup(0, HOST)?.mac], ['STALE', HOST_MAC_2]);
  assert.equal(s.transport.changes, changes + 1);
  // Solicited with the same address: REACHABLE, nothing for the lanes.
  s.nd.receive(0, HOST, ROUTER_GLOBAL, na(HOST, { solicited: true, override: false, router: true }, HOST_MAC_2));
  assert.deepEqual([s.nd.lookup(0, HOST)?.state, s.nd.lookup(0, HOST)?.router], ['REACHABLE', true]);
  assert.equal(s.transport.changes, changes + 1);
});

test('unsolicited NAs for unknown neighbours and solicited NAs to a group are discarded', () => {
  const s = setup();
  s.nd.receive(0, HOST, ALL_NODES, na(HOST, { solicited: false, override: true }, HOST_MAC));
  s.nd.receive(0, HOST, ALL_NODES, na(HOST, { solicited: true, override: true }, HOST_MAC));
  assert.equal(s.nd.entries().length, 0);
  assert.deepEqual([s.nd.counters.naUnmatched, s.nd.counters.invalid], [1, 1]);
});

test('RS and RA with SLLA create STALE entries; an RA marks its sender a router', () => {
  const s = setup();
  s.nd.receive(0, HOST_LL, ip('ff02::2'), { type: 'routerSolicitation', options: [{ type: 'sourceLinkLayerAddress', mac: HOST_MAC }] });
  const other = ip('fe80::1');
  s.nd.receive(0, other, ALL_NODES, {
    type: 'routerAdvertisement', curHopLimit: 64, managed: false, other: false, routerLifetime: 1800, reachableTime: 0, retransTimer: 0,
    options: [{ type: 'sourceLinkLayerAddress', mac: HOST_MAC_2 }],
  });
  assert.deepEqual([s.nd.lookup(0, HOST_LL)?.state, s.nd.lookup(0, HOST_LL)?.router], ['STALE', false]);
  assert.deepEqual([s.nd.lookup(0, other)?.state, s.nd.lookup(0, other)?.router], ['STALE', true]);
  s.nd.receive(0, UNSPECIFIED, ip('ff02::2'), { type: 'routerSolicitation', options: [{ type: 'sourceLinkLayerAddress', mac: HOST_MAC }] });
  assert.equal(s.nd.counters.invalid, 1);
});

test('a link going down flushes its entries, timers and queued packets', () => {
  const s = setup();
  reachableHost(s);
  s.nd.resolve(0, ip('2001:db8:1::5'), packet(HOST_LL, ip('2001:db8:1::5'), 1));
  const changes = s.transport.changes;
  s.ifaces.setLinkUp(0, false);
  assert.equal(s.nd.entries().length, 0);
  assert.equal(s.transport.changes, changes + 1);
  assert.equal(s.clock.pendingTimers(), 0);
  s.nd.resolve(0, HOST, packet(HOST_LL, HOST, 2));
  assert.equal(s.transport.unreachables.length, 1, 'a packet for a down port is unreachable at once');
});

test('a TUN port needs no resolution: packets pass with an empty MAC and NS get answers without TLLA', () => {
  const s = setup();
  s.nd.resolve(1, HOST, packet(HOST_LL, HOST, 7));
  assert.deepEqual(s.transport.resolved.map((r) => [r.port, r.dstMac.length, r.packet[40]]), [[1, 0, 7]]);
  const tunLl = s.ifaces.byPort(1)!.linkLocal();
  s.nd.receive(1, HOST_LL, tunLl, ns(tunLl, null));
  const [reply] = s.transport.ofType('neighborAdvertisement');
  assert.deepEqual([reply?.port, reply?.dstMac?.length, reply?.msg.options.length], [1, 0, 0]);
});

test('DAD: NS from :: to the solicited-node group, then preferred after RetransTimer', () => {
  const s = setup({ retransTimerMs: 1000 });
  const addr = ip('2001:db8:1::2');
  const states: string[] = [];
  s.ifaces.on('address-state', (_i, a) => states.push(a.state));
  s.ifaces.addAddress(0, addr, 64, 'config');
  s.nd.startDad(0, addr, 2);
  const probes = s.transport.ofType('neighborSolicitation');
  assert.equal(probes.length, 1);
  assert.deepEqual([probes[0]!.src, probes[0]!.dst, probes[0]!.dstMac, probes[0]!.msg.target, probes[0]!.msg.options.length],
    [UNSPECIFIED, solicitedNodeMulticast(addr), null, addr, 0]);
  // While tentative, resolution of the address by others is ignored (RFC 4862 §5.4.3).
  s.nd.receive(0, HOST, addr, ns(addr, HOST_MAC));
  assert.equal(s.transport.ofType('neighborAdvertisement').length, 0);
  assert.equal(s.ifaces.byPort(0)!.hasAddress(addr), false);
  s.clock.advance(1999);
  assert.equal(s.transport.ofType('neighborSolicitation').length, 2);
  assert.equal(s.ifaces.byPort(0)!.findAddress(addr)?.state, 'tentative');
  s.clock.advance(1);
  assert.equal(s.ifaces.byPort(0)!.hasAddress(addr), true);
  assert.deepEqual(states, ['preferred']);
  assert.equal(s.nd.counters.dadSucceeded, 1);
});

test('DAD: an NS from :: or an NA for the tentative address makes it a duplicate', () => {
  const s = setup();
  const a1 = ip('2001:db8:1::2');
  const a2 = ip('2001:db8:1::3');
  s.ifaces.addAddress(0, a1, 64, 'config');
  s.ifaces.addAddress(0, a2, 64, 'config');
  s.nd.startDad(0, a1, 1);
  s.nd.startDad(0, a2, 1);
  s.nd.receive(0, UNSPECIFIED, solicitedNodeMulticast(a1), ns(a1, null));
  s.nd.receive(0, HOST, ALL_NODES, na(a2, { solicited: false, override: true }, HOST_MAC));
  s.clock.advance(5000);
  assert.equal(s.ifaces.byPort(0)!.findAddress(a1)?.state, 'duplicate');
  assert.equal(s.ifaces.byPort(0)!.findAddress(a2)?.state, 'duplicate');
  assert.equal(s.nd.counters.dadFailures, 2);
  assert.equal(s.nd.counters.dadSucceeded, 0);
  assert.equal(s.transport.ofType('neighborAdvertisement').length, 0, 'a duplicate is never defended');
});

test('DAD on an asserted (preferred) address keeps it usable and still detects a conflict', () => {
  const s = setup();
  s.nd.startDad(0, ROUTER_GLOBAL, 1);
  assert.equal(s.ifaces.byPort(0)!.hasAddress(ROUTER_GLOBAL), true);
  s.nd.receive(0, HOST, ALL_NODES, na(ROUTER_GLOBAL, { solicited: false, override: true }, HOST_MAC));
  assert.equal(s.ifaces.byPort(0)!.findAddress(ROUTER_GLOBAL)?.state, 'duplicate');
  // After DAD, an NA for an own address is only counted.
  const s2 = setup();
  s2.nd.receive(0, HOST, ALL_NODES, na(ROUTER_GLOBAL, { solicited: false, override: true }, HOST_MAC));
  assert.equal(s2.ifaces.byPort(0)!.hasAddress(ROUTER_GLOBAL), true);
  assert.equal(s2.nd.counters.ownAddressConflicts, 1);
});

test('DAD with 0 transmits makes the address preferred at once; removing an address cancels its DAD', () => {
  const s = setup();
  const a = ip('2001:db8:1::2');
  s.ifaces.addAddress(0, a, 64, 'config');
  s.nd.startDad(0, a, 0);
  assert.equal(s.ifaces.byPort(0)!.hasAddress(a), true);
  assert.equal(s.transport.nd.length, 0);
  const b = ip('2001:db8:1::3');
  s.ifaces.addAddress(0, b, 64, 'config');
  s.nd.startDad(0, b, 3);
  s.ifaces.removeAddress(0, b);
  s.clock.advance(10_000);
  assert.equal(s.transport.ofType('neighborSolicitation').length, 1);
  assert.equal(s.clock.pendingTimers(), 0);
});

test('nd.maxIncomplete: past the cap a new neighbour is refused on that port only; resolution, failure and flush free places', () => {
  const ifaces = twoPorts();
  ifaces.add({ name: 'lan2', port: 2, kind: 'tap', mac: HOST_MAC_2, linkLocalState: 'preferred' });
  const s = setup({ maxIncomplete: 3 }, ifaces);
  const scan = (n: number) => ip(`2001:db8:1::${(0x100 + n).toString(16)}`);
  for (let n = 0; n < 3; n++) assert.equal(s.nd.resolve(0, scan(n), packet(HOST_LL, scan(n), n)), true);
  assert.equal(s.nd.resolve(0, scan(3), packet(HOST_LL, scan(3), 3)), false, 'a fourth INCOMPLETE entry');
  assert.equal(s.nd.lookup(0, scan(3)), undefined);
  assert.equal(s.transport.ofType('neighborSolicitation').length, 3, 'no solicitation for the refused one');
  // A neighbour already being resolved still queues; another port has its own places.
  assert.equal(s.nd.resolve(0, scan(0), packet(HOST_LL, scan(0), 9)), true);
  assert.equal(s.nd.resolve(2, scan(7), packet(HOST_LL, scan(7), 7)), true);
  // An answer completes one: its place is free again.
  s.nd.receive(0, scan(1), ROUTER_GLOBAL, na(scan(1), { solicited: true, override: true }, HOST_MAC));
  assert.equal(s.nd.resolve(0, scan(4), packet(HOST_LL, scan(4), 4)), true);
  assert.equal(s.nd.resolve(0, scan(5), packet(HOST_LL, scan(5), 5)), false);
  // Resolution failing (3 s) frees the rest.
  s.clock.advance(3000);
  assert.deepEqual(s.nd.entries().filter((e) => e.port === 0).map((e) => e.state), ['REACHABLE']);
  for (let n = 10; n < 13; n++) assert.equal(s.nd.resolve(0, scan(n), packet(HOST_LL, scan(n), n)), true);
  assert.equal(s.nd.resolve(0, scan(13), packet(HOST_LL, scan(13), 13)), false);
  // And so does a flush.
  s.ifaces.setLinkUp(0, false);
  s.ifaces.setLinkUp(0, true);
  assert.equal(s.nd.resolve(0, scan(14), packet(HOST_LL, scan(14), 14)), true);
});
