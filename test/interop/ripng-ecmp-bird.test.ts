/**
 * ECMP end to end: two BIRD routers advertise the same prefix by RIPng at the same metric,
 * turtle6 (RIPng `ecmp: 2`, two lanes) installs both paths as one FIB group, and 64 UDP
 * flows from a host behind it spread over both, each flow on one path only.
 *
 *                                  ┌─ t6a (2001:db8:21::/64) ══ BIRD A ── 2001:db8:99::/64 (stub)
 *   h1 ── t6h (2001:db8:1::/64) ── turtle6
 *                                  └─ t6b (2001:db8:22::/64) ══ BIRD B ── 2001:db8:99::/64 (stub)
 *
 * What each path carried is read from captures on both links (tshark), and checked against
 * the per-member counters in `show routes` and the metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pollUntil, requireCommand, shortName, TestBed, type Netns } from '../helpers/netns.js';
import { scrapeMetrics, startRouter } from '../helpers/router.js';
import { startBird } from './bird/bird.js';

interface ShownRoute {
  prefix: string;
  origin: string;
  best: boolean;
  nexthops: Array<{ interface: string; gateway: string | null; packets: number | null }>;
}

const FLOWS = 64;
const REPEAT = 3;
const FIRST_PORT = 20000;

/** Sends `repeat` datagrams on each of `count` UDP flows (source ports base…) to [dst]:9999. */
const SENDER = `
import socket, sys, time
dst, base, count, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
socks = []
for i in range(count):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(('::', base + i))
    socks.append(s)
for _ in range(repeat):
    for s in socks:
        s.sendto(b'turtle6-ecmp', (dst, 9999))
        # Paced, so that no queue on the way (the TAP's, a lane's batch) overflows.
        time.sleep(0.002)
`;

function send(h: Netns, base: number, count: number, repeat: number): void {
  h.runOk('python3', ['-c', SENDER, '2001:db8:99::5', String(base), String(count), String(repeat)]);
}

/** Source port → datagrams seen in a capture, for the measured flows. */
function flowsIn(ns: Netns, capture: string): Map<number, number> {
  const out = new Map<number, number>();
  const text = ns.run('tshark', ['-r', capture, '-Y', `udp.dstport == 9999 && udp.srcport >= ${FIRST_PORT} && udp.srcport < ${FIRST_PORT + FLOWS}`, '-T', 'fields', '-e', 'udp.srcport']).stdout;
  for (const line of text.split('\n')) if (line.trim()) out.set(Number(line), (out.get(Number(line)) ?? 0) + 1);
  return out;
}

