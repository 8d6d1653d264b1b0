/**
 * ICMPv6 Redirect generation (RFC 4861 §8.2) against a kernel host.
 *
 *                 ┌── H  (2001:db8:5::10, default via turtle6's link-local; accept_redirects=1)
 *   bridge sw0 ───┼── turtle6 (2001:db8:5::1; route 2001:db8:77::/64 via fe80::2)
 *                 └── R2 (2001:db8:5::2, fe80::2; forwarding) ── 2001:db8:77::1 (its stub)
 *
 * H sends to 2001:db8:77::1 through turtle6, which forwards the packet back out onto the same
 * link to R2 and tells H so; H's kernel then routes that destination via R2 directly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pollUntil, requireCommand, shortName, TestBed } from '../helpers/netns.js';
import { startRouter } from '../helpers/router.js';
import { ping } from './topology.js';

test('turtle6 sends a Redirect to a better first hop on the same link, rate-limited; the kernel host acts on it and tshark decodes it cleanly', async (t) => {
  requireCommand('ping', 'iputils-ping');
  requireCommand('tcpdump', 'tcpdump');
  requireCommand('tshark', 'tshark');
  const bed = new TestBed('redir');
  t.after(() => bed.cleanup());
  const sw = bed.netns('sw');
  const h = bed.netns('h');
  const r2 = bed.netns('r2');
  const r = bed.netns('r');
  const tap = shortName('t6l');
  const vh = shortName('vh');
  const vr = shortName('vr');
  const stub = shortName('st');

  sw.ip('link', 'add', 'sw0', 'type', 'bridge');
  sw.ip('link', 'set', 'sw0', 'up');
  for (const [ns, dev] of [[h, vh], [r2, vr]] as const) {
    sw.ip('link', 'add', `${dev}b`, 'type', 'veth', 'peer', 'name', dev, 'netns', ns.name);
    sw.ip('link', 'set', `${dev}b`, 'master', 'sw0', 'up');
  }
  // H: a host (forwarding off) that believes Redirects (RFC 4861 §8.3).
  h.sysctl('net.ipv6.conf.all.forwarding', '0');
  h.sysctl('net.ipv6.conf.all.accept_redirects', '1');
  h.sysctl(`net.ipv6.conf.${vh}.accept_redirects`, '1');
  h.ip('addr', 'add', '2001:db8:5::10/64', 'dev', vh, 'nodad');
  h.ip('link', 'set', vh, 'up');
  // R2: a router on the same link, the better first hop to its stub 2001:db8:77::/64.
  r2.sysctl('net.ipv6.conf.all.forwarding', '1');
  r2.ip('addr', 'add', 'fe80::2/64', 'dev', vr, 'nodad');
  r2.ip('addr', 'add', '2001:db8:5::2/64', 'dev', vr, 'nodad');
  r2.ip('link', 'set', vr, 'up');
  r2.ip('link', 'add', stub, 'type', 'veth', 'peer', 'name', `${stub}p`);
  r2.ip('addr', 'add', '2001:db8:77::1/64', 'dev', stub, 'nodad');
  r2.ip('link', 'set', stub, 'up');
  r2.ip('link', 'set', `${stub}p`, 'up');

  // One token, never refilled: the first Redirect goes, the next is suppressed.
  const router = await startRouter(bed, r, `
interfaces:
  - name: ${tap}
    addresses: [2001:db8:5::1/64]
    netns: ${sw.name}
    ra: { enabled: false }
routes:
  - { prefix: 2001:db8:77::/64, via: "fe80::2", interface: ${tap} }
dataplane: { lanes: 1, hostInterface: false, icmpErrors: { rate: 0, burst: 1 } }
metrics: { listen: "" }
`);
  sw.ip('link', 'set', tap, 'master', 'sw0', 'up');
  const ifaces = (await router.ctl(['show', 'interfaces'])) as Array<{ name: string; addresses: Array<{ address: string }> }>;
  const routerLl = ifaces[0]!.addresses.map((a) => a.address.split('/')[0]!).find((a) => a.startsWith('fe80:'))!;
  await pollUntil('H to reach turtle6 on the link', () => ping(h, `${routerLl}%${vh}`).code === 0, 10_000, 200);
  h.ip('-6', 'route', 'replace', 'default', 'via', routerLl, 'dev', vh);
  // A source that is no neighbour on the link (not link-local, outside the link's prefix):
  // forwarded to R2 without a Redirect. turtle6 resolves R2 on the way, so the Redirect
  // below can carry R2's MAC.
  h.ip('addr', 'add', '2001:db8:6::10/64', 'dev', vh, 'nodad');
  h.run('ping', ['-c', '1', '-W', '1', '-I', '2001:db8:6::10', '2001:db8:77::1']);
  await pollUntil('turtle6 to resolve R2', async () => ((await router.ctl(['show', 'neighbors'])) as Array<{ address: string; mac: string | null }>).some((n) => n.address === 'fe80::2' && n.mac !== null), 5_000, 100);
  assert.equal(await router.counter(tap, 'redirects_sent'), 0, 'no Redirect to a source that is not on the link');
  assert.equal(await router.counter(tap, 'redirects_rate_limited'), 0);
  h.ip('addr', 'del', '2001:db8:6::10/64', 'dev', vh);
  assert.match(h.ip('-6', 'route', 'get', '2001:db8:77::1'), new RegExp(`via ${routerLl} dev ${vh}`), 'before: via turtle6');

  const capture = join(router.dir, 'redirect.pcap');
  const dump = bed.spawnIn(h, 'tcpdump', ['-U', '--immediate-mode', '-i', vh, '-w', capture, 'icmp6']);
  let dumpErr = '';
  dump.stderr?.on('data', (d: Buffer) => (dumpErr += d.toString()));
  await pollUntil('tcpdump to listen', () => dumpErr.includes('listening'));

  // The echo request goes through turtle6 (forwarded to R2 on the same link) and R2 answers.
  const p = ping(h, '2001:db8:77::1');
  assert.equal(p.code, 0, `the packet is still forwarded: ${p.out}`);
  await pollUntil('H to route 2001:db8:77::1 via R2 (it acted on the Redirect)', () => /via fe80::2 dev/.test(h.ip('-6', 'route', 'get', '2001:db8:77::1')), 10_000, 100);
  assert.match(h.ip('-6', 'route', 'get', '2001:db8:77::1'), new RegExp(`via fe80::2 dev ${vh}`));
  assert.equal(await router.counter(tap, 'redirects_sent'), 1);

  // Another destination behind R2: forwarded again, but the bucket is empty.
  h.run('ping', ['-c', '1', '-W', '1', '2001:db8:77::2']);
  await pollUntil('the second Redirect to be suppressed', async () => (await router.counter(tap, 'redirects_rate_limited')) >= 1, 5_000, 100);
  assert.equal(await router.counter(tap, 'redirects_sent'), 1);
  assert.match(h.ip('-6', 'route', 'get', '2001:db8:77::2'), new RegExp(`via ${routerLl} dev ${vh}`), 'no Redirect, no new route');

  // What went on the wire: exactly one Redirect, decoded cleanly.
  await pollUntil('the Redirect in the capture', () => h.run('tshark', ['-r', capture, '-Y', 'icmpv6.type == 137']).stdout.trim() !== '', 5_000, 100);
  const fields = h
    .runOk('tshark', ['-r', capture, '-Y', 'icmpv6.type == 137', '-T', 'fields', '-E', 'separator=|', '-e', 'ipv6.src', '-e', 'ipv6.dst', '-e', 'ipv6.hlim', '-e', 'icmpv6.code', '-e', 'icmpv6.nd.rd.target_address', '-e', 'icmpv6.rd.na.destination_address', '-e', 'icmpv6.opt.type', '-e', 'icmpv6.checksum.status', '-e', 'icmpv6.echo.identifier'])
    .trim()
    .split('\n');
  assert.equal(fields.length, 1, fields.join('\n'));
  const [src, dst, hlim, code, target, destination, optTypes, checksum, echoId] = fields[0]!.split('|');
  // ipv6.* fields list the outer header, then the redirected packet's (in the option).
  assert.equal(src, `${routerLl},2001:db8:5::10`, 'from the router\'s link-local address on the port; the redirected packet from H');
  assert.equal(dst, '2001:db8:5::10,2001:db8:77::1');
  assert.equal(hlim!.split(',')[0], '255');
  assert.equal(hlim!.split(',')[1], '64', 'the redirected packet as received (hop limit not yet decremented)');
  assert.equal(code, '0,0', 'Redirect code 0; the echo request inside, code 0');
  assert.equal(target, 'fe80::2', 'target: the better first hop');
  assert.equal(destination, '2001:db8:77::1');
  assert.equal(optTypes, '2,4', 'Target Link-Layer Address (R2 was resolved), then Redirected Header');
  assert.equal(checksum!.split(',')[0], '1', 'checksum good (tshark: 1 = good)');
  assert.ok(echoId !== undefined && echoId !== '', 'the Redirected Header carries the echo request');
  const expert = h.run('tshark', ['-r', capture, '-Y', 'icmpv6.type == 137', '-q', '-z', 'expert']).stdout;
  assert.doesNotMatch(expert, /Malformed|Warning|Error/i, expert);
});
