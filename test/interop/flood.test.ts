/**
 * The control plane under a flood (RFC 6583; docs/ARCHITECTURE.md "Control-plane policing").
 *
 *   h1 (scapy) ── tF 2001:db8:1::1/64 ┐
 *   BIRD ──────── tB 2001:db8:12::1/64 ├ turtle6 (one lane)
 *   h3 ────────── tC 2001:db8:3::1/64  ┘
 *   (dhcp6c, ping to BIRD's stub 2001:db8:99::1)
 *
 * h1 floods tF at full rate, one flood after the other: a scan of h3's on-link /64 (every
 * packet a new neighbour to resolve), multicast to ff02::1, and Echo Requests to the router.
 * Meanwhile the RIPng adjacency with BIRD on tB (6 s timeout) keeps both routes, h3's ping
 * across the router to BIRD's stub keeps ≥ 99 % of its replies, and h3's dhcp6c renews its
 * lease. Afterwards the policing counters of tF show what was cut, the INCOMPLETE entries on
 * tC never passed nd.maxIncomplete, and turtle6's peak RSS grew by less than RSS_GROWTH_BOUND.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { pollUntil, requireCommand, shortName, TestBed, type Netns } from '../helpers/netns.js';
import { startRouter, waitForSlaac, type RunningRouter } from '../helpers/router.js';
import { startBird } from './bird/bird.js';
import { kib } from './bird/scale.js';
import { startDhcp6c } from './dhcp/wide.js';
import { dhcpLeases, waitFor, waitForAddresses } from './dhcp/topology.js';

const FLOOD = resolve('test/e2e/scapy/flood.py');
const FLOOD_SECONDS = 5;
const MAX_INCOMPLETE = 256;
/**
 * What the peak RSS may grow by over the floods. Policed, the control plane sees at most a few
 * thousand punts a second and holds at most MAX_INCOMPLETE entries of three queued packets
 * per port: a few MB, plus V8 heap growth from the copies it has not collected yet. Unpoliced,
 * a scan at this rate makes hundreds of thousands of INCOMPLETE entries (hundreds of MB).
 */
const RSS_GROWTH_BOUND_KB = 64 * 1024;
const CLIENT_DUID = '00:03:00:01:02:00:00:00:65:83';

/** Waits for a spawned process to exit and returns its stdout. */
function finished(child: ChildProcess, what: string, timeoutMs: number): Promise<string> {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`${what} did not finish in ${timeoutMs} ms:\n${err}`)), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) done(out);
      else fail(new Error(`${what} exited with ${code}:\n${err}`));
    });
  });
}

async function macOf(router: RunningRouter, ifname: string): Promise<string> {
  const ifaces = (await router.ctl(['show', 'interfaces'])) as Array<{ name: string; mac: string }>;
  return ifaces.find((i) => i.name === ifname)!.mac;
}

function linkMac(ns: Netns, ifname: string): string {
  const [link] = JSON.parse(ns.runOk('ip', ['-j', 'link', 'show', 'dev', ifname])) as Array<{ address: string }>;
  return link!.address;
}

