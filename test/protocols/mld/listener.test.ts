/**
 * The listener side for the router's own groups (RFC 2710 §4, RFC 3810 §6) on a ManualClock:
 * what is reported on join and leave, how queries are answered, MLDv1 suppression and Done,
 * and MLDv1 compatibility (RFC 3810 §8.2). Every timer is driven here, in v1 and v2.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIpv6 } from '../../../src/lib/addr.js';
import { MLD_RECORD_TYPE as R } from '../../../src/wire/mld.js';
import { config, ip, records, startMld, v1Query, v2Query, type SentMld } from './harness.js';

const reports = (s: readonly SentMld[]) => s.filter((m) => m.msg.type === 'mldv2Report' || m.msg.type === 'mldv1Report' || m.msg.type === 'mldv1Done');
/** The router's own groups on eth0: ff02::2 and the solicited-node groups of 2001:db8:0::1 and its link-local address. */
const OWN = ['ff02::2', 'ff02::1:ff00:1', 'ff02::1:ff00:10'];

test('MLDv2: every own group is reported TO_EX {} at once, then Robustness − 1 more times within the Unsolicited Report Interval; ff02::1 never', () => {
  const { api } = startMld(config(1, { querier: false }));
  const start = api.clock.now();
  const first = reports(api.sent);
  assert.equal(first.length, 1);
  const m = first[0]!;
  assert.equal(m.dst, 'ff02::16');
  assert.equal(m.hopLimit, 1);
  assert.equal(m.routerAlert, 0);
  assert.equal(m.src, 'fe80::ff:fe00:10');
  assert.deepEqual(records(first).sort(), [...OWN, 'ff02::16'].map((g) => `${R.CHANGE_TO_EXCLUDE_MODE} ${g}`).sort());
  api.clock.advance(1000);
  const again = reports(api.sentSince(start + 1));
  assert.equal(again.length, 1, 'one retransmission (robustness 2) within 1 s');
  assert.deepEqual(records(again), records(first));
  api.clock.advance(600_000);
  assert.equal(reports(api.sentSince(start + 1)).length, 1, 'nothing more without a query');
  assert.ok(!api.sent.some((s) => records([s]).some((r) => r.endsWith(' ff02::1'))));
});

test('MLDv2: a module joining a group reports it, leaving reports TO_IN {} Robustness times', () => {
  const { api } = startMld(config(1, { querier: false, robustness: 3 }));
  api.clock.advance(5000);
  let t = api.clock.now();
  api.joinGroup(0, ip('ff02::9'));
  assert.deepEqual(records(reports(api.sentSince(t))), [`${R.CHANGE_TO_EXCLUDE_MODE} ff02::9`]);
  api.clock.advance(2000);
  assert.equal(reports(api.sentSince(t)).length, 3, 'robustness 3: sent three times');
  t = api.clock.now();
  api.leaveGroup(0, ip('ff02::9'));
  api.clock.advance(2000);
  assert.deepEqual(records(reports(api.sentSince(t))), Array(3).fill(`${R.CHANGE_TO_INCLUDE_MODE} ff02::9`));
});

test('MLDv2: a General Query is answered IS_EX {} for every own group within the Maximum Response Delay, once', () => {
  const { api } = startMld(config(1, { querier: false }));
  api.clock.advance(5000);
  const t = api.clock.now();
  api.deliver(v2Query('::', 3000), { src: ip('fe80::1'), dst: ip('ff02::1') });
  assert.equal(reports(api.sentSince(t)).length, 0, 'not at once: a random delay');
  // A second query with a longer delay does not postpone the pending answer (§6.2 rule 1).
  api.deliver(v2Query('::', 60000), { src: ip('fe80::1'), dst: ip('ff02::1') });
  api.clock.advance(3000);
  const answer = reports(api.sentSince(t));
  assert.equal(answer.length, 1);
  assert.deepEqual(records(answer).sort(), [...OWN, 'ff02::16'].map((g) => `${R.MODE_IS_EXCLUDE} ${g}`).sort());
  api.clock.advance(100_000);
  assert.equal(reports(api.sentSince(t)).length, 1);
});

test('MLDv2: a group query is answered for that group only; a source query with IS_IN of its sources; other groups are ignored', () => {
  const { api } = startMld(config(1, { querier: false }));
  api.clock.advance(5000);
  let t = api.clock.now();
  api.deliver(v2Query('ff02::2', 1000), { src: ip('fe80::1'), dst: ip('ff02::2') });
  api.deliver(v2Query('ff05::77', 1000), { src: ip('fe80::1'), dst: ip('ff05::77') });
  api.clock.advance(1000);
  assert.deepEqual(records(reports(api.sentSince(t))), [`${R.MODE_IS_EXCLUDE} ff02::2`]);
  t = api.clock.now();
  api.deliver(v2Query('ff02::1:ff00:1', 1000, ['2001:db8::5']), { src: ip('fe80::1'), dst: ip('ff02::1:ff00:1') });
  api.clock.advance(1000);
  assert.deepEqual(records(reports(api.sentSince(t))), [`${R.MODE_IS_INCLUDE} ff02::1:ff00:1 +2001:db8::5`]);
});

