/**
 * Issue 5, test 5: WIDE dhcp6c ⇄ turtle6's relay agent ⇄ WIDE dhcp6s.
 *
 *   dhcp6c (ns c) ── tap cl (2001:db8:7::1/64) ── turtle6 relay ── tap up (2001:db8:8::1/64) ── dhcp6s (ns s)
 *
 * turtle6 wraps the client's messages in Relay-forw (link-address on the client's link,
 * peer-address the client, Interface-ID the port's name) to ff02::1:2 on the upstream port,
 * and sends the Relay-repl's inner message back to the client out of the port its
 * Interface-ID names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireCommand, TestBed } from '../helpers/netns.js';
import { startDhcp6c, startDhcp6s } from './dhcp/wide.js';
import { dhcpLeases, routerAsRelay, waitForAddresses } from './dhcp/topology.js';

const CLIENT_DUID = '00:03:00:01:02:00:00:00:07:01';

test('WIDE dhcp6c gets a lease from WIDE dhcp6s through turtle6\'s relay, with Interface-ID', { timeout: 90_000 }, async (t) => {
  requireCommand('dhcp6c', 'wide-dhcpv6-client');
  requireCommand('dhcp6s', 'wide-dhcpv6-server');
  const bed = new TestBed('d6rly');
  t.after(() => bed.cleanup());
  const { c, s, cl, up, router } = await routerAsRelay(bed);
  const server = startDhcp6s(bed, s, up, `
host relayed {
  duid ${CLIENT_DUID};
  address 2001:db8:7::77 60 120;
};
`, 5548);
  const client = startDhcp6c(bed, c, cl, CLIENT_DUID, `
interface ${cl} {
  send ia-na 1;
};
id-assoc na 1 { };
`);

  await waitForAddresses(c, { [cl]: (a) => a === '2001:db8:7::77' }, 'dhcp6c to configure the relayed lease', { dhcp6c: client, dhcp6s: server, turtle6: router }, 25_000);
  // dhcp6s saw Relay-forw messages carrying turtle6's Interface-ID and the client's link.
  const slog = server.log();
  assert.match(slog, /received relay-forward from fe80::/);
  assert.match(slog, /dhcp6 relay: hop=0, linkaddr=2001:db8:7::1, peeraddr=fe80::/);
  assert.match(slog, new RegExp(`get DHCP option interface ID, len ${cl.length}`));
  assert.match(slog, /react_request: found a host configuration named relayed/);
  // The Relay-repl echoed the Interface-ID, and the Reply reached the client.
  assert.match(slog, new RegExp(`set interface ID \\(len ${cl.length}\\)`));
  assert.match(client.log(), /dhcp6c Received REQUEST|get DHCP option identity association/);
  assert.deepEqual(await dhcpLeases(router), [], 'a relay keeps no leases of its own');
});
