/** The MLD module around its two parts: commands, metrics, reconfiguration and stop. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MLD_RECORD_TYPE as R } from '../../../src/wire/mld.js';
import { config, ip, records, startMld, v2Report } from './harness.js';

const HOST = { src: ip('fe80::aaaa'), dst: ip('ff02::16') };

test('show mld groups and show mld interfaces: data for --json and a text table', async () => {
  const { api, commands } = startMld(config(2));
  api.deliver(v2Report([R.CHANGE_TO_EXCLUDE_MODE, 'ff3e::8000:1', ['2001:db8:9::1']]), { ...HOST, port: 1 });
  const groups = await commands.get('show mld groups')!([]);
  assert.deepEqual((groups.data as { groups: unknown[] }).groups, [
    { interface: 'eth1', group: 'ff3e::8000:1', mode: 'exclude', sources: [], excluded: ['2001:db8:9::1'], uptime: 0, expires: 260, v1Host: false },
  ]);
  assert.match(groups.text, /^INTERFACE\s+GROUP\s+MODE/);
  assert.match(groups.text, /eth1\s+ff3e::8000:1\s+exclude\s+-\s+2001:db8:9::1/);
  const ifs = await commands.get('show mld interfaces')!([]);
  const data = ifs.data as { interfaces: Array<{ name: string; isQuerier: boolean; groups: number; received: Record<string, number> }> };
  assert.deepEqual(data.interfaces.map((i) => [i.name, i.isQuerier, i.groups, i.received['report_v2']]), [['eth0', true, 0, 0], ['eth1', true, 1, 1]]);
  assert.match(ifs.text, /eth1\s+v2\s+fe80::ff:fe00:11 \(this router\)/);
  assert.match(ifs.text, /eth0 reports: .*ff02::2/);
});

test('metrics: messages by interface, direction and kind; drops by reason; groups and querier per interface', () => {
  const { api, metrics } = startMld(config(1));
  api.deliver(v2Report([R.MODE_IS_EXCLUDE, 'ff05::1:3']), HOST);
  api.deliver(v2Report([R.MODE_IS_EXCLUDE, 'ff05::1:4']), { ...HOST, hopLimit: 255 });
  const value = (name: string, labels: Record<string, unknown>) =>
    metrics.get(name)!().find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
  assert.equal(value('mld_messages_total', { interface: 'eth0', direction: 'received', kind: 'report_v2' }), 1);
  assert.equal(value('mld_messages_total', { interface: 'eth0', direction: 'sent', kind: 'query_v2' }), 1);
  assert.equal(value('mld_messages_total', { interface: 'eth0', direction: 'sent', kind: 'report_v2' }), 1);
  assert.equal(value('mld_drops_total', { reason: 'bad_hop_limit' }), 1);
  assert.equal(value('mld_groups', { interface: 'eth0' }), 1);
  assert.equal(value('mld_querier', { interface: 'eth0' }), 1);
});

test('reconfigure: timers, querier and maxSources apply in place keeping the memberships; a version or interface change restarts', () => {
  const { api, mld } = startMld(config(1, { querier: false }));
  assert.equal(mld.prepareReconfigure(config(1, { version: 1 })), null);
  assert.equal(mld.prepareReconfigure(config(2)), null);
  api.deliver(v2Report([R.MODE_IS_EXCLUDE, 'ff05::1:3']), HOST);
  const apply = mld.prepareReconfigure(config(1, { querier: true, queryInterval: 40, queryResponseInterval: 2 }));
  assert.notEqual(apply, null);
  const t = api.clock.now();
  apply!();
  assert.deepEqual(mld.memberships(0).map((g) => g.expires), [260], 'the group kept its timer');
  api.clock.advance(200_000);
  // Querier now: startup queries 10 s apart (its startupQueryInterval), then every 40 s.
  const q = api.sentSince(t).filter((s) => s.msg.type === 'mldv2Query').map((s) => (s.at - t) / 1000);
  assert.deepEqual(q, [0, 10, 50, 90, 130, 170]);
  api.deliver(v2Report([R.MODE_IS_EXCLUDE, 'ff05::1:4']), HOST);
  assert.equal(mld.memberships(0).find((g) => g.group[15] === 4)!.expires, 82, 'the new MALI: 2 × 40 + 2');
});

test('stop: the router says it leaves its groups (TO_IN {}), leaves ff02::16 and sends nothing more', () => {
  const { api, mld } = startMld(config(1));
  api.clock.advance(10_000);
  const t = api.clock.now();
  mld.stop();
  const left = records(api.sentSince(t));
  assert.ok(left.length >= 4 && left.every((r) => r.startsWith(`${R.CHANGE_TO_INCLUDE_MODE} `)), JSON.stringify(left));
  assert.ok(!api.listenedGroups(0).some((g) => g[1] === 0x02 && g[15] === 0x16), 'ff02::16 left');
  const n = api.sent.length;
  api.clock.advance(1_000_000);
  assert.equal(api.sent.length, n);
  assert.equal(api.clock.pendingTimers(), 0);
});

test('random MLD input: nothing throws, and every message is counted once, as received or by a drop reason', async () => {
  const { SeededRng } = await import('../../../src/lib/rng.js');
  const { MLD_DROPS } = await import('../../../src/protocols/mld/mld.js');
  const rng = new SeededRng(2026);
  const { api, mld, commands } = startMld(config(1, { maxSources: 8 }));
  const int = (n: number) => Math.floor(rng.next() * n);
  const N = 5000;
  for (let i = 0; i < N; i++) {
    const type = [130, 131, 132, 143][int(4)]!;
    const len = [24, 28, 8 + 20 * int(3), 4 + int(200)][int(4)]!;
    const msg = new Uint8Array(len);
    for (let j = 0; j < len; j++) msg[j] = int(256);
    msg[0] = type;
    // Often a plausible shape: multicast groups, small record and source counts.
    if (rng.next() < 0.7) {
      if (len >= 24) msg.set([0xff, [0x02, 0x05, 0x0e, 0x3e][int(4)]!], 8);
      if (type === 143 && len >= 8) { msg[6] = 0; msg[7] = int(3); for (let at = 8; at + 20 <= len; at += 20) { msg[at] = 1 + int(7); msg[at + 1] = 0; msg[at + 2] = 0; msg[at + 3] = int(2); msg[at + 4] = 0xff; msg[at + 5] = 0x0e; } }
      if (type === 130 && len >= 28) { msg[26] = 0; msg[27] = 0; }
    }
    api.deliverRaw(msg, { src: rng.next() < 0.9 ? ip(`fe80::${int(4) + 1}`) : ip('2001:db8::1'), hopLimit: rng.next() < 0.95 ? 1 : 255, ...(rng.next() < 0.05 ? { routerAlert: undefined } : {}) });
    api.clock.advance(int(3000));
  }
  const data = (await commands.get('show mld interfaces')!([])).data as { interfaces: Array<{ received: Record<string, number> }>; drops: Record<string, number> };
  const received = Object.values(data.interfaces[0]!.received).reduce((a, b) => a + b, 0);
  const dropped = MLD_DROPS.filter((d) => d !== 'too_many_sources').reduce((a, d) => a + mld.drops[d], 0);
  assert.equal(received + dropped, N);
  assert.ok(received > N / 4, `enough got through to exercise the state machines (${received})`);
  assert.ok(mld.memberships(0).every((g) => g.sources.length + g.excluded.length <= 8));
});
