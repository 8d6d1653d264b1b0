/**
 * Issue 5, test 2 and test 3 with authentication: delayed authentication (RFC 3315 §21.4:
 * protocol 2, HMAC-MD5, monotonic-counter RDM, realm and key ID) between turtle6 and WIDE,
 * with the same keyinfo on both sides.
 *
 * Server:  turtle6 (ns r) ── tap ── dhcp6c (ns c)   then scapy in ns c replays, tampers with
 *          and strips the Auth option of dhcp6c's last authenticated message.
 * Client:  dhcp6s (ns s) ── tap ── turtle6 client (ns r)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { pollUntil, requireCommand, TestBed } from '../helpers/netns.js';
import { startDhcp6c, startDhcp6s } from './dhcp/wide.js';
import { addBridge, dhcpLeases, dhcpStatus, routerAsClient, routerAsServer, secretFile, servedLink, startCapture, waitFor, waitForAddresses, waitForClientBinding } from './dhcp/topology.js';

const CLIENT_DUID = '00:01:00:01:00:00:00:01:02:00:00:00:00:01';
const TURTLE6_DUID = '00:03:00:01:02:00:00:00:05:02';
const SECRET = '5pvW2g48OHPvkYMJSw0vZA==';
const REALM = 'turtle6.test';
const TAMPER = resolve('test/interop/dhcp/tamper.py');

test('turtle6 server ⇄ WIDE dhcp6c with delayed authentication both ways; replayed, tampered and unauthenticated messages are dropped, counted, logged', { timeout: 120_000 }, async (t) => {
  requireCommand('dhcp6c', 'wide-dhcpv6-client');
  requireCommand('tcpdump', 'tcpdump');
  requireCommand('/usr/bin/python3', 'python3-scapy');
  const bed = new TestBed('d6auth');
  t.after(() => bed.cleanup());
  const keyFile = secretFile(bed, SECRET);
  const { c, tap, router } = await routerAsServer(bed, (tap) => `
dhcpv6:
  keys:
    - { name: t6key, realm: ${REALM}, keyId: 1, secretFile: ${keyFile} }
  server:
${servedLink(tap, true)}    preferredLifetime: 1800
    validLifetime: 3600
    dnsServers: [2001:db8:1::53]
    reservations:
      - { duid: ${CLIENT_DUID}, key: t6key }
`);
  addBridge(c, 'lan0');

  const pcap = (await startCapture(bed, c, tap, 'udp port 547')).file;

  const client = startDhcp6c(bed, c, tap, CLIENT_DUID, `
interface ${tap} {
  send ia-na 1;
  send ia-pd 1;
  send authentication t6auth;
  request domain-name-servers;
};
id-assoc na 1 { };
id-assoc pd 1 {
  prefix-interface lan0 { sla-id 1; sla-len 8; };
};
authentication t6auth { protocol delayed; algorithm hmac-md5; rdm monocounter; };
keyinfo t6key { realm "${REALM}"; keyid 1; secret "${SECRET}"; };
`);
  const logs = { dhcp6c: client, turtle6: router };

  await waitForAddresses(c, {
    [tap]: (a) => a.startsWith('2001:db8:1::10'),
    lan0: (a) => a.startsWith('2001:db8:100:1:'),
  }, 'dhcp6c to configure its address and delegated /64', logs);
  // dhcp6c checked turtle6's MAC on the Advertise and the Reply; turtle6 checked dhcp6c's on
  // the Request (without it there would be no Reply and no lease).
  assert.match(client.log(), /message authentication validated/);
  const before = await dhcpLeases(router);
  assert.equal(before.length, 2, JSON.stringify(before));
  const clean = await dhcpStatus(router);
  assert.equal(clean.drops['auth-failed'], 0, JSON.stringify(clean.drops));
  assert.equal(clean.drops['auth-replay'], 0);

  // The attacks, each from the client's own addresses.
  for (const mode of ['replay', 'flip', 'strip']) {
    await pollUntil(`scapy to ${mode} the captured Request`, () => {
      const out = c.run('/usr/bin/python3', [TAMPER, pcap, tap, mode]);
      if (out.code !== 0) throw new Error(out.stderr);
      return true;
    }, 10_000);
  }
  await waitFor('each attack to be counted by reason', async () => {
    const d = (await dhcpStatus(router)).drops;
    return d['auth-replay']! >= 1 && d['auth-failed']! >= 1 && d['auth-missing']! >= 1;
  }, 10_000, { drops: async () => JSON.stringify((await dhcpStatus(router)).drops), ...logs });
  // None of them changed a lease (a replayed Request that got through would re-bind and move
  // the expiry forward).
  assert.deepEqual(await dhcpLeases(router), before);
  assert.match(router.output(), /dhcpv6 message failed authentication/);
  assert.match(router.output(), /auth-replay/);
  assert.match(router.output(), /HMAC-MD5 mismatch/);

  // Release, authenticated too: turtle6 forgets the leases, dhcp6c validates the Reply.
  const validatedBefore = (client.log().match(/message authentication validated/g) ?? []).length;
  client.process.kill('SIGTERM');
  await waitFor('the authenticated Release to remove the leases', async () => (await dhcpLeases(router)).length === 0, 15_000, logs);
  assert.match(client.log(), /send release/);
  await waitFor('dhcp6c to validate the Reply to its Release', () => (client.log().match(/message authentication validated/g) ?? []).length > validatedBefore, 5_000, logs);
});

test('turtle6 client ⇄ WIDE dhcp6s with delayed authentication: IA_NA + IA_PD, both sides validate', { timeout: 90_000 }, async (t) => {
  requireCommand('dhcp6s', 'wide-dhcpv6-server');
  const bed = new TestBed('d6cauth');
  t.after(() => bed.cleanup());
  const keyFile = secretFile(bed, SECRET);
  const { s, wan, router } = await routerAsClient(bed, { duid: TURTLE6_DUID, upstream: '2001:db8:ff::1/64', lan: false, dhcpv6: ({ wan }) => `
dhcpv6:
  keys:
    - { name: t6key, realm: ${REALM}, keyId: 1, secretFile: ${keyFile} }
  client:
    interface: ${wan}
    key: t6key
` });
  const server = startDhcp6s(bed, s, wan, `
option domain-name-servers 2001:db8:ff::53;
keyinfo t6key { realm "${REALM}"; keyid 1; secret "${SECRET}"; };
host turtle6 {
  duid ${TURTLE6_DUID};
  address 2001:db8:ff::1001 60 120;
  prefix 2001:db8:500::/56 60 120;
  delayedkey t6key;
};
`, 5548);

  await waitForClientBinding(router, { dhcp6s: server, turtle6: router });
  // dhcp6s checked turtle6's MAC on the Request; turtle6 checked dhcp6s's on the Advertise
  // and the Reply (an unauthenticated one would count as auth-missing and never bind).
  assert.match(server.log(), /message authentication validated/);
  assert.match(server.log(), /add a new binding \[IA: duid=00:03:00:01:02:00:00:00:05:02, type=PD/);
  const drops = (await dhcpStatus(router)).drops;
  assert.deepEqual([drops['auth-missing'], drops['auth-failed'], drops['auth-replay']], [0, 0, 0], JSON.stringify(drops));
});
