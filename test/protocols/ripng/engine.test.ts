/**
 * The RIPng engine on a ManualClock: validation order and counters (RFC 2080 §2.4.2),
 * requests (§2.4.1), next-hop RTEs (§2.1.1), timers (§2.3: timeout → metric 16 → garbage
 * collection), triggered updates with their 1–5 s hold-down (§2.5.1), split horizon
 * (§2.5), MTU-sized messages, RIB entries with origin `ripng`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIpv6 } from '../../../src/lib/addr.js';
import { maxRtesForMtu } from '../../../src/wire/ripng.js';
import { config, ip, message, nextHop, rte, shown, startRipng } from './harness.js';

const ribRoute = (s: ReturnType<typeof startRipng>, prefix: string) => {
  const [a, l] = prefix.split('/');
  return s.api.rib.all().find((r) => r.origin === 'ripng' && formatIpv6(r.prefix) === a && r.prefixLen === Number(l));
};

test('start: joins ff02::9, asks for whole tables, advertises connected prefixes from link-local, port 521, hop limit 255', () => {
  const s = startRipng(config(2));
  assert.deepEqual([...s.api.groups].sort(), ['0/ff02::9', '1/ff02::9']);
  const requests = s.api.sent.filter((m) => m.msg.command === 1);
  assert.equal(requests.length, 2);
  assert.deepEqual(shown(requests.slice(0, 1)), ['::/0 16']);
  const first = s.api.sent.find((m) => m.msg.command === 2 && m.port === 0)!;
  assert.equal(first.dst, 'ff02::9');
  assert.equal(first.src, formatIpv6(s.api.ifaces.byPort(0)!.linkLocal()));
  assert.equal(first.hopLimit, 255);
  assert.equal(first.srcPort, 521);
  assert.deepEqual(shown([first]).sort(), ['2001:db8:1::/64 1', '2001:db8::/64 1']);
});

test('validation: each check in §2.4 order drops the message and counts its reason; the first failing check wins', () => {
  const s = startRipng(config(1));
  const good = message(2, [rte('2001:db8:50::/48', 1)]);
  s.api.deliver({ payload: good, srcPort: 520, hopLimit: 254, src: ip('2001:db8::9') });
  s.api.deliver({ payload: good, src: ip('2001:db8::9'), hopLimit: 254 });
  s.api.deliver({ payload: good, hopLimit: 254 });
  s.api.deliver({ payload: good, port: 5 });
  s.api.deliver({ payload: good, src: s.api.ifaces.byPort(0)!.linkLocal() });
  s.api.deliver({ payload: message(2, [rte('2001:db8:50::/48', 1)], 2) });
  s.api.deliver({ payload: good.subarray(0, good.length - 1) });
  s.api.deliver({ payload: message(7, [rte('2001:db8:50::/48', 1)]) });
  s.api.deliver({ payload: message(10, [rte('2001:db8:50::/48', 1)], 1, { flush: 1, seq: 0 }) });
  assert.deepEqual(s.ripng.badPackets, {
    bad_source_port: 1, not_link_local: 1, bad_hop_limit: 1, not_on_link: 2, bad_version: 1, bad_length: 1, bad_command: 1,
    demand_mismatch: 1, bad_update_header: 0,
  });
  assert.equal(ribRoute(s, '2001:db8:50::/48'), undefined, 'nothing learned from bad messages');
  assert.ok(s.warnings.includes('ripng.bad_hop_limit'), 'logged through the rate-limited logger');
  const metric = s.metrics.get('ripng_bad_packets_total')!();
  assert.equal(metric.length, 9, 'every reason has a series');
  assert.ok(metric.some((m) => (m.labels as { reason: string }).reason === 'not_on_link' && m.value === 2));
});

test('bad RTEs are skipped and counted; the good ones in the same message are learned', () => {
  const s = startRipng(config(1));
  s.api.respond([
    rte('2001:db8:60::/48', 0),
    rte('2001:db8:61::/48', 17),
    { ...rte('2001:db8:62::/48', 1), prefixLen: 129 },
    rte('fe80::/64', 1),
    rte('ff05::/16', 1),
    nextHop('2001:db8::77'),
    rte('2001:db8:63::/48', 2),
  ]);
  assert.deepEqual(s.ripng.badRoutes, { bad_metric: 2, bad_prefix_length: 1, bad_prefix: 2, bad_next_hop: 1 });
  const r = ribRoute(s, '2001:db8:63::/48');
  assert.ok(r, 'the good RTE after the bad next hop is learned');
  assert.equal(formatIpv6(r.nexthops[0]!.gateway!), 'fe80::99', 'a global next hop is treated as :: (the source)');
  const table = s.ripng.tableData();
  assert.equal(table.neighbors[0]!.badRoutes, 6);
});

test('learned routes enter the RIB with origin ripng, preference 120, metric + interface cost, link-local gateway and tag', () => {
  const s = startRipng(config(2, {}, { metricIn: 2 }));
  s.api.respond([rte('2001:db8:70::/48', 3, 0x42), nextHop('fe80::aa'), rte('2001:db8:71::/48', 1), nextHop('::'), rte('2001:db8:72::/48', 13), rte('2001:db8:73::/48', 15)], { port: 1 });
  const a = ribRoute(s, '2001:db8:70::/48')!;
  assert.equal(a.preference, 120);
  assert.equal(a.metric, 5);
  assert.equal(a.tag, 0x42);
  assert.deepEqual(a.nexthops.map((n) => [n.port, formatIpv6(n.gateway!)]), [[1, 'fe80::99']]);
  assert.equal(formatIpv6(ribRoute(s, '2001:db8:71::/48')!.nexthops[0]!.gateway!), 'fe80::aa', 'next-hop RTE applies to the RTEs after it');
  assert.equal(formatIpv6(ribRoute(s, '2001:db8:72::/48')!.nexthops[0]!.gateway!), 'fe80::99', ':: resets to the source');
  assert.equal(ribRoute(s, '2001:db8:72::/48')!.metric, 15);
  assert.ok(!s.ripng.tableData().routes.some((r) => r.prefix === '2001:db8:73::/48'), '15 + 2 caps at infinity, and an unknown unreachable route is ignored');
});

test('timers: a route not refreshed times out at 180 s (metric 16, out of the RIB, advertised as 16), then is garbage-collected 120 s later', () => {
  const s = startRipng(config(2));
  s.api.respond([rte('2001:db8:80::/48', 1)]);
  s.api.clock.advance(100_000);
  s.api.respond([rte('2001:db8:80::/48', 1)]);
  s.api.clock.advance(179_000);
  assert.ok(ribRoute(s, '2001:db8:80::/48'), 'a refresh restarted the timeout');
  const before = s.api.clock.now();
  s.api.clock.advance(1_000);
  assert.equal(ribRoute(s, '2001:db8:80::/48'), undefined);
  const entry = s.ripng.tableData().routes.find((r) => r.prefix === '2001:db8:80::/48')!;
  assert.equal(entry.metric, 16);
  assert.equal(entry.state, 'garbage');
  const triggered = s.api.sentSince(before, 1);
  assert.ok(shown(triggered).includes('2001:db8:80::/48 16'), 'the deletion is announced at once on the other port');
  s.api.clock.advance(119_000);
  assert.ok(s.ripng.tableData().routes.some((r) => r.prefix === '2001:db8:80::/48'));
  s.api.clock.advance(1_000);
  assert.ok(!s.ripng.tableData().routes.some((r) => r.prefix === '2001:db8:80::/48'), 'gone after the garbage-collection time');
});

test('turtle6_ripng_neighbors counts, per interface, the neighbours heard within the timeout; a silent one drops out (the RIPng-neighbour-lost alert)', () => {
  const s = startRipng(config(2));
  const neighbors = () => Object.fromEntries(s.metrics.get('ripng_neighbors')!().map((m) => [(m.labels as { interface: string }).interface, m.value]));
  assert.deepEqual(neighbors(), { eth0: 0, eth1: 0 }, 'every RIPng interface has a series, 0 before anyone speaks');
  s.api.respond([rte('2001:db8:90::/48', 1)]);
  s.api.respond([rte('2001:db8:91::/48', 1)], { src: ip('fe80::98') });
  s.api.respond([rte('2001:db8:92::/48', 1)], { port: 1, src: ip('fe80::97') });
  assert.deepEqual(neighbors(), { eth0: 2, eth1: 1 });
  s.api.clock.advance(100_000);
  s.api.respond([rte('2001:db8:90::/48', 1)]);
  s.api.clock.advance(80_000);
  assert.deepEqual(neighbors(), { eth0: 1, eth1: 0 }, 'fe80::98 and fe80::97 were silent for the 180 s timeout; fe80::99 spoke 80 s ago');
  for (const m of s.metrics.get('ripng_neighbors')!()) assert.deepEqual(Object.keys(m.labels), ['interface'], 'no per-address label');
});

test('a metric of 16 from the current next hop starts deletion at once', () => {
  const s = startRipng(config(1));
  s.api.respond([rte('2001:db8:81::/48', 2)]);
  assert.ok(ribRoute(s, '2001:db8:81::/48'));
  s.api.respond([rte('2001:db8:81::/48', 16)]);
  assert.equal(ribRoute(s, '2001:db8:81::/48'), undefined);
  assert.equal(s.ripng.tableData().routes.find((r) => r.prefix === '2001:db8:81::/48')!.state, 'garbage');
});

test('triggered updates: the first goes at once, later changes within the 1–5 s hold-down go out together in one update', () => {
  const s = startRipng(config(2));
  s.api.clock.advance(10);
  const t0 = s.api.clock.now();
  s.api.respond([rte('2001:db8:90::/48', 1)]);
  const first = s.api.sentSince(t0, 1);
  assert.deepEqual(shown(first), ['2001:db8:90::/48 2']);
  s.api.clock.advance(100);
  s.api.respond([rte('2001:db8:91::/48', 1)]);
  s.api.clock.advance(100);
  s.api.respond([rte('2001:db8:92::/48', 1)]);
  assert.equal(s.api.sentSince(t0, 1).length, 1, 'held down');
  s.api.clock.advance(5_000);
  const all = s.api.sentSince(t0, 1).filter((m) => m.at - t0 < 10_000);
  assert.equal(all.length, 2, 'one coalesced update after the hold-down');
  assert.deepEqual(shown([all[1]!]).sort(), ['2001:db8:91::/48 2', '2001:db8:92::/48 2']);
  const gap = all[1]!.at - all[0]!.at;
  assert.ok(gap >= 1_000 && gap <= 5_000, `hold-down ${gap} ms is within 1–5 s`);
  assert.equal(s.ripng.triggeredUpdates, 2);
});

test('periodic updates: every 30 s ± 15 s (jittered), each carrying the whole table', () => {
  const s = startRipng(config(1));
  s.api.respond([rte('2001:db8:a0::/48', 1)], { port: 0 });
  const t0 = s.api.clock.now();
  // Refresh the route so it stays while we watch several periods.
  for (let i = 0; i < 10; i++) {
    s.api.clock.advance(20_000);
    s.api.respond([rte('2001:db8:a0::/48', 1)], { port: 0 });
  }
  const periodic = s.api.sentSince(t0, 0).filter((m) => m.msg.rtes.length >= 2);
  assert.ok(periodic.length >= 4);
  const gaps = periodic.slice(1).map((m, i) => m.at - periodic[i]!.at);
  assert.ok(gaps.every((g) => g >= 15_000 && g <= 45_000), `gaps ${gaps.join(',')}`);
  assert.ok(new Set(gaps).size > 1, 'jittered, not constant');
});

for (const [mode, expected] of [
  ['none', ['2001:db8:b0::/48 2']],
  ['simple', []],
  ['poisoned', ['2001:db8:b0::/48 16']],
] as const) {
  test(`split horizon ${mode}: toward the neighbour it came from, the route is ${expected.length === 0 ? 'left out' : expected[0]}; elsewhere it is advertised normally`, () => {
    const s = startRipng(config(2, {}, { splitHorizon: mode }));
    s.api.respond([rte('2001:db8:b0::/48', 1)], { port: 0 });
    const t0 = s.api.clock.now();
    s.api.clock.advance(46_000);
    const back = shown(s.api.sentSince(t0, 0).filter((m) => m.msg.command === 2)).filter((x) => x.startsWith('2001:db8:b0'));
    assert.deepEqual([...new Set(back)], expected);
    const onward = shown(s.api.sentSince(t0, 1)).filter((x) => x.startsWith('2001:db8:b0'));
    assert.deepEqual([...new Set(onward)], ['2001:db8:b0::/48 2']);
  });
}

test('responses fill the MTU and split into several messages; every route goes out', () => {
  const s = startRipng(config(2), 2, (api) => (api.ifaces.byPort(1)!.mtu = 1280));
  const rtes = Array.from({ length: 150 }, (_, i) => rte(`2001:db8:${(0x1000 + i).toString(16)}::/48`, 1));
  for (let i = 0; i < rtes.length; i += 70) s.api.respond(rtes.slice(i, i + 70));
  const t0 = s.api.clock.now();
  s.api.clock.advance(46_000);
  const periodic = s.api.sentSince(t0, 1).filter((m) => m.msg.rtes.length > 10);
  const max = maxRtesForMtu(1280);
  assert.ok(periodic.every((m) => m.bytes <= 1280 && m.msg.rtes.length <= max));
  const first = periodic.slice(0, 3);
  assert.equal(first[0]!.msg.rtes.length, max, 'the first message is full');
  const learned = new Set(shown(periodic).filter((x) => /^2001:db8:1[0-9a-f]{3}::/.test(x)));
  assert.equal(learned.size, 150);
});

test('requests: a whole-table request gets a unicast answer with split horizon; a specific one from a tool gets metrics, 16 for unknown, no split horizon', () => {
  const s = startRipng(config(1));
  s.api.respond([rte('2001:db8:c0::/48', 1)]);
  const n0 = s.api.sent.length;
  s.api.deliver({ src: ip('fe80::55'), dst: ip('ff02::9'), payload: message(1, [rte('::/0', 16)]) });
  const whole = s.api.sent.slice(n0);
  assert.equal(whole.length, 1);
  assert.equal(whole[0]!.dst, 'fe80::55');
  assert.equal(whole[0]!.dstPort, 521);
  assert.ok(shown(whole).includes('2001:db8:c0::/48 16'), 'poisoned toward the port it was learned on');
  const n1 = s.api.sent.length;
  s.api.deliver({ src: ip('2001:db8::42'), srcPort: 40000, hopLimit: 60, dst: ip('2001:db8::1'), payload: message(1, [rte('2001:db8:c0::/48', 0), rte('2001:db8:c1::/48', 0)]) });
  const specific = s.api.sent.slice(n1);
  assert.equal(specific[0]!.dst, '2001:db8::42');
  assert.equal(specific[0]!.dstPort, 40000);
  assert.deepEqual(shown(specific), ['2001:db8:c0::/48 2', '2001:db8:c1::/48 16']);
});

test('ECMP: equal-cost routes from two neighbours share the RIB entry up to the limit; one timing out leaves the other', () => {
  const s = startRipng(config(2, { ecmp: 2 }));
  s.api.respond([rte('2001:db8:d0::/48', 2)], { port: 0, src: ip('fe80::1:1') });
  s.api.clock.advance(60_000);
  s.api.respond([rte('2001:db8:d0::/48', 2)], { port: 1, src: ip('fe80::2:2') });
  assert.equal(ribRoute(s, '2001:db8:d0::/48')!.nexthops.length, 2);
  s.api.respond([rte('2001:db8:d0::/48', 2)], { port: 1, src: ip('fe80::3:3') });
  assert.equal(ribRoute(s, '2001:db8:d0::/48')!.nexthops.length, 2, 'limited to 2');
  s.api.clock.advance(125_000);
  const r = ribRoute(s, '2001:db8:d0::/48')!;
  assert.deepEqual(r.nexthops.map((n) => formatIpv6(n.gateway!)), ['fe80::2:2']);
  s.api.respond([rte('2001:db8:d0::/48', 1)], { port: 0, src: ip('fe80::1:1') });
  assert.deepEqual(ribRoute(s, '2001:db8:d0::/48')!.nexthops.map((n) => formatIpv6(n.gateway!)), ['fe80::1:1'], 'a better metric replaces the set');
});

test('a better route from another neighbour replaces the current one; a worse one is ignored', () => {
  const s = startRipng(config(2));
  s.api.respond([rte('2001:db8:e0::/48', 5)], { port: 0 });
  s.api.respond([rte('2001:db8:e0::/48', 7)], { port: 1, src: ip('fe80::7') });
  assert.equal(ribRoute(s, '2001:db8:e0::/48')!.nexthops[0]!.port, 0);
  s.api.respond([rte('2001:db8:e0::/48', 2)], { port: 1, src: ip('fe80::7') });
  assert.equal(ribRoute(s, '2001:db8:e0::/48')!.nexthops[0]!.port, 1);
  assert.equal(ribRoute(s, '2001:db8:e0::/48')!.metric, 3);
});

test('link down: routes through the port start deletion at once', () => {
  const s = startRipng(config(2));
  s.api.respond([rte('2001:db8:f0::/48', 1)], { port: 1 });
  s.api.linkDown(1);
  assert.equal(ribRoute(s, '2001:db8:f0::/48'), undefined);
  assert.equal(s.ripng.tableData().routes.find((r) => r.prefix === '2001:db8:f0::/48')!.metric, 16);
});

test('stop: advertises everything at metric 16, leaves ff02::9 and withdraws its routes', () => {
  const s = startRipng(config(2));
  s.api.respond([rte('2001:db8:f1::/48', 1)]);
  const n0 = s.api.sent.length;
  s.ripng.stop();
  const last = s.api.sent.slice(n0).filter((m) => m.port === 1);
  assert.ok(shown(last).length > 0 && shown(last).every((x) => x.endsWith(' 16')));
  assert.equal(s.api.groups.size, 0);
  assert.equal(s.api.routes().length, 0);
  assert.equal(s.api.clock.pendingTimers(), 0, 'no timer left behind');
});

test('show ripng, show ripng status and clear ripng', async () => {
  const s = startRipng(config(1));
  s.api.respond([rte('2001:db8:f2::/48', 1, 7)]);
  const show = await s.commands.get('show ripng')!([]);
  assert.match(show.text, /fe80::99/);
  assert.match(show.text, /2001:db8:f2::\/48\s+2\s+0x7\s+fe80::99%eth0\s+rip\s+active\s+180s/);
  const status = await s.commands.get('show ripng')!(['status']);
  assert.match(status.text, /eth0\s+no\s+poisoned\s+1\s+0\s+30\/180\/120/);
  const data = status.data as { routes: { active: number } };
  assert.equal(data.routes.active, 2);
  const cleared = await s.commands.get('clear ripng')!([]);
  assert.deepEqual(cleared.data, { removed: 1 });
  assert.equal(ribRoute(s, '2001:db8:f2::/48'), undefined);
  assert.equal(s.ripng.tableData().neighbors.length, 0);
});
