import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ALL_ROUTERS, formatIpv6, UNSPECIFIED } from '../../src/lib/addr.js';
import { ManualClock } from '../../src/lib/clock.js';
import { SeededRng } from '../../src/lib/rng.js';
import { decodeNdMessage, encodeNdMessage, ndMessageLength, type NdMessage, type NdOption } from '../../src/wire/nd.js';
import { NeighborCache } from '../../src/stack/nd.js';
import { RaHost } from '../../src/stack/ra-host.js';
import { Rib } from '../../src/stack/rib.js';
import { RecordingTransport, ROUTER_MAC, ip, mac, twoPorts } from './fixtures.js';

const UPSTREAM_LL = ip('fe80::1');
const UPSTREAM_LL_2 = ip('fe80::2');
const UPSTREAM_MAC = mac('52:54:00:00:00:01');

/** `nud`: a real neighbour cache, whose unanswered probes delete the router's entry; otherwise a cache that knows nobody. */
function setup(nud = false) {
  const clock = new ManualClock(0);
  const ifaces = twoPorts();
  const rib = new Rib();
  const transport = new RecordingTransport(() => clock.now());
  let host: RaHost | undefined;
  // As in the stack: the cache's changes reach the host side (a NUD failure is a lost router).
  const ndTransport = Object.assign(Object.create(transport) as RecordingTransport, { neighborsChanged: () => host?.neighborsChanged() });
  const nd = new NeighborCache(ifaces, ndTransport, clock, new SeededRng(7));
  host = new RaHost(ifaces, rib, nud ? nd : { lookup: () => undefined }, transport, clock);
  // The stack hands every RA to the neighbour cache first (it learns the SLLA), then to the host side.
  const receive = (src: Uint8Array, msg: NdMessage, port = 0) => {
    if (nud) nd.receive(port, src, ip('ff02::1'), msg);
    host!.receive(port, src, msg);
  };
  return { clock, ifaces, rib, transport, nd, host, receive };
}

function ra(routerLifetime: number, extra: Partial<Extract<NdMessage, { type: 'routerAdvertisement' }>> = {}, options: NdOption[] = []): NdMessage {
  return {
    type: 'routerAdvertisement', curHopLimit: 64, managed: true, other: false, routerLifetime, reachableTime: 0, retransTimer: 0,
    options: [{ type: 'sourceLinkLayerAddress', mac: UPSTREAM_MAC }, ...options], ...extra,
  };
}

function pio(prefix: string, len: number, validLifetime: number, onLink = true): NdOption {
  return { type: 'prefixInformation', prefixLength: len, onLink, autonomous: true, validLifetime, preferredLifetime: Math.min(validLifetime, 3600), prefix: ip(prefix) };
}

function encode(msg: NdMessage): Uint8Array {
  const bytes = new Uint8Array(ndMessageLength(msg));
  encodeNdMessage(msg, bytes, 0);
  return bytes;
}

function defaultVia(rib: Rib): string[] | undefined {
  return rib.best(UNSPECIFIED, 0)?.nexthops.map((n) => `${n.port} ${formatIpv6(n.gateway!)}`);
}

test('an RA on an accepting port installs ::/0 (origin ra) via its source for the router lifetime, then withdraws it', () => {
  const s = setup();
  s.host.setAccept(0, true);
  s.receive(UPSTREAM_LL, ra(1800));
  const route = s.rib.best(UNSPECIFIED, 0);
  assert.equal(route?.origin, 'ra');
  assert.deepEqual(defaultVia(s.rib), ['0 fe80::1']);
  s.clock.advance(1800 * 1000 - 1);
  assert.ok(s.rib.best(UNSPECIFIED, 0), 'still there just before the lifetime ends');
  s.clock.advance(1);
  assert.equal(s.rib.best(UNSPECIFIED, 0), undefined);
  assert.equal(s.host.counters.routersExpired, 1);
});

test('a later RA refreshes the lifetime; router lifetime 0 withdraws at once (§6.3.4)', () => {
  const s = setup();
  s.host.setAccept(0, true);
  s.receive(UPSTREAM_LL, ra(600));
  s.clock.advance(500_000);
  s.receive(UPSTREAM_LL, ra(600));
  s.clock.advance(500_000);
  assert.deepEqual(defaultVia(s.rib), ['0 fe80::1'], 'refreshed at 500 s, so alive at 1000 s');
  s.receive(UPSTREAM_LL, ra(0));
  assert.equal(s.rib.best(UNSPECIFIED, 0), undefined);
});

test('RFC 4191: the default route goes via the routers of the best preference, and falls back when they leave', () => {
  const s = setup();
  s.host.setAccept(0, true);
  s.receive(UPSTREAM_LL, ra(1800, { preference: 'low' }));
  s.receive(UPSTREAM_LL_2, ra(1800, { preference: 'high' }));
  assert.deepEqual(defaultVia(s.rib), ['0 fe80::2']);
  assert.equal(s.rib.best(UNSPECIFIED, 0)?.metric, 0);
  s.receive(UPSTREAM_LL_2, ra(0, { preference: 'high' }));
  assert.deepEqual(defaultVia(s.rib), ['0 fe80::1']);
  assert.equal(s.rib.best(UNSPECIFIED, 0)?.metric, 2);
});

