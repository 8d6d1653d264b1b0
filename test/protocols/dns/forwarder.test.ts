/**
 * The caching forwarder (src/protocols/dns/forwarder.ts, local.ts) with a fake upstream on
 * the manual clock: replies built from the upstream's sections under the client's ID and
 * question, the cache and its countdown, deduplication, access control, truncation toward
 * the client, malformed queries, local data, serve-stale, RFC 4074 and prefetch.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../src/lib/clock.js';
import { parsePrefix, parseIpv6 } from '../../../src/lib/addr.js';
import {
  decodeDns,
  DNS_RCODE,
  DNS_TYPE,
  dnsQuery,
  encodeDnsToBytes,
  fullRcode,
  ip6ArpaName,
  type DnsMessage,
  type DnsRecord,
  type Edns,
} from '../../../src/wire/dns.js';
import { CACHE_DEFAULTS, DnsCache, STALE_TTL, type CacheConfig } from '../../../src/protocols/dns/cache.js';
import { Forwarder, MAX_UDP_REPLY, type ForwarderSettings } from '../../../src/protocols/dns/forwarder.js';
import { LocalData, type LocalRecordConfig } from '../../../src/protocols/dns/local.js';
import type { QueryOutcome } from '../../../src/protocols/dns/resolver.js';
import { parseDnsServer, type DnsServer } from '../../../src/protocols/dns/transport.js';

const UPSTREAM = parseDnsServer('2001:db8:53::1') as DnsServer;
const CLIENT = parseIpv6('2001:db8:1::10')!;
const OUTSIDER = parseIpv6('2001:db8:99::10')!;
const EDNS: Edns = { udpSize: 1232, extendedRcode: 0, version: 0, dnssecOk: false, z: 0, options: [] };

const aaaa = (name: string, a: string, ttl = 300): DnsRecord => ({ name, type: DNS_TYPE.AAAA, class: 1, ttl, rdata: { kind: 'aaaa', address: parseIpv6(a)! } });
const a4 = (name: string, a: string, ttl = 300): DnsRecord => ({ name, type: DNS_TYPE.A, class: 1, ttl, rdata: { kind: 'a', address: Uint8Array.from(a.split('.').map(Number)) } });
const soa: DnsRecord = {
  name: 'turtle6.test',
  type: DNS_TYPE.SOA,
  class: 1,
  ttl: 300,
  rdata: { kind: 'soa', mname: 'ns1.turtle6.test', rname: 'hostmaster.turtle6.test', serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: 60 },
};

/** What the fake upstream does for "name/TYPE": records (NOERROR), an rcode with the SOA, a failure, or a wait the test releases. */
type Zone = Record<string, DnsRecord[] | { rcode: number } | 'fail' | 'hang'>;

class FakeUpstream {
  readonly asked: string[] = [];
  readonly rfc4074: string[] = [];
  readonly hung: Array<() => void> = [];
  constructor(public zone: Zone) {}
  query = (name: string, type: number): Promise<QueryOutcome> => {
    const key = `${name.toLowerCase()}/${type === DNS_TYPE.AAAA ? 'AAAA' : type === DNS_TYPE.A ? 'A' : type === DNS_TYPE.PTR ? 'PTR' : type}`;
    this.asked.push(key);
    const z = this.zone[key] ?? { rcode: DNS_RCODE.NXDOMAIN };
    const message = (rcode: number, answers: DnsRecord[]): DnsMessage => ({ ...dnsQuery(7, name, type, null), qr: true, ra: true, rcode, answers, authorities: answers.length === 0 ? [soa] : [] });
    if (z === 'fail') return Promise.resolve({ ok: false, reason: 'timeout', detail: 'no reply' });
    if (z === 'hang') return new Promise((resolve) => this.hung.push(() => resolve({ ok: true, message: message(0, [aaaa(name, '2001:db8::99')]), server: UPSTREAM, transport: 'udp', edns: true })));
    const m = Array.isArray(z) ? message(0, z) : message(z.rcode, []);
    return Promise.resolve({ ok: true, message: m, server: UPSTREAM, transport: 'udp', edns: true });
  };
}

