/**
 * RFC 2091 demand circuits on the manual clock: the start-up Update Request and flushing
 * whole table, retransmission of unacknowledged Update Responses (§3), acknowledgements of
 * received ones, routes that never time out (§4), the flush flag, triggered changes as
 * acknowledged updates, and the neighbour declared unreachable after the retransmission
 * limit (its routes flushed, the circuit polled until it answers).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIpv6 } from '../../../src/lib/addr.js';
import { config, ip, message, rte, shown, startRipng, type Sent } from './harness.js';

const DEMAND = { demand: { retransmit: 5, retries: 3 } };
const ribRoute = (s: ReturnType<typeof startRipng>, prefix: string) => {
  const [a, l] = prefix.split('/');
  return s.api.rib.all().find((r) => r.origin === 'ripng' && formatIpv6(r.prefix) === a && r.prefixLen === Number(l));
};
const update = (m: Sent) => `${m.msg.command} flush ${m.msg.update?.flush} seq ${m.msg.update?.seq}`;
/** An Update Response from fe80::99 on port 0. */
const updateResponse = (s: ReturnType<typeof startRipng>, flush: number, seq: number, rtes: ReturnType<typeof rte>[]) =>
  s.api.deliver({ payload: message(10, rtes, 1, { flush, seq }) });
const ack = (s: ReturnType<typeof startRipng>, seq: number, flush = 0) => s.api.deliver({ payload: message(11, [], 1, { flush, seq }) });
/** Messages sent after the first `n` (the clock may not have moved since). */
const after = (s: ReturnType<typeof startRipng>, n: number) => s.api.sent.slice(n);

test('start: an Update Request and the whole table with the flush flag, both to ff02::9 at hop limit 255; no periodic updates', () => {
  const s = startRipng(config(1, {}, DEMAND));
  assert.deepEqual(s.api.sent.map(update), ['9 flush 0 seq 0', '10 flush 1 seq 0']);
  assert.deepEqual(shown(s.api.sent.slice(0, 1)), ['::/0 16']);
  assert.deepEqual(shown(s.api.sent.slice(1)), ['2001:db8::/64 1']);
  for (const m of s.api.sent) assert.deepEqual([m.dst, m.hopLimit, m.srcPort, m.dstPort], ['ff02::9', 255, 521, 521]);
  ack(s, 0, 1);
  updateResponse(s, 1, 0, []);
  const t0 = s.api.sent.length;
  s.api.clock.advance(600_000);
  assert.deepEqual(after(s, t0).map(update), [], 'an acknowledged, answered circuit stays silent: no periodic updates');
});

test('an unacknowledged Update Response is retransmitted every `retransmit` seconds with its sequence number until acknowledged', () => {
  const s = startRipng(config(1, {}, DEMAND));
  updateResponse(s, 1, 0, []);
  const t0 = s.api.sent.length;
  s.api.clock.advance(4_999);
  assert.equal(after(s, t0).filter((m) => m.msg.command === 10).length, 0, 'not before the retransmission interval');
  s.api.clock.advance(1);
  s.api.clock.advance(5_000);
  assert.deepEqual(after(s, t0).filter((m) => m.msg.command === 10).map(update), ['10 flush 1 seq 0', '10 flush 1 seq 0']);
  ack(s, 7);
  const n7 = s.api.sent.length;
  s.api.clock.advance(5_000);
  assert.equal(after(s, n7).filter((m) => m.msg.command === 10).length, 1, 'an acknowledgement of another sequence number changes nothing');
  ack(s, 0, 1);
  const t1 = s.api.sent.length;
  s.api.clock.advance(60_000);
  assert.equal(after(s, t1).length, 0, 'acknowledged: nothing more');
  const status = s.ripng.statusData().interfaces[0]!.demand!;
  assert.deepEqual({ state: status.state, seq: status.seq, queued: status.queued, retransmissions: status.retransmissions }, { state: 'up', seq: 1, queued: 0, retransmissions: 3 });
});

