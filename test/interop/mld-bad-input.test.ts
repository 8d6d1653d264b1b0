/**
 * Hostile MLD against the real binary: scapy (test/interop/mld/bad-input.py) sends, from the
 * host on a TAP port, Reports from a global source, with hop limit 2, without a Router Alert,
 * with a truncated record, a record claiming thousands of sources, a bad checksum, and a
 * flood of source records past maxSources. Each is dropped and counted for its own reason,
 * no canary group is listed, the valid Report is, and turtle6 keeps running.
 *
 *   turtle6 ── t6s (2001:db8:12::1/64) ══ scapy host (2001:db8:12::2/64, fe80::…)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { pollUntil, requireCommand, TestBed } from '../helpers/netns.js';
import { routerWithOneHost, scrapeMetrics } from '../helpers/router.js';

const BAD_INPUT = resolve('test/interop/mld/bad-input.py');

test('crafted bad MLD is rejected and counted by reason; a source flood is capped at maxSources; nothing crashes', async (t) => {
  requireCommand('/usr/bin/python3', 'python3-scapy');
  const bed = new TestBed('mldbad');
  t.after(() => bed.cleanup());
  const { router, r, s, ifname: ifS, hostLinkLocal: ll } = await routerWithOneHost(bed, 'mld:\n  maxSources: 100\n');
  const status = async () => (await router.ctl(['show', 'mld', 'interfaces'])) as { drops: Record<string, number> };
  const groups = async () => ((await router.ctl(['show', 'mld', 'groups'])) as { groups: Array<{ group: string; sources: string[] }> }).groups;

  const sent = s.run('/usr/bin/python3', [BAD_INPUT, '--iface', ifS, '--link-local', ll, '--global-address', '2001:db8:12::2', '--flood', '30']);
  assert.equal(sent.code, 0, `bad-input.py failed:\n${sent.stderr}`);
  assert.equal((JSON.parse(sent.stdout) as { sent: string[] }).sent.length, 8);

  await pollUntil('turtle6 to list the valid report and the flood group', async () => {
    const g = await groups();
    return g.some((x) => x.group === 'ff15::c0') && g.some((x) => x.group === 'ff3e::f1');
  }, 10_000, 100);
  await pollUntil('every flood report to be counted', async () => (await status()).drops['too_many_sources'] === 29, 10_000, 100);
  const { drops } = await status();
  assert.deepEqual(drops, {
    not_enabled: 0, bad_hop_limit: 1, no_router_alert: 1, bad_source: 2, malformed: 2, bad_group: 0, wrong_version: 0,
    // 80 sources fit under maxSources 100, 80 more do not: every report after the first.
    too_many_sources: 29,
  });
  const g = await groups();
  assert.deepEqual(g.filter((x) => /^ff15::c[1-9]$/.test(x.group)), [], 'no canary listed');
  assert.equal(g.find((x) => x.group === 'ff3e::f1')!.sources.length, 80);
  assert.equal(router.process.exitCode, null, 'turtle6 is still running');

  const metrics = scrapeMetrics(r);
  for (const [reason, n] of [['bad_hop_limit', 1], ['no_router_alert', 1], ['bad_source', 2], ['malformed', 2], ['too_many_sources', 29]] as const) {
    assert.match(metrics, new RegExp(`^turtle6_mld_drops_total\\{reason="${reason}"\\} ${n}$`, 'm'));
  }
  // The bad checksum is the stack's drop.
  assert.match(metrics, /^turtle6_control_plane_drops_total\{reason="bad_checksum"\} [1-9]/m);
});