function setup(zone: Zone, opts: { cache?: Partial<CacheConfig>; allow?: string[]; records?: LocalRecordConfig[]; localDomain?: string } = {}) {
  const clock = new ManualClock(0);
  const upstream = new FakeUpstream(zone);
  const cache = new DnsCache(clock, { ...CACHE_DEFAULTS, ...opts.cache });
  const settings: ForwarderSettings = { allow: opts.allow?.map((p) => parsePrefix(p)!) ?? null, local: new LocalData(opts.records ?? [], opts.localDomain ?? null) };
  const fwd = new Forwarder(
    { clock, cache, upstream: { query: upstream.query, countRfc4074: (s) => upstream.rfc4074.push(s.address) }, ownPrefixes: () => [parsePrefix('2001:db8:1::/64')!] },
    settings,
  );
  const ask = async (name: string, type: number, o: { id?: number; edns?: Edns | null; via?: 'udp' | 'tcp'; client?: Uint8Array } = {}) => {
    const bytes = await fwd.handle(encodeDnsToBytes(dnsQuery(o.id ?? 0x1234, name, type, o.edns === undefined ? EDNS : o.edns)), o.client ?? CLIENT, o.via ?? 'udp');
    assert.ok(bytes !== null, 'a reply');
    const d = decodeDns(bytes);
    assert.ok(d.ok, d.ok ? '' : d.reason);
    return { m: d.value, size: bytes.length };
  };
  return { clock, upstream, cache, fwd, ask };
}

const HOST = { 'host.turtle6.test/AAAA': [aaaa('host.turtle6.test', '2001:db8:1::10')], 'host.turtle6.test/A': [a4('host.turtle6.test', '192.0.2.10')] };

test('an upstream answer goes back under the client ID and question; the second query is answered from the cache with TTLs counted down', async () => {
  const { clock, upstream, ask, fwd } = setup(HOST);
  const first = (await ask('Host.Turtle6.Test', DNS_TYPE.AAAA, { id: 0xbeef })).m;
  assert.deepEqual([first.id, first.qr, first.ra, first.aa, first.rd, first.rcode], [0xbeef, true, true, false, true, 0]);
  assert.equal(first.questions[0]!.name, 'Host.Turtle6.Test', 'the question as the client wrote it');
  assert.deepEqual(first.answers.map((r) => [r.ttl]), [[300]]);
  assert.equal(first.edns?.udpSize, MAX_UDP_REPLY);
  clock.advance(20_000);
  const second = (await ask('host.turtle6.test', DNS_TYPE.AAAA, { id: 2, edns: null })).m;
  assert.deepEqual([second.id, second.edns, second.answers[0]!.ttl], [2, null, 280]);
  assert.deepEqual(upstream.asked, ['host.turtle6.test/AAAA'], 'one upstream query');
  assert.deepEqual([fwd.stats.cached, fwd.stats.upstreamQueries, fwd.stats.queries['AAAA']], [1, 1, 2]);
});

test('identical queries in flight share one upstream exchange', async () => {
  const { upstream, fwd } = setup({ 'slow.turtle6.test/AAAA': 'hang' });
  const q = (id: number) => fwd.handle(encodeDnsToBytes(dnsQuery(id, 'slow.turtle6.test', DNS_TYPE.AAAA, null)), CLIENT, 'udp');
  const replies = [q(1), q(2), q(3)];
  await new Promise((r) => setImmediate(r));
  assert.equal(upstream.hung.length, 1);
  upstream.hung[0]!();
  const ids = (await Promise.all(replies)).map((b) => (decodeDns(b!) as { value: DnsMessage }).value);
  assert.deepEqual(ids.map((m) => [m.id, m.answers.length]), [[1, 1], [2, 1], [3, 1]]);
  assert.equal(fwd.stats.deduplicated, 2);
});

