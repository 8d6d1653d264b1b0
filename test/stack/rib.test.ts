import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatPrefix, prefixMatch } from '../../src/lib/addr.js';
import { InterfaceTable } from '../../src/stack/interfaces.js';
import { NH_BLACKHOLE, NH_CONNECTED, NH_GATEWAY, NH_LOCAL, NH_REJECT } from '../../src/shm/fib.js';
import { connectedRoutes, connectedRoutesFor, defaultPreference, Rib, type BestChangedEvent, type RibNexthop, type RibRoute } from '../../src/stack/rib.js';
import { ROUTER_MAC, ip } from './fixtures.js';

function route(prefixText: string, origin: string, extra: Partial<RibRoute> = {}): RibRoute {
  const [addr, len] = prefixText.split('/');
  return {
    prefix: ip(addr!), prefixLen: Number(len), origin, preference: defaultPreference(origin), metric: 1,
    nexthops: [{ port: 0, gateway: ip('fe80::1') }], kind: 'unicast', ...extra,
  };
}

function recordEvents(rib: Rib): BestChangedEvent[] {
  const events: BestChangedEvent[] = [];
  rib.subscribe((ev) => events.push(ev));
  return events;
}

test('the best route has the lowest preference, then the lowest metric', () => {
  const rib = new Rib();
  rib.add(route('2001:db8::/32', 'ripng', { metric: 1 }));
  rib.add(route('2001:db8::/32', 'static', { metric: 9 }));
  assert.equal(rib.best(ip('2001:db8::'), 32)?.origin, 'static');
  rib.add(route('2001:db8::/32', 'connected', { nexthops: [{ port: 2, gateway: null }] }));
  assert.equal(rib.best(ip('2001:db8::'), 32)?.origin, 'connected');
  rib.add(route('2001:db8:5::/48', 'x', { preference: 50, metric: 7 }));
  rib.add(route('2001:db8:5::/48', 'y', { preference: 50, metric: 3 }));
  assert.equal(rib.best(ip('2001:db8:5::'), 48)?.origin, 'y');
  assert.deepEqual([defaultPreference('connected'), defaultPreference('static'), defaultPreference('dhcpv6'), defaultPreference('ripng')], [0, 10, 50, 120]);
});

test('on a tie the incumbent stays, whatever the arrival order', () => {
  const rib = new Rib();
  const events = recordEvents(rib);
  rib.add(route('2001:db8::/32', 'a', { preference: 50, metric: 5 }));
  rib.add(route('2001:db8::/32', 'b', { preference: 50, metric: 5 }));
  assert.equal(rib.best(ip('2001:db8::'), 32)?.origin, 'a');
  assert.equal(events.length, 1);
  assert.ok(rib.remove(ip('2001:db8::'), 32, 'a'));
  assert.equal(rib.best(ip('2001:db8::'), 32)?.origin, 'b');
  rib.add(route('2001:db8::/32', 'a', { preference: 50, metric: 5 }));
  assert.equal(rib.best(ip('2001:db8::'), 32)?.origin, 'b');
  assert.equal(events.length, 2);
});

test('a route replaces the one of the same prefix and origin; host bits are cleared', () => {
  const rib = new Rib();
  rib.add(route('2001:db8::1/32', 'static', { metric: 1 }));
  rib.add(route('2001:db8::/32', 'static', { metric: 2 }));
  assert.equal(rib.all().length, 1);
  assert.equal(rib.best(ip('2001:db8::77'), 32)?.metric, 2);
  assert.deepEqual(rib.all()[0]!.prefix, ip('2001:db8::'));
  assert.equal(rib.remove(ip('2001:db8::'), 32, 'ripng'), false);
  assert.equal(rib.remove(ip('2001:db8::'), 32, 'static'), true);
  assert.deepEqual([rib.all(), rib.bestRoutes()], [[], []]);
});

