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
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pollUntil, requireCommand, shortName, TestBed } from '../helpers/netns.js';
import { startRouter, type RunningRouter } from '../helpers/router.js';
import { globalAddresses, startDhcp6c, startDhcp6s, type WideDaemon } from './dhcp/wide.js';

const TURTLE6_DUID = '00:03:00:01:02:00:00:00:05:02';
const HOST_DUID = '00:01:00:01:00:00:00:01:02:00:00:00:05:03';

interface Status {
  interfaces: Array<{ interface: string; role: string; state: string }>;
  sent: Record<string, number>;
  drops: Record<string, number>;
}
interface Pool { pool: string; size: string; used: number; delegated?: string }
interface Lease { lease: string; kind: string; duid: string; expires: string }

const status = async (router: RunningRouter) => (await router.ctl(['show', 'dhcp', 'status'])) as Status;
const pools = async (router: RunningRouter) => ((await router.ctl(['show', 'dhcp', 'pools'])) as { pools: Pool[] }).pools;
const leases = async (router: RunningRouter) => ((await router.ctl(['show', 'dhcp', 'leases'])) as { leases: Lease[] }).leases;
const clientPhase = async (router: RunningRouter) => ((await router.ctl(['show', 'dhcp', 'client'])) as { phase: string }).phase;

function explain(e: unknown, daemons: Record<string, WideDaemon>, router: RunningRouter): Error {
  const logs = Object.entries(daemons).map(([name, d]) => `--- ${name} ---\n${d.log().slice(-2500)}`).join('\n');
  return new Error(`${String(e)}\n${logs}\n--- turtle6 ---\n${router.output().slice(-2500)}`);
}

