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
import { pollUntil, requireCommand, shortName, TestBed } from '../helpers/netns.js';
import { startRouter } from '../helpers/router.js';
import { globalAddresses, startDhcp6c, startDhcp6s } from './dhcp/wide.js';

const CLIENT_DUID = '00:03:00:01:02:00:00:00:07:01';

test('WIDE dhcp6c gets a lease from WIDE dhcp6s through turtle6\'s relay, with Interface-ID', { timeout: 90_000 }, async (t) => {
  requireCommand('dhcp6c', 'wide-dhcpv6-client');
  requireCommand('dhcp6s', 'wide-dhcpv6-server');
  const bed = new TestBed('d6rly');
  t.after(() => bed.cleanup());
  const r = bed.netns('r');
  const c = bed.netns('c');
  const s = bed.netns('s');
  const cl = shortName('t6c');
  const up = shortName('t6u');

  const router = await startRouter(bed, r, `
interfaces:
  - name: ${cl}
    kind: tap
    addresses: [2001:db8:7::1/64]
    netns: ${c.name}
  - name: ${up}
    kind: tap
    addresses: [2001:db8:8::1/64]
    netns: ${s.name}
dataplane:
  lanes: 1
  hostInterface: false
metrics:
  listen: ""
dhcpv6:
  relay:
    interfaces: [${cl}]
    upstream: ${up}
`);
  for (const [ns, ifname] of [[c, cl], [s, up]] as const) {
    await pollUntil(`a link-local address on ${ns.name}`, () => ns.run('ip', ['-6', 'addr', 'show', 'dev', ifname, 'scope', 'link']).stdout.includes('inet6'));
  }
  s.ip('addr', 'add', '2001:db8:8::2/64', 'dev', up, 'nodad');
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

  await pollUntil('dhcp6c to configure the relayed lease', () => globalAddresses(c, cl).includes('2001:db8:7::77'), 25_000).catch((e) => {
    throw new Error(`${String(e)}\n--- dhcp6c ---\n${client.log().slice(-2500)}\n--- dhcp6s ---\n${server.log().slice(-2500)}\n--- turtle6 ---\n${router.output().slice(-2000)}`);
  });
  // dhcp6s saw Relay-forw messages carrying turtle6's Interface-ID and the client's link.
  const slog = server.log();
  assert.match(slog, /received relay-forward from fe80::/);
  assert.match(slog, /dhcp6 relay: hop=0, linkaddr=2001:db8:7::1, peeraddr=fe80::/);
  assert.match(slog, new RegExp(`get DHCP option interface ID, len ${cl.length}`));
  assert.match(slog, /react_request: found a host configuration named relayed/);
  // The Relay-repl echoed the Interface-ID, and the Reply reached the client.
  assert.match(slog, new RegExp(`set interface ID \\(len ${cl.length}\\)`));
  assert.match(client.log(), /dhcp6c Received REQUEST|get DHCP option identity association/);
  const ownLeases = JSON.stringify(await router.ctl(['show', 'dhcp', 'leases']));
  assert.ok(ownLeases.includes('"leases":[]'), 'a relay keeps no leases of its own');
});
