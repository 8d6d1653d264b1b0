import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseIpv6, parsePrefix } from '../../src/lib/addr.js';
import { SeededRng } from '../../src/lib/rng.js';
import {
  FibView,
  NH_CONNECTED,
  NH_GATEWAY,
  NH_REJECT,
  compileFib,
  encodeFib,
  fibByteLength,
  type FibNexthop,
  type FibRoute,
} from '../../src/shm/fib.js';
import { PORT_TABLE_BYTES, PortTableView, encodePortTable } from '../../src/shm/port-table.js';
import { naiveLookup } from './lpm-model.js';

function route(text: string, nexthop: number): FibRoute {
  const p = parsePrefix(text)!;
  return { prefix: p.addr, len: p.len, nexthop };
}

function nexthopsFor(count: number): FibNexthop[] {
  return Array.from({ length: count }, (_, i) => ({ kind: NH_CONNECTED, port: i }));
}

/** Encodes at `offset` in a junk-filled (0xa5) buffer, so fields the encoder forgets show up. */
function build(routes: readonly FibRoute[], nexthops: readonly FibNexthop[], offset = 0): FibView {
  const size = fibByteLength(routes, nexthops);
  const bytes = new Uint8Array(new SharedArrayBuffer(offset + size + 64)).fill(0xa5);
  const written = encodeFib(routes, nexthops, bytes.subarray(offset));
  assert.equal(written, size);
  const view = new FibView();
  view.bind(bytes, offset);
  return view;
}

function lookupText(view: FibView, addr: string): number {
  return view.lookup(parseIpv6(addr)!, 0);
}

test('fib: longest prefix wins over nested prefixes, with /0, /128 and the /16 direct-array boundary', () => {
  const routes = [
    route('::/0', 0),
    route('2001:db8::/32', 1),
    route('2001:db8:1::/48', 2),
    route('2001:db8:1:2::/64', 3),
    route('2001:db8:1:2::1/128', 4),
    route('2001::/16', 5),
    route('2001::/15', 6),
    route('2001:db8:1:2::/127', 7),
  ];
  const view = build(routes, nexthopsFor(8), 8);
  assert.equal(lookupText(view, '2001:db8:1:2::1'), 4);
  assert.equal(lookupText(view, '2001:db8:1:2::'), 7);
  assert.equal(lookupText(view, '2001:db8:1:2::2'), 3);
  assert.equal(lookupText(view, '2001:db8:1:3::'), 2);
  assert.equal(lookupText(view, '2001:db8:2::'), 1);
  assert.equal(lookupText(view, '2001:db9::'), 5);
  assert.equal(lookupText(view, '2000::1'), 6);
  assert.equal(lookupText(view, '2002::'), 0);
  assert.equal(lookupText(view, 'fe80::1'), 0);
  assert.equal(view.routeCount(), 8);
});

test('fib: no route gives -1; an unbound view and an all-zero region are empty tables', () => {
  const view = build([route('2001:db8::/32', 0)], nexthopsFor(1));
  assert.equal(lookupText(view, '2001:db9::'), -1);
  assert.equal(lookupText(view, '2001:db8::'), 0);
  assert.equal(lookupText(new FibView(), '2001:db8::'), -1);
  const zero = new FibView();
  zero.bind(new Uint8Array(new SharedArrayBuffer(4096)), 0);
  assert.equal(lookupText(zero, '::'), -1);
  assert.equal(zero.routeCount(), 0);
});

test('fib: the address is read at its offset inside a packet', () => {
  const view = build([route('2001:db8:ff::/48', 0), route('::/0', 1)], nexthopsFor(2));
  const pkt = new Uint8Array(64).fill(0x77);
  pkt.set(parseIpv6('2001:db8:ff::42')!, 24); // the IPv6 destination field
  assert.equal(view.lookup(pkt, 24), 0);
  pkt[26] = 0;
  assert.equal(view.lookup(pkt, 24), 1);
});