test('events: best-changed on appearance, change and removal; none for an identical re-add or a losing route', () => {
  const rib = new Rib();
  const events = recordEvents(rib);
  rib.add(route('2001:db8::/32', 'static'));
  rib.add(route('2001:db8::/32', 'static'));
  rib.add(route('2001:db8::/32', 'ripng'));
  assert.equal(events.length, 1);
  rib.add(route('2001:db8::/32', 'static', { nexthops: [{ port: 1, gateway: ip('fe80::9') }] }));
  rib.remove(ip('2001:db8::'), 32, 'static');
  rib.remove(ip('2001:db8::'), 32, 'ripng');
  assert.deepEqual(events.map((e) => [e.type, formatPrefix({ addr: e.prefix, len: e.prefixLen }), e.best?.origin, e.best?.nexthops[0]?.port]), [
    ['best-changed', '2001:db8::/32', 'static', 0],
    ['best-changed', '2001:db8::/32', 'static', 1],
    ['best-changed', '2001:db8::/32', 'ripng', 0],
    ['best-changed', '2001:db8::/32', undefined, undefined],
  ]);
});

test('withdrawOrigin removes every route of one origin and uncovers the others', () => {
  const rib = new Rib();
  rib.add(route('2001:db8:1::/48', 'ripng'));
  rib.add(route('2001:db8:2::/48', 'ripng'));
  rib.add(route('2001:db8:2::/48', 'dhcpv6'));
  rib.add(route('2001:db8:3::/48', 'static'));
  const events = recordEvents(rib);
  rib.withdrawOrigin('dhcpv6');
  assert.equal(rib.best(ip('2001:db8:2::'), 48)?.origin, 'ripng');
  rib.withdrawOrigin('ripng');
  assert.deepEqual(rib.all().map((r) => r.origin), ['static']);
  assert.deepEqual(events.map((e) => e.best?.origin), ['ripng', undefined, undefined]);
});

test('replaceOrigin adds, replaces and removes, with events only for real changes', () => {
  const rib = new Rib();
  rib.replaceOrigin('ripng', [route('2001:db8:1::/48', 'ripng'), route('2001:db8:2::/48', 'ripng')]);
  const events = recordEvents(rib);
  rib.replaceOrigin('ripng', [route('2001:db8:2::/48', 'ripng'), route('2001:db8:3::/48', 'ripng', { metric: 4 })]);
  assert.deepEqual(rib.all().map((r) => formatPrefix({ addr: r.prefix, len: r.prefixLen })), ['2001:db8:2::/48', '2001:db8:3::/48']);
  assert.deepEqual(events.map((e) => [formatPrefix({ addr: e.prefix, len: e.prefixLen }), e.best?.metric]), [
    ['2001:db8:1::/48', undefined],
    ['2001:db8:3::/48', 4],
  ]);
  assert.throws(() => rib.replaceOrigin('ripng', [route('::/0', 'static')]), /route of origin static/);
});

test('bad routes are refused with the reason', () => {
  const rib = new Rib();
  assert.throws(() => rib.add(route('2001:db8::/32', 'static', { nexthops: [] })), /needs a nexthop/);
  assert.throws(() => rib.add(route('2001:db8::/32', 'static', { prefixLen: 129 })), /outside 0..128/);
  assert.throws(() => rib.add(route('2001:db8::/32', 'static', { nexthops: [{ port: 64, gateway: null }] })), /port 64/);
  rib.add(route('2001:db8::/32', 'static', { kind: 'blackhole', nexthops: [] }));
  assert.equal(rib.all().length, 1);
});

test('ECMP nexthops are kept up to the limit', () => {
  const rib = new Rib({ maxNexthops: 2 });
  const nexthops = [1, 2, 3].map((p) => ({ port: p, gateway: ip(`fe80::${p}`) }));
  rib.add(route('::/0', 'static', { nexthops }));
  assert.deepEqual(rib.best(ip('::'), 0)?.nexthops.map((n) => n.port), [1, 2]);
});

