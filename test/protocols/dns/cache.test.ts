/**
 * The forwarder's cache (src/protocols/dns/cache.ts) on the manual clock: keys without case,
 * TTLs counted down, RFC 2308 negative caching from the SOA, the TTL caps, LRU eviction at
 * the size cap, RFC 8767 serve-stale, prefetch of popular names, and reconfigure in place.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../src/lib/clock.js';
import { parseIpv6 } from '../../../src/lib/addr.js';
import { DNS_RCODE, DNS_TYPE, dnsQuery, type DnsMessage, type DnsRecord } from '../../../src/wire/dns.js';
import { CACHE_DEFAULTS, DnsCache, STALE_TTL, type CacheConfig } from '../../../src/protocols/dns/cache.js';

const KEY = { name: 'Host.Turtle6.Test', type: DNS_TYPE.AAAA, class: 1 };
const aaaa = (name: string, a: string, ttl: number): DnsRecord => ({ name, type: DNS_TYPE.AAAA, class: 1, ttl, rdata: { kind: 'aaaa', address: parseIpv6(a)! } });
const soa = (ttl: number, minimum: number): DnsRecord => ({
  name: 'turtle6.test',
  type: DNS_TYPE.SOA,
  class: 1,
  ttl,
  rdata: { kind: 'soa', mname: 'ns1.turtle6.test', rname: 'hostmaster.turtle6.test', serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum },
});

function reply(opts: { rcode?: number; answers?: DnsRecord[]; authorities?: DnsRecord[]; tc?: boolean; name?: string } = {}): DnsMessage {
  const q = dnsQuery(1, opts.name ?? 'host.turtle6.test', DNS_TYPE.AAAA, null);
  return { ...q, qr: true, ra: true, rcode: opts.rcode ?? 0, tc: opts.tc ?? false, answers: opts.answers ?? [], authorities: opts.authorities ?? [] };
}

function setup(config: Partial<CacheConfig> = {}) {
  const clock = new ManualClock(0);
  return { clock, cache: new DnsCache(clock, { ...CACHE_DEFAULTS, ...config }) };
}

test('a positive answer is cached by name without case, type and class, with TTLs counted down in whole seconds', () => {
  const { clock, cache } = setup();
  assert.equal(cache.get(KEY), null);
  assert.equal(cache.put(KEY, reply({ answers: [aaaa('host.turtle6.test', '2001:db8:1::10', 300), aaaa('host.turtle6.test', '2001:db8:1::11', 600)] })), null);
  clock.advance(10_500);
  const hit = cache.get({ ...KEY, name: 'HOST.turtle6.TEST' });
  assert.ok(hit !== null);
  assert.deepEqual(hit.answers.map((r) => r.ttl), [290, 590]);
  assert.equal(hit.stale, false);
  assert.equal(cache.get({ ...KEY, type: DNS_TYPE.A }), null, 'another type is another entry');
  assert.equal(cache.get({ ...KEY, class: 3 }), null, 'another class is another entry');
  // The entry lives for its smallest TTL: 300 s.
  clock.advance(289_500);
  assert.equal(cache.get(KEY), null);
  assert.deepEqual([cache.stats.hits, cache.stats.misses, cache.stats.expired], [1, 4, 1]);
});

test('RFC 2308 §5: NXDOMAIN and NODATA are cached for min(SOA TTL, SOA MINIMUM), capped by negativeMaxTtl; without an SOA not at all', () => {
  const { clock, cache } = setup({ negativeMaxTtl: 100 });
  assert.equal(cache.put(KEY, reply({ rcode: DNS_RCODE.NXDOMAIN, authorities: [soa(300, 60)] })), null);
  const nodataKey = { ...KEY, name: 'v6only.turtle6.test', type: DNS_TYPE.A };
  assert.equal(cache.put(nodataKey, reply({ authorities: [soa(40, 3600)] })), null);
  const capped = { ...KEY, name: 'capped.turtle6.test' };
  assert.equal(cache.put(capped, reply({ rcode: DNS_RCODE.NXDOMAIN, authorities: [soa(3600, 3600)] })), null);
  assert.equal(cache.put({ ...KEY, name: 'nosoa.turtle6.test' }, reply({ rcode: DNS_RCODE.NXDOMAIN })), 'no-soa');
  const nx = cache.get(KEY)!;
  assert.equal(nx.rcode, DNS_RCODE.NXDOMAIN);
  assert.deepEqual(nx.authorities.map((r) => r.ttl), [60], 'the SOA is served with the negative TTL');
  clock.advance(39_000);
  assert.equal(cache.get(nodataKey)!.authorities[0]!.ttl, 1);
  clock.advance(1_000);
  assert.equal(cache.get(nodataKey), null, 'NODATA: the SOA TTL (40) was the smaller');
  assert.ok(cache.get(KEY) !== null);
  clock.advance(20_000);
  assert.equal(cache.get(KEY), null, 'NXDOMAIN: the MINIMUM (60) was the smaller');
  assert.ok(cache.get(capped) !== null);
  clock.advance(40_000);
  assert.equal(cache.get(capped), null, 'capped at negativeMaxTtl (100)');
  assert.equal(cache.stats.notCached['no-soa'], 1);
});

test('only NOERROR and NXDOMAIN replies that are not truncated are cached', () => {
  const { cache } = setup();
  assert.equal(cache.put(KEY, reply({ rcode: DNS_RCODE.SERVFAIL })), 'rcode');
  assert.equal(cache.put(KEY, reply({ tc: true, answers: [aaaa('host.turtle6.test', '2001:db8::1', 300)] })), 'truncated');
  assert.equal(cache.size, 0);
});

test('minTtl and maxTtl bound what is stored, and served TTLs agree with them', () => {
  const { clock, cache } = setup({ minTtl: 60, maxTtl: 120 });
  cache.put(KEY, reply({ answers: [aaaa('host.turtle6.test', '2001:db8::1', 5)] }));
  const low = { ...KEY, name: 'long.turtle6.test' };
  cache.put(low, reply({ answers: [aaaa('long.turtle6.test', '2001:db8::2', 86400)] }));
  assert.equal(cache.get(KEY)!.answers[0]!.ttl, 60);
  assert.equal(cache.get(low)!.answers[0]!.ttl, 120);
  clock.advance(60_000);
  assert.equal(cache.get(KEY), null);
  clock.advance(60_000);
  assert.equal(cache.get(low), null);
});

test('the size cap evicts the least recently used entry; a hit makes an entry recent', () => {
  const { cache } = setup({ size: 3 });
  const key = (i: number) => ({ ...KEY, name: `n${i}.turtle6.test` });
  for (let i = 0; i < 3; i++) cache.put(key(i), reply({ answers: [aaaa(`n${i}.turtle6.test`, '2001:db8::1', 300)] }));
  assert.ok(cache.get(key(0)) !== null);
  cache.put(key(3), reply({ answers: [aaaa('n3.turtle6.test', '2001:db8::1', 300)] }));
  assert.equal(cache.size, 3);
  assert.equal(cache.get(key(1)), null, 'n1 was the least recently used');
  assert.ok(cache.get(key(0)) !== null);
  assert.equal(cache.stats.evictions, 1);
  // A smaller size applied in place evicts down to it and keeps the rest.
  cache.reconfigure({ ...CACHE_DEFAULTS, size: 1 });
  assert.equal(cache.size, 1);
  assert.ok(cache.get(key(0)) !== null, 'the most recently used survives');
  assert.equal(cache.stats.evictions, 3);
  cache.reconfigure({ ...CACHE_DEFAULTS, size: 0 });
  assert.equal(cache.put(key(5), reply({ answers: [aaaa('n5.turtle6.test', '2001:db8::1', 300)] })), 'disabled');
});

test('RFC 8767: an expired entry is served only when asked for stale, with TTL 30, until staleMaxAge', () => {
  const { clock, cache } = setup({ serveStale: true, staleMaxAge: 600 });
  cache.put(KEY, reply({ answers: [aaaa('host.turtle6.test', '2001:db8:1::10', 300)] }));
  assert.equal(cache.get(KEY, true), null, 'a fresh entry is not stale');
  clock.advance(301_000);
  assert.equal(cache.get(KEY), null, 'expired: a normal lookup misses');
  const stale = cache.get(KEY, true);
  assert.ok(stale !== null);
  assert.equal(stale.stale, true);
  assert.deepEqual(stale.answers.map((r) => r.ttl), [STALE_TTL]);
  clock.advance(600_000);
  assert.equal(cache.get(KEY, true), null, 'older than staleMaxAge after expiry');
  assert.equal(cache.size, 0);
  assert.equal(cache.stats.staleServed, 1);
});

test('without serveStale, an expired entry is gone', () => {
  const { clock, cache } = setup();
  cache.put(KEY, reply({ answers: [aaaa('host.turtle6.test', '2001:db8:1::10', 300)] }));
  clock.advance(300_000);
  assert.equal(cache.get(KEY, true), null);
  assert.equal(cache.size, 0);
});

test('prefetch: a name asked for twice is reported due once, in the last 10% of its lifetime', () => {
  const { clock, cache } = setup({ prefetch: true });
  cache.put(KEY, reply({ answers: [aaaa('host.turtle6.test', '2001:db8:1::10', 100)] }));
  assert.equal(cache.get(KEY)!.prefetch, false);
  clock.advance(50_000);
  assert.equal(cache.get(KEY)!.prefetch, false, 'half its lifetime is left');
  clock.advance(41_000);
  assert.equal(cache.get(KEY)!.prefetch, true, '9 of 100 s left, third hit');
  assert.equal(cache.get(KEY)!.prefetch, false, 'handed out once');
  // The refreshed answer replaces the entry, which can be prefetched again later.
  cache.put(KEY, reply({ answers: [aaaa('host.turtle6.test', '2001:db8:1::10', 100)] }));
  assert.equal(cache.get(KEY)!.answers[0]!.ttl, 100);
  assert.equal(cache.stats.prefetches, 1);
  const off = setup();
  off.cache.put(KEY, reply({ answers: [aaaa('host.turtle6.test', '2001:db8:1::10', 100)] }));
  off.cache.get(KEY);
  off.clock.advance(95_000);
  assert.equal(off.cache.get(KEY)!.prefetch, false, 'prefetch off');
});

test('clear empties the cache and list shows what it holds', () => {
  const { clock, cache } = setup();
  cache.put(KEY, reply({ answers: [aaaa('host.turtle6.test', '2001:db8:1::10', 300)] }));
  clock.advance(100_000);
  assert.deepEqual(cache.list().map((e) => [e.name, e.type, e.ttlLeft, e.records, e.negative]), [['host.turtle6.test', DNS_TYPE.AAAA, 200, 1, false]]);
  assert.equal(cache.clear(), 1);
  assert.equal(cache.size, 0);
});