test('fib: nexthop kind, port, MTU and gateway bytes read back', () => {
  const gateway = parseIpv6('fe80::1:2')!;
  const nexthops: FibNexthop[] = [
    { kind: NH_CONNECTED, port: 3 },
    { kind: NH_GATEWAY, port: 7, gateway, mtu: 1280 },
    { kind: NH_REJECT, port: 0 },
  ];
  const view = build([route('2001:db8::/32', 1), route('::/0', 2), route('2001:db8:1::/48', 0)], nexthops, 12);
  const nh = lookupText(view, '2001:db8:2::9');
  assert.equal(nh, 1);
  assert.equal(view.nexthopKind(nh), NH_GATEWAY);
  assert.equal(view.nexthopPort(nh), 7);
  assert.equal(view.nexthopMtu(nh), 1280);
  assert.equal(view.hasGateway(nh), true);
  const at = view.gatewayOffset(nh);
  assert.deepEqual(view.bytes.subarray(at, at + 16), gateway);
  assert.equal(view.nexthopMtu(0), 0);
  assert.equal(view.hasGateway(0), false);
  assert.equal(view.nexthopKind(lookupText(view, '3000::')), NH_REJECT);
  assert.equal(view.nexthopPort(lookupText(view, '2001:db8:1::5')), 3);
});

test('fib: a later duplicate of the same prefix wins; host bits past the length are ignored', () => {
  const withHostBits = { prefix: parseIpv6('2001:db8::ffff')!, len: 32, nexthop: 0 };
  const view = build([withHostBits, route('2001:db8::/32', 1)], nexthopsFor(2));
  assert.equal(lookupText(view, '2001:db8::1'), 1);
});

test('fib: rejects nexthop indices and prefix lengths out of range', () => {
  assert.throws(() => compileFib([route('::/0', 1)], nexthopsFor(1)), /nexthop 1/);
  assert.throws(() => compileFib([{ prefix: new Uint8Array(16), len: 129, nexthop: 0 }], nexthopsFor(1)), /length 129/);
});

test('fib: rebinding between two regions follows the table in each', () => {
  const a = new Uint8Array(new SharedArrayBuffer(fibByteLength([route('::/0', 0)], nexthopsFor(2))));
  encodeFib([route('::/0', 0)], nexthopsFor(2), a);
  const routesB = [route('::/0', 1)];
  const b = new Uint8Array(new SharedArrayBuffer(fibByteLength(routesB, nexthopsFor(2))));
  encodeFib(routesB, nexthopsFor(2), b);
  const view = new FibView();
  for (let i = 0; i < 4; i++) {
    view.bind(i % 2 === 0 ? a : b, 0);
    assert.equal(lookupText(view, '2001:db8::1'), i % 2);
  }
});

// Prefixes are drawn around a few shared base addresses so that they overlap and nest, with
// lengths biased towards the edges of the trie's levels (0, the /16 direct array, stride
// boundaries, /127 and /128).
const interestingLengths = [0, 1, 15, 16, 17, 20, 21, 22, 31, 32, 33, 48, 64, 120, 121, 125, 126, 127, 128];
const address = fc.uint8Array({ minLength: 16, maxLength: 16 });
const lpmCase = fc
  .record({
    bases: fc.array(address, { minLength: 1, maxLength: 4 }),
    routes: fc.array(
      fc.record({
        base: fc.nat(),
        len: fc.oneof(fc.constantFrom(...interestingLengths), fc.integer({ min: 0, max: 128 })),
        flipBit: fc.option(fc.integer({ min: 0, max: 127 })),
        nexthop: fc.nat({ max: 7 }),
      }),
      { minLength: 0, maxLength: 60 },
    ),
    queries: fc.array(fc.record({ route: fc.nat(), tail: address, random: fc.boolean() }), { minLength: 1, maxLength: 40 }),
  })
  .map(({ bases, routes, queries }) => {
    const fibRoutes: FibRoute[] = routes.map((r) => {
      const prefix = Uint8Array.from(bases[r.base % bases.length]!);
      if (r.flipBit !== null) prefix[r.flipBit >> 3]! ^= 0x80 >> (r.flipBit & 7);
      return { prefix, len: r.len, nexthop: r.nexthop };
    });
    // Each query either is random or keeps a route's prefix bits (or all but the last)
    // and takes the rest from `tail`, so it lands inside, or just outside, that route.
    const addrs = queries.map((q) => {
      if (q.random || fibRoutes.length === 0) return q.tail;
      const r = fibRoutes[q.route % fibRoutes.length]!;
      const keep = q.tail[0]! % 2 === 0 ? r.len : Math.max(0, r.len - 1);
      const out = Uint8Array.from(q.tail);
      for (let bit = 0; bit < keep; bit++) {
        const mask = 0x80 >> (bit & 7);
        out[bit >> 3] = (out[bit >> 3]! & ~mask) | (r.prefix[bit >> 3]! & mask);
      }
      return out;
    });
    return { routes: fibRoutes, addrs };
  });