test('a received Update Response is acknowledged with its flush flag and sequence number; its routes never time out', () => {
  const s = startRipng(config(1, {}, DEMAND));
  ack(s, 0, 1);
  const t0 = s.api.sent.length;
  updateResponse(s, 1, 0, [rte('2001:db8:70::/48', 2), rte('2001:db8:71::/48', 1)]);
  // Our own triggered update about them (poisoned reverse) must be acknowledged too, or the
  // neighbour would be declared unreachable.
  ack(s, 1);
  const acks = after(s, t0).filter((m) => m.msg.command === 11);
  assert.deepEqual(acks.map(update), ['11 flush 1 seq 0']);
  assert.equal(acks[0]!.msg.rtes.length, 0);
  assert.equal(ribRoute(s, '2001:db8:70::/48')?.metric, 3);
  s.api.clock.advance(3_600_000);
  assert.equal(ribRoute(s, '2001:db8:70::/48')?.metric, 3, 'an hour later, far past the 180 s timeout, the route is still there');
  assert.equal(s.ripng.tableData().routes.find((r) => r.prefix === '2001:db8:70::/48')!.expiresInSeconds, null);
  // A retransmitted copy (same sequence number) is acknowledged again but not used twice.
  const t1 = s.api.sent.length;
  updateResponse(s, 0, 1, [rte('2001:db8:70::/48', 16)]);
  assert.equal(ribRoute(s, '2001:db8:70::/48'), undefined, 'withdrawn by an explicit update');
  updateResponse(s, 0, 1, [rte('2001:db8:70::/48', 16)]);
  assert.deepEqual(after(s, t1).filter((m) => m.msg.command === 11).map(update), ['11 flush 0 seq 1', '11 flush 0 seq 1']);
});

test('the flush flag drops every route learned from the sender before its whole table is used', () => {
  const s = startRipng(config(1, {}, DEMAND));
  ack(s, 0, 1);
  updateResponse(s, 1, 0, [rte('2001:db8:70::/48', 1), rte('2001:db8:71::/48', 1)]);
  s.api.deliver({ payload: message(10, [rte('2001:db8:72::/48', 1)], 1, { flush: 1, seq: 0 }), src: ip('fe80::98') });
  updateResponse(s, 1, 0, [rte('2001:db8:71::/48', 1)]);
  assert.equal(ribRoute(s, '2001:db8:70::/48'), undefined, 'not in the new whole table: gone');
  assert.ok(ribRoute(s, '2001:db8:71::/48'), 'in the new whole table: kept');
  assert.ok(ribRoute(s, '2001:db8:72::/48'), "another neighbour's routes are not flushed");
});

test('changes go out as acknowledged Update Responses: one in flight at a time, in order, sequence numbers counting up', () => {
  const s = startRipng(config(1, {}, DEMAND));
  ack(s, 0, 1);
  updateResponse(s, 1, 0, []);
  const t0 = s.api.sent.length;
  updateResponse(s, 0, 1, [rte('2001:db8:70::/48', 1)]);
  s.api.clock.advance(5_000);
  updateResponse(s, 0, 2, [rte('2001:db8:71::/48', 1)]);
  const responses = () => after(s, t0).filter((m) => m.msg.command === 10);
  assert.deepEqual(responses().map(update), ['10 flush 0 seq 1', '10 flush 0 seq 1'], 'the first change, retransmitted; the second waits behind it');
  assert.deepEqual(shown(responses().slice(0, 1)), ['2001:db8:70::/48 16'], 'poisoned reverse toward the neighbour it came from');
  ack(s, 1);
  assert.deepEqual(responses().map(update).slice(2), ['10 flush 0 seq 2'], 'the acknowledgement releases the next one at once');
  assert.deepEqual(shown(responses().slice(2)), ['2001:db8:71::/48 16']);
  ack(s, 2);
  const t1 = s.api.sent.length;
  s.api.clock.advance(60_000);
  assert.equal(after(s, t1).filter((m) => m.msg.command === 10).length, 0);
});

