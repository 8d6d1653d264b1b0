/**
 * The stub resolver (src/protocols/dns/resolver.ts, lookup.ts, rfc6724.ts) against fake
 * servers on the manual clock: res_send's rounds and timeouts, replies accepted only from
 * the queried address and port with the query's ID and question, error rcodes moving on,
 * TC=1 → TCP, the EDNS0 fallback of RFC 6891 §6.2.2, getaddrinfo's CNAME chains and
 * RFC 6724 order, and RFC 4074's misbehaving AAAA servers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../src/lib/clock.js';
import { parseIpv6 } from '../../../src/lib/addr.js';
import { DNS_RCODE, DNS_TYPE, type DnsMessage, type DnsRecord } from '../../../src/wire/dns.js';
import { EDNS_HOLD_MS, Resolver, type QueryOutcome, type ResolverConfig } from '../../../src/protocols/dns/resolver.js';
import { answerFor, lookup } from '../../../src/protocols/dns/lookup.js';
import { sortDestinations, v4Mapped } from '../../../src/protocols/dns/rfc6724.js';
import { parseDnsServer, TcpDeframer, frameTcp, type DnsServer } from '../../../src/protocols/dns/transport.js';
import { FakeNet, replyTo, settle, type Behaviour } from './fake-net.js';

const S1 = parseDnsServer('2001:db8:53::1') as DnsServer;
const S2 = parseDnsServer('2001:db8:53::2') as DnsServer;
const NAME = 'host.turtle6.test';

const aaaa = (name: string, a: string, ttl = 300): DnsRecord => ({ name, type: DNS_TYPE.AAAA, class: 1, ttl, rdata: { kind: 'aaaa', address: parseIpv6(a)! } });
const a4 = (name: string, a: string, ttl = 300): DnsRecord => ({ name, type: DNS_TYPE.A, class: 1, ttl, rdata: { kind: 'a', address: Uint8Array.from(a.split('.').map(Number)) } });
const cname = (name: string, target: string): DnsRecord => ({ name, type: DNS_TYPE.CNAME, class: 1, ttl: 300, rdata: { kind: 'cname', name: target } });

function setup(config: Partial<ResolverConfig> = {}) {
  const clock = new ManualClock(0);
  const net = new FakeNet(clock);
  const resolver = new Resolver({ clock, transport: net }, { servers: [S1, S2], timeoutMs: 5000, attempts: 2, ednsUdpSize: 1232, ...config });
  return { clock, net, resolver };
}

/** Runs `p` to completion, moving the manual clock by `step` ms whenever nothing else can happen. */
async function drive<T>(clock: ManualClock, p: Promise<T>, step = 100, limitMs = 120_000): Promise<T> {
  let done = false;
  let value: T | undefined;
  void p.then((v) => {
    done = true;
    value = v;
  });
  for (let t = 0; t <= limitMs; t += step) {
    await settle();
    if (done) return value!;
    clock.advance(step);
  }
  throw new Error(`not done after ${limitMs} ms of manual clock`);
}

const answer: Behaviour = (q) => replyTo(q, { answers: [aaaa(NAME, '2001:db8:1::10')] });
const silent: Behaviour = () => null;

function assertAnswer(o: QueryOutcome, server: DnsServer, transport: 'udp' | 'tcp'): DnsMessage {
  assert.ok(o.ok, o.ok ? '' : o.detail);
  assert.equal(o.server, server);
  assert.equal(o.transport, transport);
  return o.message;
}

test('the first server answers: one UDP query with RD, a random ID, OPT at 1232', async () => {
  const { clock, net, resolver } = setup();
  net.serve(S1, answer);
  const m = assertAnswer(await drive(clock, resolver.query('HOST.turtle6.test.', DNS_TYPE.AAAA)), S1, 'udp');
  assert.equal(m.answers.length, 1);
  assert.equal(net.sent.length, 1);
  const q = net.sent[0]!.query;
  assert.equal(q.rd, true);
  assert.deepEqual(q.questions, [{ name: 'HOST.turtle6.test', type: DNS_TYPE.AAAA, class: 1 }]);
  assert.equal(q.edns?.udpSize, 1232);
  assert.equal(net.openChannels, 0, 'the socket is closed');
});