test('fib: agrees with a naive linear LPM over random overlapping prefixes', () => {
  fc.assert(
    fc.property(lpmCase, ({ routes, addrs }) => {
      const view = build(routes, nexthopsFor(8), 4);
      for (const a of addrs) assert.equal(view.lookup(a, 0), naiveLookup(routes, a));
    }),
    { seed: 42, numRuns: 400 },
  );
});

test('fib: 100,000 random /48 routes and a default route encode in under 24 MiB and look up right', () => {
  const rng = new SeededRng(7);
  const randomAddress = (): Uint8Array => Uint8Array.from({ length: 16 }, () => Math.floor(rng.next() * 256));
  const routes: FibRoute[] = [{ prefix: new Uint8Array(16), len: 0, nexthop: 0 }];
  for (let i = 0; i < 100_000; i++) routes.push({ prefix: randomAddress(), len: 48, nexthop: 1 + (i % 15) });
  const fib = compileFib(routes, nexthopsFor(16));
  assert.ok(fib.byteLength < 24 * 1024 * 1024, `FIB is ${fib.byteLength} bytes`);
  const bytes = new Uint8Array(new SharedArrayBuffer(fib.byteLength));
  fib.encode(bytes);
  const view = new FibView();
  view.bind(bytes, 0);
  assert.equal(view.routeCount(), 100_001);
  const sample = routes.slice(0, 300);
  for (const r of sample) {
    const inside = Uint8Array.from(r.prefix);
    inside[15] = 0x99;
    assert.equal(view.lookup(inside, 0), naiveLookup(routes, inside));
  }
  for (let i = 0; i < 100; i++) {
    const a = randomAddress();
    assert.equal(view.lookup(a, 0), naiveLookup(routes, a));
  }
});

/** A port table with ports 0..7, the ones in `down` down. */
function portsWithDown(down: readonly number[]): PortTableView {
  const bytes = new Uint8Array(PORT_TABLE_BYTES);
  const entries = Array.from({ length: 8 }, (_, port) => ({
    port, kind: 'tap' as const, up: !down.includes(port), mtu: 1500, mac: null, linkLocal: new Uint8Array(16), errorSource: new Uint8Array(16),
  }));
  encodePortTable(entries, bytes);
  const view = new PortTableView();
  view.bind(bytes, 0);
  return view;
}

/** A UDP packet to 2001:db8:99::1 from source port `sport`. */
function udpPacket(sport: number, label = 0): Uint8Array {
  const p = new Uint8Array(48);
  p[0] = 0x60;
  p[1] = (label >> 16) & 0x0f;
  p[2] = (label >> 8) & 0xff;
  p[3] = label & 0xff;
  p[5] = 8;
  p[6] = 17;
  p[7] = 64;
  p.set(parseIpv6('2001:db8:1::10')!, 8);
  p.set(parseIpv6('2001:db8:99::1')!, 24);
  p[40] = sport >> 8;
  p[41] = sport & 0xff;
  return p;
}

test('fib: an ECMP group reads as its first member, and selectMember spreads flows over its members, counting each', () => {
  const gw1 = parseIpv6('fe80::1')!;
  const gw2 = parseIpv6('fe80::2')!;
  const nexthops: FibNexthop[] = [
    { kind: NH_CONNECTED, port: 0 },
    { kind: NH_GATEWAY, port: 1, gateway: gw1, mtu: 1400 },
    { kind: NH_GATEWAY, port: 2, gateway: gw2 },
    { kind: NH_GATEWAY, port: 0, members: [{ nexthop: 1, counter: 5 }, { nexthop: 2, counter: 6 }] },
  ];
  const view = build([route('2001:db8:1::/64', 0), route('2001:db8:99::/64', 3)], nexthops, 4);
  const group = lookupText(view, '2001:db8:99::1');
  assert.equal(group, 3);
  // Readers that do not balance see the first member.
  assert.equal(view.nexthopPort(group), 1);
  assert.equal(view.nexthopMtu(group), 1400);
  assert.deepEqual(view.bytes.subarray(view.gatewayOffset(group), view.gatewayOffset(group) + 16), gw1);
  const ports = portsWithDown([]);
  const counters = new Float64Array(16);
  const chosen = new Map<number, number>();
  for (let sport = 1000; sport < 1064; sport++) {
    const p = udpPacket(sport);
    const m = view.selectMember(group, p, 0, p.length, ports, counters, 3);
    assert.ok(m === 1 || m === 2, `member ${m}`);
    chosen.set(sport, m);
    // One flow, one member: the same packet again, as another lane or batch would see it.
    assert.equal(view.selectMember(group, p, 0, p.length, ports, counters, 3), m);
  }
  const onFirst = [...chosen.values()].filter((m) => m === 1).length;
  assert.ok(onFirst >= 16 && onFirst <= 48, `64 flows spread over both members (${onFirst} on the first)`);
  assert.equal(counters[3 + 5], 2 * onFirst);
  assert.equal(counters[3 + 6], 2 * (64 - onFirst));
  // A plain nexthop and no route come back as they are, uncounted.
  const p = udpPacket(1);
  assert.equal(view.selectMember(0, p, 0, p.length, ports, counters, 3), 0);
  assert.equal(view.selectMember(-1, p, 0, p.length, ports, counters, 3), -1);
  assert.equal(counters.reduce((a, b) => a + b, 0), 128);
});

