/**
 * route6d's flags, each as its config key (docs/ripng.md has the table), and the knobs
 * FRR ripngd and BIRD add. Each test parses the YAML-shaped section with the real schema
 * where the flag is a config matter, and checks the behaviour on the manual clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatIpv6 } from '../../../src/lib/addr.js';
import { resolveRipngConfig, ripngSection } from '../../../src/config/sections/ripng.js';
import type { RipngConfig } from '../../../src/protocols/ripng/config.js';
import { config, ip, rte, shown, startRipng, type FakeApi } from './harness.js';

function fromYaml(section: unknown, names = ['eth0', 'eth1']): RipngConfig {
  const parsed = ripngSection.schema.parse(section);
  const resolved = resolveRipngConfig(parsed, names);
  assert.ok(resolved);
  return resolved;
}

/** The RTEs of the next periodic update on `port` (45 s covers the jitter). */
function nextPeriodic(s: ReturnType<typeof startRipng>, port: number): string[] {
  const n = s.api.sent.length;
  s.api.clock.advance(45_000);
  const msgs = s.api.sent.slice(n).filter((m) => m.port === port && m.msg.command === 2);
  const firstAt = msgs[0]?.at;
  return shown(msgs.filter((m) => m.at === firstAt));
}

function addStatic(api: FakeApi, prefix: string, gateway: string | null, port = 0): void {
  const [a, l] = prefix.split('/');
  api.rib.add({ prefix: ip(a!), prefixLen: Number(l), origin: 'static', preference: 10, metric: 0, kind: 'unicast', nexthops: [{ port, gateway: gateway === null ? null : ip(gateway) }] });
}

test('the section: absent or enabled: false turns RIPng off; defaults are route6d\'s and RFC 2080\'s', () => {
  assert.equal(resolveRipngConfig(undefined, ['eth0']), null);
  assert.equal(resolveRipngConfig(ripngSection.schema.parse({ enabled: false }), ['eth0']), null);
  const c = fromYaml({});
  assert.equal(c.interfaces.length, 2);
  assert.deepEqual(c.interfaces[0]!.timers, { update: 30, timeout: 180, garbage: 120 });
  assert.equal(c.interfaces[0]!.splitHorizon, 'poisoned');
  assert.equal(c.redistribute.connected.enabled, true);
  assert.equal(c.redistribute.static.enabled, false);
  assert.throws(() => ripngSection.schema.parse({ timers: { update: 30, timeout: 20 } }), /timeout longer than the update interval/);
});

test('-N if: `ignore: true` keeps RIPng off that interface entirely', () => {
  const c = fromYaml({ interfaces: [{ name: 'eth1', ignore: true }] });
  assert.deepEqual(c.interfaces.map((i) => i.name), ['eth0']);
  const s = startRipng(c, 2);
  s.api.respond([rte('2001:db8:50::/48', 1)], { port: 1 });
  assert.equal(s.ripng.badPackets.not_on_link, 1);
  assert.ok(s.api.sent.every((m) => m.port === 0));
});

test('-h: `splitHorizon: none` advertises learned routes back where they came from', () => {
  const c = fromYaml({ splitHorizon: 'none' });
  assert.ok(c.interfaces.every((i) => i.splitHorizon === 'none'));
  const s = startRipng(c);
  s.api.respond([rte('2001:db8:50::/48', 1)], { port: 0 });
  assert.ok(nextPeriodic(s, 0).includes('2001:db8:50::/48 2'));
});

test('-q: `receiveOnly: true` learns and installs but never sends a response', () => {
  const s = startRipng(fromYaml({ receiveOnly: true }));
  s.api.respond([rte('2001:db8:50::/48', 1)], { port: 0 });
  s.api.deliver({ src: ip('fe80::55'), payload: new Uint8Array([1, 1, 0, 0, ...new Uint8Array(16), 0, 0, 0, 16]) });
  s.api.clock.advance(100_000);
  assert.ok(s.api.routes().some((r) => formatIpv6(r.prefix) === '2001:db8:50::'));
  assert.ok(s.api.sent.every((m) => m.msg.command === 1), 'only the start-up whole-table requests');
});

test('-n: `install: false` keeps learned routes out of the RIB, still advertising them', () => {
  const s = startRipng(fromYaml({ install: false }));
  s.api.respond([rte('2001:db8:50::/48', 1)], { port: 0 });
  assert.equal(s.api.routes().length, 0);
  assert.ok(nextPeriodic(s, 1).includes('2001:db8:50::/48 2'));
});

test('-t tag: `tag` marks the routes this router originates', () => {
  const s = startRipng(fromYaml({ tag: 0x99 }));
  const n = s.api.sent.length;
  s.api.clock.advance(45_000);
  const tags = s.api.sent.slice(n).filter((m) => m.msg.command === 2).flatMap((m) => m.msg.rtes.map((r) => r.tag));
  assert.ok(tags.length > 0 && tags.every((t) => t === 0x99));
});

