/**
 * End-to-end forwarding through the real binary on TAP and TUN ports, with kernel hosts as
 * neighbours (the foundation issue's tests 1–7 and 10).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil, requireCommand, TestBed } from '../helpers/netns.js';
import { ping, twoHosts, udpFlows } from './topology.js';

requireCommand('ping', 'iputils-ping');

for (const [lanes, io] of [
  [1, 'uring'],
  [2, 'syscall'],
] as const) {
  test(`ping both ways through turtle6 with ${lanes} lane(s), ${io} I/O`, async (t) => {
    const bed = new TestBed(`fw${lanes}`);
    t.after(() => bed.cleanup());
    const { h1, h2, a1, a2, router, if1 } = await twoHosts(bed, { lanes, io });
    const there = ping(h1, a2);
    assert.equal(there.code, 0, there.out);
    const back = ping(h2, a1);
    assert.equal(back.code, 0, back.out);
    // Both pings crossed the lanes: of h1's 3 requests and 3 replies, only a packet that had
    // to wait for neighbour resolution went through the control plane instead.
    assert.ok((await router.counter(if1, 'forwarded')) >= 4);
    // The router's own address answers too (the echo module on the StackApi).
    const self = ping(h1, '2001:db8:1::1');
    assert.equal(self.code, 0, self.out);
    const lanesShown = (await router.ctl(['show', 'lanes'])) as Array<{ running: boolean }>;
    assert.equal(lanesShown.length, lanes);
    assert.ok(lanesShown.every((l) => l.running));
  });
}

test('ICMPv6 errors: time exceeded, no route, packet too big with PMTU, address unreachable', async (t) => {
  const bed = new TestBed('icmp');
  t.after(() => bed.cleanup());
  const { h1, a2, router, if1 } = await twoHosts(bed, { mtu2: 1280 });

  // RFC 4443 §3.3: a hop limit of 1 cannot be forwarded.
  const ttl = ping(h1, a2, '-t', '1');
  assert.notEqual(ttl.code, 0);
  assert.match(ttl.out, /From 2001:db8:1::1 .*Time exceeded/);

  // §3.1 code 0: no route to 2001:db8:99::/64.
  const noRoute = ping(h1, '2001:db8:99::1');
  assert.match(noRoute.out, /From 2001:db8:1::1 .*(No route|Destination unreachable)/);

  // §3.2: 1400 bytes into a 1280 link; the host's PMTU cache learns 1280.
  const big = ping(h1, a2, '-s', '1400', '-M', 'do');
  assert.match(big.out, /Packet too big: mtu=1280/);
  await pollUntil('the PMTU cache', () => /mtu 1280/.test(h1.run('ip', ['-6', 'route', 'get', a2]).stdout), 5000);

  // §3.1 code 3: nobody owns 2001:db8:2::dead, so neighbour resolution fails (3 NS, 1 s apart).
  const gone = h1.run('ping', ['-6', '-n', '-c', '1', '-W', '6', '2001:db8:2::dead']);
  assert.match(gone.stdout + gone.stderr, /Address unreachable/);

  const c = await router.counters(if1);
  assert.ok(c.hop_limit_exceeded! >= 1 && c.no_route! >= 1 && c.too_big! >= 1, JSON.stringify(c));
  assert.ok(c.icmp_errors_sent! >= 3);
});

test('forwarding over TUN ports', async (t) => {
  const bed = new TestBed('tun');
  t.after(() => bed.cleanup());
  const { h1, h2, a1, a2 } = await twoHosts(bed, { kind: 'tun' });
  const there = ping(h1, a2);
  assert.equal(there.code, 0, there.out);
  const back = ping(h2, a1);
  assert.equal(back.code, 0, back.out);
});

test('a lane whose thread dies is replaced and forwarding resumes through it', async (t) => {
  const bed = new TestBed('crash');
  t.after(() => bed.cleanup());
  const { h1, a2, router } = await twoHosts(bed, { lanes: 2 });
  assert.equal(ping(h1, a2).code, 0);
  const lanes = async () => (await router.ctl(['show', 'lanes'])) as Array<{ lane: number; starts: number; running: boolean; forwarded: number }>;
  // 64 UDP flows spread over both TAP queues, so over both lanes (the kernel hashes flows to queues).
  udpFlows(h1, a2, 64, 4);
  const spread = await lanes();
  assert.ok(spread.every((l) => l.forwarded > 0), `both lanes forward: ${JSON.stringify(spread)}`);
  await router.ctl(['debug', 'crash-lane'], { lane: 0 });
  await pollUntil('lane 0 to be restarted', async () => {
    const now = await lanes();
    return now[0]!.starts > spread[0]!.starts && now[0]!.running;
  });
  const restarted = await lanes();
  udpFlows(h1, a2, 64, 4);
  const after = await lanes();
  // 64 new flows spread over both queues again: the new lane 0 forwards its share.
  assert.ok(after[0]!.forwarded > restarted[0]!.forwarded, `lane 0 forwards after its restart: ${JSON.stringify({ restarted, after })}`);
  assert.ok(after[1]!.forwarded > restarted[1]!.forwarded);
  const ping2 = ping(h1, a2);
  assert.equal(ping2.code, 0, ping2.out);
  assert.match(router.output(), /lane died; restarting it/);
});

test('a neighbour that disappears is probed away and then gets address unreachable', async (t) => {
  const bed = new TestBed('gone');
  t.after(() => bed.cleanup());
  const { h1, h2, if2, a2, router } = await twoHosts(bed, {
    extra: 'nd:\n  reachableTime: 2000\n  retransTimer: 300\n  delayFirstProbe: 500\n',
  });
  assert.equal(ping(h1, a2).code, 0);
  const known = async () => ((await router.ctl(['show', 'neighbors'])) as Array<{ address: string }>).some((n) => n.address === a2);
  assert.ok(await known());
  // h2 vanishes from the link: NUD (RFC 4861 §7.3) must notice without any traffic to it.
  h2.ip('link', 'set', if2, 'down');
  await pollUntil('the router to drop its neighbour entry for h2', async () => !(await known()), 15_000, 200);
  // Now resolution fails: RFC 4443 §3.1 code 3.
  const r = h1.run('ping', ['-6', '-n', '-c', '1', '-W', '5', a2]);
  assert.match(r.stdout + r.stderr, /Address unreachable/);
});
