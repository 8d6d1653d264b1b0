/**
 * Issue 5, test 7: Reconfigure (RFC 8415 §18.3.11, §18.2.11, §20.4) from turtle6's server to
 * turtle6's own client — no packaged peer accepts Reconfigure with authentication.
 *
 *   turtle6 server (ns s) ── tap ──[ bridge sw0 in ns sw, tcpdump ]── tap ── turtle6 client (ns c)
 *
 * The client sends Reconfigure Accept and gets a reconfigure key in the Reply. A reload of the
 * server's config with a new DNS server restarts the server's module, which sends each such
 * client a Reconfigure (renew) signed with that key; the client checks the MAC, renews and
 * takes the new DNS server. tshark decodes the whole capture without malformed packets or
 * expert errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pollUntil, requireCommand, run, shortName, TestBed } from '../helpers/netns.js';
import { startRouter } from '../helpers/router.js';
import { addBridge, dhcpClient, dhcpStatus, enslave, RA_OFF, routerYaml, SERVED_ADDRESS, servedLink, startCapture, waitFor } from './dhcp/topology.js';

test('a reload that changes the server\'s options sends an authenticated Reconfigure; turtle6\'s client renews and takes the change', { timeout: 90_000 }, async (t) => {
  requireCommand('tcpdump', 'tcpdump');
  requireCommand('tshark', 'tshark');
  const bed = new TestBed('d6reconf');
  t.after(() => bed.cleanup());
  const s = bed.netns('s');
  const c = bed.netns('c');
  const sw = bed.netns('sw');
  const stap = shortName('t6s');
  const ctap = shortName('t6c');
  addBridge(sw, 'sw0');
  const { file: pcap, tcpdump } = await startCapture(bed, sw, 'sw0', 'udp port 546 or udp port 547');

  const serverConfig = (dns: string) => routerYaml([{ name: stap, netns: sw, addresses: [SERVED_ADDRESS], ra: RA_OFF }], `
dhcpv6:
  server:
${servedLink(stap, true)}    preferredLifetime: 600
    validLifetime: 1200
    dnsServers: [${dns}]
`);
  const server = await startRouter(bed, s, serverConfig('2001:db8:1::53'));
  const client = await startRouter(bed, c, routerYaml([{ name: ctap, netns: sw, ra: RA_OFF }], `
dhcpv6:
  client:
    interface: ${ctap}
    acceptReconfigure: true
`));
  for (const tap of [stap, ctap]) enslave(sw, tap, 'sw0');
  const logs = { server, client };

  await waitFor('the client to bind with the first DNS server', async () => {
    const show = await dhcpClient(client);
    return show.phase === 'bound' && show.dnsServers.includes('2001:db8:1::53');
  }, 20_000, logs);
  const bound = await dhcpClient(client);
  const renewsBefore = (await dhcpStatus(client)).sent['renew'] ?? 0;
  assert.equal(renewsBefore, 0, 'T1 is 300 s away: no Renew yet');

  // The reload: a new DNS server. The server's module restarts, sees its settings changed,
  // and sends the client a Reconfigure.
  const file = join(server.dir, 'turtle6.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('dnsServers: [2001:db8:1::53]', 'dnsServers: [2001:db8:1::54]'));
  await server.ctl(['reload']);
  await waitFor('the client to renew and take the new DNS server', async () => (await dhcpClient(client)).dnsServers.includes('2001:db8:1::54'), 20_000, logs);
  const after = await dhcpClient(client);
  assert.equal(after.phase, 'bound');
  assert.deepEqual(after.leases, bound.leases, 'the same address and prefix, renewed');
  const cs = await dhcpStatus(client);
  assert.ok((cs.received['reconfigure'] ?? 0) >= 1, JSON.stringify(cs));
  assert.ok((cs.sent['renew'] ?? 0) >= 1);
  assert.deepEqual([cs.drops['auth-missing'], cs.drops['auth-failed'], cs.drops['auth-replay']], [0, 0, 0]);
  assert.ok(((await dhcpStatus(server)).sent['reconfigure'] ?? 0) >= 1);
  assert.match(server.output(), /Reconfigure sent/);

  // The capture: tshark decodes every packet, and the Reconfigure as §18.3.11 says.
  await pollUntil('the Renew\'s Reply in the capture', () => {
    const r = run('tshark', ['-r', pcap, '-Y', 'dhcpv6.msgtype == 7', '-T', 'fields', '-e', 'dhcpv6.msgtype']);
    return r.stdout.trim().split('\n').filter(Boolean).length >= 2;
  }, 10_000);
  tcpdump.kill('SIGTERM');
  await pollUntil('tcpdump to flush and exit', () => tcpdump.exitCode !== null || tcpdump.signalCode !== null);
  const fields = run('tshark', ['-r', pcap, '-Y', 'dhcpv6.msgtype == 10', '-T', 'fields', '-E', 'separator=|',
    '-e', 'dhcpv6.reconf_msg', '-e', 'dhcpv6.auth.protocol', '-e', 'dhcpv6.auth.algorithm', '-e', 'dhcpv6.auth.rdm', '-e', 'ipv6.dst', '-e', 'udp.dstport']).stdout.trim().split('\n')[0] ?? '';
  const [reconfMsg, protocol, algorithm, rdm, dst, port] = fields.split('|');
  assert.deepEqual([reconfMsg, protocol, algorithm, rdm, port], ['5', '3', '1', '0', '546'], fields);
  assert.match(dst!, /^fe80::/, 'unicast to the client\'s link-local address');
  const replyAuth = run('tshark', ['-r', pcap, '-Y', 'dhcpv6.msgtype == 7 && dhcpv6.auth.protocol == 3', '-T', 'fields', '-e', 'dhcpv6.msgtype']).stdout.trim();
  assert.ok(replyAuth.length > 0, 'a Reply carried the reconfigure key (protocol 3)');
  const expert = run('tshark', ['-r', pcap, '-q', '-z', 'expert']).stdout;
  assert.doesNotMatch(expert, /Malformed|^Errors/m, expert);
  const all = run('tshark', ['-r', pcap]).stdout;
  assert.doesNotMatch(all, /Malformed|Unknown/, all);
});