test('compile shares a nexthop among routes with the same kind, port and gateway', () => {
  const rib = new Rib();
  const gw = ip('fe80::1');
  rib.add(route('2001:db8:a::/48', 'static', { nexthops: [{ port: 1, gateway: gw }] }));
  rib.add(route('2001:db8:b::/48', 'ripng', { nexthops: [{ port: 1, gateway: ip('fe80::1') }] }));
  rib.add(route('2001:db8:c::/48', 'ripng', { nexthops: [{ port: 2, gateway: gw }] }));
  rib.add(route('2001:db8:1::/64', 'connected', { nexthops: [{ port: 1, gateway: null }] }));
  rib.add(route('2001:db8:1::1/128', 'local', { kind: 'local', nexthops: [{ port: 1, gateway: null }] }));
  rib.add(route('2001:db8:dead::/48', 'static', { kind: 'reject', nexthops: [] }));
  rib.add(route('2001:db8:beef::/48', 'static', { kind: 'blackhole', nexthops: [] }));
  rib.add(route('2001:db8:f00d::/48', 'static', { kind: 'blackhole', nexthops: [] }));
  const fib = rib.compile((port) => 1500 - port);
  assert.equal(fib.routes.length, 8);
  const nh = (p: string) => {
    const [a, l] = p.split('/');
    const r = fib.routes.find((x) => x.len === Number(l) && prefixMatch(x.prefix, 0, ip(a!), 0, 128))!;
    return fib.nexthops[r.nexthop]!;
  };
  assert.equal(nh('2001:db8:a::/48'), nh('2001:db8:b::/48'));
  assert.notEqual(nh('2001:db8:a::/48'), nh('2001:db8:c::/48'));
  assert.equal(nh('2001:db8:beef::/48'), nh('2001:db8:f00d::/48'));
  assert.deepEqual(nh('2001:db8:a::/48'), { kind: NH_GATEWAY, port: 1, gateway: gw, mtu: 1499 });
  assert.deepEqual(nh('2001:db8:c::/48'), { kind: NH_GATEWAY, port: 2, gateway: gw, mtu: 1498 });
  assert.deepEqual(nh('2001:db8:1::/64'), { kind: NH_CONNECTED, port: 1, mtu: 1499 });
  assert.deepEqual(nh('2001:db8:1::1/128'), { kind: NH_LOCAL, port: 1 });
  assert.deepEqual(nh('2001:db8:dead::/48'), { kind: NH_REJECT, port: 0 });
  assert.deepEqual(nh('2001:db8:beef::/48'), { kind: NH_BLACKHOLE, port: 0 });
  assert.equal(fib.nexthops.length, 6);
  assert.deepEqual([NH_CONNECTED, NH_GATEWAY, NH_LOCAL, NH_REJECT, NH_BLACKHOLE], [1, 2, 3, 4, 5]);
});

test('lookup is the longest match over best routes, as a naive scan finds it', () => {
  // Prefixes drawn from a small universe so that they nest and collide often.
  const prefixArb = fc.record({
    bytes: fc.array(fc.constantFrom(0x20, 0x01, 0x0d, 0xb8, 0x00, 0xff), { minLength: 16, maxLength: 16 }),
    len: fc.constantFrom(0, 8, 16, 23, 32, 48, 56, 64, 127, 128),
    origin: fc.constantFrom('static', 'ripng', 'dhcpv6'),
  });
  fc.assert(
    fc.property(
      fc.array(prefixArb, { maxLength: 40 }),
      fc.array(fc.array(fc.constantFrom(0x20, 0x01, 0x0d, 0xb8, 0x00, 0xff), { minLength: 16, maxLength: 16 }), { minLength: 1, maxLength: 20 }),
      fc.array(fc.nat(39), { maxLength: 10 }),
      (adds, addrs, removals) => {
        const rib = new Rib();
        const model: RibRoute[] = [];
        for (const a of adds) {
          const r = route(`::/${a.len}`, a.origin, { prefix: Uint8Array.from(a.bytes) });
          rib.add(r);
          model.push(r);
        }
        for (const i of removals) {
          const r = model[i];
          if (r === undefined) continue;
          rib.remove(r.prefix, r.prefixLen, r.origin);
          for (let j = model.length - 1; j >= 0; j--) {
            const m = model[j]!;
            if (m.origin === r.origin && m.prefixLen === r.prefixLen && prefixMatch(m.prefix, 0, r.prefix, 0, r.prefixLen)) model.splice(j, 1);
          }
        }
        for (const bytes of addrs) {
          const addr = Uint8Array.from(bytes);
          let longest = -1;
          let bestPref = Infinity;
          for (const m of model) {
            if (!prefixMatch(m.prefix, 0, addr, 0, m.prefixLen)) continue;
            if (m.prefixLen > longest) { longest = m.prefixLen; bestPref = m.preference; }
            else if (m.prefixLen === longest) bestPref = Math.min(bestPref, m.preference);
          }
          const got = rib.lookup(addr);
          if (longest < 0) { if (got !== undefined) return false; continue; }
          if (got === undefined || got.prefixLen !== longest || got.preference !== bestPref) return false;
        }
        return true;
      },
    ),
    { seed: 42, numRuns: 300 },
  );
});

