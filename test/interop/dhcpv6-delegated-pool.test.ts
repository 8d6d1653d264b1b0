/**
 * Issue 5: the delegated prefix "offered through the local DHCPv6 server's pools, and
 * withdrawn everywhere on expiry or Release", and dhcp6ctl's stop/start interface through
 * turtle6ctl.
 *
 *   dhcp6s (ns s) ── tap wan ── turtle6 (ns r): client on wan, server on lan ── tap lan ── dhcp6c (ns h)
 *
 * WIDE dhcp6s delegates 2001:db8:500::/56 to turtle6's client; sla-id 1 puts
 * 2001:db8:500:1::1/64 on the LAN port, and turtle6's server hands WIDE dhcp6c an IA_NA
 * address from ::1000–::10ff of that /64. `dhcp stop lan` makes the server ignore the LAN
 * (dhcp6c's Renews are dropped and counted), `dhcp start lan` serves it again; `dhcp stop wan`
 * releases the delegation upstream, which withdraws the pool and ends the LAN binding: the
 * next Renew from dhcp6c gets its address back with lifetimes 0 and dhcp6c removes it.
 * `dhcp start wan` solicits anew.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireCommand, TestBed } from '../helpers/netns.js';
import type { RunningRouter } from '../helpers/router.js';
import { globalAddresses, startDhcp6c, startDhcp6s } from './dhcp/wide.js';
import { dhcpClient, dhcpLeases, dhcpStatus, routerAsClient, waitFor, waitForAddresses, type LogSource } from './dhcp/topology.js';

const TURTLE6_DUID = '00:03:00:01:02:00:00:00:05:02';
const HOST_DUID = '00:01:00:01:00:00:00:01:02:00:00:00:05:03';

interface Pool { pool: string; size: string; used: number; delegated?: string }

const pools = async (router: RunningRouter) => ((await router.ctl(['show', 'dhcp', 'pools'])) as { pools: Pool[] }).pools;

test('the delegated /64 is served from turtle6\'s pool to WIDE dhcp6c, withdrawn on Release; dhcp stop|start per interface', { timeout: 180_000 }, async (t) => {
  requireCommand('dhcp6s', 'wide-dhcpv6-server');
  requireCommand('dhcp6c', 'wide-dhcpv6-client');
  const bed = new TestBed('d6dp');
  t.after(() => bed.cleanup());
  // turtle6's DUID is pinned: dhcp6s delegates only to `host` entries matched by DUID.
  const { s, h, wan, lan, router } = await routerAsClient(bed, { duid: TURTLE6_DUID, upstream: '2001:db8:ff::1/64', lan: true, dhcpv6: ({ wan, lan }) => `
dhcpv6:
  client:
    interface: ${wan}
    requestAddress: false
    prefixLengthHint: 56
    prefixInterfaces:
      - { name: ${lan}, slaId: 1, hostId: 1 }
  server:
    interfaces:
      - name: ${lan}
        delegatedPool: { start: "::1000", end: "::10ff" }
    preferredLifetime: 60
    validLifetime: 120
    t1: 4
    t2: 6
` });
  const upstream = startDhcp6s(bed, s, wan, `
host turtle6 {
  duid ${TURTLE6_DUID};
  prefix 2001:db8:500::/56 300 600;
};
`, 5548);
  const logs: Record<string, LogSource> = { dhcp6s: upstream, turtle6: router };

  // Before the delegation the pool exists, empty.
  assert.deepEqual((await pools(router)).map((p) => [p.pool, p.size, p.delegated]), [[`${lan}/delegated`, '0', '-']]);
  await waitFor('turtle6\'s client to hold the delegated prefix and offer its /64', async () => (await pools(router)).some((p) => p.delegated === '2001:db8:500:1::/64'), 20_000, logs);
  assert.deepEqual((await pools(router)).map((p) => [p.pool, p.size, p.used]), [[`${lan}/delegated`, '256', 0]]);

  const host = startDhcp6c(bed, h, lan, HOST_DUID, `
interface ${lan} {
  send ia-na 1;
};
id-assoc na 1 { };
`);
  logs.dhcp6c = host;
  const leased = await waitForAddresses(h, { [lan]: (a) => /^2001:db8:500:1::10[0-9a-f]{2}$/.test(a) },
    'dhcp6c on the LAN to get an address of the delegated /64 from turtle6', logs);
  const address = leased[lan];
  const bound = await dhcpLeases(router);
  assert.deepEqual(bound.map((l) => [l.lease, l.kind, l.duid]), [[address, 'IA_NA', HOST_DUID]]);
  assert.equal((await pools(router))[0]!.used, 1);

  // dhcp stop LAN: the server ignores the link (dhcp6c's Renew is dropped and counted), the lease stays.
  assert.equal(await router.ctlText(['dhcp', 'stop', lan]), `${lan} (server) stopped`);
  const stopped = await dhcpStatus(router);
  assert.deepEqual(stopped.interfaces, [{ interface: lan, role: 'server', state: 'stopped' }, { interface: wan, role: 'client', state: 'running' }]);
  const repliesBefore = stopped.sent.Reply ?? 0;
  await waitFor('a Renew from dhcp6c dropped on the stopped interface', async () => ((await dhcpStatus(router)).drops['interface-stopped'] ?? 0) > 0, 40_000, logs);
  assert.equal((await dhcpStatus(router)).sent.Reply ?? 0, repliesBefore, 'no Reply while the interface is stopped');
  assert.deepEqual((await dhcpLeases(router)).map((l) => l.lease), [address], 'stopping keeps the bindings');
  assert.match(await router.ctlText(['show', 'dhcp', 'status']), new RegExp(`${lan}\\s+server\\s+stopped`));

  // dhcp start LAN: the next Renew (dhcp6c retransmits it) is answered and extends the lease.
  assert.equal(await router.ctlText(['dhcp', 'start', lan]), `${lan} (server) started`);
  await waitFor('a Renew answered after dhcp start', async () => ((await dhcpLeases(router))[0]?.expires ?? '') > bound[0]!.expires, 45_000, logs);

  // dhcp stop WAN: turtle6's client releases upstream; the pool is withdrawn and its binding ended.
  assert.equal(await router.ctlText(['dhcp', 'stop', wan]), `${wan} (client) stopped`);
  assert.equal((await dhcpClient(router)).phase, 'stopped');
  assert.deepEqual(await dhcpLeases(router), [], 'the binding in the withdrawn pool is ended');
  assert.deepEqual((await pools(router)).map((p) => [p.size, p.delegated]), [['0', '-']]);
  await waitFor('dhcp6s to receive the Release', () => /received release/i.test(upstream.log()), 10_000, logs);
  // dhcp6c's next Renew gets its address back with lifetimes 0, and it removes the address.
  await waitFor('dhcp6c to give up the address of the withdrawn /64', () => !globalAddresses(h, lan).includes(address), 60_000, logs);

  // dhcp start WAN: a new client solicits and the /64 is offered again.
  assert.equal(await router.ctlText(['dhcp', 'start', wan]), `${wan} (client) started`);
  await waitFor('the delegation back after dhcp start', async () => (await pools(router)).some((p) => p.delegated === '2001:db8:500:1::/64'), 20_000, logs);
  assert.equal((await dhcpClient(router)).phase, 'bound');
  assert.deepEqual((await dhcpStatus(router)).interfaces.map((i) => i.state), ['running', 'running']);
  await assert.rejects(router.ctl(['dhcp', 'stop', 'nosuchif']), /nosuchif is not a DHCPv6 interface/);
});
