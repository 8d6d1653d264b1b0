/**
 * The querier election against the Linux bridge's MLD querier (`mcast_querier 1`, with
 * `mcast_query_use_ifaddr 1` so that it queries from the bridge's own link-local address),
 * both ways round (RFC 3810 §7.6.2: the numerically lowest address wins):
 *
 *   turtle6 ── t6q ══ [br0 in namespace br] (fe80::1, or fe80::ffff:ffff:ffff:fffe)
 *
 * A lower bridge address silences turtle6 (it shows the bridge as querier and sends no more
 * General Queries). With a higher one, turtle6 first runs with `querier: false` while the
 * bridge queries; a reload turns the querier on, turtle6 queries from its lower address, and
 * the bridge stops querying.
 */
import { test } from 'node:test';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { pollUntil, requireCommand, shortName, TestBed } from '../helpers/netns.js';
import { startRouter } from '../helpers/router.js';

interface Iface { name: string; isQuerier: boolean; querier: string | null; sent: Record<string, number>; received: Record<string, number> }

for (const [bridgeAddress, bridgeWins] of [['fe80::1', true], ['fe80::ffff:ffff:ffff:fffe', false]] as const) {
  test(`Linux bridge querier at ${bridgeAddress}: ${bridgeWins ? 'the bridge' : 'turtle6'} wins the election`, async (t) => {
    requireCommand('ip', 'iproute2');
    const bed = new TestBed('mldbr');
    t.after(() => bed.cleanup());
    const r = bed.netns('r');
    const br = bed.netns('br');
    const ifQ = shortName('t6q');
    const router = await startRouter(bed, r, `
interfaces:
  - name: ${ifQ}
    addresses: [2001:db8:30::1/64]
    netns: ${br.name}
    ra: { enabled: false }
dataplane: { lanes: 1, hostInterface: false }
metrics: { listen: "" }
mld:
  queryInterval: 10
  queryResponseInterval: 1
  startupQueryInterval: 1
  querier: ${bridgeWins ? 'true' : 'false'}
`);
    // Intervals in centiseconds: query every 3 s, startup queries 1 s apart.
    br.ip('link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '1', 'mcast_querier', '1', 'mcast_query_use_ifaddr', '1', 'mcast_mld_version', '2',
      'mcast_query_interval', '300', 'mcast_startup_query_interval', '100', 'mcast_query_response_interval', '100');
    br.sysctl('net.ipv6.conf.br0.addr_gen_mode', '1');
    br.ip('addr', 'add', `${bridgeAddress}/64`, 'dev', 'br0', 'nodad');
    br.ip('link', 'set', ifQ, 'master', 'br0');
    br.ip('link', 'set', ifQ, 'up');
    br.ip('link', 'set', 'br0', 'up');
    const port = async () => ((await router.ctl(['show', 'mld', 'interfaces'])) as { interfaces: Iface[] }).interfaces.find((i) => i.name === ifQ)!;
    await pollUntil('turtle6 to hear the bridge\'s queries', async () => (await port()).received['query_v2']! >= 2, 20_000, 100);
    if (bridgeWins) {
      await pollUntil('turtle6 to defer to the bridge', async () => !(await port()).isQuerier, 10_000, 100);
      const p = await port();
      assert.equal(p.querier, bridgeAddress);
      // No General Query from turtle6 for well past a Query Interval.
      const sent = p.sent['query_v2']!;
      await new Promise((res) => setTimeout(res, 12_000));
      const later = await port();
      assert.equal(later.sent['query_v2'], sent, 'turtle6 stayed silent');
      assert.equal(later.isQuerier, false);
    } else {
      assert.equal((await port()).sent['query_v2'], 0, 'querier: false');
      const file = join(router.dir, 'turtle6.yaml');
      writeFileSync(file, readFileSync(file, 'utf8').replace('querier: false', 'querier: true'));
      await router.ctl(['reload']);
      await pollUntil('turtle6 to query', async () => (await port()).sent['query_v2']! >= 2, 10_000, 100);
      // Its queries come from a lower address: it stays querier, and the bridge (querying every 3 s) stops.
      await new Promise((res) => setTimeout(res, 1000));
      const heard = (await port()).received['query_v2']!;
      await new Promise((res) => setTimeout(res, 10_000));
      const p = await port();
      assert.equal(p.isQuerier, true);
      assert.ok(p.sent['query_v2']! >= 3, 'turtle6 keeps querying');
      assert.equal(p.received['query_v2'], heard, 'the bridge stopped querying');
    }
    assert.equal(router.process.exitCode, null);
  });
}
