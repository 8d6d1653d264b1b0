/**
 * The router part (RFC 3810 §7, RFC 2710 §7) on a ManualClock: startup and General Queries,
 * the election and the Other Querier Present timer, the group state tables of §7.4 with
 * their filter and source timers (§7.5), the specific queries of §7.6, MLDv1 hosts (§8.3.2)
 * and MLDv1 routers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIpv6 } from '../../../src/lib/addr.js';
import { MLD_RECORD_TYPE as R, mldv2MaxResponseDelayMs, type MldMessage } from '../../../src/wire/mld.js';
import { config, ip, startMld, v1Query, v2Query, v2Report, type SentMld } from './harness.js';

const queries = (s: readonly SentMld[]) => s.filter((m) => m.msg.type === 'mldv2Query' || m.msg.type === 'mldv1Query');
type Q = Extract<MldMessage, { type: 'mldv2Query' }>;
const LOWER = ip('fe80::1');
const HIGHER = ip('fe80::ffff:ffff:ffff:ffff');
const HOST = { src: ip('fe80::aaaa'), dst: ip('ff02::16') };

test('startup: Startup Query Count General Queries Startup Query Interval apart, then every Query Interval', () => {
  const { api } = startMld(config(1));
  const t0 = api.clock.now();
  api.clock.advance(400_000);
  const q = queries(api.sent);
  assert.deepEqual(q.map((s) => (s.at - t0) / 1000), [0, 31.25, 156.25, 281.25]);
  const first = q[0]!;
  assert.equal(first.dst, 'ff02::1');
  assert.equal(first.src, 'fe80::ff:fe00:10');
  assert.equal(first.hopLimit, 1);
  assert.equal(first.routerAlert, 0);
  const m = first.msg as Q;
  assert.equal(formatIpv6(m.group), '::');
  assert.equal(mldv2MaxResponseDelayMs(m.maxResponseCode), 10_000);
  assert.equal(m.robustness, 2);
  assert.equal(m.queryIntervalCode, 125);
});

test('election: a query from a lower address silences this router for the Other Querier Present Timeout; a higher one does not', () => {
  const { api, mld } = startMld(config(1));
  api.clock.advance(1000);
  api.deliver(v2Query('::'), { src: HIGHER, dst: ip('ff02::1') });
  assert.equal(mld.interfacesData().interfaces[0]!.isQuerier, true);
  let t = api.clock.now();
  api.deliver(v2Query('::'), { src: LOWER, dst: ip('ff02::1') });
  assert.equal(mld.interfacesData().interfaces[0]!.isQuerier, false);
  assert.equal(mld.interfacesData().interfaces[0]!.querier, 'fe80::1');
  // 2 × 125 + 10/2 = 255 s of silence.
  api.clock.advance(254_999);
  assert.equal(queries(api.sentSince(t)).length, 0);
  api.clock.advance(1);
  assert.equal(queries(api.sentSince(t)).length, 1, 'querier again, General Query at once');
  assert.equal(mld.interfacesData().interfaces[0]!.isQuerier, true);
  // Heard again before the timeout: the timer restarts.
  api.deliver(v2Query('::'), { src: LOWER, dst: ip('ff02::1') });
  api.clock.advance(1);
  t = api.clock.now();
  api.clock.advance(200_000);
  api.deliver(v2Query('::'), { src: LOWER, dst: ip('ff02::1') });
  api.clock.advance(200_000);
  assert.equal(queries(api.sentSince(t)).length, 0);
});

test('a non-querier takes the querier\'s Robustness and Query Interval (§7.9) for the Other Querier Present Timeout', () => {
  const { api } = startMld(config(1));
  const t = api.clock.now();
  api.deliver(v2Query('::', 10000, [], { robustness: 3, queryIntervalCode: 60 }), { src: LOWER, dst: ip('ff02::1') });
  api.clock.advance(184_999);
  assert.equal(queries(api.sentSince(t + 1)).length, 0);
  api.clock.advance(1);
  assert.equal(queries(api.sentSince(t + 1)).length, 1, '3 × 60 + 5 s');
});

test('querier: false never queries but keeps the link\'s memberships', () => {
  const { api, mld } = startMld(config(1, { querier: false }));
  api.clock.advance(1_000_000);
  assert.equal(queries(api.sent).length, 0);
  api.deliver(v2Report([R.CHANGE_TO_EXCLUDE_MODE, 'ff05::1:3']), HOST);
  assert.deepEqual(mld.memberships(0).map((g) => formatIpv6(g.group)), ['ff05::1:3']);
});

test('IS_EX {} makes an EXCLUDE {} group that lives the Multicast Address Listening Interval unless refreshed', () => {
  const { api, mld } = startMld(config(1));
  api.deliver(v2Report([R.MODE_IS_EXCLUDE, 'ff05::1:3']), HOST);
  const g = mld.memberships(0);
  assert.equal(g.length, 1);
  assert.equal(g[0]!.mode, 'exclude');
  assert.equal(g[0]!.expires, 260, 'MALI = 2 × 125 + 10 s');
  api.clock.advance(200_000);
  api.deliver(v2Report([R.MODE_IS_EXCLUDE, 'ff05::1:3']), HOST);
  api.clock.advance(200_000);
  assert.equal(mld.memberships(0).length, 1, 'refreshed');
  api.clock.advance(60_000);
  assert.equal(mld.memberships(0).length, 0, 'expired 260 s after the last report');
});

test('TO_IN {} (leave): Last Listener Query Count group queries LLQI apart, S set once a report refreshed the timer; gone after LLQT unless reported', () => {
  const { api, mld } = startMld(config(1));
  api.clock.advance(50_000);
  api.deliver(v2Report([R.CHANGE_TO_EXCLUDE_MODE, 'ff05::1:3'], [R.CHANGE_TO_EXCLUDE_MODE, 'ff05::1:4']), HOST);
  let t = api.clock.now();
  api.deliver(v2Report([R.CHANGE_TO_INCLUDE_MODE, 'ff05::1:3']), HOST);
  api.clock.advance(999);
  let q = queries(api.sentSince(t));
  assert.equal(q.length, 1);
  assert.equal(q[0]!.dst, 'ff05::1:3');
  assert.equal(formatIpv6((q[0]!.msg as Q).group), 'ff05::1:3');
  assert.equal(mldv2MaxResponseDelayMs((q[0]!.msg as Q).maxResponseCode), 1000);
  assert.equal((q[0]!.msg as Q).suppressRouterProcessing, false);
  api.clock.advance(1001);
  assert.equal(queries(api.sentSince(t)).length, 2);
  assert.deepEqual(mld.memberships(0).map((g) => formatIpv6(g.group)), ['ff05::1:4'], 'ff05::1:3 gone after LLQT = 2 s');
  // Another listener answers the first query: the retransmission carries S, the group stays.
  t = api.clock.now();
  api.deliver(v2Report([R.CHANGE_TO_INCLUDE_MODE, 'ff05::1:4']), HOST);
  api.deliver(v2Report([R.MODE_IS_EXCLUDE, 'ff05::1:4']), { ...HOST, src: ip('fe80::bbbb') });
  api.clock.advance(5000);
  q = queries(api.sentSince(t));
  assert.deepEqual(q.map((s) => (s.msg as Q).suppressRouterProcessing), [false, true]);
  assert.deepEqual(mld.memberships(0).map((g) => formatIpv6(g.group)), ['ff05::1:4']);
});

test('INCLUDE mode: ALLOW adds sources with MALI, BLOCK queries the blocked ones, which go after LLQT', () => {
  const { api, mld } = startMld(config(1));
  api.clock.advance(50_000);
  api.deliver(v2Report([R.ALLOW_NEW_SOURCES, 'ff3e::8000:1', ['2001:db8:9::1', '2001:db8:9::2']]), HOST);
  let g = mld.memberships(0)[0]!;
  assert.equal(g.mode, 'include');
  assert.deepEqual(g.sources.map((s) => formatIpv6(s)), ['2001:db8:9::1', '2001:db8:9::2']);
  const t = api.clock.now();
  api.deliver(v2Report([R.BLOCK_OLD_SOURCES, 'ff3e::8000:1', ['2001:db8:9::1', '2001:db8:9::7']]), HOST);
  api.clock.advance(2000);
  const q = queries(api.sentSince(t));
  assert.equal(q.length, 2);
  for (const s of q) assert.deepEqual((s.msg as Q).sources.map((x) => formatIpv6(x)), ['2001:db8:9::1'], 'only the blocked source that was forwarded');
  g = mld.memberships(0)[0]!;
  assert.deepEqual(g.sources.map((s) => formatIpv6(s)), ['2001:db8:9::2']);
  api.clock.advance(260_000);
  assert.equal(mld.memberships(0).length, 0, 'the last source timer ran out: group deleted');
});

test('EXCLUDE mode: TO_EX lists excluded sources; IS_IN re-requests one; the filter timer returns the group to INCLUDE with the requested sources', () => {
  const { api, mld } = startMld(config(1));
  api.clock.advance(50_000);
  api.deliver(v2Report([R.CHANGE_TO_EXCLUDE_MODE, 'ff3e::8000:2', ['2001:db8:9::1', '2001:db8:9::2']]), HOST);
  let g = mld.memberships(0)[0]!;
  assert.equal(g.mode, 'exclude');
  assert.deepEqual(g.excluded.map((s) => formatIpv6(s)), ['2001:db8:9::1', '2001:db8:9::2']);
  api.clock.advance(100_000);
  api.deliver(v2Report([R.MODE_IS_INCLUDE, 'ff3e::8000:2', ['2001:db8:9::1']]), { ...HOST, src: ip('fe80::bbbb') });
  g = mld.memberships(0)[0]!;
  assert.deepEqual(g.sources.map((s) => formatIpv6(s)), ['2001:db8:9::1']);
  assert.deepEqual(g.excluded.map((s) => formatIpv6(s)), ['2001:db8:9::2']);
  api.clock.advance(160_000);
  g = mld.memberships(0)[0]!;
  assert.equal(g.mode, 'include', 'filter timer (MALI from the TO_EX) ran out');
  assert.deepEqual(g.sources.map((s) => formatIpv6(s)), ['2001:db8:9::1']);
  api.clock.advance(100_000);
  assert.equal(mld.memberships(0).length, 0);
});

test('EXCLUDE mode: TO_IN queries the group and the sources no longer asked for', () => {
  const { api } = startMld(config(1));
  api.clock.advance(50_000);
  api.deliver(v2Report([R.MODE_IS_EXCLUDE, 'ff3e::8000:3']), HOST);
  api.deliver(v2Report([R.ALLOW_NEW_SOURCES, 'ff3e::8000:3', ['2001:db8:9::5']]), HOST);
  const t = api.clock.now();
  api.deliver(v2Report([R.CHANGE_TO_INCLUDE_MODE, 'ff3e::8000:3', ['2001:db8:9::6']]), HOST);
  const q = queries(api.sentSince(t)).map((s) => (s.msg as Q).sources.map((x) => formatIpv6(x)).join(','));
  assert.deepEqual(q.sort(), ['', '2001:db8:9::5']);
});

test('an MLDv1 host: Report then Done; while it is present BLOCK is ignored and TO_EX loses its sources (§8.3.2)', () => {
  const { api, mld } = startMld(config(1));
  api.clock.advance(50_000);
  api.deliver({ type: 'mldv1Report', group: ip('ff05::1:3') }, { ...HOST, dst: ip('ff05::1:3') });
  let g = mld.memberships(0)[0]!;
  assert.equal(g.v1Host, true);
  api.deliver(v2Report([R.CHANGE_TO_EXCLUDE_MODE, 'ff05::1:3', ['2001:db8:9::1']]), { ...HOST, src: ip('fe80::bbbb') });
  g = mld.memberships(0)[0]!;
  assert.deepEqual(g.excluded, [], 'TO_EX {}');
  api.deliver(v2Report([R.BLOCK_OLD_SOURCES, 'ff05::1:3', ['2001:db8:9::1']]), { ...HOST, src: ip('fe80::bbbb') });
  assert.deepEqual(mld.memberships(0)[0]!.excluded, []);
  const t = api.clock.now();
  api.deliver({ type: 'mldv1Done', group: ip('ff05::1:3') }, { ...HOST, dst: ip('ff02::2') });
  api.clock.advance(2000);
  assert.equal(queries(api.sentSince(t)).length, 2);
  assert.equal(mld.memberships(0).length, 0);
  api.clock.advance(300_000);
  api.deliver(v2Report([R.CHANGE_TO_EXCLUDE_MODE, 'ff05::1:3', ['2001:db8:9::1']]), HOST);
  assert.deepEqual(mld.memberships(0)[0]!.excluded.map((s) => formatIpv6(s)), ['2001:db8:9::1'], 'no MLDv1 host any more');
});

test('version 1: MLDv1 queries (24 octets), a Done answered by group queries with the Last Listener Query Interval as delay', () => {
  const { api, mld } = startMld(config(1, { version: 1 }));
  const first = queries(api.sent)[0]!;
  assert.equal(first.msg.type, 'mldv1Query');
  assert.equal((first.msg as Extract<MldMessage, { type: 'mldv1Query' }>).maxResponseDelay, 10_000);
  api.clock.advance(50_000);
  api.deliver({ type: 'mldv1Report', group: ip('ff05::1:3') }, { ...HOST, dst: ip('ff05::1:3') });
  const t = api.clock.now();
  api.deliver({ type: 'mldv1Done', group: ip('ff05::1:3') }, { ...HOST, dst: ip('ff02::2') });
  api.clock.advance(2000);
  const q = queries(api.sentSince(t));
  assert.deepEqual(q.map((s) => `${s.msg.type} ${s.dst} ${(s.msg as { maxResponseDelay: number }).maxResponseDelay}`), ['mldv1Query ff05::1:3 1000', 'mldv1Query ff05::1:3 1000']);
  assert.equal(mld.memberships(0).length, 0);
});

test('a non-querier lowers a group\'s timer on the querier\'s group query without S, not with S', () => {
  const { api, mld } = startMld(config(1));
  api.deliver(v1Query('::'), { src: LOWER, dst: ip('ff02::1') });
  api.deliver(v2Report([R.MODE_IS_EXCLUDE, 'ff05::1:3'], [R.MODE_IS_EXCLUDE, 'ff05::1:4']), HOST);
  api.deliver(v2Query('ff05::1:3', 1000, [], { suppressRouterProcessing: true }), { src: LOWER, dst: ip('ff05::1:3') });
  api.deliver(v2Query('ff05::1:4', 1000), { src: LOWER, dst: ip('ff05::1:4') });
  api.clock.advance(2000);
  assert.deepEqual(mld.memberships(0).map((g) => formatIpv6(g.group)), ['ff05::1:3']);
});

test('a record beyond maxSources is dropped and counted; the group keeps its state', () => {
  const { api, mld } = startMld(config(1, { maxSources: 3 }));
  api.deliver(v2Report([R.ALLOW_NEW_SOURCES, 'ff3e::1', ['2001:db8::1', '2001:db8::2']]), HOST);
  api.deliver(v2Report([R.ALLOW_NEW_SOURCES, 'ff3e::1', ['2001:db8::3', '2001:db8::4']]), HOST);
  assert.equal(mld.drops.too_many_sources, 1);
  assert.equal(mld.memberships(0)[0]!.sources.length, 2);
  api.deliver(v2Report([R.MODE_IS_INCLUDE, 'ff3e::2', ['2001:db8::1', '2001:db8::2', '2001:db8::3', '2001:db8::4']]), HOST);
  assert.equal(mld.drops.too_many_sources, 2);
  assert.equal(mld.memberships(0).length, 1, 'no empty group left behind');
});