test('IDs are drawn per query (RFC 5452): 50 queries, many distinct IDs', async () => {
  const { clock, net, resolver } = setup();
  net.serve(S1, answer);
  for (let i = 0; i < 50; i++) await drive(clock, resolver.query(NAME, DNS_TYPE.AAAA));
  assert.ok(new Set(net.sent.map((s) => s.query.id)).size >= 45, 'IDs repeat too often for random draws');
});

test('res_send timing: round 0 waits timeout per server, round 1 (timeout << 1) / servers; then timeout', async () => {
  const { clock, net, resolver } = setup();
  net.serve(S1, silent);
  net.serve(S2, silent);
  const o = await drive(clock, resolver.query(NAME, DNS_TYPE.AAAA));
  assert.equal(o.ok, false);
  if (!o.ok) assert.equal(o.reason, 'timeout');
  assert.deepEqual(
    net.sent.map((s) => [s.at, s.server, s.query.edns !== null]),
    [
      [0, '2001:db8:53::1', true],
      [5000, '2001:db8:53::2', true],
      // RFC 6891 §6.2.2: after a timeout with OPT, that server is asked without it.
      [10000, '2001:db8:53::1', false],
      [15000, '2001:db8:53::2', false],
    ],
  );
  assert.equal(resolver.statsFor(S1).timeouts, 2);
  assert.equal(resolver.statsFor(S1).ednsFallbacks, 1);
  assert.equal(resolver.timeoutFor(2), 10000);
  assert.equal(setup({ timeoutMs: 1000, servers: [S1, S2, S1, S2] }).resolver.timeoutFor(1), 1000, 'never below MIN_TIMEOUT_MS');
});

test('a silent first server: the second answers after the first timeout', async () => {
  const { clock, net, resolver } = setup();
  net.serve(S1, silent);
  net.serve(S2, answer);
  assertAnswer(await drive(clock, resolver.query(NAME, DNS_TYPE.AAAA)), S2, 'udp');
  assert.deepEqual(net.sent.map((s) => [s.at, s.server]), [[0, '2001:db8:53::1'], [5000, '2001:db8:53::2']]);
});

test('replies from another address or port, with another ID or question, or without QR are ignored; the right one is taken', async () => {
  const { clock, net, resolver } = setup();
  net.serve(S1, (q) => {
    const good = replyTo(q, { answers: [aaaa(NAME, '2001:db8:1::10')] });
    const spoof = { ...replyTo(q, { answers: [aaaa(NAME, '2001:db8:bad::1')] }) };
    return [
      { ...spoof, from: { address: '2001:db8:53::66', port: 53 } },
      { ...spoof, from: { address: S1.address, port: 5353 } },
      replyTo(q, { id: (q.id + 1) & 0xffff, answers: [aaaa(NAME, '2001:db8:bad::2')] }),
      replyTo(q, { name: 'other.turtle6.test' }),
      { message: { ...q } },
      { bytes: Uint8Array.from([0, 1, 2]) },
      good,
    ];
  });
  const m = assertAnswer(await drive(clock, resolver.query(NAME, DNS_TYPE.AAAA)), S1, 'udp');
  assert.deepEqual(m.answers[0]!.rdata, { kind: 'aaaa', address: parseIpv6('2001:db8:1::10') });
  assert.equal(resolver.statsFor(S1).ignored, 6);
  assert.equal(net.sent.length, 1);
});

test('a question matching case-insensitively is accepted (RFC 4343)', async () => {
  const { clock, net, resolver } = setup();
  net.serve(S1, (q) => replyTo(q, { name: NAME.toUpperCase() }));
  assertAnswer(await drive(clock, resolver.query(NAME, DNS_TYPE.AAAA)), S1, 'udp');
});

for (const [rcode, label] of [
  [DNS_RCODE.SERVFAIL, 'SERVFAIL'],
  [DNS_RCODE.REFUSED, 'REFUSED'],
] as const) {
  test(`${label} moves on to the next server at once, and that server is not asked again`, async () => {
    const { clock, net, resolver } = setup();
    net.serve(S1, (q) => replyTo(q, { rcode }));
    net.serve(S2, silent);
    const o = await drive(clock, resolver.query(NAME, DNS_TYPE.AAAA));
    assert.deepEqual(net.sent.map((s) => [s.at, s.server]), [[0, '2001:db8:53::1'], [0, '2001:db8:53::2'], [5000, '2001:db8:53::2']]);
    assert.equal(o.ok, false);
    if (!o.ok) {
      assert.equal(o.reason, 'error-rcode', 'the error reply is the result when the rest is silence');
      assert.equal(o.message?.rcode, rcode);
    }
  });
}

