/**
 * The DHCPv6 client (RFC 8415 §18.2) on a manual clock: retransmission per §15, the
 * Solicit/Advertise/Request/Reply exchange against turtle6's own server logic, Renew at T1,
 * Rebind at T2, expiry, Release on stop, stateless Information-request, and the /64s of a
 * delegated prefix by SLA ID.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../../src/lib/clock.js';
import { SeededRng } from '../../../src/lib/rng.js';
import { formatIpv6, parseIpv6 } from '../../../src/lib/addr.js';
import { DHCP6_MSG, decodeDhcp6, encodeDhcp6ToBytes, findOption, parseDuid, type Dhcp6ClientMessage } from '../../../src/wire/dhcpv6.js';
import { LeaseStore } from '../../../src/protocols/dhcpv6/lease-store.js';
import { Dhcp6Server, type ServerLink, type ServerSettings } from '../../../src/protocols/dhcpv6/server.js';
import { Dhcp6Client, subnetAddress, type ClientSettings, type ClientState } from '../../../src/protocols/dhcpv6/client.js';
import { nextTimeout, SOL_MAX_RT } from '../../../src/protocols/dhcpv6/retransmit.js';

const CLIENT_DUID = parseDuid('00:03:00:01:02:00:00:00:00:c1')!;
const SERVER_DUID = parseDuid('00:03:00:01:02:00:00:00:00:fe')!;
const STATEFUL: ClientSettings = { mode: 'stateful', requestAddress: true, requestPrefix: true, prefixLengthHint: 56, rapidCommit: false, releaseOnStop: true, acceptReconfigure: false };
const SERVER: ServerSettings = {
  subnets: [],
  interfaces: [{ name: 'wan', addressPool: { start: '2001:db8:1::1000', end: '2001:db8:1::10ff' }, prefixPool: { prefix: '2001:db8:100::/48', delegatedLength: 56 }, preference: 0, rapidCommit: true, unicast: false }],
  preferredLifetime: 100,
  validLifetime: 200,
  t1: 40,
  t2: 70,
  dnsServers: ['2001:db8:1::53'],
  domains: ['turtle6.test'],
  reservations: [],
};
const LINK: ServerLink = { name: 'wan', onLink: [{ addr: parseIpv6('2001:db8:1::')!, len: 64 }], unicastAddress: null, peer: null };

interface Sent {
  at: number;
  msg: Dhcp6ClientMessage;
}

function harness(t: { after(fn: () => void): void }, settings: ClientSettings = STATEFUL, serverUp = true) {
  const clock = new ManualClock(0);
  const rng = new SeededRng(42);
  const dir = mkdtempSync(join(tmpdir(), 't6-d6client-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new LeaseStore(dir);
  store.open();
  const server = new Dhcp6Server(SERVER, SERVER_DUID, store, () => 1_000_000 + clock.now());
  const sent: Sent[] = [];
  const states: ClientState[] = [];
  const ignored: string[] = [];
  const link = { up: serverUp };
  const client: Dhcp6Client = new Dhcp6Client(settings, CLIENT_DUID, {
    clock,
    rng,
    send: (msg) => {
      // Through the codec both ways, as on the wire.
      const onWire = decodeDhcp6(encodeDhcp6ToBytes(msg));
      assert.ok(onWire.ok && onWire.value.type === 'client');
      sent.push({ at: clock.now(), msg: onWire.value });
      if (!link.up) return;
      const verdict = server.handle('wan', LINK, onWire.value, false);
      // The server answers after 5 ms; Release's Reply is not needed by the client.
      if ('reply' in verdict) clock.setTimer(5, () => client.receive(verdict.reply));
    },
    leasesChanged: (s) => states.push(s),
    ignored: (r) => ignored.push(r),
  });
  return { clock, client, server, sent, states, ignored, link };
}

const typesOf = (sent: Sent[]) => sent.map((s) => s.msg.msgType);

test('§15: timeouts start near IRT (first Solicit strictly above it), double, and cap at MRT ± 10%', () => {
  const rng = new SeededRng(42);
  const params = { irt: 1000, mrt: SOL_MAX_RT, mrc: 0, mrd: 0 };
  let rt: number | null = null;
  const seen: number[] = [];
  for (let i = 0; i < 30; i++) {
    const next: number = nextTimeout(rng, params, rt, true);
    if (rt === null) assert.ok(next > 1000 && next <= 1100, `first RT ${next}`);
    else if (2.2 * rt < 0.9 * SOL_MAX_RT) assert.ok(next >= 1.9 * rt && next <= 2.1 * rt, `RT ${next} after ${rt}`);
    else assert.ok(next >= 0.9 * SOL_MAX_RT && next <= 1.1 * SOL_MAX_RT, `capped RT ${next}`);
    seen.push(next);
    rt = next;
  }
  assert.ok(seen.at(-1)! <= 1.1 * SOL_MAX_RT);
});

test('Solicit is delayed ≤ SOL_MAX_DELAY, retransmitted with growing timeouts and a growing Elapsed Time', (t) => {
  const h = harness(t, STATEFUL, false);
  h.client.start();
  h.clock.advance(1000);
  assert.equal(h.sent.length, 1, 'one Solicit within SOL_MAX_DELAY');
  h.clock.advance(60_000);
  assert.ok(h.sent.every((s) => s.msg.msgType === DHCP6_MSG.SOLICIT));
  const gaps = h.sent.slice(1).map((s, i) => s.at - h.sent[i]!.at);
  assert.ok(gaps.length >= 4);
  for (let i = 1; i < gaps.length; i++) assert.ok(gaps[i]! >= 1.8 * gaps[i - 1]!, `gap ${gaps[i]} after ${gaps[i - 1]}`);
  const elapsed = h.sent.map((s) => findOption(s.msg.options, 'elapsedTime')!.centiseconds);
  assert.equal(elapsed[0], 0);
  assert.equal(elapsed[1], Math.floor(gaps[0]! / 10));
  assert.ok(new Set(h.sent.map((s) => s.msg.transactionId)).size === 1, 'one transaction-id for the exchange');
  const pd = findOption(h.sent[0]!.msg.options, 'iaPd')!;
  assert.equal(findOption(pd.options, 'iaPrefix')?.prefixLen, 56, 'the prefix-length hint');
});

test('Solicit → Advertise → Request → Reply binds IA_NA + IA_PD; Renew at T1 extends them; Release on stop', (t) => {
  const h = harness(t);
  h.client.start();
  h.clock.advance(3000);
  assert.deepEqual(typesOf(h.sent), [DHCP6_MSG.SOLICIT, DHCP6_MSG.REQUEST]);
  const bound = h.client.state();
  assert.equal(bound.phase, 'bound');
  assert.deepEqual(bound.leases.map((l) => `${l.kind} ${formatIpv6(l.address)}/${l.prefixLen}`), ['na 2001:db8:1::1000/128', 'pd 2001:db8:100::/56']);
  assert.deepEqual(bound.dnsServers.map(formatIpv6), ['2001:db8:1::53']);
  assert.deepEqual(bound.domains, ['turtle6.test']);
  assert.equal(h.server.leases().length, 2);
  const request = h.sent[1]!.msg;
  assert.ok(findOption(request.options, 'serverId'), 'a Request names its server');
  // T1 = 40 s after the Reply.
  const boundAt = h.states.at(-1)!.leases[0]!.receivedAt;
  assert.equal(bound.renewAt, boundAt + 40_000);
  assert.equal(bound.rebindAt, boundAt + 70_000);
  h.clock.advance(boundAt + 40_000 - h.clock.now() + 100);
  assert.equal(h.sent.at(-1)!.msg.msgType, DHCP6_MSG.RENEW);
  assert.equal(h.client.state().phase, 'bound');
  assert.ok(h.client.state().leases[0]!.receivedAt > boundAt, 'the Renew Reply refreshed the lifetimes');
  h.client.stop();
  assert.equal(h.sent.at(-1)!.msg.msgType, DHCP6_MSG.RELEASE);
  assert.deepEqual(h.states.at(-1)!.leases, [], 'stop reports nothing held');
  h.clock.advance(10);
  assert.equal(h.server.leases().length, 0, 'the server took the Release');
});

test('without a server after binding: Renew from T1, Rebind (no Server ID) from T2, leases dropped at valid expiry, then Solicit', (t) => {
  const h = harness(t);
  h.client.start();
  h.clock.advance(3000);
  const boundAt = h.client.state().leases[0]!.receivedAt;
  h.link.up = false;
  h.clock.advance(boundAt + 69_000 - h.clock.now());
  assert.equal(h.client.state().phase, 'renewing');
  h.clock.advance(2_000);
  assert.equal(h.client.state().phase, 'rebinding');
  const rebind = h.sent.at(-1)!.msg;
  assert.equal(rebind.msgType, DHCP6_MSG.REBIND);
  assert.equal(findOption(rebind.options, 'serverId'), undefined, '§18.2.5: Rebind names no server');
  assert.equal(findOption(findOption(rebind.options, 'iaNa')!.options, 'iaAddr') !== undefined, true, 'Rebind carries the addresses held');
  h.clock.advance(boundAt + 200_000 - h.clock.now());
  assert.deepEqual(h.client.state().leases, [], 'valid lifetime 200 s ended');
  assert.equal(h.client.state().phase, 'soliciting');
  h.clock.advance(1500);
  assert.equal(h.sent.at(-1)!.msg.msgType, DHCP6_MSG.SOLICIT);
});

test('Rapid Commit: a Reply to the Solicit binds at once', (t) => {
  const h = harness(t, { ...STATEFUL, rapidCommit: true });
  h.client.start();
  h.clock.advance(1100);
  assert.deepEqual(typesOf(h.sent), [DHCP6_MSG.SOLICIT]);
  assert.equal(h.client.state().phase, 'bound');
  assert.equal(h.client.state().leases.length, 2);
});

test('replies that are not ours are ignored and counted: wrong transaction, wrong client, no server id', (t) => {
  const h = harness(t, STATEFUL, false);
  h.client.start();
  h.clock.advance(1000);
  const xid = h.sent[0]!.msg.transactionId;
  const base = (opts: Dhcp6ClientMessage['options'], id = xid): Dhcp6ClientMessage => ({ type: 'client', msgType: DHCP6_MSG.ADVERTISE, transactionId: id, options: opts });
  h.client.receive(base([{ kind: 'clientId', duid: CLIENT_DUID }, { kind: 'serverId', duid: SERVER_DUID }], xid ^ 1));
  h.client.receive(base([{ kind: 'clientId', duid: SERVER_DUID }, { kind: 'serverId', duid: SERVER_DUID }]));
  h.client.receive(base([{ kind: 'clientId', duid: CLIENT_DUID }]));
  h.client.receive(base([{ kind: 'clientId', duid: CLIENT_DUID }, { kind: 'serverId', duid: SERVER_DUID }]));
  assert.deepEqual(h.ignored, ['client-wrong-transaction', 'client-wrong-client-id', 'client-missing-server-id', 'client-empty-advertise']);
  assert.equal(h.client.state().phase, 'soliciting');
});

test('a Request that gets no Reply REQ_MAX_RC (10) times sends the client back to Solicit', (t) => {
  const h = harness(t);
  h.client.start();
  h.clock.advance(1100);
  // Let the Advertise in, then cut the link before the Request's Reply.
  h.link.up = false;
  h.clock.advance(5000);
  h.clock.advance(600_000);
  const requests = h.sent.filter((s) => s.msg.msgType === DHCP6_MSG.REQUEST).length;
  assert.equal(requests, 10);
  assert.equal(h.sent.at(-1)!.msg.msgType, DHCP6_MSG.SOLICIT);
});

test('stateless mode: Information-request with ORO, DNS servers and domains taken, nothing leased', (t) => {
  const h = harness(t, { ...STATEFUL, mode: 'stateless' });
  h.client.start();
  h.clock.advance(1100);
  assert.deepEqual(typesOf(h.sent), [DHCP6_MSG.INFORMATION_REQUEST]);
  const ir = h.sent[0]!.msg;
  assert.equal(findOption(ir.options, 'iaNa'), undefined);
  assert.deepEqual(findOption(ir.options, 'oro')?.codes, [23, 24, 32]);
  const st = h.client.state();
  assert.equal(st.phase, 'informed');
  assert.deepEqual(st.dnsServers.map(formatIpv6), ['2001:db8:1::53']);
  assert.deepEqual(st.leases, []);
  // §21.23: with no Information Refresh Time, IRT_DEFAULT (86400 s) later it asks again.
  h.clock.advance(86_400_000);
  assert.equal(h.sent.length, 2);
});

test('subnetAddress: the SLA ID fills the bits between the delegated length and /64', () => {
  const p = parseIpv6('2001:db8:100::')!;
  assert.equal(formatIpv6(subnetAddress(p, 56, 1, 1n)!), '2001:db8:100:1::1');
  assert.equal(formatIpv6(subnetAddress(p, 56, 255, 0x10n)!), '2001:db8:100:ff::10');
  assert.equal(formatIpv6(subnetAddress(parseIpv6('2001:db8:100:ab00::')!, 56, 2, 1n)!), '2001:db8:100:ab02::1');
  assert.equal(formatIpv6(subnetAddress(parseIpv6('2001:db8:7:8::')!, 64, 0, 1n)!), '2001:db8:7:8::1');
  assert.equal(subnetAddress(p, 56, 256, 1n), null, 'an SLA ID of 9 bits does not fit a /56');
  assert.equal(subnetAddress(p, 64, 1, 1n), null);
  assert.equal(subnetAddress(p, 72, 0, 1n), null, 'a delegated prefix longer than /64 has no /64');
});
