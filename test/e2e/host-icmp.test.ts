/**
 * ICMPv6 for the host port: the appliance's kernel, which owns the router's addresses on
 * t6host, gets the ICMPv6 that no module claims (Echo Replies to its pings, errors about what
 * it sent) and the errors the lanes build about its own packets. Without Packet Too Big its
 * TCP has no path-MTU discovery (RFC 8201 §4) and stalls behind a smaller link.
 *
 *    h1 ── if1 (1500) ── turtle6 ── if2 (1280) ── r2 ── (1500) ── h2
 *                          │ t6host
 *                 kernel of the appliance's namespace (HTTP server)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SeededRng } from '../../src/lib/rng.js';
import { pollUntil, requireCommand, shortName, TestBed, type Netns } from '../helpers/netns.js';
import { startRouter, waitForSlaac } from '../helpers/router.js';
import { ping } from './topology.js';

const BLOB_BYTES = 200 * 1024;
const H2 = '2001:db8:3::2';

/** A counter of the namespace's /proc/net/snmp6 (per network namespace). */
function snmp6(ns: Netns, name: string): number {
  const m = new RegExp(`^${name}\\s+(\\d+)$`, 'm').exec(ns.run('cat', ['/proc/net/snmp6']).stdout);
  if (!m) throw new Error(`no ${name} in /proc/net/snmp6`);
  return Number(m[1]);
}

test('the appliance kernel gets Packet Too Big (TCP through a 1280 link completes) and the replies to its pings', async (t) => {
  requireCommand('python3', 'python3');
  requireCommand('ping', 'iputils-ping');
  const bed = new TestBed('hicmp');
  t.after(() => bed.cleanup());
  const r = bed.netns('r');
  const h1 = bed.netns('h1');
  const r2 = bed.netns('r2');
  const h2 = bed.netns('h2');
  const if1 = shortName('t6a');
  const if2 = shortName('t6b');
  await startRouter(
    bed,
    r,
    `interfaces:
  - { name: ${if1}, addresses: [2001:db8:1::1/64], netns: ${h1.name} }
  - { name: ${if2}, mtu: 1280, addresses: [2001:db8:2::1/64], netns: ${r2.name} }
routes:
  - { prefix: "2001:db8:3::/64", via: "2001:db8:2::2" }
dataplane: { hostInterface: true }
metrics: { listen: "" }
`,
  );
  // r2 routes between the 1280 link and h2's 1500 one, so h2's SYN offers an MSS of 1440
  // and only a Packet Too Big can tell the appliance's kernel to send less.
  r2.sysctl('net.ipv6.conf.all.forwarding', '1');
  r2.ip('link', 'set', if2, 'up');
  r2.ip('addr', 'add', '2001:db8:2::2/64', 'dev', if2, 'nodad');
  r2.ip('-6', 'route', 'add', 'default', 'via', '2001:db8:2::1', 'dev', if2);
  const r2v = shortName('r2v');
  const h2v = shortName('h2v');
  r2.ip('link', 'add', r2v, 'type', 'veth', 'peer', 'name', h2v, 'netns', h2.name);
  r2.ip('link', 'set', r2v, 'up');
  r2.ip('addr', 'add', '2001:db8:3::1/64', 'dev', r2v, 'nodad');
  h2.ip('link', 'set', h2v, 'up');
  h2.ip('addr', 'add', `${H2}/64`, 'dev', h2v, 'nodad');
  h2.ip('-6', 'route', 'add', 'default', 'via', '2001:db8:3::1', 'dev', h2v);
  const a1 = await waitForSlaac(h1, if1, '2001:db8:1:');

  // A ping from the appliance's namespace, from the router's address: the kernel sends it
  // through t6host and the Echo Replies come back the same way (the echo module answers
  // only Echo Requests).
  const pinged = ping(r, a1, '-I', '2001:db8:1::1');
  assert.equal(pinged.code, 0, `ping from the appliance's namespace got no replies:\n${pinged.out}`);

  // A 200 KB download from an HTTP server in the appliance's namespace to h2, behind the 1280 link.
  const dir = mkdtempSync(join(tmpdir(), 't6-hicmp-'));
  bed.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const rng = new SeededRng(12);
  const blob = Uint8Array.from({ length: BLOB_BYTES }, () => Math.floor(rng.next() * 256));
  writeFileSync(join(dir, 'blob'), blob);
  const expected = createHash('sha256').update(blob).digest('hex');
  bed.spawnIn(r, '/usr/bin/python3', ['-m', 'http.server', '8080', '--bind', '::', '--directory', dir]);
  const fetch = (path: string) =>
    h2.run('/usr/bin/python3', [
      '-c',
      `import hashlib, urllib.request; print(hashlib.sha256(urllib.request.urlopen('http://[2001:db8:2::1]:8080${path}', timeout=10).read()).hexdigest())`,
    ]);
  // The directory listing fits one small segment: the server is up and reachable from h2.
  await pollUntil('the HTTP server to answer h2', () => fetch('/').code === 0, 15_000, 200);
  const tooBigsBefore = snmp6(r, 'Icmp6InPktTooBigs');
  const download = fetch('/blob');
  assert.equal(download.code, 0, `the download through the 1280 link failed (no path-MTU discovery?):\n${download.stderr}`);
  assert.equal(download.stdout.trim(), expected, 'h2 got every byte');
  // The lane's Packet Too Big reached the kernel, which learnt the path MTU.
  assert.ok(snmp6(r, 'Icmp6InPktTooBigs') > tooBigsBefore, 'the kernel received a Packet Too Big');
  assert.match(r.run('ip', ['-6', 'route', 'get', H2, 'from', '2001:db8:2::1']).stdout, /mtu 1280/);
});
