/**
 * turtle6 ⇄ BIRD 2 over RIPng on a TAP link, both directions.
 *
 *   h1 ── t6h (2001:db8:1::1/64) ── turtle6 ── t6b (2001:db8:12::1/64) ══ BIRD (2001:db8:12::2) ── vs (2001:db8:99::1/64) ── h2
 *
 * Runs on shortened timers (update 2 s, timeout 6 s, garbage 4 s on both sides) so that
 * withdrawal completes in seconds; RFC 2080's defaults are 30/180/120.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pollUntil, requireCommand, shortName, TestBed } from '../helpers/netns.js';
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
interface RipngTable {
  routes: Array<{ prefix: string; metric: number; state: string; source: string }>;
  neighbors: Array<{ address: string; responses: number; badPackets: number }>;
}

test('turtle6 and BIRD exchange RIPng routes, forward between their stubs, honour split horizon and withdraw within the timers', async (t) => {
  requireCommand('tcpdump', 'tcpdump');
  requireCommand('tshark', 'tshark');
  const bed = new TestBed('ripbird');
  t.after(() => bed.cleanup());
  const r = bed.netns('r');
  const h1 = bed.netns('h1');
  const b = bed.netns('bird');
  const h2 = bed.netns('h2');
  const ifH = shortName('t6h');
  const ifB = shortName('t6b');
  const vs = shortName('vs');
  const vh = shortName('vh');

  // BIRD's side: the stub network to h2, forwarding on.
  b.sysctl('net.ipv6.conf.all.forwarding', '1');
  b.ip('link', 'add', vs, 'type', 'veth', 'peer', 'name', vh, 'netns', h2.name);
  b.ip('addr', 'add', '2001:db8:99::1/64', 'dev', vs, 'nodad');
  b.ip('link', 'set', vs, 'up');
  h2.ip('addr', 'add', '2001:db8:99::2/64', 'dev', vh, 'nodad');
  h2.ip('link', 'set', vh, 'up');
  h2.ip('-6', 'route', 'add', 'default', 'via', '2001:db8:99::1');

  const router = await startRouter(bed, r, `
interfaces:
  - name: ${ifH}
    addresses: [2001:db8:1::1/64]
    netns: ${h1.name}
    ra: { maxInterval: 4 }
  - name: ${ifB}
    addresses: [2001:db8:12::1/64]
    netns: ${b.name}
dataplane: { lanes: 1, hostInterface: false }
metrics: { listen: "" }
ripng:
  timers: { update: 2, timeout: 6, garbage: 4 }
`);
  // The TAP arrives in BIRD's namespace down and bare (PEERS.md): configure it there.
  b.ip('addr', 'add', '2001:db8:12::2/64', 'dev', ifB, 'nodad');
  b.ip('link', 'set', ifB, 'up');
  await pollUntil('a link-local address on the TAP in the BIRD namespace', () => /fe80::/.test(b.ip('-6', 'addr', 'show', 'dev', ifB)));
  const capture = join(router.dir, 'ripng.pcap');
  const dump = bed.spawnIn(b, 'tcpdump', ['-U', '--immediate-mode', '-i', ifB, '-w', capture, 'udp port 521']);
  let dumpErr = '';
  dump.stderr?.on('data', (d: Buffer) => (dumpErr += d.toString()));
  await pollUntil('tcpdump to listen', () => dumpErr.includes('listening'));
  const bird = startBird(bed, b, '10.0.0.2', [{ name: ifB, update: 2, timeout: 6, garbage: 4 }], [vs]);

  // turtle6 learns BIRD's stub and installs it; BIRD learns turtle6's LAN and installs it.
  const routes = async () => (await router.ctl(['show', 'routes'])) as ShownRoute[];
  await pollUntil('turtle6 to learn 2001:db8:99::/64 from BIRD', async () => (await routes()).some((x) => x.prefix === '2001:db8:99::/64' && x.origin === 'ripng' && x.best), 20_000, 200);
  const learned = (await routes()).find((x) => x.prefix === '2001:db8:99::/64')!;
  assert.equal(learned.metric, 2, "BIRD's direct route at metric 1, plus our interface cost");
  assert.match(learned.nexthops[0]!.gateway!, /^fe80::/, 'next hop is BIRD\'s link-local address');
  assert.equal(learned.nexthops[0]!.interface, ifB);
  await pollUntil('BIRD to learn 2001:db8:1::/64 from turtle6', () => /ripng1/.test(bird.routes().get('2001:db8:1::/64') ?? ''), 20_000, 200);
  assert.match(bird.routes().get('2001:db8:1::/64')!, new RegExp(`via fe80::[0-9a-f:]+ on ${ifB}`));
  await pollUntil('the kernel in BIRD\'s namespace to hold the route', () => b.ip('-6', 'route', 'show', '2001:db8:1::/64').includes('via fe80::'), 10_000, 200);
  const text = await router.ctlText(['show', 'ripng']);
  assert.match(text, /2001:db8:99::\/64\s+2\s+/);

  // A kernel host behind turtle6 reaches a host behind BIRD.
  await waitForSlaac(h1, ifH, '2001:db8:1:');
  const p = ping(h1, '2001:db8:99::2');
  assert.equal(p.code, 0, p.out);

  // Split horizon (poisoned reverse by default): turtle6 tells BIRD about 2001:db8:99::/64
  // only at metric 16. Wait for two more periodic updates, then read the capture.
  const ours = (await router.ctl(['show', 'interfaces'])) as Array<{ name: string; addresses: Array<{ address: string }> }>;
  const ll = ours.find((i) => i.name === ifB)!.addresses.map((a) => a.address.split('/')[0]!).find((a) => a.startsWith('fe80:'))!;
  const status = async () => ((await router.ctl(['show', 'ripng', 'status'])) as { interfaces: Array<{ name: string; sent: { periodic: number } }> }).interfaces.find((i) => i.name === ifB)!.sent.periodic;
  const sentBefore = await status();
  await pollUntil('two more periodic updates from turtle6', async () => (await status()) >= sentBefore + 2, 15_000, 200);
  const decode = b.runOk('tshark', ['-r', capture, '-Y', `ipv6.src == ${ll} && ripng.cmd == 2`, '-T', 'fields', '-e', 'ripng.rte.ipv6_prefix', '-e', 'ripng.rte.prefix_length', '-e', 'ripng.rte.metric', '-e', 'ipv6.hlim', '-e', 'udp.srcport']);
  const advertised: string[] = [];
  for (const line of decode.trim().split('\n')) {
    const [prefixes, lens, metrics, hlim, sport] = line.split('\t');
    assert.equal(hlim, '255');
    assert.equal(sport, '521');
    const ps = prefixes!.split(','), ls = lens!.split(','), ms = metrics!.split(',');
    ps.forEach((x, i) => advertised.push(`${x}/${ls[i]} ${ms[i]}`));
  }
  const toBird99 = new Set(advertised.filter((a) => a.startsWith('2001:db8:99::/64')));
  assert.deepEqual([...toBird99], ['2001:db8:99::/64 16'], 'learned from BIRD, advertised back only poisoned');
  assert.ok(advertised.includes('2001:db8:1::/64 1'), 'our own LAN at metric 1');
  const expert = b.run('tshark', ['-r', capture, '-q', '-z', 'expert']).stdout;
  assert.doesNotMatch(expert, /Malformed/i, 'tshark finds nothing malformed');

  // Withdrawal: BIRD's stub goes down; BIRD advertises it at 16, turtle6 shows 16, then forgets it.
  b.ip('link', 'set', vs, 'down');
  const table = async () => (await router.ctl(['show', 'ripng'])) as RipngTable;
  await pollUntil('turtle6 to see 2001:db8:99::/64 at metric 16', async () => (await table()).routes.some((x) => x.prefix === '2001:db8:99::/64' && x.metric === 16), 15_000, 100);
  assert.ok(!(await routes()).some((x) => x.prefix === '2001:db8:99::/64'), 'out of the RIB as soon as it is unreachable');
  const since = Date.now();
  await pollUntil('turtle6 to garbage-collect 2001:db8:99::/64', async () => !(await table()).routes.some((x) => x.prefix === '2001:db8:99::/64'), 15_000, 100);
  // garbage 4 s (plus sweep coalescing), well within timeout + garbage = 10 s
  assert.ok(Date.now() - since < 10_000);
  const neighbor = (await table()).neighbors[0]!;
  assert.ok(neighbor.responses > 0 && neighbor.badPackets === 0, JSON.stringify(neighbor));
});
