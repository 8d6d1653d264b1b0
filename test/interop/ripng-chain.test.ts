/**
 * A three-router RIPng chain, turtle6 in the middle, with a redundant path:
 *
 *           2001:db8:a::/64                     2001:db8:b::/64
 *   B1 (BIRD) ═════════ t6a ─ turtle6 ─ t6b ═════════ B2 (BIRD) ── 2001:db8:92::/64 ── h2
 *   │  2001:db8:91::/64 (stub)     │                      │
 *   │                            t6h ── h1 (2001:db8:1::/64, SLAAC)
 *   └──────────────── 2001:db8:c::/64, cost 5 on both ends ─────────┘
 *
 * The direct B1–B2 link costs 5, so every path goes through turtle6 while it is up. Then
 * t6b goes down on B2's side: turtle6's route to 2001:db8:92::/64 times out, turtle6 tells
 * B1 it is unreachable, B1 falls back to the direct link, and turtle6 relearns the prefix
 * from B1 (metric 1 + 5 + 1 = 7). A host behind turtle6 pings h2 before and after.
 *
 * Shortened timers on every router (update 2 s, timeout 6 s, garbage 4 s; RFC 2080 uses
 * 30/180/120), so the reroute takes at most timeout + hold-down (≤ 5 s) + one BIRD update
 * + the kernel scan of BIRD's routes: the test allows 25 s and prints what it took.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil, requireCommand, shortName, TestBed, type Netns } from '../helpers/netns.js';
import { startRouter, waitForSlaac } from '../helpers/router.js';
import { ping } from '../e2e/topology.js';
import { startBird } from './bird/bird.js';

interface ShownRoute {
  prefix: string;
  origin: string;
  metric: number;
  best: boolean;
  nexthops: Array<{ interface: string; gateway: string | null }>;
}

const TIMERS = { update: 2, timeout: 6, garbage: 4 } as const;

function veth(a: Netns, aName: string, b: Netns, bName: string): void {
  a.ip('link', 'add', aName, 'type', 'veth', 'peer', 'name', bName, 'netns', b.name);
  a.ip('link', 'set', aName, 'up');
  b.ip('link', 'set', bName, 'up');
}

async function waitForLinkLocal(ns: Netns, ifname: string): Promise<void> {
  await pollUntil(`a link-local address on ${ns.name}/${ifname}`, () => /inet6 fe80::/.test(ns.ip('-6', 'addr', 'show', 'dev', ifname)));
}

test('BIRD — turtle6 — BIRD converges, and a link break reroutes over the redundant path', { timeout: 120_000 }, async (t) => {
  requireCommand('ping', 'iputils-ping');
  const bed = new TestBed('ripchain');
  t.after(() => bed.cleanup());
  const r = bed.netns('r');
  const h1 = bed.netns('h1');
  const b1 = bed.netns('b1');
  const b2 = bed.netns('b2');
  const h2 = bed.netns('h2');
  const ifH = shortName('t6h');
  const ifA = shortName('t6a');
  const ifB = shortName('t6b');
  const stub1 = shortName('st');
  const stub1Peer = shortName('sp');
  const c1 = shortName('c1');
  const c2 = shortName('c2');
  const v2 = shortName('v2');
  const vh = shortName('vh');

  for (const b of [b1, b2]) b.sysctl('net.ipv6.conf.all.forwarding', '1');
  // B1's stub: a veth pair inside B1 (no dummy interfaces here; PEERS.md).
  b1.ip('link', 'add', stub1, 'type', 'veth', 'peer', 'name', stub1Peer);
  b1.ip('addr', 'add', '2001:db8:91::1/64', 'dev', stub1, 'nodad');
  b1.ip('link', 'set', stub1Peer, 'up');
  b1.ip('link', 'set', stub1, 'up');
  // The redundant B1–B2 link.
  veth(b1, c1, b2, c2);
  b1.ip('addr', 'add', '2001:db8:c::1/64', 'dev', c1, 'nodad');
  b2.ip('addr', 'add', '2001:db8:c::2/64', 'dev', c2, 'nodad');
  // B2's stub with host h2 on it.
  veth(b2, v2, h2, vh);
  b2.ip('addr', 'add', '2001:db8:92::1/64', 'dev', v2, 'nodad');
  h2.ip('addr', 'add', '2001:db8:92::2/64', 'dev', vh, 'nodad');
  h2.ip('-6', 'route', 'add', 'default', 'via', '2001:db8:92::1');

  const router = await startRouter(bed, r, `
interfaces:
  - name: ${ifH}
    addresses: [2001:db8:1::1/64]
    netns: ${h1.name}
    ra: { maxInterval: 4 }
  - name: ${ifA}
    addresses: [2001:db8:a::1/64]
    netns: ${b1.name}
    ra: { enabled: false }
  - name: ${ifB}
    addresses: [2001:db8:b::1/64]
    netns: ${b2.name}
    ra: { enabled: false }
dataplane: { lanes: 1, hostInterface: false }
metrics: { listen: "" }
ripng:
  timers: { update: ${TIMERS.update}, timeout: ${TIMERS.timeout}, garbage: ${TIMERS.garbage} }
  interfaces:
    - { name: ${ifH}, passive: true }
`);
  // The TAPs arrive in the BIRD namespaces down and bare (PEERS.md): configure them there.
  b1.ip('addr', 'add', '2001:db8:a::2/64', 'dev', ifA, 'nodad');
  b1.ip('link', 'set', ifA, 'up');
  b2.ip('addr', 'add', '2001:db8:b::2/64', 'dev', ifB, 'nodad');
  b2.ip('link', 'set', ifB, 'up');
  for (const [ns, ifname] of [[b1, ifA], [b1, c1], [b2, ifB], [b2, c2]] as const) await waitForLinkLocal(ns, ifname);
  const bird1 = startBird(bed, b1, '10.0.0.1', [{ name: ifA, ...TIMERS }, { name: c1, ...TIMERS, metric: 5 }], [stub1]);
  const bird2 = startBird(bed, b2, '10.0.0.2', [{ name: ifB, ...TIMERS }, { name: c2, ...TIMERS, metric: 5 }], [v2]);

  // Convergence: every stub is reached through turtle6, not over the costly direct link.
  const routes = async () => (await router.ctl(['show', 'routes'])) as ShownRoute[];
  const ripRoute = async (prefix: string) => (await routes()).find((x) => x.prefix === prefix && x.origin === 'ripng' && x.best);
  await pollUntil('turtle6 to learn both BIRD stubs', async () => (await ripRoute('2001:db8:91::/64')) !== undefined && (await ripRoute('2001:db8:92::/64')) !== undefined, 20_000, 200);
  const to91 = (await ripRoute('2001:db8:91::/64'))!;
  const to92 = (await ripRoute('2001:db8:92::/64'))!;
  assert.deepEqual([to91.metric, to91.nexthops[0]!.interface], [2, ifA]);
  assert.deepEqual([to92.metric, to92.nexthops[0]!.interface], [2, ifB]);
  const via = (bird: typeof bird1, prefix: string) => bird.routes().get(prefix) ?? '';
  await pollUntil('B1 to reach 2001:db8:92::/64 and 2001:db8:1::/64 through turtle6', () => via(bird1, '2001:db8:92::/64').includes(`on ${ifA}`) && via(bird1, '2001:db8:1::/64').includes(`on ${ifA}`), 20_000, 200);
  await pollUntil('B2 to reach 2001:db8:91::/64 and 2001:db8:1::/64 through turtle6', () => via(bird2, '2001:db8:91::/64').includes(`on ${ifB}`) && via(bird2, '2001:db8:1::/64').includes(`on ${ifB}`), 20_000, 200);
  assert.match(via(bird1, '2001:db8:92::/64'), /\(120\/3\)/, 'B2 direct 1 + turtle6 1 + B1 1, not 1 + 5 over the direct link');

  await waitForSlaac(h1, ifH, '2001:db8:1:');
  await pollUntil('B2\'s kernel to route 2001:db8:1::/64 back through turtle6', () => b2.ip('-6', 'route', 'show', '2001:db8:1::/64').includes(ifB), 10_000, 200);
  // Bounded: the first echo may wait for neighbour discovery on both links.
  let before: ReturnType<typeof ping> = { code: -1, out: '' };
  await pollUntil('a ping from h1 to h2 through turtle6', () => (before = ping(h1, '2001:db8:92::2')).code === 0, 15_000, 250).catch((e: unknown) => {
    throw new Error(`${String(e)}\n${before.out}`);
  });

  // Break turtle6 — B2. B2 drops the link at once; turtle6 hears nothing more from B2.
  const brokeAt = Date.now();
  b2.ip('link', 'set', ifB, 'down');
  await pollUntil('turtle6 to reroute 2001:db8:92::/64 through B1 and the direct link', async () => {
    const now = await ripRoute('2001:db8:92::/64');
    return now !== undefined && now.nexthops[0]!.interface === ifA;
  }, 25_000, 100);
  const rerouteMs = Date.now() - brokeAt;
  const rerouted = (await ripRoute('2001:db8:92::/64'))!;
  assert.equal(rerouted.metric, 7, 'B2 direct 1 + the direct link 5 + turtle6 1');
  assert.match(rerouted.nexthops[0]!.gateway!, /^fe80::/);
  assert.match(via(bird1, '2001:db8:92::/64'), new RegExp(`on ${c1}`), 'B1 uses the direct link now');
  await pollUntil('B2 to reach 2001:db8:1::/64 over the direct link', () => via(bird2, '2001:db8:1::/64').includes(`on ${c2}`), 20_000, 200);
  t.diagnostic(`reroute after the link break: ${rerouteMs} ms (timeout ${TIMERS.timeout} s)`);

  // Traffic takes the redundant path both ways: h1 → turtle6 → B1 → B2 → h2 and back.
  await pollUntil('a ping from h1 to h2 over the redundant path', () => ping(h1, '2001:db8:92::2').code === 0, 15_000, 250);
});
