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
 * the bridge stops querying. A bridge querying in MLDv1 (`mcast_mld_version 1`) puts
 * turtle6's own reports in MLDv1 compatibility (RFC 3810 §8.2).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pollUntil, requireCommand, shortName, TestBed } from '../helpers/netns.js';
import { startRouter } from '../helpers/router.js';

interface Iface { name: string; version: number; isQuerier: boolean; querier: string | null; sent: Record<string, number>; received: Record<string, number> }

const wait = (ms: number) => new Promise((res) => setTimeout(res, ms));

/** turtle6 with one port enslaved to a querying Linux bridge at `bridgeAddress`. */
async function bridged(t: TestContext, bridgeAddress: string, mldVersion: 1 | 2, querier: boolean) {
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
  querier: ${querier}
`);
  // Intervals in centiseconds: query every 3 s, startup queries 1 s apart.
  br.ip('link', 'add', 'br0', 'type', 'bridge', 'mcast_snooping', '1', 'mcast_querier', '1', 'mcast_query_use_ifaddr', '1', 'mcast_mld_version', String(mldVersion),
    'mcast_query_interval', '300', 'mcast_startup_query_interval', '100', 'mcast_query_response_interval', '100');
  br.sysctl('net.ipv6.conf.br0.addr_gen_mode', '1');
  br.ip('addr', 'add', `${bridgeAddress}/64`, 'dev', 'br0', 'nodad');
  br.ip('link', 'set', ifQ, 'master', 'br0');
  br.ip('link', 'set', ifQ, 'up');
  br.ip('link', 'set', 'br0', 'up');
  const port = async () => ((await router.ctl(['show', 'mld', 'interfaces'])) as { interfaces: Iface[] }).interfaces.find((i) => i.name === ifQ)!;
  const queries = (p: Iface) => p.received['query_v1']! + p.received['query_v2']!;
  await pollUntil('turtle6 to hear the bridge\'s queries', async () => queries(await port()) >= 2, 20_000, 100);
  return { router, port };
}

test('Linux bridge querier at fe80::1: the bridge wins the election', async (t) => {
  const { router, port } = await bridged(t, 'fe80::1', 2, true);
  await pollUntil('turtle6 to defer to the bridge', async () => !(await port()).isQuerier, 10_000, 100);
  const p = await port();
  assert.equal(p.querier, 'fe80::1');
  // No General Query from turtle6 for well past a Query Interval.
  const sent = p.sent['query_v2']!;
  await wait(12_000);
  const later = await port();
  assert.equal(later.sent['query_v2'], sent, 'turtle6 stayed silent');
  assert.equal(later.isQuerier, false);
  assert.equal(router.process.exitCode, null);
});

test('Linux bridge querier at fe80::ffff:ffff:ffff:fffe: turtle6, once its querier is on, wins and the bridge stops', async (t) => {
  const { router, port } = await bridged(t, 'fe80::ffff:ffff:ffff:fffe', 2, false);
  assert.equal((await port()).sent['query_v2'], 0, 'querier: false');
  const file = join(router.dir, 'turtle6.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('querier: false', 'querier: true'));
  await router.ctl(['reload']);
  await pollUntil('turtle6 to query', async () => (await port()).sent['query_v2']! >= 2, 10_000, 100);
  // Its queries come from a lower address: it stays querier, and the bridge (querying every 3 s) stops.
  await wait(1000);
  const heard = (await port()).received['query_v2']!;
  await wait(10_000);
  const p = await port();
  assert.equal(p.isQuerier, true);
  assert.ok(p.sent['query_v2']! >= 3, 'turtle6 keeps querying');
  assert.equal(p.received['query_v2'], heard, 'the bridge stopped querying');
  assert.equal(router.process.exitCode, null);
});

test('a Linux bridge querying in MLDv1: turtle6 defers, and reports its own groups in MLDv1 while that querier is present', async (t) => {
  const { router, port } = await bridged(t, 'fe80::1', 1, true);
  await pollUntil('turtle6 to switch its reports to MLDv1', async () => (await port()).version === 1, 10_000, 100);
  await pollUntil('turtle6 to answer with MLDv1 Reports', async () => (await port()).sent['report_v1']! > 0, 10_000, 100);
  const p = await port();
  assert.equal(p.isQuerier, false);
  assert.equal(p.querier, 'fe80::1');
  assert.ok(p.received['query_v1']! > 0);
  assert.match(router.output(), /MLDv1 querier on an MLDv2 link/);
});