test('NOTIMP without OPT is EDNS trouble first: the same server again without OPT, then the next server', async () => {
  const { clock, net, resolver } = setup();
  net.serve(S1, (q) => replyTo(q, { rcode: DNS_RCODE.NOTIMP, edns: 'none' }));
  net.serve(S2, answer);
  assertAnswer(await drive(clock, resolver.query(NAME, DNS_TYPE.AAAA)), S2, 'udp');
  assert.deepEqual(net.sent.map((s) => [s.server, s.query.edns !== null]), [['2001:db8:53::1', true], ['2001:db8:53::1', false], ['2001:db8:53::2', true]]);
});

test('EDNS fallback: FORMERR without OPT → the same server without OPT at once; remembered for EDNS_HOLD_MS', async () => {
  const { clock, net, resolver } = setup();
  net.serve(S1, (q) => (q.edns !== null ? replyTo(q, { rcode: DNS_RCODE.FORMERR, edns: 'none' }) : replyTo(q, { answers: [aaaa(NAME, '2001:db8:1::10')] })));
  const o = await drive(clock, resolver.query(NAME, DNS_TYPE.AAAA));
  assertAnswer(o, S1, 'udp');
  assert.equal(o.ok && o.edns, false);
  assert.deepEqual(net.sent.map((s) => s.query.edns !== null), [true, false]);
  assert.equal(resolver.statsFor(S1).ednsFallbacks, 1);
  await drive(clock, resolver.query(NAME, DNS_TYPE.AAAA));
  assert.equal(net.sent[2]!.query.edns, null, 'the server is remembered as EDNS-less');
  clock.advance(EDNS_HOLD_MS);
  await drive(clock, resolver.query(NAME, DNS_TYPE.AAAA));
  assert.notEqual(net.sent[3]!.query.edns, null, 'EDNS is tried again after the hold');
});

test('FORMERR with an OPT is a real error, not EDNS trouble: next server', async () => {
  const { clock, net, resolver } = setup();
  net.serve(S1, (q) => replyTo(q, { rcode: DNS_RCODE.FORMERR }));
  net.serve(S2, answer);
  assertAnswer(await drive(clock, resolver.query(NAME, DNS_TYPE.AAAA)), S2, 'udp');
  assert.equal(resolver.statsFor(S1).ednsFallbacks, 0);
});

test('EDNS off (ednsUdpSize 0): no OPT is ever sent', async () => {
  const { clock, net, resolver } = setup({ ednsUdpSize: 0 });
  net.serve(S1, answer);
  await drive(clock, resolver.query(NAME, DNS_TYPE.AAAA));
  assert.equal(net.sent[0]!.query.edns, null);
});

test('TC=1 → the same server over TCP, same question; the TCP answer is the result', async () => {
  const { clock, net, resolver } = setup();
  const many = Array.from({ length: 60 }, (_, i) => aaaa('many.turtle6.test', `2001:db8:2::${i + 1}`));
  net.serve(S1, (q, via) => (via === 'udp' ? replyTo(q, { tc: true }) : replyTo(q, { answers: many })));
  const m = assertAnswer(await drive(clock, resolver.query('many.turtle6.test', DNS_TYPE.AAAA)), S1, 'tcp');
  assert.equal(m.answers.length, 60);
  assert.deepEqual(net.sent.map((s) => s.via), ['udp', 'tcp']);
  assert.equal(net.sent[1]!.query.id, net.sent[0]!.query.id);
  assert.equal(resolver.statsFor(S1).truncated, 1);
});

