/**
 * Issue 15: the caching forwarder on the router, in namespaces. BIND 9 in its own namespace
 * (u, reached from the appliance's namespace over a veth) serves test/fixtures/dns's zones;
 * a kernel host on the LAN (h) asks turtle6's LAN address with dig: UDP, TCP, +bufsize=512
 * and 1232 (TC=1, then dig's retry over TCP), -x, NXDOMAIN, NODATA, a CNAME chain and local
 * records; a repeated query is answered from the cache (BIND's query log shows one query);
 * `clear dns cache` sends the next one upstream again; a host outside `allow` (o) gets
 * REFUSED. The bad-input test sends malformed queries and a flood of random names from a
 * small Node sender: each is counted, the cache stays at its cap, nothing crashes. The last
 * test has Unbound as the upstream instead.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireCommand, shortName, TestBed, pollUntil, type Netns } from '../helpers/netns.js';
import { startRouter, waitForSlaac, type RunningRouter } from '../helpers/router.js';
import { dnsQuery, DNS_TYPE, encodeDnsToBytes } from '../../src/wire/dns.js';
import { startBind, startUnbound, type DnsPeer } from './dns/servers.js';

const SENDER = fileURLToPath(new URL('./dns/send-udp.js', import.meta.url));
const ROUTER_LAN = '2001:db8:1::1';
const ROUTER_OUT = '2001:db8:9::1';
const MANY = Array.from({ length: 60 }, (_, i) => `2001:db8:2::${(i + 1).toString(16)}`);

interface Dig {
  status: string;
  flags: string[];
  answers: Array<{ name: string; ttl: number; type: string; data: string }>;
  authority: Array<{ name: string; type: string }>;
  text: string;
}

/** dig's default output, parsed: the header's status and flags, and the answer and authority sections. */
function dig(ns: Netns, server: string, args: string[]): Dig {
  const r = ns.run('dig', [`@${server}`, '+tries=1', '+time=3', ...args]);
  const text = r.stdout;
  assert.equal(r.code, 0, `dig ${args.join(' ')}: ${text}${r.stderr}`);
  const header = /status: (\w+)/.exec(text);
  const flags = /;; flags: ([a-z ]+);/.exec(text);
  assert.ok(header !== null && flags !== null, `dig ${args.join(' ')} printed no header:\n${text}`);
  const out: Dig = { status: header[1]!, flags: flags[1]!.trim().split(' '), answers: [], authority: [], text };
  let section = '';
  for (const line of text.split('\n')) {
    const s = /^;; (\w+) SECTION:/.exec(line);
    if (s !== null) section = s[1]!;
    if (line === '' || line.startsWith(';')) continue;
    const [name, ttl, , type, ...data] = line.split(/\s+/);
    if (section === 'ANSWER') out.answers.push({ name: name!.replace(/\.$/, ''), ttl: Number(ttl), type: type!, data: data.join(' ').replace(/\.$/, '') });
    if (section === 'AUTHORITY') out.authority.push({ name: name!.replace(/\.$/, ''), type: type! });
  }
  return out;
}

/** BIND's query log lines for `name` and `type`. */
function upstreamQueries(bind: DnsPeer, name: string, type: string): number {
  return bind.log().split('\n').filter((l) => l.includes(`query: ${name} IN ${type} `)).length;
}

let marks = 0;
/**
 * Waits until BIND's log holds every query it got so far: dig runs synchronously, so the log
 * is read only when the loop turns; BIND logs in order, so once a marker query asked
 * directly is in the log, everything before it is too.
 */
async function logSettled(bind: DnsPeer, u: Netns): Promise<void> {
  const mark = `mark${++marks}.turtle6.test`;
  u.run('dig', ['+tries=1', '+time=2', `@${bind.address}`, mark, 'TXT']);
  await pollUntil(`BIND to log ${mark}`, () => upstreamQueries(bind, mark, 'TXT') === 1, 5000);
}

interface Stats {
  forwarder: { udp: boolean; tcp: boolean };
  stats: { replies: Record<string, number>; refused: number; truncated: number; cached: number; local: number; malformed: Record<string, number>; dropped: Record<string, number>; queries: Record<string, number> };
  cache: { entries: number; evictions: number; inserts: number };
}