test('fib: a member whose port is down is skipped; the other flows keep their member', () => {
  const nexthops: FibNexthop[] = [
    { kind: NH_GATEWAY, port: 1, gateway: parseIpv6('fe80::1')! },
    { kind: NH_GATEWAY, port: 2, gateway: parseIpv6('fe80::2')! },
    { kind: NH_GATEWAY, port: 3, gateway: parseIpv6('fe80::3')! },
    { kind: NH_GATEWAY, port: 1, members: [{ nexthop: 0, counter: -1 }, { nexthop: 1, counter: -1 }, { nexthop: 2, counter: -1 }] },
  ];
  const view = build([route('2001:db8:99::/64', 3)], nexthops);
  const counters = new Float64Array(4);
  const pick = (sport: number, ports: PortTableView) => {
    const p = udpPacket(sport);
    return view.selectMember(3, p, 0, p.length, ports, counters, 0);
  };
  const allUp = portsWithDown([]);
  const twoDown = portsWithDown([2]);
  const moved = new Set<number>();
  for (let sport = 0; sport < 200; sport++) {
    const before = pick(sport, allUp);
    const after = pick(sport, twoDown);
    assert.notEqual(after, 1, 'never the member on the down port');
    if (before !== 1) assert.equal(after, before, 'a flow on an up member stays');
    else moved.add(after);
  }
  assert.deepEqual([...moved].sort(), [0, 2], "the down member's flows spread over both others");
  // Every member down: the hashed one, for the lane's port_down verdict.
  assert.ok([0, 1, 2].includes(pick(7, portsWithDown([1, 2, 3]))));
  assert.equal(counters.reduce((a, b) => a + b, 0), 0, 'members with no counter slot count nothing');
});

test('fib: a non-zero flow label picks the member whatever the ports (RFC 6438)', () => {
  const nexthops: FibNexthop[] = [
    { kind: NH_GATEWAY, port: 1, gateway: parseIpv6('fe80::1')! },
    { kind: NH_GATEWAY, port: 2, gateway: parseIpv6('fe80::2')! },
    { kind: NH_GATEWAY, port: 1, members: [{ nexthop: 0, counter: -1 }, { nexthop: 1, counter: -1 }] },
  ];
  const view = build([route('::/0', 2)], nexthops);
  const ports = portsWithDown([]);
  const counters = new Float64Array(1);
  const members = new Set<number>();
  for (let label = 1; label <= 32; label++) {
    const bySport = new Set<number>();
    for (let sport = 0; sport < 16; sport++) {
      const p = udpPacket(sport, label);
      bySport.add(view.selectMember(2, p, 0, p.length, ports, counters, 0));
    }
    assert.equal(bySport.size, 1, `label ${label}: one member for every source port`);
    members.add([...bySport][0]!);
  }
  assert.equal(members.size, 2, 'different labels reach both members');
});

test('fib: rejects malformed ECMP groups', () => {
  const base: FibNexthop[] = nexthopsFor(2);
  assert.throws(() => compileFib([], [...base, { kind: NH_CONNECTED, port: 0, members: [{ nexthop: 0, counter: 0 }] }]), /at least two/);
  assert.throws(() => compileFib([], [...base, { kind: NH_CONNECTED, port: 0, members: [{ nexthop: 0, counter: 0 }, { nexthop: 9, counter: 0 }] }]), /not a plain nexthop/);
  assert.throws(() => compileFib([], [...base, { kind: NH_CONNECTED, port: 0, members: [{ nexthop: 0, counter: 0 }, { nexthop: 1, counter: 64 }] }]), /counter 64/);
});