test('MLDv1: report at once and again within the Unsolicited Report Interval; a query is answered within its delay; Done on leave', () => {
  const { api } = startMld(config(1, { version: 1, querier: false }));
  const first = reports(api.sent);
  assert.deepEqual(first.map((s) => `${s.msg.type} ${s.dst}`).sort(), OWN.map((g) => `mldv1Report ${g}`).sort(), 'reports go to the group itself');
  assert.ok(first.every((s) => s.hopLimit === 1 && s.routerAlert === 0));
  api.clock.advance(10_000);
  assert.equal(reports(api.sent).length, 2 * OWN.length, 'each repeated once (robustness 2)');
  api.clock.advance(100_000);
  let t = api.clock.now();
  api.deliver(v1Query('ff02::2', 2000), { src: ip('fe80::1'), dst: ip('ff02::2') });
  api.clock.advance(2000);
  assert.deepEqual(reports(api.sentSince(t)).map((s) => s.dst), ['ff02::2']);
  t = api.clock.now();
  api.joinGroup(0, ip('ff05::1:3'));
  api.leaveGroup(0, ip('ff05::1:3'));
  const done = reports(api.sentSince(t));
  assert.deepEqual(done.map((s) => `${s.msg.type} ${s.dst}`), ['mldv1Report ff05::1:3', 'mldv1Done ff02::2']);
  assert.equal(formatIpv6((done[1]!.msg as { group: Uint8Array }).group), 'ff05::1:3');
});

test('MLDv1: another listener\'s report suppresses the pending answer, and then leaving sends no Done', () => {
  const { api } = startMld(config(1, { version: 1, querier: false }));
  api.clock.advance(100_000);
  api.joinGroup(0, ip('ff05::1:3'));
  api.clock.advance(100_000);
  const t = api.clock.now();
  api.deliver(v1Query('::', 10_000), { src: ip('fe80::1'), dst: ip('ff02::1') });
  api.deliver({ type: 'mldv1Report', group: ip('ff05::1:3') }, { src: ip('fe80::55'), dst: ip('ff05::1:3') });
  api.clock.advance(10_000);
  const answered = reports(api.sentSince(t)).map((s) => s.dst);
  assert.ok(!answered.includes('ff05::1:3'), 'suppressed');
  assert.deepEqual(answered.sort(), [...OWN].sort(), 'the others answered');
  const t2 = api.clock.now();
  api.leaveGroup(0, ip('ff05::1:3'));
  assert.deepEqual(reports(api.sentSince(t2)), [], 'not the last reporter: no Done');
});

test('MLDv2 port: an MLDv1 query switches it to MLDv1 for the Older Version Querier Present Timeout, then back', () => {
  const { api, mld } = startMld(config(1, { querier: false }));
  api.clock.advance(5000);
  let t = api.clock.now();
  api.deliver(v1Query('::', 1000), { src: ip('fe80::1'), dst: ip('ff02::1') });
  api.clock.advance(1000);
  assert.ok(reports(api.sentSince(t)).every((s) => s.msg.type === 'mldv1Report'));
  assert.equal(reports(api.sentSince(t)).length, OWN.length + 1, 'ff02::16 too');
  assert.equal(mld.interfacesData().interfaces[0]!.version, 1);
  // An MLDv2 query meanwhile is answered the MLDv1 way.
  t = api.clock.now();
  api.deliver(v2Query('ff02::2', 1000), { src: ip('fe80::1'), dst: ip('ff02::2') });
  api.clock.advance(1000);
  assert.deepEqual(reports(api.sentSince(t)).map((s) => s.msg.type), ['mldv1Report']);
  // 2 × 125 + 10 s after the MLDv1 query, MLDv2 again.
  api.clock.advance(260_000);
  assert.equal(mld.interfacesData().interfaces[0]!.version, 2);
  t = api.clock.now();
  api.deliver(v2Query('ff02::2', 1000), { src: ip('fe80::1'), dst: ip('ff02::2') });
  api.clock.advance(1000);
  assert.deepEqual(reports(api.sentSince(t)).map((s) => s.msg.type), ['mldv2Report']);
});

test('a tentative link-local address: reports go from :: (RFC 3590)', () => {
  const { api } = startMld(config(1, { querier: false }), 1, (a) => {
    const ll = a.ifaces.byPort(0)!.linkLocal();
    a.ifaces.byPort(0)!.findAddress(ll)!.state = 'tentative';
  });
  assert.ok(reports(api.sent).length > 0);
  assert.ok(reports(api.sent).every((s) => s.src === '::'));
});