test('ECMP: 64 UDP flows spread over two equal RIPng paths learned from BIRD, each flow on exactly one path', async (t) => {
  requireCommand('tcpdump', 'tcpdump');
  requireCommand('tshark', 'tshark');
  requireCommand('python3', 'python3');
  const bed = new TestBed('ecmp');
  t.after(() => bed.cleanup());
  const r = bed.netns('r');
  const h1 = bed.netns('h1');
  const a = bed.netns('birdA');
  const b = bed.netns('birdB');
  const ifH = shortName('t6h');
  const ifA = shortName('t6a');
  const ifB = shortName('t6b');
  const stubA = shortName('sa');
  const stubB = shortName('sb');

  // Each BIRD's stub: the same prefix, on a veth pair inside its namespace.
  for (const [ns, stub] of [[a, stubA], [b, stubB]] as const) {
    ns.sysctl('net.ipv6.conf.all.forwarding', '1');
    ns.ip('link', 'add', stub, 'type', 'veth', 'peer', 'name', `${stub}p`);
    ns.ip('addr', 'add', '2001:db8:99::1/64', 'dev', stub, 'nodad');
    ns.ip('link', 'set', stub, 'up');
    ns.ip('link', 'set', `${stub}p`, 'up');
  }

  const router = await startRouter(bed, r, `
interfaces:
  - name: ${ifH}
    addresses: [2001:db8:1::1/64]
    netns: ${h1.name}
  - name: ${ifA}
    addresses: [2001:db8:21::1/64]
    netns: ${a.name}
  - name: ${ifB}
    addresses: [2001:db8:22::1/64]
    netns: ${b.name}
dataplane: { lanes: 2, hostInterface: false, ecmpSeed: 1 }
ripng:
  ecmp: 2
  timers: { update: 2, timeout: 6, garbage: 4 }
`);
  // The TAPs arrive down and bare (PEERS.md): configure them in their namespaces.
  for (const [ns, dev, addr] of [[a, ifA, '2001:db8:21::2/64'], [b, ifB, '2001:db8:22::2/64'], [h1, ifH, '2001:db8:1::10/64']] as const) {
    ns.ip('addr', 'add', addr, 'dev', dev, 'nodad');
    ns.ip('link', 'set', dev, 'up');
    await pollUntil(`a link-local address on ${dev}`, () => /fe80::/.test(ns.ip('-6', 'addr', 'show', 'dev', dev)));
  }
  h1.ip('-6', 'route', 'replace', 'default', 'via', '2001:db8:1::1');
  // No flow labels: the flows differ only in their source ports, which the hash must read.
  h1.sysctl('net.ipv6.auto_flowlabels', '0');
  startBird(bed, a, '10.0.0.2', [{ name: ifA, update: 2, timeout: 6, garbage: 4 }], [stubA]);
  startBird(bed, b, '10.0.0.3', [{ name: ifB, update: 2, timeout: 6, garbage: 4 }], [stubB]);

  const shown = async () => ((await router.ctl(['show', 'routes'])) as ShownRoute[]).find((x) => x.prefix === '2001:db8:99::/64' && x.best);
  await pollUntil('turtle6 to install 2001:db8:99::/64 with a next hop through each BIRD', async () => (await shown())?.nexthops.length === 2, 30_000, 200);
  const route = (await shown())!;
  assert.equal(route.origin, 'ripng');
  assert.deepEqual(route.nexthops.map((n) => n.interface).sort(), [ifA, ifB].sort());
  for (const n of route.nexthops) assert.match(n.gateway!, /^fe80::/);

  // Warm up: flows on other ports until turtle6 has resolved both BIRDs (otherwise the first
  // packets of a flow wait for Neighbor Discovery and a few are dropped).
  await pollUntil('turtle6 to resolve both next hops', async () => {
    send(h1, 30000, 16, 1);
    const nbrs = (await router.ctl(['show', 'neighbors'])) as Array<{ interface: string; address: string; mac: string | null }>;
    return route.nexthops.every((n) => nbrs.some((x) => x.interface === n.interface && x.address === n.gateway && x.mac !== null));
  }, 15_000, 300);

  const captures = new Map<string, { ns: Netns; file: string }>();
  for (const [ns, dev] of [[a, ifA], [b, ifB]] as const) {
    const file = join(router.dir, `${dev}.pcap`);
    const dump = bed.spawnIn(ns, 'tcpdump', ['-U', '--immediate-mode', '-i', dev, '-w', file, 'udp dst port 9999']);
    let err = '';
    dump.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    await pollUntil(`tcpdump on ${dev} to listen`, () => err.includes('listening'));
    captures.set(dev, { ns, file });
  }
  const before = new Map((await shown())!.nexthops.map((n) => [n.interface, n.packets ?? NaN]));

  send(h1, FIRST_PORT, FLOWS, REPEAT);
  const seen = () => [...captures].map(([dev, c]) => [dev, flowsIn(c.ns, c.file)] as const);
  const total = () => seen().reduce((sum, [, m]) => sum + [...m.values()].reduce((x, y) => x + y, 0), 0);
  await pollUntil('every datagram of every flow in one capture or the other', () => total() === FLOWS * REPEAT, 10_000, 200).catch(async (e: Error) => {
    throw new Error(`${e.message}: ${total()} of ${FLOWS * REPEAT} seen (per capture: ${JSON.stringify(seen().map(([d, m]) => [d, m.size]))}); turtle6 counters on ${ifH}: ${JSON.stringify(await router.counters(ifH))}`);
  });

  const [[devA, onA], [devB, onB]] = seen();
  for (let port = FIRST_PORT; port < FIRST_PORT + FLOWS; port++) {
    const inA = onA!.get(port) ?? 0;
    const inB = onB!.get(port) ?? 0;
    assert.ok((inA === REPEAT && inB === 0) || (inA === 0 && inB === REPEAT), `flow from port ${port}: ${inA} datagrams via ${devA}, ${inB} via ${devB}; all ${REPEAT} must take one path`);
  }
  const share = onA!.size / FLOWS;
  assert.ok(share >= 0.35 && share <= 0.65, `${onA!.size} of ${FLOWS} flows via ${devA}, ${onB!.size} via ${devB}: each path should carry 35–65%`);

  // The per-member counters saw what the captures saw.
  const after = (await shown())!;
  for (const n of after.nexthops) {
    const flows = n.interface === devA ? onA!.size : onB!.size;
    assert.equal(n.packets! - before.get(n.interface)!, flows * REPEAT, `packets counted for the member via ${n.interface}`);
  }
  const text = await router.ctlText(['show', 'routes']);
  const line = text.split('\n').find((l) => l.includes('2001:db8:99::/64'))!;
  for (const n of after.nexthops) assert.ok(line.includes(`via ${n.gateway} dev ${n.interface} (${n.packets} packets)`), line);
  const metrics = scrapeMetrics(r);
  for (const n of after.nexthops) {
    const m = new RegExp(`turtle6_route_nexthop_packets_total\\{prefix="2001:db8:99::/64",interface="${n.interface}",gateway="${n.gateway}"\\} (\\d+)`).exec(metrics);
    assert.ok(m, `metric for the member via ${n.interface}`);
    assert.equal(Number(m[1]), n.packets);
  }
});
