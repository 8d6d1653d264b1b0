/**
 * Hostile RIPng input against the real binary: scapy (test/interop/scapy-ripng/bad-input.py)
 * sends crafted responses from the host on a TAP port. Each is rejected for its own reason
 * (RFC 2080 §2.4.2), counted exactly once in `show ripng status --json` and in the metrics,
 * nothing crashes, and the valid routes beside the bad entries are still learned.
 *
 *   turtle6 ── t6s (2001:db8:12::1/64) ══ scapy host (2001:db8:12::2/64, fe80::…)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { pollUntil, requireCommand, TestBed, type Netns } from '../helpers/netns.js';
import { routerWithOneHost } from '../helpers/router.js';

const BAD_INPUT = resolve('test/interop/scapy-ripng/bad-input.py');
const METRICS_URL = 'http://[::1]:9469/metrics';

interface RipngStatus {
  badPackets: Record<string, number>;
  badRoutes: Record<string, number>;
}
interface RipngTable {
  routes: Array<{ prefix: string; metric: number; tag: number; source: string; nexthops: Array<{ interface: string; gateway: string | null }> }>;
  neighbors: Array<{ address: string; responses: number; badPackets: number; badRoutes: number }>;
}

/** GET the router's metrics from inside its namespace, with this Node binary. */
function metrics(ns: Netns): string {
  const script = `fetch(${JSON.stringify(METRICS_URL)}).then((r) => r.text()).then((t) => process.stdout.write(t))`;
  return ns.runOk(process.execPath, ['-e', script]);
}

test('crafted bad RIPng responses are each rejected and counted by reason; valid routes are still learned', async (t) => {
  requireCommand('/usr/bin/python3', 'python3-scapy');
  const bed = new TestBed('ripbad');
  t.after(() => bed.cleanup());
  const { router, r, s, ifname: ifS, hostLinkLocal: ll } = await routerWithOneHost(bed, 'ripng: {}\n');

  const sent = s.run('/usr/bin/python3', [BAD_INPUT, '--iface', ifS, '--link-local', ll, '--global-address', '2001:db8:12::2']);
  assert.equal(sent.code, 0, `bad-input.py failed:\n${sent.stderr}`);
  assert.equal((JSON.parse(sent.stdout) as { sent: string[] }).sent.length, 11);

  const table = async () => (await router.ctl(['show', 'ripng'])) as RipngTable;
  const learned = ['2001:db8:b0::/64', '2001:db8:b5::/64', '2001:db8:b6::/64', '2001:db8:b7::/64', '2001:db8:b8::/64', '2001:db8:b9::/64', '2001:db8:ba::/64'];
  await pollUntil('turtle6 to learn the valid routes of the crafted messages', async () => {
    const have = new Set((await table()).routes.map((x) => x.prefix));
    return learned.every((p) => have.has(p));
  }, 10_000, 100);
  assert.equal(router.process.exitCode, null, 'turtle6 is still running');

  // Whole messages dropped, one per reason; the entries beside bad ones skipped, one per case.
  const status = (await router.ctl(['show', 'ripng', 'status'])) as RipngStatus;
  assert.deepEqual(status.badPackets, {
    bad_source_port: 1, not_link_local: 1, bad_hop_limit: 1, not_on_link: 0, bad_version: 0, bad_length: 1, bad_command: 0,
    demand_mismatch: 0, bad_update_header: 0,
  });
  assert.deepEqual(status.badRoutes, { bad_metric: 2, bad_prefix_length: 1, bad_prefix: 2, bad_next_hop: 1 });

  const { routes, neighbors } = await table();
  const prefixes = routes.filter((x) => x.source === 'rip').map((x) => x.prefix).sort();
  assert.deepEqual(prefixes, [...learned].sort(), 'no canary of a dropped message or a bad entry was learned');
  assert.ok(routes.some((x) => x.prefix === '2001:db8:12::/64' && x.source === 'connected'), 'the link itself is ours');
  // §2.1.1: the global next hop was ignored, so the route goes via the sender itself.
  const viaSender = routes.find((x) => x.prefix === '2001:db8:b9::/64')!;
  assert.deepEqual(viaSender.nexthops, [{ interface: ifS, gateway: ll }]);
  assert.equal(viaSender.metric, 3, 'metric 2 plus the interface cost');
  const valid = routes.find((x) => x.prefix === '2001:db8:b0::/64')!;
  assert.equal(valid.tag, 0x1234);
  // The link-local sender is the neighbour: its per-packet and per-RTE rejections are its own.
  const sender = neighbors.find((n) => n.address === ll)!;
  assert.deepEqual({ responses: sender.responses, badPackets: sender.badPackets, badRoutes: sender.badRoutes }, { responses: 7, badPackets: 3, badRoutes: 6 });

  // Learned routes reach the RIB with origin ripng; the canaries do not.
  const rib = (await router.ctl(['show', 'routes'])) as Array<{ prefix: string; origin: string }>;
  assert.ok(learned.every((p) => rib.some((x) => x.prefix === p && x.origin === 'ripng')), JSON.stringify(rib));
  assert.ok(!rib.some((x) => /^2001:db8:a\d::/.test(x.prefix)), JSON.stringify(rib));

  // The same counts, by reason, on the metrics endpoint.
  const text = metrics(r);
  for (const [reason, n] of [['bad_source_port', 1], ['not_link_local', 1], ['bad_hop_limit', 1], ['bad_length', 1], ['not_on_link', 0]] as const) {
    assert.match(text, new RegExp(`^turtle6_ripng_bad_packets_total\\{reason="${reason}"\\} ${n}$`, 'm'));
  }
  for (const [reason, n] of [['bad_metric', 2], ['bad_prefix_length', 1], ['bad_prefix', 2], ['bad_next_hop', 1]] as const) {
    assert.match(text, new RegExp(`^turtle6_ripng_bad_routes_total\\{reason="${reason}"\\} ${n}$`, 'm'));
  }
  assert.match(router.output(), /RIPng message dropped/, 'a (rate-limited) warning names the drops');
});
