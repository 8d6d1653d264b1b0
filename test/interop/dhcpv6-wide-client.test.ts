/**
 * Issue 5, test 3: WIDE dhcp6s as the delegating server, turtle6's DHCPv6 client on its
 * WAN port asking for IA_NA + IA_PD in one exchange.
 *
 *   dhcp6s (ns s) ── tap wan ── turtle6 (ns r) ── tap lan ── kernel host (ns h, SLAAC)
 *
 * The delegated /56 becomes 2001:db8:500:1::/64 on the LAN port (sla-id 1), which turtle6
 * announces in its RAs; the kernel host forms a SLAAC address in it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireCommand, TestBed } from '../helpers/netns.js';
import { waitForSlaac } from '../helpers/router.js';
import { startDhcp6s } from './dhcp/wide.js';
import { routerAsClient, waitForClientBinding } from './dhcp/topology.js';

const TURTLE6_DUID = '00:03:00:01:02:00:00:00:05:01';

test('WIDE dhcp6s delegates to turtle6\'s client: IA_NA + IA_PD, the /64 on the LAN port and in RAs, a host gets SLAAC from it', { timeout: 90_000 }, async (t) => {
  requireCommand('dhcp6s', 'wide-dhcpv6-server');
  const bed = new TestBed('d6cli');
  t.after(() => bed.cleanup());
  // turtle6's DUID is pinned: dhcp6s delegates prefixes only to `host` entries matched by DUID.
  const { s, h, wan, lan, router } = await routerAsClient(bed, { duid: TURTLE6_DUID, upstream: '2001:db8:ff::1/64', lan: true, dhcpv6: ({ wan, lan }) => `
dhcpv6:
  client:
    interface: ${wan}
    prefixLengthHint: 56
    prefixInterfaces:
      - { name: ${lan}, slaId: 1, hostId: 1 }
` });
  const server = startDhcp6s(bed, s, wan, `
option domain-name-servers 2001:db8:ff::53;
option domain-name "wide.test";
host turtle6 {
  duid ${TURTLE6_DUID};
  address 2001:db8:ff::1001 60 120;
  prefix 2001:db8:500::/56 60 120;
};
`, 5547);

  const show = await waitForClientBinding(router, { dhcp6s: server, turtle6: router });
  assert.ok(show.leases.some((l) => l.kind === 'IA_NA' && l.lease === '2001:db8:ff::1001'), JSON.stringify(show.leases));
  assert.ok(show.leases.some((l) => l.kind === 'IA_PD' && l.lease === '2001:db8:500::/56'));
  assert.deepEqual(show.prefixInterfaces, [{ interface: lan, address: '2001:db8:500:1::1/64' }]);
  assert.deepEqual(show.dnsServers, ['2001:db8:ff::53']);
  assert.deepEqual(show.domains, ['wide.test']);
  // dhcp6s bound both IAs of the one Request.
  assert.match(server.log(), /add a new binding \[IA: duid=00:03:00:01:02:00:00:00:05:01, type=NA/);
  assert.match(server.log(), /add a new binding \[IA: duid=00:03:00:01:02:00:00:00:05:01, type=PD/);

  // The /64 is on turtle6's LAN port, in its RAs: the kernel host forms a SLAAC address.
  const ifaces = JSON.stringify(await router.ctl(['show', 'interfaces']));
  assert.ok(ifaces.includes('2001:db8:500:1::1'), 'the LAN port holds 2001:db8:500:1::1');
  const slaac = await waitForSlaac(h, lan, '2001:db8:500:1:');
  assert.match(slaac, /^2001:db8:500:1:/);
  // And reaches the router's new address across the LAN.
  const ping = h.run('ping', ['-6', '-n', '-c', '2', '-i', '0.2', '-W', '2', '2001:db8:500:1::1']);
  assert.equal(ping.code, 0, ping.stdout + ping.stderr);
});