test('a scan, a multicast flood and a flood to the router on one port: RIPng, DHCPv6 and forwarding on the others carry on, and the policing counters show the cut', { timeout: 240_000 }, async (t) => {
  requireCommand('/usr/bin/python3', 'python3-scapy');
  requireCommand('ping', 'iputils-ping');
  requireCommand('dhcp6c', 'wide-dhcpv6-client');
  const bed = new TestBed('flood');
  t.after(() => bed.cleanup());
  const r = bed.netns('r');
  const h1 = bed.netns('h1');
  const b = bed.netns('bird');
  const h3 = bed.netns('h3');
  const tF = shortName('t6f');
  const tB = shortName('t6b');
  const tC = shortName('t6c');

  // BIRD's stub network, which it announces over RIPng: one end of a veth pair (this kernel
  // has no dummy interfaces), both ends in its namespace.
  b.ip('link', 'add', 'vs', 'type', 'veth', 'peer', 'name', 'vsp');
  b.ip('addr', 'add', '2001:db8:99::1/64', 'dev', 'vs', 'nodad');
  b.ip('link', 'set', 'vsp', 'up');
  b.ip('link', 'set', 'vs', 'up');

  const router = await startRouter(bed, r, `
interfaces:
  - name: ${tF}
    addresses: [2001:db8:1::1/64]
    netns: ${h1.name}
    ra: { enabled: false }
  - name: ${tB}
    addresses: [2001:db8:12::1/64]
    netns: ${b.name}
    ra: { enabled: false }
  - name: ${tC}
    addresses: [2001:db8:3::1/64]
    netns: ${h3.name}
    ra: { maxInterval: 4 }
dataplane: { lanes: 1, hostInterface: false }
nd: { maxIncomplete: ${MAX_INCOMPLETE} }
metrics: { listen: "" }
ripng:
  timers: { update: 2, timeout: 6, garbage: 4 }
dhcpv6:
  server:
    interfaces:
      - name: ${tC}
        addressPool: { start: 2001:db8:3::1000, end: 2001:db8:3::10ff }
    preferredLifetime: 30
    validLifetime: 90
    t1: 3
    t2: 6
`);
  // The TAPs arrive in their namespaces down and bare (PEERS.md).
  h1.ip('addr', 'add', '2001:db8:1::10/64', 'dev', tF, 'nodad');
  h1.ip('link', 'set', tF, 'up');
  b.ip('addr', 'add', '2001:db8:12::2/64', 'dev', tB, 'nodad');
  b.ip('link', 'set', tB, 'up');
  h3.ip('link', 'set', tC, 'up');
  await pollUntil('a link-local address on the TAP in the BIRD namespace', () => /fe80::/.test(b.ip('-6', 'addr', 'show', 'dev', tB)));
  const bird = startBird(bed, b, '10.0.0.2', [{ name: tB, update: 2, timeout: 6, garbage: 4 }], ['vs']);
  const client = startDhcp6c(bed, h3, tC, CLIENT_DUID, `interface ${tC} { send ia-na 1; };\nid-assoc na 1 { };\n`);
  const logs = { dhcp6c: client, turtle6: router, bird: () => readFileSync(join(bird.socket, '..', 'bird.log'), 'utf8') };

  const routes = async () => (await router.ctl(['show', 'routes'])) as Array<{ prefix: string; origin: string; best: boolean }>;
  const turtleHasStub = async () => (await routes()).some((x) => x.prefix === '2001:db8:99::/64' && x.origin === 'ripng' && x.best);
  const birdHasLan = () => bird.routes().has('2001:db8:3::/64');
  await waitFor('turtle6 and BIRD to learn each other\'s routes', async () => (await turtleHasStub()) && birdHasLan(), 30_000, logs);
  await waitForSlaac(h3, tC, '2001:db8:3:');
  await waitForAddresses(h3, { [tC]: (a) => a.startsWith('2001:db8:3::10') }, 'dhcp6c to configure its address', logs);
  const lease = (await dhcpLeases(router)).find((l) => l.kind === 'IA_NA');
  assert.ok(lease);
  const warm = h3.run('ping', ['-6', '-n', '-c', '3', '-i', '0.2', '-W', '2', '2001:db8:99::1']);
  assert.equal(warm.code, 0, warm.stdout + warm.stderr);
  // The router resolves h1 now, so its Echo Replies in the last flood need no resolution.
  assert.equal(h1.run('ping', ['-6', '-n', '-c', '1', '-W', '2', '2001:db8:1::1']).code, 0);

  const pid = router.process.pid!;
  const rssBefore = kib(pid, 'VmRSS');
  const renewsBefore = (client.log().match(/send renew/g) ?? []).length;
  const countersBefore = await router.counters(tF);

  // The ping runs across all three floods; SIGINT ends it with its summary.
  const pinger = bed.spawnIn(h3, 'ping', ['-6', '-n', '-i', '0.05', '-W', '1', '2001:db8:99::1']);
  const pingDone = finished(pinger, 'ping', 120_000).catch((e: unknown) => String(e));
  let pingOut = '';
  pinger.stdout?.on('data', (d: Buffer) => (pingOut += d.toString()));
  await pollUntil('the ping to start', () => /icmp_seq=\d+/.test(pingOut));

  // Watch the adjacency and the cap all along (the control socket answering is part of it).
  const lapses: string[] = [];
  let mostIncomplete = 0;
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      if (!(await turtleHasStub())) lapses.push(`${new Date().toISOString()} turtle6 lost 2001:db8:99::/64`);
      if (!birdHasLan()) lapses.push(`${new Date().toISOString()} BIRD lost 2001:db8:3::/64`);
      const neighbors = (await router.ctl(['show', 'neighbors'])) as Array<{ interface: string; state: string }>;
      mostIncomplete = Math.max(mostIncomplete, neighbors.filter((n) => n.interface === tC && n.state === 'INCOMPLETE').length);
      await new Promise((r) => setTimeout(r, 300));
    }
  })();

  const args = ['--iface', tF, '--router-mac', await macOf(router, tF), '--host-mac', linkMac(h1, tF), '--src', '2001:db8:1::10', '--router-addr', '2001:db8:1::1', '--seconds', String(FLOOD_SECONDS)];
  const sent: Record<string, number> = {};
  for (const kind of ['scan', 'multicast', 'local'] as const) {
    const extra = kind === 'scan' ? ['--scan-prefix', '2001:db8:3::/64'] : [];
    const out = await finished(bed.spawnIn(h1, '/usr/bin/python3', [FLOOD, kind, ...args, ...extra]), `flood.py ${kind}`, 60_000);
    sent[kind] = (JSON.parse(out) as { sent: number }).sent;
  }
  watching = false;
  await watcher;
  pinger.kill('SIGINT');
  await pingDone;
  const rssPeak = kib(pid, 'VmHWM');
  const after = await router.counters(tF);
  const moved = (name: string) => after[name]! - countersBefore[name]!;
  const report = JSON.stringify({ sent, rssBefore, rssPeak, mostIncomplete, lapses, policed: Object.fromEntries(['punted', 'punt_policed_resolve', 'punt_policed_multicast', 'punt_policed_local', 'punt_ring_full'].map((n) => [n, moved(n)])) });
  t.diagnostic(report);

  // Every flood was a flood, and the lane cut each one in its class.
  for (const kind of ['scan', 'multicast', 'local']) assert.ok(sent[kind]! > 20_000, `flood.py ${kind} sent only ${sent[kind]}: ${report}`);
  for (const reason of ['punt_policed_resolve', 'punt_policed_multicast', 'punt_policed_local']) assert.ok(moved(reason) > 0, `${reason}: ${report}`);
  const controlPlane = ((await router.ctl(['show', 'counters'])) as { controlPlane: Record<string, number> }).controlPlane;
  assert.ok(controlPlane.nd_incomplete_limit! > 0, `nd_incomplete_limit: ${JSON.stringify(controlPlane)}`);
  assert.ok(mostIncomplete > 0 && mostIncomplete <= MAX_INCOMPLETE, report);

  // The other ports carried on.
  assert.deepEqual(lapses, [], report);
  const summary = /(\d+) packets transmitted, (\d+) received/.exec(pingOut);
  assert.ok(summary, pingOut.slice(-500));
  const [transmitted, received] = [Number(summary[1]), Number(summary[2])];
  assert.ok(transmitted >= 200, `only ${transmitted} pings across the floods`);
  assert.ok(received >= 0.99 * transmitted, `ping delivery ${received}/${transmitted}: ${pingOut.split('\n').slice(-4).join('\n')}`);
  await waitFor('dhcp6c to renew its lease (T1 at most 18 s in WIDE)', async () => {
    const renewed = (await dhcpLeases(router)).find((l) => l.lease === lease.lease);
    return (client.log().match(/send renew/g) ?? []).length > renewsBefore && renewed !== undefined && renewed.expires > lease.expires;
  }, 40_000, logs);
  assert.ok(rssPeak - rssBefore < RSS_GROWTH_BOUND_KB, `peak RSS grew by ${rssPeak - rssBefore} kB: ${report}`);

  // The budgets change in place on reload.
  const file = join(router.dir, 'turtle6.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('dataplane: { lanes: 1, hostInterface: false }', 'dataplane: { lanes: 1, hostInterface: false, puntPolicing: { local: { rate: 100, burst: 10 } } }'));
  const reload = (await router.ctl(['reload'])) as { ok: boolean; changes: Array<{ participant: string; mode: string }> };
  assert.equal(reload.ok, true, JSON.stringify(reload));
  assert.deepEqual(reload.changes.map((c) => [c.participant, c.mode]), [['dataplane', 'in-place']]);

  const lanes = (await router.ctl(['show', 'lanes'])) as Array<{ running: boolean; starts: number }>;
  assert.ok(lanes.every((l) => l.running && l.starts === 1), JSON.stringify(lanes));
  assert.equal(router.process.exitCode, null);
});