test('the RA codec carries the Prf bits; the reserved value reads as medium (RFC 4191 §2.2)', () => {
  for (const preference of ['high', 'low', undefined] as const) {
    const msg = ra(1800, preference === undefined ? {} : { preference });
    const bytes = encode(msg);
    const back = decodeNdMessage(bytes, 0, bytes.length);
    assert.ok(back.ok);
    assert.equal((back.value as { preference?: string }).preference, preference);
  }
  const bytes = encode(ra(1800));
  bytes[5] = bytes[5]! | 0x10; // Prf 10, reserved
  const back = decodeNdMessage(bytes, 0, bytes.length);
  assert.ok(back.ok);
  assert.equal((back.value as { preference?: string }).preference, undefined);
});

test('on-link PIOs become on-link routes for their valid lifetime; off-link and link-local ones do not', () => {
  const s = setup();
  s.host.setAccept(0, true);
  s.receive(UPSTREAM_LL, ra(1800, {}, [pio('2001:db8:f::', 64, 7200), pio('2001:db8:e::', 64, 7200, false), pio('fe80::', 64, 7200)]));
  const onLink = s.rib.best(ip('2001:db8:f::'), 64);
  assert.equal(onLink?.origin, 'ra');
  assert.deepEqual(onLink?.nexthops, [{ port: 0, gateway: null }]);
  assert.equal(s.rib.best(ip('2001:db8:e::'), 64), undefined);
  assert.equal(s.rib.best(ip('fe80::'), 64), undefined, 'the link-local prefix is not taken from an RA');
  s.clock.advance(7200 * 1000);
  assert.equal(s.rib.best(ip('2001:db8:f::'), 64), undefined);
});

test('a valid lifetime longer than a timer can wait (30 days) is kept until it really ends', () => {
  const s = setup();
  s.host.setAccept(0, true);
  s.receive(UPSTREAM_LL, ra(0, {}, [pio('2001:db8:f::', 64, 2_592_000)]));
  s.clock.advance(25 * 86_400_000);
  assert.ok(s.rib.best(ip('2001:db8:f::'), 64), 'alive after 25 days (past 2^31 ms)');
  s.clock.advance(5 * 86_400_000);
  assert.equal(s.rib.best(ip('2001:db8:f::'), 64), undefined);
});

test('a router that NUD finds unreachable is withdrawn before its lifetime ends (§7.3.3)', () => {
  const s = setup(true);
  s.host.setAccept(0, true);
  s.receive(UPSTREAM_LL, ra(9000));
  assert.ok(s.nd.lookup(0, UPSTREAM_LL)?.mac, 'the cache learned the SLLA');
  // No NA answers the unicast probes: the entry goes STALE → PROBE → deleted.
  s.clock.advance(60_000);
  assert.equal(s.nd.lookup(0, UPSTREAM_LL), undefined);
  assert.equal(s.rib.best(UNSPECIFIED, 0), undefined);
  assert.equal(s.host.counters.routersLost, 1);
});

test('link down withdraws what the port learned; a port that does not accept ignores RAs; accept off withdraws', () => {
  const s = setup();
  s.receive(UPSTREAM_LL, ra(1800, {}, [pio('2001:db8:f::', 64, 7200)]));
  assert.equal(s.rib.best(UNSPECIFIED, 0), undefined, 'port 0 does not accept yet');
  s.host.setAccept(0, true);
  s.receive(UPSTREAM_LL, ra(1800, {}, [pio('2001:db8:f::', 64, 7200)]));
  s.ifaces.setLinkUp(0, false);
  assert.equal(s.rib.best(UNSPECIFIED, 0), undefined);
  assert.equal(s.rib.best(ip('2001:db8:f::'), 64), undefined);
  s.ifaces.setLinkUp(0, true);
  s.receive(UPSTREAM_LL, ra(1800, {}, [pio('2001:db8:f::', 64, 7200)]));
  s.host.setAccept(0, false);
  assert.equal(s.rib.best(UNSPECIFIED, 0), undefined);
  assert.equal(s.rib.best(ip('2001:db8:f::'), 64), undefined);
});

test('an accepting port solicits: up to 3 RSs 4 s apart to all-routers from its link-local address, until an RA comes (§6.3.7)', () => {
  const s = setup();
  s.host.setAccept(0, true);
  s.clock.advance(60_000);
  const sent = s.transport.ofType('routerSolicitation');
  assert.deepEqual(sent.map((r) => r.at), [0, 4000, 8000]);
  assert.deepEqual(sent[0]!.dst, ALL_ROUTERS);
  assert.deepEqual(sent[0]!.src, s.ifaces.byPort(0)!.linkLocal());
  assert.deepEqual(sent[0]!.msg.options, [{ type: 'sourceLinkLayerAddress', mac: ROUTER_MAC }]);

  const t = setup();
  t.host.setAccept(0, true);
  t.receive(UPSTREAM_LL, ra(1800));
  t.clock.advance(60_000);
  assert.equal(t.transport.ofType('routerSolicitation').length, 1, 'the RA stopped the solicitations');
});