async function setup(t: { after: (fn: () => Promise<void>) => void }, cacheSize: number, upstream: 'bind' | 'unbound' = 'bind'): Promise<{ bed: TestBed; h: Netns; o: Netns; u: Netns; bind: DnsPeer; router: RunningRouter }> {
  requireCommand('dig', 'dnsutils');
  const bed = new TestBed('dnsfwd');
  t.after(() => bed.cleanup());
  const r = bed.netns('r');
  const u = bed.netns('u');
  const h = bed.netns('h');
  const o = bed.netns('o');
  // The upstream is elsewhere, as on a real router: the appliance's namespace reaches it over a veth.
  const vr = shortName('t6v');
  const vu = shortName('t6w');
  r.ip('link', 'add', vr, 'type', 'veth', 'peer', 'name', vu, 'netns', u.name);
  r.ip('addr', 'add', '2001:db8:5300::1/64', 'dev', vr, 'nodad');
  u.ip('addr', 'add', '2001:db8:5300::2/64', 'dev', vu, 'nodad');
  r.ip('link', 'set', vr, 'up');
  u.ip('link', 'set', vu, 'up');
  r.ip('-6', 'route', 'add', '2001:db8:53::/64', 'via', '2001:db8:5300::2');
  const bind = await (upstream === 'bind' ? startBind : startUnbound)(bed, u, '2001:db8:53::1');
  const lan = shortName('t6l');
  const out = shortName('t6o');
  const router = await startRouter(
    bed,
    r,
    `
interfaces:
  - name: ${lan}
    addresses: [${ROUTER_LAN}/64]
    netns: ${h.name}
  - name: ${out}
    addresses: [${ROUTER_OUT}/64]
    netns: ${o.name}
dataplane:
  lanes: 1
  hostInterface: true
metrics:
  listen: ""
dns:
  servers: ["${bind.address}"]
  timeout: 2
  forwarder:
    allow: [2001:db8:1::/64]
    cache: { size: ${cacheSize} }
    localDomain: lan.turtle6.test
    records:
      - { name: printer.lan.turtle6.test, type: AAAA, data: "2001:db8:1::20", ttl: 120 }
      - { name: "2001:db8:1::20", type: PTR, data: printer.lan.turtle6.test }
`,
  );
  await Promise.all([waitForSlaac(h, lan, '2001:db8:1:'), waitForSlaac(o, out, '2001:db8:9:')]);
  const s = (await router.ctl(['show', 'dns', 'stats'])) as Stats;
  assert.deepEqual([s.forwarder.udp, s.forwarder.tcp], [true, true], 'listening on UDP and TCP');
  return { bed, h, o, u, bind, router };
}

