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
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pollUntil, requireCommand, run, shortName, TestBed } from '../helpers/netns.js';
import { startRouter, type RunningRouter } from '../helpers/router.js';

interface ClientShow {
  phase: string;
  leases: Array<{ lease: string; kind: string }>;
  dnsServers: string[];
}

const clientShow = async (router: RunningRouter) => (await router.ctl(['show', 'dhcp', 'client'])) as ClientShow;
const status = async (router: RunningRouter) => (await router.ctl(['show', 'dhcp', 'status'])) as { received: Record<string, number>; sent: Record<string, number>; drops: Record<string, number> };

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
  sw.ip('link', 'add', 'sw0', 'type', 'bridge');
  sw.ip('link', 'set', 'sw0', 'up');
  const pcapDir = mkdtempSync(join(tmpdir(), 't6-d6reconf-'));
  bed.onCleanup(() => rmSync(pcapDir, { recursive: true, force: true }));
  const pcap = join(pcapDir, 'reconfigure.pcap');
  const tcpdump = bed.spawnIn(sw, 'tcpdump', ['-U', '--immediate-mode', '-i', 'sw0', '-w', pcap, 'udp port 546 or udp port 547']);
  await pollUntil('tcpdump to start writing', () => existsSync(pcap));

  const serverConfig = (dns: string) => `
interfaces:
  - name: ${stap}
    kind: tap
    addresses: [2001:db8:1::1/64]
    netns: ${sw.name}
    ra: { enabled: false }
dataplane:
  lanes: 1
  hostInterface: false
metrics:
  listen: ""
dhcpv6:
  server:
    interfaces:
      - name: ${stap}
        addressPool: { start: 2001:db8:1::1000, end: 2001:db8:1::10ff }
        prefixPool: { prefix: 2001:db8:100::/48, delegatedLength: 56 }
    preferredLifetime: 600
    validLifetime: 1200
    dnsServers: [${dns}]
`;
  const server = await startRouter(bed, s, serverConfig('2001:db8:1::53'));
  const client = await startRouter(bed, c, `
interfaces:
  - name: ${ctap}
    kind: tap
    netns: ${sw.name}
    ra: { enabled: false }
dataplane:
  lanes: 1
  hostInterface: false
metrics:
  listen: ""
dhcpv6:
  client:
    interface: ${ctap}
    acceptReconfigure: true
`);
  for (const tap of [stap, ctap]) {
    sw.ip('link', 'set', tap, 'master', 'sw0');
    sw.ip('link', 'set', tap, 'up');
  }
  const logs = () => `\n--- server ---\n${server.output().slice(-3000)}\n--- client ---\n${client.output().slice(-3000)}`;

  await pollUntil('the client to bind with the first DNS server', async () => {
    const show = await clientShow(client);
    return show.phase === 'bound' && show.dnsServers.includes('2001:db8:1::53');
  }, 20_000).catch((e) => { throw new Error(`${String(e)}${logs()}`); });
  const bound = await clientShow(client);
  const renewsBefore = (await status(client)).sent['renew'] ?? 0;
  assert.equal(renewsBefore, 0, 'T1 is 300 s away: no Renew yet');

  // The reload: a new DNS server. The server's module restarts, sees its settings changed,
  // and sends the client a Reconfigure.
  const file = join(server.dir, 'turtle6.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('dnsServers: [2001:db8:1::53]', 'dnsServers: [2001:db8:1::54]'));
  await server.ctl(['reload']);
  await pollUntil('the client to renew and take the new DNS server', async () => (await clientShow(client)).dnsServers.includes('2001:db8:1::54'), 20_000)
    .catch((e) => { throw new Error(`${String(e)}${logs()}`); });
  const after = await clientShow(client);
  assert.equal(after.phase, 'bound');
  assert.deepEqual(after.leases, bound.leases, 'the same address and prefix, renewed');
  const cs = await status(client);
  assert.ok((cs.received['reconfigure'] ?? 0) >= 1, JSON.stringify(cs));
  assert.ok((cs.sent['renew'] ?? 0) >= 1);
  assert.deepEqual([cs.drops['auth-missing'], cs.drops['auth-failed'], cs.drops['auth-replay']], [0, 0, 0]);
  assert.ok(((await status(server)).sent['reconfigure'] ?? 0) >= 1);
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