test("a client outside the allowed prefixes gets REFUSED and is counted; the default allows the router's own prefixes", async () => {
  const dflt = setup(HOST);
  assert.equal((await dflt.ask('host.turtle6.test', DNS_TYPE.AAAA, { client: OUTSIDER })).m.rcode, DNS_RCODE.REFUSED);
  assert.equal((await dflt.ask('host.turtle6.test', DNS_TYPE.AAAA)).m.rcode, DNS_RCODE.NOERROR);
  assert.equal(dflt.fwd.stats.refused, 1);
  assert.deepEqual(dflt.upstream.asked, ['host.turtle6.test/AAAA'], 'the refused query went nowhere');
  const configured = setup(HOST, { allow: ['2001:db8:99::/48'] });
  assert.equal((await configured.ask('host.turtle6.test', DNS_TYPE.AAAA, { client: OUTSIDER })).m.rcode, DNS_RCODE.NOERROR);
  assert.equal((await configured.ask('host.turtle6.test', DNS_TYPE.AAAA)).m.rcode, DNS_RCODE.REFUSED);
});

test("truncation: 512 bytes without OPT, the client's EDNS size with it (at most 1232), TC=1 with the question only; TCP has no limit", async () => {
  const many = Array.from({ length: 60 }, (_, i) => aaaa('many.turtle6.test', `2001:db8:2::${(i + 1).toString(16)}`));
  const some = many.slice(0, 20);
  const { fwd, ask, upstream } = setup({ 'many.turtle6.test/AAAA': many, 'some.turtle6.test/AAAA': some.map((r) => ({ ...r, name: 'some.turtle6.test' })) });
  const plain = await ask('some.turtle6.test', DNS_TYPE.AAAA, { edns: null });
  assert.deepEqual([plain.m.tc, plain.m.answers.length, plain.m.questions.length], [true, 0, 1], '20 AAAA are over 512 bytes');
  const withEdns = await ask('some.turtle6.test', DNS_TYPE.AAAA);
  assert.deepEqual([withEdns.m.tc, withEdns.m.answers.length], [false, 20]);
  const small = await ask('some.turtle6.test', DNS_TYPE.AAAA, { edns: { ...EDNS, udpSize: 100 } });
  assert.equal(small.m.tc, true, 'an EDNS size below 512 counts as 512');
  const big = await ask('many.turtle6.test', DNS_TYPE.AAAA, { edns: { ...EDNS, udpSize: 4096 } });
  assert.equal(big.m.tc, true, '60 AAAA are over 1232 bytes, whatever the client offers');
  const tcp = await ask('many.turtle6.test', DNS_TYPE.AAAA, { via: 'tcp' });
  assert.deepEqual([tcp.m.tc, tcp.m.answers.length], [false, 60]);
  assert.equal(fwd.stats.truncated, 3);
  assert.deepEqual(upstream.asked, ['some.turtle6.test/AAAA', 'many.turtle6.test/AAAA'], 'the retries came from the cache');
});

test('malformed queries: dropped or FORMERR, counted by reason, never thrown', async () => {
  const { fwd } = setup(HOST);
  const good = encodeDnsToBytes(dnsQuery(0x4242, 'host.turtle6.test', DNS_TYPE.AAAA, null));
  const rcodeOf = (b: Uint8Array | null) => (b === null ? null : b[3]! & 0xf);
  assert.equal(await fwd.handle(good.slice(0, 11), CLIENT, 'udp'), null);
  const response = good.slice();
  response[2]! |= 0x80;
  assert.equal(await fwd.handle(response, CLIENT, 'udp'), null, 'a response is never answered');
  // A name that is a pointer to itself.
  const loop = Uint8Array.from([0x42, 0x42, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 28, 0, 1]);
  const r = await fwd.handle(loop, CLIENT, 'udp');
  assert.equal(rcodeOf(r), DNS_RCODE.FORMERR);
  assert.deepEqual([r![0], r![1], r![5]], [0x42, 0x42, 0], 'the ID kept, no question');
  const label64 = Uint8Array.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 64, ...new Array(64).fill(0x61), 0, 0, 28, 0, 1]);
  assert.equal(rcodeOf(await fwd.handle(label64, CLIENT, 'udp')), DNS_RCODE.FORMERR);
  const counts = good.slice();
  counts[7] = 200;
  assert.equal(rcodeOf(await fwd.handle(counts, CLIENT, 'udp')), DNS_RCODE.FORMERR);
  // An OPT whose option header is cut short: RDLENGTH 2.
  const opt = Uint8Array.from([...good.slice(0, 11), 1, ...good.slice(12), 0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 2, 0, 10]);
  assert.equal(rcodeOf(await fwd.handle(opt, CLIENT, 'udp')), DNS_RCODE.FORMERR);
  const two = encodeDnsToBytes({ ...dnsQuery(1, 'a.test', DNS_TYPE.AAAA, null), questions: [{ name: 'a.test', type: 28, class: 1 }, { name: 'b.test', type: 28, class: 1 }] });
  assert.equal(rcodeOf(await fwd.handle(two, CLIENT, 'udp')), DNS_RCODE.FORMERR);
  assert.deepEqual(fwd.stats.dropped, { short: 1, response: 1 });
  assert.deepEqual(fwd.stats.malformed, { name: 2, counts: 1, opt: 1, 'question-count': 1 });
});