test('connected and local routes come from an interface\'s preferred addresses only, and none from a down link', () => {
  const ifaces = new InterfaceTable();
  const lan = ifaces.add({ name: 'lan0', port: 3, kind: 'tap', mac: ROUTER_MAC, linkLocalState: 'preferred' });
  ifaces.addAddress(3, ip('2001:db8:1::1'), 64, 'config', 'preferred');
  ifaces.addAddress(3, ip('2001:db8:1::2'), 64, 'config', 'preferred');
  ifaces.addAddress(3, ip('2001:db8:9::1'), 128, 'dhcpv6', 'preferred');
  ifaces.addAddress(3, ip('2001:db8:2::1'), 64, 'config', 'tentative');
  const routes = connectedRoutesFor(lan);
  const show = (r: RibRoute) => `${r.origin} ${r.kind} ${formatPrefix({ addr: r.prefix, len: r.prefixLen })} port ${r.nexthops[0]!.port}`;
  assert.deepEqual(routes.map(show), [
    'connected unicast 2001:db8:1::/64 port 3',
    'local local fe80::ff:fe00:1/128 port 3',
    'local local 2001:db8:1::1/128 port 3',
    'local local 2001:db8:1::2/128 port 3',
    'local local 2001:db8:9::1/128 port 3',
    // RFC 4291 §2.6.1: the Subnet-Router anycast address of the /64 (a /128 has none).
    'local local 2001:db8:1::/128 port 3',
  ]);
  assert.ok(routes.every((r) => r.preference === 0 && r.nexthops[0]!.gateway === null));
  ifaces.setLinkUp(3, false);
  assert.deepEqual(connectedRoutesFor(lan), []);
});

test('connectedRoutes merges a prefix present on several ports into one route per origin', () => {
  const ifaces = new InterfaceTable();
  ifaces.add({ name: 'a', port: 0, kind: 'tun', linkLocalState: 'preferred' });
  ifaces.add({ name: 'b', port: 1, kind: 'tun', linkLocalState: 'preferred' });
  ifaces.addAddress(0, ip('2001:db8:1::1'), 64, 'config', 'preferred');
  ifaces.addAddress(1, ip('2001:db8:1::2'), 64, 'config', 'preferred');
  const { connected, local } = connectedRoutes(ifaces);
  assert.equal(connected.length, 1);
  assert.deepEqual(connected[0]!.nexthops.map((n) => n.port), [0, 1]);
  // Two link-locals, two addresses, and one Subnet-Router anycast address on both ports.
  assert.equal(local.length, 5);
  assert.deepEqual(local.find((r) => formatPrefix({ addr: r.prefix, len: r.prefixLen }) === '2001:db8:1::/128')?.nexthops.map((n) => n.port), [0, 1]);
  const rib = new Rib();
  rib.replaceOrigin('connected', connected);
  rib.replaceOrigin('local', local);
  assert.equal(rib.lookup(ip('2001:db8:1::2'))?.kind, 'local');
  assert.equal(rib.lookup(ip('2001:db8:1::3'))?.kind, 'unicast');
});