test('-T if: `defaultOnly: true` advertises only ::/0 toward that interface', () => {
  const s = startRipng(fromYaml({ interfaces: [{ name: 'eth1', defaultOnly: true }] }));
  s.api.respond([rte('2001:db8:50::/48', 1)], { port: 0 });
  assert.deepEqual(nextPeriodic(s, 1), ['::/0 1']);
  assert.ok(nextPeriodic(s, 0).includes('2001:db8:1::/64 1'), 'other interfaces get the table');
});

test('-L prefix,if: `accept` takes only routes inside the prefixes; ::/0 alone means the default route only', () => {
  const s = startRipng(fromYaml({ interfaces: [{ name: 'eth0', accept: ['2001:db8:200::/40'] }, { name: 'eth1', accept: ['::/0'] }] }));
  s.api.respond([rte('2001:db8:200::/48', 1), rte('2001:db8:300::/48', 1)], { port: 0 });
  s.api.respond([rte('::/0', 1), rte('2001:db8:400::/48', 1)], { port: 1, src: ip('fe80::7') });
  const learned = s.api.routes().map((r) => `${formatIpv6(r.prefix)}/${r.prefixLen}`).sort();
  assert.deepEqual(learned, ['2001:db8:200::/48', '::/0']);
  assert.equal(s.ripng.filtered['accept'], 2);
});

test('-O prefix,if: `advertise` sends only routes inside the prefixes', () => {
  const s = startRipng(fromYaml({ interfaces: [{ name: 'eth1', advertise: ['2001:db8::/48'] }] }));
  s.api.respond([rte('2001:db8:50::/48', 1)], { port: 0 });
  assert.deepEqual(nextPeriodic(s, 1), ['2001:db8::/64 1']);
});

test('-A prefix,if: `aggregate` advertises the aggregate instead of what it covers, and holds a reject route for it', () => {
  const s = startRipng(fromYaml({ interfaces: [{ name: 'eth1', aggregate: ['2001:db8:100::/40'] }] }));
  s.api.respond([rte('2001:db8:100::/48', 1), rte('2001:db8:180::/48', 2), rte('2001:db8:5000::/48', 1)], { port: 0 });
  const out = nextPeriodic(s, 1);
  assert.ok(out.includes('2001:db8:100::/40 1'));
  assert.ok(!out.some((x) => x.startsWith('2001:db8:100::/48') || x.startsWith('2001:db8:180::/48')));
  assert.ok(out.includes('2001:db8:5000::/48 2'), 'routes outside the aggregate go out as usual');
  const reject = s.api.routes().find((r) => r.prefixLen === 40);
  assert.equal(reject?.kind, 'reject');
  assert.ok(nextPeriodic(s, 0).every((x) => !x.startsWith('2001:db8:100::/40')), 'only on the interfaces named');
});

// route6d.c tobeadv(): with -s a static route goes out on every interface except the one it
// points through (split horizon, not poisoned, whatever -h says); with -S on every
// interface, with its gateway as next hop on its own link (RFC 2080 §2.1.1).
test('-s: `redistribute.static.enabled: true` advertises static routes with split horizon: not on the interface they go through', () => {
  const c = fromYaml({ splitHorizon: 'none', redistribute: { static: { enabled: true, metric: 3 } } });
  assert.equal(c.redistribute.static.splitHorizon, true, '-s is the default form');
  const s = startRipng(c, 2, (api) => addStatic(api, '2001:db8:77::/48', 'fe80::abc', 0));
  assert.ok(!nextPeriodic(s, 0).some((x) => x.startsWith('2001:db8:77::') || x.startsWith('nh fe80::abc')), 'not toward its gateway, not even poisoned, -h or not');
  assert.ok(nextPeriodic(s, 1).includes('2001:db8:77::/48 3'));
  const without = startRipng(fromYaml({}), 2, (api) => addStatic(api, '2001:db8:77::/48', 'fe80::abc', 0));
  assert.ok(!nextPeriodic(without, 1).some((x) => x.startsWith('2001:db8:77::')), 'not advertised without -s');
});

test('-S: `splitHorizon: false` advertises static routes on every interface, with the gateway as next hop on its own link', () => {
  const s = startRipng(fromYaml({ redistribute: { static: { enabled: true, splitHorizon: false, metric: 3 } } }), 2, (api) => addStatic(api, '2001:db8:77::/48', 'fe80::abc', 0));
  assert.deepEqual(nextPeriodic(s, 0), ['nh fe80::abc', '2001:db8:77::/48 3', 'nh ::', '2001:db8::/64 1', '2001:db8:1::/64 1']);
  assert.ok(nextPeriodic(s, 1).includes('2001:db8:77::/48 3'));
});