test('opcodes other than QUERY and zone transfers are NOTIMP, EDNS version 1 is BADVERS, class CH is REFUSED', async () => {
  const { fwd, upstream } = setup(HOST);
  const send = async (m: DnsMessage) => (decodeDns((await fwd.handle(encodeDnsToBytes(m), CLIENT, 'udp'))!) as { value: DnsMessage }).value;
  const q = dnsQuery(9, 'host.turtle6.test', DNS_TYPE.AAAA, EDNS);
  assert.equal((await send({ ...q, opcode: 2 })).rcode, DNS_RCODE.NOTIMP);
  assert.equal((await send(dnsQuery(9, 'turtle6.test', 252, null))).rcode, DNS_RCODE.NOTIMP);
  const badvers = await send({ ...q, edns: { ...EDNS, version: 1 } });
  assert.equal(fullRcode(badvers), DNS_RCODE.BADVERS);
  assert.equal((await send({ ...q, questions: [{ ...q.questions[0]!, class: 3 }] })).rcode, DNS_RCODE.REFUSED);
  assert.deepEqual(upstream.asked, []);
});

test('local records are answered authoritatively; under the local domain, other names are NXDOMAIN and other types NODATA, with its SOA', async () => {
  const records: LocalRecordConfig[] = [
    { name: 'printer.lan.test', type: 'AAAA', data: '2001:db8:1::20', ttl: 120 },
    { name: '2001:db8:1::20', type: 'PTR', data: 'printer.lan.test', ttl: 120 },
  ];
  const { ask, upstream, fwd } = setup(HOST, { records, localDomain: 'lan.test' });
  const a = (await ask('Printer.LAN.test', DNS_TYPE.AAAA)).m;
  assert.deepEqual([a.aa, a.rcode, a.answers.map((r) => [r.name, r.ttl])], [true, 0, [['Printer.LAN.test', 120]]]);
  const ptr = (await ask(ip6ArpaName(parseIpv6('2001:db8:1::20')!), DNS_TYPE.PTR)).m;
  assert.deepEqual(ptr.answers.map((r) => r.rdata), [{ kind: 'ptr', name: 'printer.lan.test' }]);
  const nx = (await ask('nothing.lan.test', DNS_TYPE.AAAA)).m;
  assert.deepEqual([nx.aa, nx.rcode, nx.authorities.map((r) => [r.name, r.type])], [true, DNS_RCODE.NXDOMAIN, [['lan.test', DNS_TYPE.SOA]]]);
  const nodata = (await ask('printer.lan.test', DNS_TYPE.A)).m;
  assert.deepEqual([nodata.rcode, nodata.answers.length, nodata.authorities.length], [0, 0, 1]);
  await ask('host.turtle6.test', DNS_TYPE.AAAA);
  assert.deepEqual(upstream.asked, ['host.turtle6.test/AAAA'], 'only the name outside the local data went upstream');
  assert.equal(fwd.stats.local, 4);
});