test('the RIB keeps its own copies: changing the caller\'s prefix or nexthops later changes nothing, and routes via one gateway share one nexthop list', () => {
  const rib = new Rib();
  const a = route('2001:db8:a::/48', 'static');
  const b = route('2001:db8:b::/48', 'static');
  rib.add(a);
  rib.add(b);
  (a.prefix as Uint8Array)[3] = 0xff;
  (a.nexthops[0]!.gateway as Uint8Array)[15] = 0x99;
  (a.nexthops as RibNexthop[]).push({ port: 3, gateway: null });
  const [storedA, storedB] = rib.bestRoutes();
  assert.equal(formatPrefix({ addr: storedA!.prefix, len: storedA!.prefixLen }), '2001:db8:a::/48');
  assert.deepEqual(storedA!.nexthops, [{ port: 0, gateway: ip('fe80::1') }]);
  assert.equal(storedA!.nexthops, storedB!.nexthops, 'one list for both routes');
  assert.equal(rib.lookup(ip('2001:db8:a::1'))?.prefixLen, 48);
});

test('compile makes an ECMP group of a route with several nexthops, with a stable counter slot per member; connected routes stay on their first port', () => {
  const rib = new Rib();
  const gw1 = ip('fe80::1');
  const gw2 = ip('fe80::2');
  rib.add(route('2001:db8:99::/64', 'ripng', { nexthops: [{ port: 1, gateway: gw1 }, { port: 2, gateway: gw2 }] }));
  rib.add(route('2001:db8:a::/48', 'static', { nexthops: [{ port: 1, gateway: gw1 }] }));
  rib.add(route('2001:db8:1::/64', 'connected', { nexthops: [{ port: 1, gateway: null }, { port: 2, gateway: null }] }));
  const fib = rib.compile(() => 1500);
  const nhOf = (text: string) => fib.nexthops[fib.routes.find((r) => formatPrefix({ addr: r.prefix, len: r.len }) === text)!.nexthop]!;
  const group = nhOf('2001:db8:99::/64');
  assert.deepEqual(group.members?.map((m) => fib.nexthops[m.nexthop]), [
    { kind: NH_GATEWAY, port: 1, gateway: gw1, mtu: 1500 },
    { kind: NH_GATEWAY, port: 2, gateway: gw2, mtu: 1500 },
  ]);
  assert.equal(fib.nexthops[group.members![0]!.nexthop], nhOf('2001:db8:a::/48'), 'a member shares the plain nexthop of the same gateway');
  assert.deepEqual(group.members!.map((m) => m.counter), [0, 1]);
  assert.equal(nhOf('2001:db8:1::/64').members, undefined);
  assert.equal(nhOf('2001:db8:1::/64').port, 1);
  const best = rib.best(ip('2001:db8:99::'), 64)!;
  assert.deepEqual(best.nexthops.map((n) => rib.memberCounterOf(best, n)), [0, 1]);
  assert.equal(rib.memberCounterOf(rib.best(ip('2001:db8:a::'), 48)!, { port: 1, gateway: gw1 }), -1);
  // Recompiling, or the members coming back in another order, keeps each member's slot.
  rib.add(route('2001:db8:99::/64', 'ripng', { nexthops: [{ port: 2, gateway: gw2 }, { port: 1, gateway: gw1 }] }));
  const again = rib.compile(() => 1500);
  const regroup = again.nexthops[again.routes.find((r) => formatPrefix({ addr: r.prefix, len: r.len }) === '2001:db8:99::/64')!.nexthop]!;
  assert.deepEqual(regroup.members!.map((m) => m.counter), [1, 0]);
  assert.deepEqual(rib.memberCounters().map((m) => m.port), [1, 2]);
});
