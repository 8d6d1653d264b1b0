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
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pollUntil, requireCommand, shortName, TestBed, type Netns } from '../helpers/netns.js';
import { startRouter, type RunningRouter } from '../helpers/router.js';
import { globalAddresses, startDhcp6c } from './dhcp/wide.js';

const CLIENT_DUID = '00:01:00:01:00:00:00:01:02:00:00:00:00:01';

interface Lease {
  lease: string;
  kind: string;
  duid: string;
  iaid: number;
  expires: string;
}

async function leases(router: RunningRouter): Promise<Lease[]> {
  return ((await router.ctl(['show', 'dhcp', 'leases'])) as { leases: Lease[] }).leases;
}

function routerConfig(tap: string, sw: Netns, stateDir: string): string {
  return `
interfaces:
  - name: ${tap}
    kind: tap
    addresses: [2001:db8:1::1/64]
    netns: ${sw.name}
dataplane:
  lanes: 1
  hostInterface: false
metrics:
  listen: ""
stateDir: ${stateDir}
dhcpv6:
  server:
    interfaces:
      - name: ${tap}
        addressPool: { start: 2001:db8:1::1000, end: 2001:db8:1::10ff }
        prefixPool: { prefix: 2001:db8:100::/48, delegatedLength: 56 }
    preferredLifetime: 30
    validLifetime: 90
    t1: 3
    t2: 6
    dnsServers: [2001:db8:1::53]
    domains: [turtle6.test]
`;
}

function attachTap(sw: Netns, tap: string): void {
  sw.ip('link', 'set', tap, 'master', 'sw0');
  sw.ip('link', 'set', tap, 'up');
}

test('WIDE dhcp6c gets IA_NA + IA_PD from turtle6, puts the /64 on its LAN, renews, survives kill -9, releases', { timeout: 120_000 }, async (t) => {
  requireCommand('dhcp6c', 'wide-dhcpv6-client');
  const bed = new TestBed('d6srv');
  t.after(() => bed.cleanup());
  const r = bed.netns('r');
  const sw = bed.netns('sw');
  const c = bed.netns('c');
  const tap = shortName('t6d');
  const wan = shortName('d6w');
  const stateDir = mkdtempSync(join(tmpdir(), 't6-d6state-'));
  bed.onCleanup(() => rmSync(stateDir, { recursive: true, force: true }));

  sw.ip('link', 'add', 'sw0', 'type', 'bridge');
  sw.ip('link', 'set', 'sw0', 'up');
  sw.ip('link', 'add', 'swp', 'type', 'veth', 'peer', 'name', wan, 'netns', c.name);
  sw.ip('link', 'set', 'swp', 'master', 'sw0');
  sw.ip('link', 'set', 'swp', 'up');
  c.ip('link', 'set', wan, 'up');
  c.ip('link', 'add', 'lan0', 'type', 'bridge');
  c.ip('link', 'set', 'lan0', 'up');

  let router = await startRouter(bed, r, routerConfig(tap, sw, stateDir));
  attachTap(sw, tap);
  await pollUntil('a link-local address on the client', () => c.run('ip', ['-6', 'addr', 'show', 'dev', wan, 'scope', 'link']).stdout.includes('inet6'));

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
  await pollUntil('dhcp6c to configure its address and delegated /64', () => {
    const wanAddrs = globalAddresses(c, wan);
    const lanAddrs = globalAddresses(c, 'lan0');
    return wanAddrs.some((a) => a.startsWith('2001:db8:1::10')) && lanAddrs.some((a) => a.startsWith('2001:db8:100:1:'));
  }, 20_000).catch((e) => {
    throw new Error(`${String(e)}\n--- dhcp6c ---\n${client.log().slice(-3000)}\n--- turtle6 ---\n${router.output().slice(-3000)}`);
  });
  const first = await leases(router);
  const na = first.find((l) => l.kind === 'IA_NA')!;
  const pd = first.find((l) => l.kind === 'IA_PD')!;
  assert.equal(na.duid, CLIENT_DUID);
  assert.ok(globalAddresses(c, wan).includes(na.lease), `client holds ${na.lease}`);
  assert.equal(pd.lease, '2001:db8:100::/56');
  assert.match(client.log(), /dhcp6_get_options: get DHCP option DNS/);
  const routes = (await router.ctl(['show', 'routes'])) as unknown;
  assert.match(JSON.stringify(routes), /2001:db8:100::\/56|"2001:db8:100::".{0,40}56/, 'a route for the delegated prefix');

  // Renew at T1 (WIDE raises a T1 under its minimum to 18 s): the lease's expiry moves forward.
  await pollUntil('a Renew and its Reply', async () => {
    const now = await leases(router);
    const renewed = now.find((l) => l.lease === na.lease);
    return /send renew/.test(client.log()) && renewed !== undefined && renewed.expires > na.expires;
  }, 45_000);

  // Test 6: kill -9, start again on the same state directory. Every lease is still there, and
  // the client's next Renew extends the same address and prefix.
  router.process.kill('SIGKILL');
  await pollUntil('turtle6 to die', () => router.process.signalCode !== null || router.process.exitCode !== null);
  const before = await Promise.resolve(first.map((l) => l.lease).sort());
  router = await startRouter(bed, r, routerConfig(tap, sw, stateDir));
  attachTap(sw, tap);
  const restored = await leases(router);
  assert.deepEqual(restored.map((l) => l.lease).sort(), before);
  const renewsBefore = (client.log().match(/send renew/g) ?? []).length;
  await pollUntil('a Renew answered by the restarted server', async () => {
    const now = await leases(router);
    const l = now.find((x) => x.lease === na.lease);
    return (client.log().match(/send renew/g) ?? []).length > renewsBefore && l !== undefined && l.expires > restored.find((x) => x.lease === na.lease)!.expires;
  }, 45_000);
  assert.ok(globalAddresses(c, wan).includes(na.lease), 'the client keeps the same address');
  assert.ok(globalAddresses(c, 'lan0').some((a) => a.startsWith('2001:db8:100:1:')), 'the client keeps its delegated /64');

  // Release: dhcp6c releases its bindings on SIGTERM; the server forgets them.
  client.process.kill('SIGTERM');
  await pollUntil('the leases to be released', async () => (await leases(router)).length === 0, 15_000).catch((e) => {
    throw new Error(`${String(e)}\n--- dhcp6c ---\n${client.log().slice(-2000)}`);
  });
  assert.match(client.log(), /send release/);
});