test('RFC 8767: when the upstreams fail, an expired entry is served with TTL 30; without serve-stale, SERVFAIL', async () => {
  for (const serveStale of [true, false]) {
    const { clock, upstream, ask, fwd } = setup(HOST, { cache: { serveStale, staleMaxAge: 3600 } });
    await ask('host.turtle6.test', DNS_TYPE.AAAA);
    clock.advance(400_000);
    upstream.zone = { 'host.turtle6.test/AAAA': 'fail' };
    const m = (await ask('host.turtle6.test', DNS_TYPE.AAAA)).m;
    if (serveStale) {
      assert.deepEqual([m.rcode, m.answers.map((r) => r.ttl)], [0, [STALE_TTL]]);
      assert.equal(fwd.stats.stale, 1);
    } else {
      assert.deepEqual([m.rcode, m.answers.length], [DNS_RCODE.SERVFAIL, 0]);
    }
    assert.equal(upstream.asked.length, 2, 'the upstream was asked first');
  }
});

test('RFC 4074 §4.2: NXDOMAIN to AAAA while the A exists is answered as NODATA, not cached, and counted; a real NXDOMAIN is cached', async () => {
  const { ask, upstream, fwd, cache } = setup({ 'host.turtle6.test/AAAA': { rcode: DNS_RCODE.NXDOMAIN }, 'host.turtle6.test/A': [a4('host.turtle6.test', '192.0.2.10')] });
  const m = (await ask('host.turtle6.test', DNS_TYPE.AAAA)).m;
  assert.deepEqual([m.rcode, m.answers.length], [DNS_RCODE.NOERROR, 0]);
  assert.deepEqual(upstream.rfc4074, [UPSTREAM.address]);
  assert.equal(cache.get({ name: 'host.turtle6.test', type: DNS_TYPE.AAAA, class: 1 }), null, 'not cached as non-existent');
  await ask('host.turtle6.test', DNS_TYPE.AAAA);
  assert.equal(upstream.asked.filter((k) => k === 'host.turtle6.test/AAAA').length, 2, 'asked again next time');
  assert.equal(upstream.asked.filter((k) => k === 'host.turtle6.test/A').length, 1, 'the A came from the cache the second time');
  const nx = (await ask('nope.turtle6.test', DNS_TYPE.AAAA)).m;
  assert.equal(nx.rcode, DNS_RCODE.NXDOMAIN);
  await ask('nope.turtle6.test', DNS_TYPE.AAAA);
  assert.equal(upstream.asked.filter((k) => k.startsWith('nope')).length, 2, 'AAAA and A once each, then the cache');
  assert.equal(fwd.stats.rfc4074, 2);
});

test('prefetch: a popular name near expiry is refreshed in the background, and clients keep getting cache hits', async () => {
  const { clock, upstream, ask } = setup(HOST, { cache: { prefetch: true } });
  await ask('host.turtle6.test', DNS_TYPE.AAAA);
  await ask('host.turtle6.test', DNS_TYPE.AAAA);
  clock.advance(280_000);
  const m = (await ask('host.turtle6.test', DNS_TYPE.AAAA)).m;
  assert.equal(m.answers[0]!.ttl, 20, 'served from the cache');
  await new Promise((r) => setImmediate(r));
  assert.equal(upstream.asked.length, 2, 'refreshed once in the background');
  clock.advance(100_000);
  assert.equal((await ask('host.turtle6.test', DNS_TYPE.AAAA)).m.answers[0]!.ttl, 200, 'the refreshed entry, past the old expiry');
  assert.equal(upstream.asked.length, 2);
});

test('a flood of random names keeps the cache at its size', async () => {
  const { fwd, cache } = setup({}, { cache: { size: 50 } });
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let i = 0; i < 500; i++) await fwd.handle(encodeDnsToBytes(dnsQuery(i, `r${rand().toString(36)}.turtle6.test`, DNS_TYPE.AAAA, null)), CLIENT, 'udp');
  assert.equal(cache.size, 50);
  // Each random name asked AAAA then A (the RFC 4074 check): two entries each.
  assert.equal(cache.stats.evictions, 1000 - 50);
});

test('the first client sees the capped TTLs the cache keeps, as later clients do', async () => {
  const { clock, ask } = setup(HOST, { cache: { minTtl: 600 } });
  assert.equal((await ask('host.turtle6.test', DNS_TYPE.AAAA)).m.answers[0]!.ttl, 600);
  clock.advance(1000);
  assert.equal((await ask('host.turtle6.test', DNS_TYPE.AAAA)).m.answers[0]!.ttl, 599);
});
