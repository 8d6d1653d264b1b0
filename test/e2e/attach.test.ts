/**
 * `attach: IFNAME` glues a TAP port to a kernel interface with tc mirred both ways, so that
 * turtle6 owns a NIC it did not create (DESIGN.md: how the appliance runs in Docker and on a
 * real NIC). Here the "NICs" are veth ends in the router's namespace whose peers are hosts.
 *
 *    h1 (hA) ══ veth ══ vA ⇄ tc mirred ⇄ TAP ── turtle6 ── TAP ⇄ tc mirred ⇄ vB ══ veth ══ (hB) h2
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIpv6, linkLocalFromMac, parseMac } from '../../src/lib/addr.js';
import { requireCommand, shortName, TestBed, type Netns } from '../helpers/netns.js';
import { startRouter, waitForSlaac } from '../helpers/router.js';
import { ping } from './topology.js';

requireCommand('ping', 'iputils-ping');
requireCommand('tc', 'iproute2');

/** A veth pair with one end (`inner`) in `r` and the other (`outer`) up in host `h`. */
function vethPair(r: Netns, h: Netns, inner: string, outer: string): void {
  r.ip('link', 'add', inner, 'type', 'veth', 'peer', 'name', outer, 'netns', h.name);
  r.ip('link', 'set', inner, 'up');
  h.ip('link', 'set', outer, 'up');
}

/** The kernel's IPv6 switch of a device in `r`, read through /proc/sys (the name may hold a dot). */
function kernelIpv6Disabled(r: Netns, dev: string): string {
  return r.runOk('cat', [`/proc/sys/net/ipv6/conf/${dev}/disable_ipv6`]).trim();
}

test('attach: hosts behind kernel interfaces get SLAAC, a default router, and ping across', async (t) => {
  const bed = new TestBed('attach');
  t.after(() => bed.cleanup());
  const r = bed.netns('r');
  const h1 = bed.netns('h1');
  const h2 = bed.netns('h2');
  // vb is named like a VLAN device (eth0.100): sysctl(8) would read its dot as a separator.
  const [va, vb, ha, hb] = [shortName('va'), `${shortName('vb')}.7`, shortName('ha'), shortName('hb')];
  const [lan0, lan1] = [shortName('t6p'), shortName('t6q')];
  vethPair(r, h1, va, ha);
  vethPair(r, h2, vb, hb);
  // turtle6 is the only IPv6 node on a glued NIC, so it switches the kernel's IPv6 off there
  // (no RS, DAD or MLD of r's own), and back on at stop if it was on: va starts with it off,
  // vb with it on.
  r.sysctl(`net.ipv6.conf.${va}.disable_ipv6`, '1');

  const router = await startRouter(
    bed,
    r,
    `
interfaces:
  - name: ${lan0}
    kind: tap
    addresses: [2001:db8:1::1/64]
    attach: ${va}
    ra: { maxInterval: 4 }
  - name: ${lan1}
    kind: tap
    addresses: [2001:db8:2::1/64]
    attach: ${vb}
    ra: { maxInterval: 4 }
dataplane: { lanes: 1, hostInterface: false }
metrics: { listen: "" }
`,
  );

  // The glue is what the config says: an ingress redirect on each side, both ways.
  for (const [from, to] of [
    [va, lan0],
    [lan0, va],
    [vb, lan1],
    [lan1, vb],
  ] as const) {
    const filters = r.runOk('tc', ['filter', 'show', 'dev', from, 'ingress']);
    assert.match(filters, new RegExp(`Egress Redirect to device ${to}\\b`), `${from} ingress:\n${filters}`);
  }
  assert.deepEqual([kernelIpv6Disabled(r, va), kernelIpv6Disabled(r, vb)], ['1', '1'], 'the kernel is silent on both glued NICs');
  const shown = (await router.ctl(['show', 'interfaces'])) as Array<{ name: string; attach: string | null; mac: string }>;
  assert.deepEqual(shown.map((i) => [i.name, i.attach]), [[lan0, va], [lan1, vb]]);

  const a1 = await waitForSlaac(h1, ha, '2001:db8:1:');
  const a2 = await waitForSlaac(h2, hb, '2001:db8:2:');

  // Each host takes the router port's link-local address as its default router (RFC 4861 §6.3.4).
  for (const [h, dev, name] of [
    [h1, ha, lan0],
    [h2, hb, lan1],
  ] as const) {
    const routerLinkLocal = formatIpv6(linkLocalFromMac(parseMac(shown.find((i) => i.name === name)!.mac)!));
    const routes = h.runOk('ip', ['-6', 'route', 'show', 'default']);
    assert.match(routes, new RegExp(`^default via ${routerLinkLocal} dev ${dev} proto ra`, 'm'), routes);
  }

  const there = ping(h1, a2);
  assert.equal(there.code, 0, there.out);
  const back = ping(h2, a1);
  assert.equal(back.code, 0, back.out);
  assert.ok((await router.counter(lan0, 'forwarded')) >= 3, 'the echo requests crossed the lanes');

  // A clean stop takes the glue away again, leaving the NICs as they were.
  await router.stop();
  for (const dev of [va, vb]) {
    const qdiscs = r.runOk('tc', ['qdisc', 'show', 'dev', dev]);
    assert.doesNotMatch(qdiscs, /ingress/, `${dev} still has an ingress qdisc after turtle6 stopped:\n${qdiscs}`);
  }
  assert.deepEqual([kernelIpv6Disabled(r, va), kernelIpv6Disabled(r, vb)], ['1', '0'], 'each NIC\'s kernel IPv6 is as it was before turtle6');
});