test('-s/-S: static reject and blackhole routes are never advertised', () => {
  const s = startRipng(fromYaml({ redistribute: { static: { enabled: true, splitHorizon: false } } }), 2, (api) => {
    addStatic(api, '2001:db8:77::/48', 'fe80::abc', 0);
    api.rib.add({ prefix: ip('2001:db8:78::'), prefixLen: 48, origin: 'static', preference: 10, metric: 0, kind: 'reject', nexthops: [] });
    api.rib.add({ prefix: ip('2001:db8:79::'), prefixLen: 48, origin: 'static', preference: 10, metric: 0, kind: 'blackhole', nexthops: [] });
  });
  for (const port of [0, 1]) {
    const out = nextPeriodic(s, port);
    assert.ok(out.includes('2001:db8:77::/48 1'), 'the unicast static route goes out');
    assert.ok(!out.some((x) => x.startsWith('2001:db8:78::') || x.startsWith('2001:db8:79::')), `no reject/blackhole route on eth${port}`);
  }
});

test('received RTEs for ::1 are bad prefixes; site-local (fec0::/10) ones are dropped unless -l: `siteLocal: true`', () => {
  const s = startRipng(fromYaml({}));
  s.api.respond([rte('::1/128', 1), rte('fec0:1::/32', 1), rte('2001:db8:50::/48', 1)], { port: 0 });
  assert.deepEqual(s.api.routes().map((r) => `${formatIpv6(r.prefix)}/${r.prefixLen}`), ['2001:db8:50::/48']);
  assert.equal(s.ripng.badRoutes.bad_prefix, 1);
  assert.equal(s.ripng.filtered['site_local'], 1);
  const withL = startRipng(fromYaml({ siteLocal: true }));
  withL.api.respond([rte('::1/128', 1), rte('fec0:1::/32', 1)], { port: 0 });
  assert.deepEqual(withL.api.routes().map((r) => `${formatIpv6(r.prefix)}/${r.prefixLen}`), ['fec0:1::/32']);
  assert.ok(nextPeriodic(withL, 1).includes('fec0:1::/32 2'));
});

test('-a: `ageStatic: true` lets a static route age out unless its gateway keeps advertising it', () => {
  const cfg = fromYaml({ ageStatic: true, redistribute: { static: { enabled: true } } });
  const s = startRipng(cfg, 2, (api) => {
    addStatic(api, '2001:db8:77::/48', 'fe80::abc', 0);
    addStatic(api, '2001:db8:78::/48', 'fe80::abc', 0);
  });
  for (let i = 0; i < 6; i++) {
    s.api.clock.advance(30_000);
    s.api.respond([rte('2001:db8:77::/48', 1)], { port: 0, src: ip('fe80::abc') });
  }
  const table = s.ripng.tableData().routes;
  assert.equal(table.find((r) => r.prefix === '2001:db8:77::/48')!.state, 'active', 'refreshed by its gateway');
  assert.equal(table.find((r) => r.prefix === '2001:db8:78::/48')!.state, 'garbage', 'aged out after 180 s');
});

test('-R file: `routeLog` gets a line per route change', () => {
  const file = join(mkdtempSync(join(tmpdir(), 't6ripng-')), 'routes.log');
  const s = startRipng(fromYaml({ routeLog: file }));
  s.api.respond([rte('2001:db8:50::/48', 1)], { port: 0 });
  s.api.clock.advance(181_000);
  const log = readFileSync(file, 'utf8');
  assert.match(log, /2001:db8:50::\/48 accepted: new route from fe80::99/);
  assert.match(log, /2001:db8:50::\/48 timed out/);
});

test('passive interfaces, metric offsets in and out, default-information originate, redistribution prefix filters', () => {
  const s = startRipng(fromYaml({
    defaultOriginate: { metric: 4 },
    redistribute: { connected: { prefixes: ['2001:db8:1::/48'] } },
    interfaces: [{ name: 'eth0', passive: true, metricIn: 3 }, { name: 'eth1', offsetOut: 2 }],
  }));
  s.api.respond([rte('2001:db8:50::/48', 1)], { port: 0 });
  assert.equal(s.api.routes()[0]!.metric, 4, 'cost 3 on the way in');
  const out = nextPeriodic(s, 1);
  assert.deepEqual(out.sort(), ['2001:db8:1::/64 3', '2001:db8:50::/48 6', '::/0 6'].sort(), 'offset 2 on the way out; only eth1\'s prefix redistributed');
  s.api.clock.advance(100_000);
  assert.ok(s.api.sent.filter((m) => m.msg.command === 2).every((m) => m.port === 1), 'passive eth0 never sends');
});

test('reconfigure: preference and install apply in place; a timer change asks for a restart', () => {
  const s = startRipng(config(2));
  s.api.respond([rte('2001:db8:50::/48', 1)], { port: 0 });
  const preference = s.ripng.prepareReconfigure({ ...config(2), preference: 90 });
  assert.ok(preference);
  assert.equal(s.api.routes()[0]!.preference, 120, 'preparing changes nothing');
  preference();
  assert.equal(s.api.routes()[0]!.preference, 90);
  const install = s.ripng.prepareReconfigure({ ...config(2, { preference: 90 }), install: false });
  assert.ok(install);
  install();
  assert.equal(s.api.routes().length, 0);
  assert.equal(s.ripng.prepareReconfigure(config(2, { preference: 90, install: false }, { timers: { update: 10, timeout: 60, garbage: 40 } })), null);
});