test('the delegated /64 is served from turtle6\'s pool to WIDE dhcp6c, withdrawn on Release; dhcp stop|start per interface', { timeout: 180_000 }, async (t) => {
  requireCommand('dhcp6s', 'wide-dhcpv6-server');
  requireCommand('dhcp6c', 'wide-dhcpv6-client');
  const bed = new TestBed('d6dp');
  t.after(() => bed.cleanup());
  const r = bed.netns('r');
  const s = bed.netns('s');
  const h = bed.netns('h');
  const wan = shortName('dpw');
  const lan = shortName('dpl');
  const stateDir = mkdtempSync(join(tmpdir(), 't6-d6dp-'));
  bed.onCleanup(() => rmSync(stateDir, { recursive: true, force: true }));
  // dhcp6s delegates only to `host` entries matched by DUID: pin turtle6's.
  mkdirSync(join(stateDir, 'dhcpv6'), { recursive: true });
  writeFileSync(join(stateDir, 'dhcpv6', 'duid'), `${TURTLE6_DUID}\n`);

  const router = await startRouter(bed, r, `
interfaces:
  - name: ${wan}
    kind: tap
    netns: ${s.name}
    ra: { enabled: false }
  - name: ${lan}
    kind: tap
    netns: ${h.name}
    ra: { enabled: true, maxInterval: 4 }
dataplane:
  lanes: 1
  hostInterface: false
metrics:
  listen: ""
stateDir: ${stateDir}
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
`);
  await pollUntil('link-local addresses on both peers', () =>
    s.run('ip', ['-6', 'addr', 'show', 'dev', wan, 'scope', 'link']).stdout.includes('inet6') && h.run('ip', ['-6', 'addr', 'show', 'dev', lan, 'scope', 'link']).stdout.includes('inet6'));
  s.ip('addr', 'add', '2001:db8:ff::1/64', 'dev', wan, 'nodad');
  const upstream = startDhcp6s(bed, s, wan, `
host turtle6 {
  duid ${TURTLE6_DUID};
  prefix 2001:db8:500::/56 300 600;
};
`, 5548);
  const daemons: Record<string, WideDaemon> = { dhcp6s: upstream };

  // Before the delegation the pool exists, empty.
  assert.deepEqual((await pools(router)).map((p) => [p.pool, p.size, p.delegated]), [[`${lan}/delegated`, '0', '-']]);
  await pollUntil('turtle6\'s client to hold the delegated prefix and offer its /64', async () => (await pools(router)).some((p) => p.delegated === '2001:db8:500:1::/64'), 20_000)
    .catch((e) => { throw explain(e, daemons, router); });
  assert.deepEqual((await pools(router)).map((p) => [p.pool, p.size, p.used]), [[`${lan}/delegated`, '256', 0]]);

  const host = startDhcp6c(bed, h, lan, HOST_DUID, `
interface ${lan} {
  send ia-na 1;
};
id-assoc na 1 { };
`);
  daemons.dhcp6c = host;
  const inPool = (a: string) => /^2001:db8:500:1::10[0-9a-f]{2}$/.test(a);
  await pollUntil('dhcp6c on the LAN to get an address of the delegated /64 from turtle6', () => globalAddresses(h, lan).some(inPool), 20_000)
    .catch((e) => { throw explain(e, daemons, router); });
  const address = globalAddresses(h, lan).find(inPool)!;
  const bound = await leases(router);
  assert.deepEqual(bound.map((l) => [l.lease, l.kind, l.duid]), [[address, 'IA_NA', HOST_DUID]]);
  assert.equal((await pools(router))[0]!.used, 1);

  // dhcp stop LAN: the server ignores the link (dhcp6c's Renew is dropped and counted), the lease stays.
  assert.equal(await router.ctlText(['dhcp', 'stop', lan]), `${lan} (server) stopped`);
  const stopped = await status(router);
  assert.deepEqual(stopped.interfaces, [{ interface: lan, role: 'server', state: 'stopped' }, { interface: wan, role: 'client', state: 'running' }]);
  const repliesBefore = stopped.sent.Reply ?? 0;
  await pollUntil('a Renew from dhcp6c dropped on the stopped interface', async () => ((await status(router)).drops['interface-stopped'] ?? 0) > 0, 40_000)
    .catch((e) => { throw explain(e, daemons, router); });
  assert.equal((await status(router)).sent.Reply ?? 0, repliesBefore, 'no Reply while the interface is stopped');
  assert.deepEqual((await leases(router)).map((l) => l.lease), [address], 'stopping keeps the bindings');
  assert.match(await router.ctlText(['show', 'dhcp', 'status']), new RegExp(`${lan}\\s+server\\s+stopped`));

  // dhcp start LAN: the next Renew (dhcp6c retransmits it) is answered and extends the lease.
  assert.equal(await router.ctlText(['dhcp', 'start', lan]), `${lan} (server) started`);
  await pollUntil('a Renew answered after dhcp start', async () => ((await leases(router))[0]?.expires ?? '') > bound[0]!.expires, 45_000)
    .catch((e) => { throw explain(e, daemons, router); });

  // dhcp stop WAN: turtle6's client releases upstream; the pool is withdrawn and its binding ended.
  assert.equal(await router.ctlText(['dhcp', 'stop', wan]), `${wan} (client) stopped`);
  assert.equal(await clientPhase(router), 'stopped');
  assert.deepEqual(await leases(router), [], 'the binding in the withdrawn pool is ended');
  assert.deepEqual((await pools(router)).map((p) => [p.size, p.delegated]), [['0', '-']]);
  await pollUntil('dhcp6s to receive the Release', () => /received release/i.test(upstream.log()), 10_000)
    .catch((e) => { throw explain(e, daemons, router); });
  // dhcp6c's next Renew gets its address back with lifetimes 0, and it removes the address.
  await pollUntil('dhcp6c to give up the address of the withdrawn /64', () => !globalAddresses(h, lan).includes(address), 60_000)
    .catch((e) => { throw explain(e, daemons, router); });

  // dhcp start WAN: a new client solicits and the /64 is offered again.
  assert.equal(await router.ctlText(['dhcp', 'start', wan]), `${wan} (client) started`);
  await pollUntil('the delegation back after dhcp start', async () => (await pools(router)).some((p) => p.delegated === '2001:db8:500:1::/64'), 20_000)
    .catch((e) => { throw explain(e, daemons, router); });
  assert.equal(await clientPhase(router), 'bound');
  assert.deepEqual((await status(router)).interfaces.map((i) => i.state), ['running', 'running']);
  await assert.rejects(router.ctl(['dhcp', 'stop', 'nosuchif']), /nosuchif is not a DHCPv6 interface/);
});
