/**
 * Issue 12, item 4: the WAN side (RFC 7084). dnsmasq is the upstream router and DHCPv6
 * server; turtle6 takes its WAN address from DHCPv6 (IA_NA) and its default route from
 * dnsmasq's RAs (`ra: { accept: true }`), with no static route in its config.
 *
 *   dnsmasq (ns s) ── tap wan ── turtle6 (ns r) ── tap lan ── host (ns h)
 *
 * dnsmasq does not delegate prefixes, so the LAN has a configured prefix and the upstream
 * namespace a route to it via the leased address (what a PD server would install).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireCommand, shortName, TestBed } from '../helpers/netns.js';
import { startRouter, waitForSlaac, type ShownRoute } from '../helpers/router.js';
import { dhcpClient, RA_FAST, routerYaml, waitFor, waitForLinkLocal } from './dhcp/topology.js';

test('dnsmasq upstream: turtle6 leases a WAN address and learns its default route from the RA; both directions ping', { timeout: 90_000 }, async (t) => {
  requireCommand('dnsmasq', 'dnsmasq-base');
  const bed = new TestBed('wanra');
  t.after(() => bed.cleanup());
  const dir = mkdtempSync(join(tmpdir(), 't6-dnsmasq-'));
  bed.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const log = () => { try { return readFileSync(join(dir, 'dnsmasq.log'), 'utf8'); } catch { return ''; } };
  const r = bed.netns('r');
  const s = bed.netns('s');
  const h = bed.netns('h');
  const wan = shortName('t6w');
  const lan = shortName('t6l');

  const config = routerYaml(
    [
      { name: wan, netns: s, ra: '{ accept: true }' },
      { name: lan, netns: h, addresses: ['2001:db8:77::1/64'], ra: RA_FAST },
    ],
    `dhcpv6:
  client:
    interface: ${wan}
    requestPrefix: false
`,
  );
  assert.doesNotMatch(config, /^routes:/m, 'no static route');
  const router = await startRouter(bed, r, config);
  const upstreamLinkLocal = await waitForLinkLocal(s, wan);
  await waitForLinkLocal(h, lan);
  s.ip('addr', 'add', '2001:db8:ee::1/64', 'dev', wan, 'nodad');
  bed.spawnIn(s, 'dnsmasq', [
    '--keep-in-foreground', '--conf-file=/dev/null', '--port=0', `--interface=${wan}`, '--bind-interfaces',
    `--pid-file=${join(dir, 'dnsmasq.pid')}`, `--dhcp-leasefile=${join(dir, 'leases')}`, `--log-facility=${join(dir, 'dnsmasq.log')}`,
    '--log-dhcp', '--enable-ra', `--ra-param=${wan},4,600`, '--dhcp-range=2001:db8:ee::1000,2001:db8:ee::10ff,64,300',
  ]);

  let leased = '';
  await waitFor('turtle6\'s client to bind an address', async () => {
    const show = await dhcpClient(router);
    leased = show.leases.find((l) => l.kind === 'IA_NA')?.lease ?? '';
    return show.phase === 'bound' && leased !== '';
  }, 20_000, { dnsmasq: log, turtle6: router });
  assert.match(leased, /^2001:db8:ee::10[0-9a-f]{2}$/);

  const routes = async () => (await router.ctl(['show', 'routes'])) as ShownRoute[];
  await waitFor('a default route learned from dnsmasq\'s RA', async () => (await routes()).some((x) => x.prefix === '::/0' && x.best), 20_000, { dnsmasq: log, turtle6: router });
  const all = await routes();
  const defaults = all.filter((x) => x.prefix === '::/0');
  assert.deepEqual(defaults.map((x) => [x.origin, x.best]), [['ra', true]], JSON.stringify(defaults));
  assert.deepEqual(defaults[0]!.nexthops, [{ interface: wan, gateway: upstreamLinkLocal, packets: null }]);
  assert.ok(all.some((x) => x.prefix === '2001:db8:ee::/64' && x.origin === 'ra'), 'the RA\'s on-link prefix');
  assert.equal((await dhcpClient(router)).phase, 'bound');

  // The upstream pings the leased address: turtle6's reply needs its route back.
  const ping = s.run('ping', ['-6', '-n', '-c', '2', '-i', '0.2', '-W', '2', leased]);
  assert.equal(ping.code, 0, ping.stdout + ping.stderr);

  // A host behind turtle6 reaches the upstream, through the learned default route.
  s.ip('-6', 'route', 'add', '2001:db8:77::/64', 'via', leased, 'dev', wan);
  await waitForSlaac(h, lan, '2001:db8:77:');
  const out = h.run('ping', ['-6', '-n', '-c', '2', '-i', '0.2', '-W', '2', '2001:db8:ee::1']);
  assert.equal(out.code, 0, out.stdout + out.stderr);
});
