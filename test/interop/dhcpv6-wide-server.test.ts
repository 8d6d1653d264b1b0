/**
 * Issue 5, tests 1 and 6: turtle6's DHCPv6 server with WIDE dhcp6c as the client.
 *
 *   turtle6 (ns r) ── tap ──[ bridge sw0 in ns sw ]── veth ── dhcp6c (ns c, LAN bridge lan0)
 *
 * The tap sits on a bridge so the client's interface outlives the router: after `kill -9`
 * a new turtle6 builds a new tap, it joins the same bridge, and dhcp6c keeps renewing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil, requireCommand, shortName, TestBed } from '../helpers/netns.js';
import { startRouter } from '../helpers/router.js';
import { globalAddresses, startDhcp6c } from './dhcp/wide.js';
import { addBridge, dhcpLeases, enslave, routerStateDir, routerYaml, SERVED_ADDRESS, servedLink, waitFor, waitForAddresses, waitForLinkLocal } from './dhcp/topology.js';

const CLIENT_DUID = '00:01:00:01:00:00:00:01:02:00:00:00:00:01';

test('WIDE dhcp6c gets IA_NA + IA_PD from turtle6, puts the /64 on its LAN, renews, survives kill -9, releases', { timeout: 120_000 }, async (t) => {
  requireCommand('dhcp6c', 'wide-dhcpv6-client');
  const bed = new TestBed('d6srv');
  t.after(() => bed.cleanup());
  const r = bed.netns('r');
  const sw = bed.netns('sw');
  const c = bed.netns('c');
  const tap = shortName('t6d');
  const wan = shortName('d6w');
  // Both routers run on this state directory: the second finds the first's leases there.
  const config = routerYaml([{ name: tap, netns: sw, addresses: [SERVED_ADDRESS] }], `stateDir: ${routerStateDir(bed)}
dhcpv6:
  server:
${servedLink(tap, true)}    preferredLifetime: 30
    validLifetime: 90
    t1: 3
    t2: 6
    dnsServers: [2001:db8:1::53]
    domains: [turtle6.test]
`);

  addBridge(sw, 'sw0');
  sw.ip('link', 'add', 'swp', 'type', 'veth', 'peer', 'name', wan, 'netns', c.name);
  enslave(sw, 'swp', 'sw0');
  c.ip('link', 'set', wan, 'up');
  addBridge(c, 'lan0');

  let router = await startRouter(bed, r, config);
  enslave(sw, tap, 'sw0');
  await waitForLinkLocal(c, wan);

  const client = startDhcp6c(bed, c, wan, CLIENT_DUID, `
interface ${wan} {
  send ia-na 1;
  send ia-pd 1;
  request domain-name-servers;
  request domain-name;
};
id-assoc na 1 { };
id-assoc pd 1 {
  prefix-interface lan0 { sla-id 1; sla-len 8; };
};
`);

  // The exchange: an address from the pool on the WAN side, the /64 with sla-id 1 of the
  // delegated /56 on the LAN bridge.
  await waitForAddresses(c, {
    [wan]: (a) => a.startsWith('2001:db8:1::10'),
    lan0: (a) => a.startsWith('2001:db8:100:1:'),
  }, 'dhcp6c to configure its address and delegated /64', { dhcp6c: client, turtle6: router });
  const first = await dhcpLeases(router);
  const na = first.find((l) => l.kind === 'IA_NA')!;
  const pd = first.find((l) => l.kind === 'IA_PD')!;
  assert.equal(na.duid, CLIENT_DUID);
  assert.ok(globalAddresses(c, wan).includes(na.lease), `client holds ${na.lease}`);
  assert.equal(pd.lease, '2001:db8:100::/56');
  assert.match(client.log(), /dhcp6_get_options: get DHCP option DNS/);
  const routes = (await router.ctl(['show', 'routes'])) as unknown;
  assert.match(JSON.stringify(routes), /2001:db8:100::\/56|"2001:db8:100::".{0,40}56/, 'a route for the delegated prefix');

  // Renew at T1 (WIDE raises a T1 under its minimum to 18 s): the lease's expiry moves forward.
  await waitFor('a Renew and its Reply', async () => {
    const now = await dhcpLeases(router);
    const renewed = now.find((l) => l.lease === na.lease);
    return /send renew/.test(client.log()) && renewed !== undefined && renewed.expires > na.expires;
  }, 45_000, { dhcp6c: client, turtle6: router });

  // Test 6: kill -9, start again on the same state directory. Every lease is still there, and
  // the client's next Renew extends the same address and prefix.
  router.process.kill('SIGKILL');
  await pollUntil('turtle6 to die', () => router.process.signalCode !== null || router.process.exitCode !== null);
  const before = first.map((l) => l.lease).sort();
  router = await startRouter(bed, r, config);
  enslave(sw, tap, 'sw0');
  const restored = await dhcpLeases(router);
  assert.deepEqual(restored.map((l) => l.lease).sort(), before);
  const renewsBefore = (client.log().match(/send renew/g) ?? []).length;
  await waitFor('a Renew answered by the restarted server', async () => {
    const now = await dhcpLeases(router);
    const l = now.find((x) => x.lease === na.lease);
    return (client.log().match(/send renew/g) ?? []).length > renewsBefore && l !== undefined && l.expires > restored.find((x) => x.lease === na.lease)!.expires;
  }, 45_000, { dhcp6c: client, turtle6: router });
  assert.ok(globalAddresses(c, wan).includes(na.lease), 'the client keeps the same address');
  assert.ok(globalAddresses(c, 'lan0').some((a) => a.startsWith('2001:db8:100:1:')), 'the client keeps its delegated /64');

  // Release: dhcp6c releases its bindings on SIGTERM; the server forgets them.
  client.process.kill('SIGTERM');
  await waitFor('the leases to be released', async () => (await dhcpLeases(router)).length === 0, 15_000, { dhcp6c: client });
  assert.match(client.log(), /send release/);
});
