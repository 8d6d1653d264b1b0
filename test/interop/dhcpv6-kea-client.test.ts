/**
 * Issue 5, test 4: ISC Kea (kea-dhcp6) as the server, turtle6's DHCPv6 client asking for
 * IA_NA + IA_PD in one exchange on its WAN port.
 *
 *   kea-dhcp6 (ns s) ── tap wan ── turtle6 (ns r) ── tap lan (ns h)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireCommand, TestBed } from '../helpers/netns.js';
import { dhcpClient, routerAsClient, waitFor, waitForClientBinding } from './dhcp/topology.js';

function keaConfig(ifname: string, dir: string): string {
  return JSON.stringify({
    Dhcp6: {
      'interfaces-config': { interfaces: [ifname] },
      'lease-database': { type: 'memfile', persist: false },
      'data-directory': dir,
      'preferred-lifetime': 60,
      'valid-lifetime': 120,
      'renew-timer': 20,
      'rebind-timer': 40,
      subnet6: [
        {
          id: 1,
          subnet: '2001:db8:ee::/64',
          interface: ifname,
          pools: [{ pool: '2001:db8:ee::1000-2001:db8:ee::10ff' }],
          'pd-pools': [{ prefix: '2001:db8:600::', 'prefix-len': 48, 'delegated-len': 56 }],
          'option-data': [{ name: 'dns-servers', data: '2001:db8:ee::53' }],
        },
      ],
      loggers: [{ name: 'kea-dhcp6', output_options: [{ output: join(dir, 'kea.log') }], severity: 'DEBUG', debuglevel: 40 }],
    },
  });
}

test('Kea delegates to turtle6\'s client: IA_NA + IA_PD in one exchange, the /64 on the LAN port, a Renew extends them', { timeout: 90_000 }, async (t) => {
  requireCommand('kea-dhcp6', 'kea-dhcp6-server');
  const bed = new TestBed('d6kea');
  t.after(() => bed.cleanup());
  const dir = mkdtempSync(join(tmpdir(), 't6-kea-'));
  bed.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const log = () => { try { return readFileSync(join(dir, 'kea.log'), 'utf8'); } catch { return ''; } };

  const { s, wan, lan, router } = await routerAsClient(bed, { upstream: '2001:db8:ee::1/64', lan: true, dhcpv6: ({ wan, lan }) => `
dhcpv6:
  client:
    interface: ${wan}
    prefixInterfaces:
      - { name: ${lan}, slaId: 3, hostId: 1 }
` });
  writeFileSync(join(dir, 'kea.json'), keaConfig(wan, dir));
  bed.spawnIn(s, 'kea-dhcp6', ['-c', join(dir, 'kea.json')], { env: { ...process.env, KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir } });
  await waitFor('Kea to start', () => log().includes('DHCP6_STARTED'), 15_000, { kea: log });

  const show = await waitForClientBinding(router, { kea: log, turtle6: router });
  const na = show.leases.find((l) => l.kind === 'IA_NA')!;
  const pd = show.leases.find((l) => l.kind === 'IA_PD')!;
  assert.match(na.lease, /^2001:db8:ee::10[0-9a-f]{2}$/);
  assert.match(pd.lease, /^2001:db8:600:[0-9a-f]*00::\/56$|^2001:db8:600::\/56$/);
  assert.deepEqual(show.dnsServers, ['2001:db8:ee::53']);
  const base = pd.lease.replace(/::\/56$/, '');
  const subnet = `${base.split(':').slice(0, 3).join(':')}:${(parseInt(base.split(':')[3] ?? '0', 16) | 3).toString(16)}::1/64`;
  assert.deepEqual(show.prefixInterfaces, [{ interface: lan, address: subnet }]);
  // Kea allocated both leases (one Request carries both IAs: client.test.ts checks the message).
  assert.match(log(), /DHCP6_LEASE_ALLOC .*lease for address/);
  assert.match(log(), /DHCP6_PD_LEASE_ALLOC .*lease for prefix/);

  // T1 = 20 s: the client renews with Kea, which extends both leases.
  await waitFor('a Renew answered by Kea', () => /DHCP6_LEASE_RENEW|DHCP6_PD_LEASE_RENEW/.test(log()), 40_000, { kea: log });
  const after = await dhcpClient(router);
  assert.equal(after.phase, 'bound');
  assert.deepEqual(after.leases.map((l) => l.lease).sort(), [na.lease, pd.lease].sort(), 'the same address and prefix after the Renew');
});
