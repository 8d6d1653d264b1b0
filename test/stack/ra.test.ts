import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ALL_NODES, UNSPECIFIED } from '../../src/lib/addr.js';
import { ManualClock } from '../../src/lib/clock.js';
import { SeededRng } from '../../src/lib/rng.js';
import type { NdMessage } from '../../src/wire/nd.js';
import { InterfaceTable } from '../../src/stack/interfaces.js';
import { defaultRaConfig, RouterAdvertiser, validateRaConfig, type RaConfig } from '../../src/stack/ra.js';
import { HOST_LL, HOST_MAC, RecordingTransport, ROUTER_MAC, ip, twoPorts } from './fixtures.js';

const LAN_PREFIX = { prefix: ip('2001:db8:1::'), prefixLen: 64, onLink: true, autonomous: true, validLifetime: 86400, preferredLifetime: 14400 };

function setup(seed = 42, ifaces: InterfaceTable = twoPorts()) {
  const clock = new ManualClock(0);
  const transport = new RecordingTransport(() => clock.now());
  const reports: Array<[number, string]> = [];
  const ra = new RouterAdvertiser(ifaces, transport, clock, new SeededRng(seed), { onInconsistency: (port, what) => reports.push([port, what]) });
  return { clock, transport, ra, ifaces, reports };
}

function ras(t: RecordingTransport) {
  return t.ofType('routerAdvertisement');
}

const rs: NdMessage = { type: 'routerSolicitation', options: [{ type: 'sourceLinkLayerAddress', mac: HOST_MAC }] };

test('the first RA goes at once from the link-local address to all-nodes; the first three are at most 16 s apart, later ones Min..Max apart', () => {
  const s = setup();
  s.ra.configure(0, defaultRaConfig({ maxInterval: 600, prefixes: [LAN_PREFIX] }));
  const [first] = ras(s.transport);
  assert.deepEqual([first?.at, first?.port, first?.src, first?.dst, first?.dstMac], [0, 0, s.ifaces.byPort(0)!.linkLocal(), ALL_NODES, null]);
  s.clock.advance(4 * 3600 * 1000);
  const times = ras(s.transport).map((r) => r.at);
  assert.ok(times.length > 20);
  const gaps = times.slice(1).map((t, i) => t - times[i]!);
  assert.ok(gaps[0]! <= 16_000 && gaps[1]! <= 16_000, `initial gaps ${gaps.slice(0, 2)} ≤ MAX_INITIAL_RTR_ADVERT_INTERVAL (§6.2.4)`);
  for (const g of gaps.slice(2)) assert.ok(g >= 198_000 && g <= 600_000, `gap ${g} ms within [MinRtrAdvInterval, MaxRtrAdvInterval]`);
  assert.ok(new Set(gaps.slice(2)).size > 1, 'intervals are randomized');
});