test('TCP refused, hung, or answering another ID: next server', async () => {
  for (const tcp of ['refuse', 'hang', 'wrong-id'] as const) {
    const { clock, net, resolver } = setup();
    net.serve(S1, (q, via) => (via === 'udp' ? replyTo(q, { tc: true }) : tcp === 'refuse' ? 'refuse' : tcp === 'hang' ? null : replyTo(q, { id: q.id ^ 1 })));
    net.serve(S2, answer);
    assertAnswer(await drive(clock, resolver.query(NAME, DNS_TYPE.AAAA)), S2, 'udp');
    assert.equal(resolver.statsFor(S1).tcpFailures, 1, tcp);
    const toS2 = net.sent.find((s) => s.server === '2001:db8:53::2')!;
    assert.equal(toS2.at, tcp === 'hang' ? 5000 : 0, `${tcp}: the TCP wait is the server's timeout`);
  }
});

test('bad names and no servers fail without sending', async () => {
  const { net, resolver } = setup({ servers: [] });
  const o = await resolver.query(NAME, DNS_TYPE.AAAA);
  assert.equal(!o.ok && o.reason, 'no-servers');
  const b = await setup().resolver.query('a..b', DNS_TYPE.AAAA);
  assert.equal(!b.ok && b.reason, 'bad-name');
  assert.equal(net.sent.length, 0);
});

// ---- getaddrinfo ---------------------------------------------------------------------------

test('lookup: AAAA and A both asked, CNAME chain followed, RFC 6724 order (global IPv6, IPv4, ULA)', async () => {
  const { clock, net, resolver } = setup();
  net.serve(S1, (q) => {
    const chain = [cname('www.turtle6.test', 'alias.turtle6.test'), cname('alias.turtle6.test', NAME)];
    if (q.questions[0]!.type === DNS_TYPE.AAAA) return replyTo(q, { answers: [...chain, aaaa(NAME, 'fd00::1'), aaaa('unrelated.test', '2001:db8::bad'), aaaa(NAME, '2001:db8:1::10')] });
    return replyTo(q, { answers: [...chain, a4(NAME, '192.0.2.10')] });
  });
  const r = await drive(clock, lookup(resolver, 'www.turtle6.test'));
  assert.ok(r.ok);
  assert.equal(r.canonicalName, NAME);
  assert.deepEqual(r.addresses.map((x) => x.address), ['2001:db8:1::10', '192.0.2.10', 'fd00::1']);
  assert.equal(r.rfc4074, null);
  assert.deepEqual(net.sent.map((s) => s.query.questions[0]!.type).sort(), [DNS_TYPE.A, DNS_TYPE.AAAA]);
});

test('lookup: NXDOMAIN from both, NODATA, one family only', async () => {
  const { clock, net, resolver } = setup();
  net.serve(S1, (q) => {
    const n = q.questions[0]!.name;
    if (n === 'nope.turtle6.test') return replyTo(q, { rcode: DNS_RCODE.NXDOMAIN });
    if (n === 'v6only.turtle6.test') return replyTo(q, { answers: q.questions[0]!.type === DNS_TYPE.AAAA ? [aaaa(n, '2001:db8:1::11')] : [] });
    return replyTo(q);
  });
  const nx = await drive(clock, lookup(resolver, 'nope.turtle6.test'));
  assert.equal(!nx.ok && nx.reason, 'NXDOMAIN');
  const nodata = await drive(clock, lookup(resolver, 'v6only.turtle6.test', 'ipv4'));
  assert.equal(!nodata.ok && nodata.reason, 'NODATA');
  const v6 = await drive(clock, lookup(resolver, 'v6only.turtle6.test', 'ipv6'));
  assert.ok(v6.ok && v6.addresses.length === 1 && v6.addresses[0]!.family === 6);
  assert.equal(resolver.statsFor(S1).rfc4074, 0, 'a name with AAAA and without A is not RFC 4074');
});

for (const [label, bad] of [
  ['NXDOMAIN to AAAA (§4.2)', (q: DnsMessage) => replyTo(q, { rcode: DNS_RCODE.NXDOMAIN })],
  ['A records in the answer to AAAA (§4.4)', (q: DnsMessage) => replyTo(q, { answers: [a4(NAME, '192.0.2.10')] })],
  ['error rcode to AAAA (§4.3)', (q: DnsMessage) => replyTo(q, { rcode: DNS_RCODE.SERVFAIL })],
] as const) {
  test(`RFC 4074: ${label} while the A exists is detected, counted, and not taken as non-existence`, async () => {
    const { clock, net, resolver } = setup({ servers: [S1] });
    net.serve(S1, (q) => (q.questions[0]!.type === DNS_TYPE.AAAA ? bad(q) : replyTo(q, { answers: [a4(NAME, '192.0.2.10')] })));
    const r = await drive(clock, lookup(resolver, NAME));
    assert.ok(r.ok, r.ok ? '' : r.detail);
    assert.deepEqual(r.addresses.map((x) => x.address), ['192.0.2.10']);
    assert.equal(r.rfc4074, label);
    assert.equal(resolver.statsFor(S1).rfc4074, 1);
  });
}

