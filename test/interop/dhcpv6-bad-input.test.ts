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
import { pollUntil, requireCommand, shortName, TestBed } from '../helpers/netns.js';
import { startRouter } from '../helpers/router.js';
import { globalAddresses, startDhcp6c } from './dhcp/wide.js';

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
  const r = bed.netns('r');
  const c = bed.netns('c');
  const tap = shortName('t6b');
  const router = await startRouter(bed, r, `
interfaces:
  - name: ${tap}
    kind: tap
    addresses: [2001:db8:1::1/64]
    netns: ${c.name}
    ra: { enabled: false }
dataplane:
  lanes: 1
  hostInterface: false
metrics:
  listen: ""
dhcpv6:
  server:
    interfaces:
      - name: ${tap}
        addressPool: { start: 2001:db8:1::1000, end: 2001:db8:1::10ff }
`);
  // The 40-deep Relay-forw is 1,600 bytes of IPv6: the sending side's MTU must let it out
  // whole (turtle6 reads frames up to its packet slot size, beyond a 1500-byte MTU).
  c.ip('link', 'set', tap, 'mtu', '1700', 'up');
  let linkLocal = '';
  await pollUntil('a link-local address in the client namespace', () => {
    linkLocal = /inet6 (fe80::[0-9a-f:]+)\//.exec(c.run('ip', ['-6', 'addr', 'show', 'dev', tap, 'scope', 'link']).stdout)?.[1] ?? '';
    return linkLocal !== '';
  });
  const drops = async () => ((await router.ctl(['show', 'dhcp', 'status'])) as { drops: Record<string, number> }).drops;
  const before = await drops();
  for (const reason of Object.values(EXPECTED)) assert.equal(before[reason], 0, `${reason} starts at 0`);

  const sent = c.runOk('/usr/bin/python3', [BAD_INPUT, tap, linkLocal]);
  for (const name of Object.keys(EXPECTED)) assert.match(sent, new RegExp(`^${name}:`, 'm'));
  await pollUntil('every bad message to be counted under its reason', async () => {
    const d = await drops();
    return Object.values(EXPECTED).every((reason) => d[reason] === 1);
  }, 10_000).catch(async (e) => { throw new Error(`${String(e)}: ${JSON.stringify(await drops())}\n${router.output().slice(-3000)}`); });
  assert.equal(router.process.exitCode, null, 'turtle6 is still running');
  assert.deepEqual(((await router.ctl(['show', 'dhcp', 'leases'])) as { leases: unknown[] }).leases, [], 'no lease from bad input');
  const text = await router.ctlText(['show', 'dhcp', 'status']);
  for (const reason of Object.values(EXPECTED)) assert.match(text, new RegExp(`^${reason}\\s+1$`, 'm'), text);

  // A good client afterwards.
  const client = startDhcp6c(bed, c, tap, '00:01:00:01:00:00:00:01:02:00:00:00:00:08', `
interface ${tap} { send ia-na 1; };
id-assoc na 1 { };
`);
  await pollUntil('dhcp6c to get an address', () => globalAddresses(c, tap).some((a) => a.startsWith('2001:db8:1::10')), 20_000)
    .catch((e) => { throw new Error(`${String(e)}\n${client.log().slice(-2000)}\n${router.output().slice(-2000)}`); });
  assert.equal(((await router.ctl(['show', 'dhcp', 'leases'])) as { leases: unknown[] }).leases.length, 1);
});
