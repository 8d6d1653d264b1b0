/**
 * Issue 5, test 8: scapy-crafted bad DHCPv6 against the running server (see
 * test/interop/dhcp/bad-input.py): truncated options, an option length overrun, a Relay-forw
 * nested 40 deep, a duplicate IA and a bad DUID. Each is dropped and counted under its own
 * reason, the router keeps running, and a good client (WIDE dhcp6c) still gets a lease.
 *
 *   turtle6 (ns r) ── tap ── scapy, then dhcp6c (ns c)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { requireCommand, TestBed } from '../helpers/netns.js';
import { startDhcp6c } from './dhcp/wide.js';
import { dhcpLeases, dhcpStatus, routerAsServer, servedLink, waitFor, waitForAddresses } from './dhcp/topology.js';

const BAD_INPUT = resolve('test/interop/dhcp/bad-input.py');
const EXPECTED: Record<string, string> = {
  truncated: 'truncated',
  overrun: 'option-overrun',
  'deep-relay': 'relay-too-deep',
  'dup-ia': 'duplicate-ia',
  'bad-duid': 'bad-duid',
};

test('scapy\'s bad DHCPv6 is dropped and counted by reason; nothing crashes; a good client still gets a lease', { timeout: 90_000 }, async (t) => {
  requireCommand('/usr/bin/python3', 'python3-scapy');
  requireCommand('dhcp6c', 'wide-dhcpv6-client');
  const bed = new TestBed('d6bad');
  t.after(() => bed.cleanup());
  const { c, tap, router, linkLocal } = await routerAsServer(bed, (tap) => `
dhcpv6:
  server:
${servedLink(tap, false)}`);
  // The 40-deep Relay-forw is 1,600 bytes of IPv6: the sending side's MTU must let it out
  // whole (turtle6 reads frames up to its packet slot size, beyond a 1500-byte MTU).
  c.ip('link', 'set', tap, 'mtu', '1700');
  const drops = async () => (await dhcpStatus(router)).drops;
  const before = await drops();
  for (const reason of Object.values(EXPECTED)) assert.equal(before[reason], 0, `${reason} starts at 0`);

  const sent = c.runOk('/usr/bin/python3', [BAD_INPUT, tap, linkLocal]);
  for (const name of Object.keys(EXPECTED)) assert.match(sent, new RegExp(`^${name}:`, 'm'));
  await waitFor('every bad message to be counted under its reason', async () => {
    const d = await drops();
    return Object.values(EXPECTED).every((reason) => d[reason] === 1);
  }, 10_000, { drops: async () => JSON.stringify(await drops()), turtle6: router });
  assert.equal(router.process.exitCode, null, 'turtle6 is still running');
  assert.deepEqual(await dhcpLeases(router), [], 'no lease from bad input');
  const text = await router.ctlText(['show', 'dhcp', 'status']);
  for (const reason of Object.values(EXPECTED)) assert.match(text, new RegExp(`^${reason}\\s+1$`, 'm'), text);

  // A good client afterwards.
  const client = startDhcp6c(bed, c, tap, '00:01:00:01:00:00:00:01:02:00:00:00:00:08', `
interface ${tap} { send ia-na 1; };
id-assoc na 1 { };
`);
  await waitForAddresses(c, { [tap]: (a) => a.startsWith('2001:db8:1::10') }, 'dhcp6c to get an address', { dhcp6c: client, turtle6: router });
  assert.equal((await dhcpLeases(router)).length, 1);
});
