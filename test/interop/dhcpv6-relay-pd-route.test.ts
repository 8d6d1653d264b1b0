/**
 * Issue 12 §6 context: a prefix delegated through turtle6's relay is routed to the client.
 *
 *   dhcp6c (ns c, lan0 bridge) ── tap cl (2001:db8:7::1/64) ── turtle6 relay ── tap up (2001:db8:8::1/64) ── dhcp6s (ns s)
 *
 * WIDE dhcp6s, one hop upstream, delegates 2001:db8:70::/48 to WIDE dhcp6c behind the relay
 * (RFC 8415 IA_PD). turtle6 reads the Relay-reply and routes the /48 to the client's
 * link-local address (origin dhcpv6-pd): a ping from the server's side to the address dhcp6c
 * put on lan0 crosses turtle6. A reload that restarts the dhcpv6 module keeps the route (from
 * the relay's state file), and so does a kill -9 and restart. The route goes when the client
 * releases the prefix.
 */
import { test } from 'node:test';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { requireCommand, TestBed } from '../helpers/netns.js';
import type { ShownRoute } from '../helpers/router.js';
import { startDhcp6c, startDhcp6s } from './dhcp/wide.js';
import { addBridge, routerAsRelay, routerStateDir, waitFor, waitForAddresses } from './dhcp/topology.js';

const CLIENT_DUID = '00:03:00:01:02:00:00:00:07:02';
const DELEGATED = '2001:db8:70::/48';

test('a prefix delegated through turtle6\'s relay is routed to the client until it is released', { timeout: 120_000 }, async (t) => {
  requireCommand('dhcp6c', 'wide-dhcpv6-client');
  requireCommand('dhcp6s', 'wide-dhcpv6-server');
  requireCommand('ping', 'iputils-ping');
  const bed = new TestBed('d6pdr');
  t.after(() => bed.cleanup());
  const topology = await routerAsRelay(bed, `stateDir: ${routerStateDir(bed)}`, true);
  const { c, s, cl, up, clientLinkLocal } = topology;
  let router = topology.router;
  // The server's side reaches the delegated prefix through turtle6, as an ISP's core would.
  s.ip('-6', 'route', 'add', DELEGATED, 'via', '2001:db8:8::1', 'dev', up);
  c.ip('-6', 'route', 'replace', 'default', 'via', '2001:db8:7::1', 'dev', cl, 'onlink');
  const server = startDhcp6s(bed, s, up, `
host relayed {
  duid ${CLIENT_DUID};
  prefix ${DELEGATED} 60 120;
};
`, 5549);
  addBridge(c, 'lan0');
  const client = startDhcp6c(bed, c, cl, CLIENT_DUID, `
interface ${cl} {
  send ia-pd 1;
};
id-assoc pd 1 {
  prefix-interface lan0 { sla-id 1; sla-len 16; };
};
`);
  const sources = { dhcp6c: client, dhcp6s: server, turtle6: () => router.output() };
  const { lan0: inside } = await waitForAddresses(c, { lan0: (a) => a.startsWith('2001:db8:70:1:') }, 'dhcp6c to put a /64 of the relayed delegation on lan0', sources, 30_000);

  const routes = async () => (await router.ctl(['show', 'routes'])) as ShownRoute[];
  const delegated = async () => (await routes()).filter((x) => x.prefix === DELEGATED);
  await waitFor('turtle6 to route the delegated prefix', async () => (await delegated()).length > 0, 10_000, sources);
  const [route] = await delegated();
  assert.equal(route!.origin, 'dhcpv6-pd', 'its own origin in show routes');
  assert.equal(route!.best, true);
  assert.deepEqual(route!.nexthops, [{ interface: cl, gateway: clientLinkLocal, packets: null }], 'via the client, on the link the Reply went out of');

  // A packet from upstream to an address in the prefix is forwarded by turtle6 to the client.
  const forwardedBefore = await router.counter(up, 'forwarded');
  const ping = s.run('ping', ['-6', '-c', '3', '-i', '0.2', '-W', '2', inside!]);
  assert.equal(ping.code, 0, `ping ${inside} from upstream: ${ping.stdout}${ping.stderr}`);
  assert.ok((await router.counter(up, 'forwarded')) - forwardedBefore >= 3, 'the echo requests crossed turtle6');

  // A reload that changes the relay restarts the dhcpv6 module: the route comes back from its state file, with no DHCPv6 exchange.
  const file = join(router.dir, 'turtle6.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace(`upstream: ${up}`, `upstream: ${up}\n    servers: [2001:db8:8::2]`));
  const reloaded = (await router.ctl(['reload'])) as unknown;
  assert.match(JSON.stringify(reloaded), /dhcpv6: restart/, 'the module restarted');
  assert.deepEqual(await delegated(), [route], 'the same route after the module restart');
  const again = s.run('ping', ['-6', '-c', '2', '-i', '0.2', '-W', '2', inside!]);
  assert.equal(again.code, 0, `ping ${inside} after the reload: ${again.stdout}${again.stderr}`);

  // kill -9 and a start on the same state directory: the route is back before any DHCPv6 exchange.
  router = await topology.restart();
  assert.deepEqual(await delegated(), [route], 'the same route after a crash and restart');
  await waitFor('a ping across the restarted turtle6', () => s.run('ping', ['-6', '-c', '1', '-W', '1', inside!]).code === 0, 15_000, sources);

  // Release: dhcp6c gives the prefix back on SIGTERM; the server's Reply takes the route away.
  client.process.kill('SIGTERM');
  await waitFor('the route to go after the Release', async () => (await delegated()).length === 0, 15_000, sources);
  assert.match(client.log(), /send release/);
});