test('LAN hosts resolve through turtle6: UDP, TCP, truncation, reverse, NXDOMAIN, NODATA, local data, the cache, and REFUSED outside allow', { timeout: 120_000 }, async (t) => {
  requireCommand('named', 'bind9');
  const { h, o, u, bind, router } = await setup(t, 1000);

  const first = dig(h, ROUTER_LAN, ['host.turtle6.test', 'AAAA']);
  assert.equal(first.status, 'NOERROR');
  assert.ok(first.flags.includes('ra') && first.flags.includes('rd') && !first.flags.includes('aa'), first.flags.join(' '));
  assert.deepEqual(first.answers.map((a) => [a.name, a.type, a.data]), [['host.turtle6.test', 'AAAA', '2001:db8:1::10']]);
  const second = dig(h, ROUTER_LAN, ['host.turtle6.test', 'AAAA']);
  assert.deepEqual(second.answers.map((a) => a.data), ['2001:db8:1::10']);
  assert.ok(second.answers[0]!.ttl <= first.answers[0]!.ttl, 'the TTL counts down');
  await logSettled(bind, u);
  assert.equal(upstreamQueries(bind, 'host.turtle6.test', 'AAAA'), 1, 'the second query was answered from the cache');

  // TCP, and a CNAME chain copied as the upstream gave it.
  const alias = dig(h, ROUTER_LAN, ['+tcp', 'alias.turtle6.test', 'AAAA']);
  assert.deepEqual(alias.answers.map((a) => [a.name, a.type, a.data]), [
    ['alias.turtle6.test', 'CNAME', 'alias2.turtle6.test'],
    ['alias2.turtle6.test', 'CNAME', 'host.turtle6.test'],
    ['host.turtle6.test', 'AAAA', '2001:db8:1::10'],
  ]);

  // 60 AAAA do not fit 512 or 1232 bytes: TC=1, and dig's retry over TCP gets them all.
  for (const size of ['512', '1232']) {
    const tc = dig(h, ROUTER_LAN, ['+ignore', `+bufsize=${size}`, 'many.turtle6.test', 'AAAA']);
    assert.ok(tc.flags.includes('tc'), `bufsize ${size}: ${tc.flags.join(' ')}`);
    assert.equal(tc.answers.length, 0);
    const many = dig(h, ROUTER_LAN, [`+bufsize=${size}`, 'many.turtle6.test', 'AAAA']);
    assert.match(many.text, /Truncated, retrying in TCP mode/);
    assert.deepEqual(many.answers.map((a) => a.data).sort(), [...MANY].sort(), `bufsize ${size}`);
  }
  // A reply that fits: the OPT echoes the forwarder's size.
  assert.match(dig(h, ROUTER_LAN, ['+bufsize=1232', 'v6only.turtle6.test', 'AAAA']).text, /EDNS: version: 0, flags:; udp: 1232/);

  const ptr = dig(h, ROUTER_LAN, ['-x', '2001:db8:1::10']);
  assert.deepEqual(ptr.answers.map((a) => [a.type, a.data]), [['PTR', 'host.turtle6.test']]);
  const nx = dig(h, ROUTER_LAN, ['nope.turtle6.test', 'AAAA']);
  assert.deepEqual([nx.status, nx.answers.length, nx.authority.map((a) => a.type)], ['NXDOMAIN', 0, ['SOA']]);
  const nodata = dig(h, ROUTER_LAN, ['v6only.turtle6.test', 'A']);
  assert.deepEqual([nodata.status, nodata.answers.length, nodata.authority.map((a) => a.type)], ['NOERROR', 0, ['SOA']]);
  dig(h, ROUTER_LAN, ['nope.turtle6.test', 'AAAA']);
  await logSettled(bind, u);
  assert.equal(upstreamQueries(bind, 'nope.turtle6.test', 'AAAA'), 1, 'NXDOMAIN cached (RFC 2308)');

  // Local data: authoritative, never asked upstream.
  const printer = dig(h, ROUTER_LAN, ['printer.lan.turtle6.test', 'AAAA']);
  assert.ok(printer.flags.includes('aa'));
  assert.deepEqual(printer.answers.map((a) => [a.ttl, a.data]), [[120, '2001:db8:1::20']]);
  assert.deepEqual(dig(h, ROUTER_LAN, ['-x', '2001:db8:1::20']).answers.map((a) => a.data), ['printer.lan.turtle6.test']);
  assert.equal(dig(h, ROUTER_LAN, ['other.lan.turtle6.test', 'AAAA']).status, 'NXDOMAIN');
  await logSettled(bind, u);
  assert.doesNotMatch(bind.log(), /lan\.turtle6\.test/);

  // Outside `allow`: REFUSED over UDP and TCP, and counted.
  assert.equal(dig(o, ROUTER_OUT, ['host.turtle6.test', 'AAAA']).status, 'REFUSED');
  assert.equal(dig(o, ROUTER_OUT, ['+tcp', 'host.turtle6.test', 'AAAA']).status, 'REFUSED');

  const s = (await router.ctl(['show', 'dns', 'stats'])) as Stats;
  assert.equal(s.stats.refused, 2);
  assert.ok(s.stats.truncated >= 4, `truncated ${s.stats.truncated}`);
  assert.ok(s.stats.cached >= 2);
  const cache = (await router.ctl(['show', 'dns', 'cache'])) as { entries: Array<{ name: string; type: string; negative: boolean; ttlLeft: number }> };
  const entry = cache.entries.find((e) => e.name === 'host.turtle6.test' && e.type === 'AAAA');
  assert.ok(entry !== undefined && !entry.negative && entry.ttlLeft > 0 && entry.ttlLeft <= 300, JSON.stringify(cache.entries));
  assert.ok(cache.entries.some((e) => e.name === 'nope.turtle6.test' && e.negative));
  const upstreams = (await router.ctl(['show', 'dns', 'upstreams'])) as Array<{ server: string; source: string; queries: number }>;
  assert.deepEqual(upstreams.map((u) => [u.server, u.source]), [[bind.address, 'config']]);
  assert.ok(upstreams[0]!.queries >= 5);

  // A cleared cache sends the next query upstream again.
  const cleared = (await router.ctl(['clear', 'dns', 'cache'])) as { cleared: number };
  assert.ok(cleared.cleared >= 5);
  dig(h, ROUTER_LAN, ['host.turtle6.test', 'AAAA']);
  await logSettled(bind, u);
  assert.equal(upstreamQueries(bind, 'host.turtle6.test', 'AAAA'), 2, 'asked upstream again after the clear');

  // A reload that changes the cache settings applies in place and keeps the entries.
  const file = join(router.dir, 'turtle6.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace('cache: { size: 1000 }', 'cache: { size: 2000, prefetch: true }'));
  const text = await router.ctlText(['reload']);
  assert.match(text, /dns: reconfigure in place/);
  dig(h, ROUTER_LAN, ['host.turtle6.test', 'AAAA']);
  await logSettled(bind, u);
  assert.equal(upstreamQueries(bind, 'host.turtle6.test', 'AAAA'), 2, 'the cache survived the reload');
});

test('bad input: malformed queries are answered FORMERR or dropped and counted, a flood of random names keeps the cache at its cap, nothing crashes', { timeout: 120_000 }, async (t) => {
  requireCommand('named', 'bind9');
  const { h, router } = await setup(t, 100);
  const good = encodeDnsToBytes(dnsQuery(0x4242, 'host.turtle6.test', DNS_TYPE.AAAA, null));
  const hex = (b: ArrayLike<number>) => Buffer.from(Uint8Array.from(b)).toString('hex');
  const counts = Uint8Array.from(good);
  counts[7] = 200;
  const messages = [
    // A compression pointer to itself, and a loop of two pointers.
    hex([0x42, 0x42, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 28, 0, 1]),
    hex([0x42, 0x43, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0xc0, 14, 0, 28, 0, 1]),
    // A label of 64 bytes.
    hex([0x42, 0x44, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 64, ...new Array<number>(64).fill(0x61), 0, 0, 28, 0, 1]),
    // Counts larger than the message.
    hex(counts),
    // An OPT record cut inside its option header.
    hex([...good.slice(0, 11), 1, ...good.slice(12), 0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 2, 0, 10]),
    // Too short for a header, and a response.
    hex(good.slice(0, 7)),
    hex([...good.slice(0, 2), good[2]! | 0x80, ...good.slice(3)]),
  ];
  const r = h.run('node', [SENDER, JSON.stringify({ server: ROUTER_LAN, messages, flood: { count: 400, seed: 7, suffix: 'flood.turtle6.test' } })]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { replies: Array<string | null>; floodReplies: number };
  const rcodes = out.replies.map((x) => (x === null ? null : Buffer.from(x, 'hex')[3]! & 0xf));
  assert.deepEqual(rcodes, [1, 1, 1, 1, 1, null, null], 'FORMERR for the five malformed, nothing for the short one and the response');
  assert.equal(Buffer.from(out.replies[0]!, 'hex').readUInt16BE(0), 0x4242, 'FORMERR keeps the ID');
  assert.ok(out.floodReplies > 0);

  const replied = (x: Stats) => Object.values(x.stats.replies).reduce((a, b) => a + b, 0);
  await pollUntil('every flood query to be answered', async () => replied((await router.ctl(['show', 'dns', 'stats'])) as Stats) >= 400 + 5, 30_000, 250);
  const s = (await router.ctl(['show', 'dns', 'stats'])) as Stats;
  assert.equal(s.stats.queries['AAAA'], 400);
  assert.deepEqual(s.stats.malformed, { name: 3, counts: 1, opt: 1 });
  assert.deepEqual(s.stats.dropped, { short: 1, response: 1 });
  assert.equal(s.cache.entries, 100, 'the cache stays at its cap');
  assert.ok(s.cache.inserts >= 400, `inserts ${s.cache.inserts}`);
  assert.equal(s.cache.evictions, s.cache.inserts - 100);
  assert.equal(router.process.exitCode, null, 'turtle6 is still running');
  // And still answers.
  assert.deepEqual(dig(h, ROUTER_LAN, ['host.turtle6.test', 'AAAA']).answers.map((a) => a.data), ['2001:db8:1::10']);
});

test('with Unbound as the upstream: AAAA, PTR, 60 AAAA through TC and TCP, NXDOMAIN and NODATA, and the repeat from the cache', { timeout: 120_000 }, async (t) => {
  requireCommand('unbound', 'unbound');
  const { h, router } = await setup(t, 1000, 'unbound');
  assert.deepEqual(dig(h, ROUTER_LAN, ['host.turtle6.test', 'AAAA']).answers.map((a) => a.data), ['2001:db8:1::10']);
  assert.deepEqual(dig(h, ROUTER_LAN, ['-x', '2001:db8:1::10']).answers.map((a) => a.data), ['host.turtle6.test']);
  const many = dig(h, ROUTER_LAN, ['+bufsize=512', 'many.turtle6.test', 'AAAA']);
  assert.match(many.text, /Truncated, retrying in TCP mode/);
  assert.equal(many.answers.length, 60);
  assert.equal(dig(h, ROUTER_LAN, ['nope.turtle6.test', 'AAAA']).status, 'NXDOMAIN');
  const nodata = dig(h, ROUTER_LAN, ['v6only.turtle6.test', 'A']);
  assert.deepEqual([nodata.status, nodata.answers.length], ['NOERROR', 0]);
  dig(h, ROUTER_LAN, ['host.turtle6.test', 'AAAA']);
  const s = (await router.ctl(['show', 'dns', 'stats'])) as Stats & { stats: { upstreamQueries: number } };
  // host AAAA, PTR, many AAAA, nope AAAA and A (the RFC 4074 check), v6only A; the repeats came from the cache.
  assert.equal(s.stats.upstreamQueries, 6);
  assert.ok(s.stats.cached >= 2, `from the cache: ${s.stats.cached}`);
});