test('unsolicited intervals stay within the configured bounds for any valid bounds and seed', () => {
  fc.assert(
    fc.property(fc.integer({ min: 4, max: 1800 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer(), (max, f, seed) => {
      const min = 3 + f * (0.75 * max - 3);
      const s = setup(seed);
      s.ra.configure(0, defaultRaConfig({ maxInterval: max, minInterval: min }));
      s.clock.advance(max * 1000 * 12);
      const times = ras(s.transport).map((r) => r.at);
      const gaps = times.slice(1).map((t, i) => t - times[i]!);
      for (const [i, g] of gaps.entries()) {
        const upper = i < 2 ? Math.min(max * 1000, 16_000) : max * 1000;
        const lower = i < 2 ? Math.min(min * 1000, 16_000) : min * 1000;
        if (g < lower - 1e-6 || g > upper + 1e-6) return false;
      }
      return gaps.length >= 10;
    }),
    { seed: 42, numRuns: 60 },
  );
});

test('an RS is answered by a multicast RA within MAX_RA_DELAY_TIME', () => {
  const s = setup();
  s.ra.configure(0, defaultRaConfig({ maxInterval: 600 }));
  s.clock.advance(60_000);
  const before = ras(s.transport).length;
  s.ra.receiveSolicitation(0, HOST_LL, rs);
  s.clock.advance(500);
  const replies = ras(s.transport).slice(before);
  assert.equal(replies.length, 1);
  assert.ok(replies[0]!.at > 60_000 && replies[0]!.at <= 60_500, `reply at ${replies[0]!.at}`);
  assert.deepEqual([replies[0]!.dst, replies[0]!.dstMac], [ALL_NODES, null]);
  assert.equal(s.ra.counters.raSolicitedSent, 1);
});

test('RS replies are rate-limited to one per MIN_DELAY_BETWEEN_RAS and coalesced', () => {
  const s = setup();
  s.ra.configure(0, defaultRaConfig({ maxInterval: 600 }));
  s.clock.advance(60_000);
  s.ra.receiveSolicitation(0, HOST_LL, rs);
  s.clock.advance(500);
  const answeredAt = ras(s.transport).at(-1)!.at;
  // A burst of solicitations right after: one more RA, no sooner than 3 s after the previous one.
  for (let i = 0; i < 5; i++) {
    s.ra.receiveSolicitation(0, HOST_LL, rs);
    s.clock.advance(100);
  }
  s.clock.advance(4000);
  const later = ras(s.transport).filter((r) => r.at > answeredAt);
  assert.equal(later.length, 1);
  assert.ok(later[0]!.at >= answeredAt + 3000 && later[0]!.at <= answeredAt + 3500, `next RA at +${later[0]!.at - answeredAt} ms`);
  assert.equal(s.ra.counters.rsCoalesced, 4);
});

test('an RS is folded into an unsolicited RA that is due sooner than the reply would be', () => {
  // Learn when the fourth (first non-initial) RA falls with this seed...
  const probe = setup();
  probe.ra.configure(0, defaultRaConfig({ maxInterval: 600 }));
  probe.clock.advance(700_000);
  const due = ras(probe.transport)[3]!.at;
  // ...then solicit 1 ms before it on an identical advertiser: the random reply delay would land later.
  const s = setup();
  s.ra.configure(0, defaultRaConfig({ maxInterval: 600 }));
  s.clock.advance(due - 1);
  s.ra.receiveSolicitation(0, HOST_LL, rs);
  s.clock.advance(1000);
  assert.deepEqual(ras(s.transport).map((r) => r.at), ras(probe.transport).slice(0, 4).map((r) => r.at));
  assert.deepEqual([s.ra.counters.rsCoalesced, s.ra.counters.raSolicitedSent], [1, 0]);
});

test('RS on a port that does not advertise is ignored; an RS from :: with SLLA is invalid', () => {
  const s = setup();
  s.ra.receiveSolicitation(0, HOST_LL, rs);
  s.ra.configure(0, defaultRaConfig({ enabled: false }));
  s.ra.receiveSolicitation(0, HOST_LL, rs);
  s.ra.receiveSolicitation(0, UNSPECIFIED, rs);
  s.clock.advance(10_000);
  assert.equal(ras(s.transport).length, 0);
  assert.deepEqual([s.ra.counters.rsIgnored, s.ra.counters.rsInvalid], [2, 1]);
});

test('RA contents: header fields, SLLA, MTU, prefixes, RDNSS and DNSSL', () => {
  const s = setup();
  const dns = ip('2001:db8:1::53');
  s.ra.configure(0, defaultRaConfig({
    maxInterval: 200, defaultLifetime: 1800, hopLimit: 64, managed: true, other: true, reachableTime: 30_000, retransTimer: 1000,
    prefixes: [{ ...LAN_PREFIX, prefix: ip('2001:db8:1::1') }],
    rdnss: { servers: [dns], lifetime: 400 }, dnssl: { domains: ['lab.example'], lifetime: 400 },
  }));
  const msg = s.ra.buildAdvertisement(0);
  assert.deepEqual(msg, {
    type: 'routerAdvertisement', curHopLimit: 64, managed: true, other: true, routerLifetime: 1800, reachableTime: 30_000, retransTimer: 1000,
    options: [
      { type: 'sourceLinkLayerAddress', mac: ROUTER_MAC },
      { type: 'mtu', mtu: 1500 },
      { type: 'prefixInformation', prefixLength: 64, onLink: true, autonomous: true, validLifetime: 86400, preferredLifetime: 14400, prefix: ip('2001:db8:1::') },
      { type: 'rdnss', lifetime: 400, servers: [dns] },
      { type: 'dnssl', lifetime: 400, domains: ['lab.example'] },
    ],
  });
  assert.deepEqual(ras(s.transport)[0]?.msg, msg);
  // A TUN port has no link-layer address to advertise.
  s.ra.configure(1, defaultRaConfig({ mtu: false }));
  assert.deepEqual(s.ra.buildAdvertisement(1).options, []);
});

test('RFC 4191: the configured router preference and Route Information options; a final RA says medium', () => {
  const s = setup();
  s.ra.configure(0, defaultRaConfig({
    maxInterval: 600, mtu: false, preference: 'high',
    routes: [{ prefix: ip('2001:db8:f::1'), prefixLen: 48, lifetime: 1800, preference: 'low' }],
  }));
  const msg = s.ra.buildAdvertisement(0);
  assert.ok(msg.type === 'routerAdvertisement');
  assert.equal(msg.preference, 'high');
  // The prefix goes out masked to its length (§2.3: bits past it are zero).
  assert.deepEqual(msg.options.slice(1), [{ type: 'routeInformation', prefixLength: 48, preference: 'low', lifetime: 1800, prefix: ip('2001:db8:f::') }]);
  // §2.2: with router lifetime 0 the preference is sent as medium (absent).
  s.ra.stop();
  const last = ras(s.transport).at(-1)!.msg;
  assert.deepEqual([last.routerLifetime, last.preference], [0, undefined]);
});

test('disabling a port sends one final RA with router lifetime 0 and stops its timers', () => {
  const s = setup();
  s.ra.configure(0, defaultRaConfig({ maxInterval: 600, prefixes: [LAN_PREFIX] }));
  s.clock.advance(1000);
  s.ra.configure(0, defaultRaConfig({ enabled: false }));
  const last = ras(s.transport).at(-1)!;
  assert.deepEqual([last.at, last.msg.routerLifetime, last.dst], [1000, 0, ALL_NODES]);
  assert.equal(last.msg.options.filter((o) => o.type === 'prefixInformation').length, 1, 'the final RA still describes the prefixes');
  const count = ras(s.transport).length;
  s.clock.advance(3_600_000);
  assert.equal(ras(s.transport).length, count);
  assert.equal(s.ra.counters.finalRaSent, 1);
});

test('stop() sends a final RA on every advertising port and leaves no timer', () => {
  const s = setup();
  s.ra.configure(0, defaultRaConfig());
  s.ra.configure(1, defaultRaConfig());
  s.ra.stop();
  const finals = ras(s.transport).filter((r) => r.msg.routerLifetime === 0);
  assert.deepEqual(finals.map((r) => r.port).sort(), [0, 1]);
  assert.equal(s.clock.pendingTimers(), 0);
});

test('reconfiguring an advertising port applies in place and restarts the fast initial RAs', () => {
  const s = setup();
  s.ra.configure(0, defaultRaConfig({ maxInterval: 600, hopLimit: 64 }));
  s.clock.advance(3_600_000);
  const count = ras(s.transport).length;
  s.ra.configure(0, defaultRaConfig({ maxInterval: 600, hopLimit: 32 }));
  s.clock.advance(16_000);
  const after = ras(s.transport).slice(count);
  assert.ok(after.length >= 1, 'a changed RA goes out within MAX_INITIAL_RTR_ADVERT_INTERVAL');
  assert.ok(after.every((r) => r.msg.curHopLimit === 32 && r.msg.routerLifetime === 1800));
  assert.equal(s.ra.counters.finalRaSent, 0);
});

test('a port advertises only while its link is up and its link-local address has passed DAD', () => {
  const ifaces = new InterfaceTable();
  ifaces.add({ name: 'lan0', port: 0, kind: 'tap', mac: ROUTER_MAC });
  const s = setup(42, ifaces);
  s.ra.configure(0, defaultRaConfig({ maxInterval: 600 }));
  assert.equal(s.ra.isAdvertising(0), false);
  assert.equal(ras(s.transport).length, 0);
  ifaces.setAddressState(0, ifaces.byPort(0)!.linkLocal(), 'preferred');
  assert.equal(s.ra.isAdvertising(0), true);
  assert.equal(ras(s.transport).length, 1);
  ifaces.setLinkUp(0, false);
  assert.equal(s.ra.isAdvertising(0), false);
  assert.equal(s.clock.pendingTimers(), 0);
  assert.equal(s.ra.counters.finalRaSent, 0, 'no goodbye on a dead link');
  s.clock.advance(1000);
  ifaces.setLinkUp(0, true);
  assert.deepEqual(ras(s.transport).map((r) => r.at), [0, 1000]);
});

test('§6.2.7: RAs of other routers are counted and their disagreements reported', () => {
  const s = setup();
  s.ra.configure(0, defaultRaConfig({ hopLimit: 64, reachableTime: 30_000, prefixes: [LAN_PREFIX] }));
  const other = ip('fe80::2');
  s.ra.receiveAdvertisement(0, other, {
    type: 'routerAdvertisement', curHopLimit: 32, managed: true, other: false, routerLifetime: 1800, reachableTime: 0, retransTimer: 0,
    options: [
      { type: 'mtu', mtu: 1400 },
      { type: 'prefixInformation', prefix: LAN_PREFIX.prefix, prefixLength: 64, onLink: true, autonomous: true, validLifetime: 3600, preferredLifetime: 14400 },
    ],
  });
  const whats = s.reports.map(([port, what]) => `${port} ${what}`);
  assert.equal(whats.length, 4, whats.join('\n'));
  assert.ok(whats[0]!.startsWith('0 CurHopLimit 32, ours 64'));
  assert.ok(whats.some((w) => w.includes('M flag true')));
  assert.ok(whats.some((w) => w.includes('MTU 1400')));
  assert.ok(whats.some((w) => w.includes('2001:db8:1::/64 valid lifetime 3600 s, ours 86400 s')));
  assert.ok(whats.every((w) => w.endsWith('(RA from fe80::2)')));
  s.ra.receiveAdvertisement(0, ip('2001:db8::2'), s.ra.buildAdvertisement(0));
  assert.deepEqual([s.ra.counters.raReceived, s.ra.counters.raInvalid, s.ra.counters.inconsistencies], [2, 1, 4]);
});

test('configurations outside §6.2.1 limits are refused with reasons', () => {
  const bad: RaConfig = defaultRaConfig({
    maxInterval: 4000, minInterval: 0.01, defaultLifetime: 10, hopLimit: 300,
    prefixes: [{ ...LAN_PREFIX, preferredLifetime: 90_000 }],
  });
  const errors = validateRaConfig(bad);
  assert.ok(errors.length >= 5, errors.join('\n'));
  assert.ok(errors.some((e) => e.includes('preferredLifetime 90000 exceeds validLifetime 86400')));
  const s = setup();
  assert.throws(() => s.ra.configure(0, bad), /RA config for port 0: maxInterval 4000/);
  assert.deepEqual(validateRaConfig(defaultRaConfig()), []);
  // RFC 6275 §7.5 intervals for Mobile IPv6 links are allowed.
  assert.deepEqual(validateRaConfig(defaultRaConfig({ maxInterval: 0.07, minInterval: 0.05, defaultLifetime: 0 })), []);
});