test('RFC 4074: a silent AAAA (§4.1) while A answers', async () => {
  const { clock, net, resolver } = setup({ servers: [S1], attempts: 1 });
  net.serve(S1, (q) => (q.questions[0]!.type === DNS_TYPE.AAAA ? null : replyTo(q, { answers: [a4(NAME, '192.0.2.10')] })));
  const r = await drive(clock, lookup(resolver, NAME));
  assert.ok(r.ok && r.rfc4074 === 'AAAA query ignored (§4.1)');
  assert.equal(resolver.statsFor(S1).rfc4074, 1);
});

test('answerFor refuses CNAME loops and takes only records owned by the chain', () => {
  const m = { answers: [cname('a.test', 'b.test'), cname('b.test', 'a.test'), aaaa('c.test', '2001:db8::1')] } as unknown as DnsMessage;
  assert.equal(answerFor(m, 'a.test', DNS_TYPE.AAAA), null);
  assert.deepEqual(answerFor(m, 'c.test', DNS_TYPE.AAAA)?.records.length, 1);
  assert.deepEqual(answerFor(m, 'd.test', DNS_TYPE.AAAA)?.records, []);
});

test('RFC 6724 rules 6 and 8 with the default policy table; rule 10 keeps ties in order', () => {
  const list = ['fd00::1', '::1', '2002:c000:201::1', '2001:0:1::1', 'fe80::1', '2001:db8::1', '2001:db8::2'].map((s) => parseIpv6(s)!);
  const v4 = [v4Mapped(Uint8Array.from([192, 0, 2, 1])), v4Mapped(Uint8Array.from([169, 254, 0, 1]))];
  const sorted = sortDestinations([...list, ...v4], (x) => x).map((a) => Buffer.from(a).toString('hex'));
  const hex = (s: string) => Buffer.from(parseIpv6(s)!).toString('hex');
  assert.deepEqual(sorted, [
    hex('::1'), // 50
    hex('fe80::1'), // 40, link-local scope first (rule 8)
    hex('2001:db8::1'), // 40, global, in order
    hex('2001:db8::2'),
    hex('::ffff:169.254.0.1'), // 35, link-local scope
    hex('::ffff:192.0.2.1'), // 35
    hex('2002:c000:201::1'), // 30 (6to4)
    hex('2001:0:1::1'), // 5 (Teredo)
    hex('fd00::1'), // 3 (ULA)
  ]);
});

test('server syntax: zones for link-local, ports in brackets', () => {
  assert.deepEqual(parseDnsServer('2001:DB8::53'), { address: '2001:db8::53', port: 53 });
  assert.deepEqual(parseDnsServer('[2001:db8::53]:5353'), { address: '2001:db8::53', port: 5353 });
  assert.deepEqual(parseDnsServer('[fe80::1%eth0]:53'), { address: 'fe80::1', port: 53, zone: 'eth0' });
  assert.match(String(parseDnsServer('fe80::1')), /needs its interface/);
  assert.match(String(parseDnsServer('2001:db8::1%eth0')), /only a link-local/);
  assert.match(String(parseDnsServer('192.0.2.1')), /not an IPv6 address/);
  assert.match(String(parseDnsServer('[2001:db8::1]:0')), /port 0/);
});

test('TCP framing: length prefix, a message split across chunks', () => {
  const framed = frameTcp(Uint8Array.from([1, 2, 3]));
  assert.deepEqual(framed, Uint8Array.from([0, 3, 1, 2, 3]));
  const d = new TcpDeframer();
  assert.equal(d.push(framed.subarray(0, 1)), null);
  assert.equal(d.push(framed.subarray(1, 3)), null);
  assert.deepEqual(d.push(framed.subarray(3)), Uint8Array.from([1, 2, 3]));
});