test('after `retries` unanswered retransmissions the neighbour is unreachable: its routes are flushed and the circuit polled until it answers', () => {
  const s = startRipng(config(1, {}, DEMAND));
  ack(s, 0, 1);
  updateResponse(s, 1, 0, [rte('2001:db8:70::/48', 1)]);
  const t0 = s.api.sent.length;
  updateResponse(s, 0, 1, [rte('2001:db8:71::/48', 1)]);
  // Our update about 2001:db8:70:: (poisoned, sent when it was learned) is never
  // acknowledged; the change to 2001:db8:71:: waits behind it.
  s.api.clock.advance(3 * 5_000);
  assert.ok(ribRoute(s, '2001:db8:70::/48'), 'still up after 3 retransmissions');
  assert.deepEqual(after(s, t0).filter((m) => m.msg.command === 10).map(update), Array(3).fill('10 flush 0 seq 1'));
  s.api.clock.advance(5_000);
  assert.equal(ribRoute(s, '2001:db8:70::/48'), undefined, 'the retransmission limit flushes the routes learned there');
  assert.equal(ribRoute(s, '2001:db8:71::/48'), undefined);
  assert.equal(s.ripng.statusData().interfaces[0]!.demand!.state, 'down');
  const t1 = s.api.sent.length;
  s.api.clock.advance(95_000);
  const polls = after(s, t1);
  assert.ok(polls.every((m) => m.msg.command === 9), 'only Update Requests while down');
  assert.ok(polls.length >= 3 && polls.length <= 5, `polled at the update interval (30 s), not every 5 s: ${polls.length}`);
  // The neighbour answers with its whole table: routes back, and it gets ours, flushed.
  const t2 = s.api.sent.length;
  updateResponse(s, 1, 0, [rte('2001:db8:70::/48', 1)]);
  assert.ok(ribRoute(s, '2001:db8:70::/48'));
  assert.equal(s.ripng.statusData().interfaces[0]!.demand!.state, 'up');
  const table = after(s, t2).filter((m) => m.msg.command === 10);
  assert.equal(table[0]!.msg.update!.flush, 1);
  assert.ok(shown(table).includes('2001:db8::/64 1'));
});

test('an Update Request is answered with the whole table, flush set; bad update headers are dropped and counted', () => {
  const s = startRipng(config(1, {}, DEMAND));
  ack(s, 0, 1);
  const t0 = s.api.sent.length;
  s.api.deliver({ payload: message(9, [rte('::/0', 16)], 1, { flush: 0, seq: 0 }) });
  const out = after(s, t0).filter((m) => m.msg.command === 10);
  assert.deepEqual(out.map(update), ['10 flush 1 seq 1']);
  assert.deepEqual(shown(out), ['2001:db8::/64 1']);
  s.api.deliver({ payload: message(10, [rte('2001:db8:70::/48', 1)], 1, { flush: 0, seq: 3, version: 2 }) });
  s.api.deliver({ payload: message(10, [rte('2001:db8:70::/48', 1)], 1, { flush: 2, seq: 3 }) });
  s.api.respond([rte('2001:db8:70::/48', 1)]);
  assert.equal(s.ripng.badPackets.bad_update_header, 2);
  assert.equal(s.ripng.badPackets.demand_mismatch, 1, 'a plain response on a demand circuit is refused');
  assert.equal(ribRoute(s, '2001:db8:70::/48'), undefined);
});

test('stop sends an empty flushing Update Response, so the neighbour drops our routes at once', () => {
  const s = startRipng(config(1, {}, DEMAND));
  ack(s, 0, 1);
  const t0 = s.api.sent.length;
  s.ripng.stop();
  const last = after(s, t0).filter((m) => m.msg.command === 10);
  assert.deepEqual(last.map(update), ['10 flush 1 seq 1']);
  assert.equal(last[0]!.msg.rtes.length, 0);
});
