/**
 * Issue 15: the stub resolver (src/protocols/dns) on host sockets against BIND 9 and
 * Unbound in a namespace, both serving test/fixtures/dns's zones: AAAA, the ip6.arpa PTR,
 * a CNAME chain, a name with 60 AAAA records that truncates over UDP and is fetched over
 * TCP, NXDOMAIN and NODATA; and failover from a silent server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { pollUntil, TestBed, type Netns } from '../helpers/netns.js';
import { ip6ArpaName } from '../../src/wire/dns.js';
import { parseIpv6 } from '../../src/lib/addr.js';
import { startBind, startUnbound, type DnsPeer } from './dns/servers.js';

const RUNNER = fileURLToPath(new URL('./dns/run-resolver.js', import.meta.url));
const MANY = Array.from({ length: 60 }, (_, i) => `2001:db8:2::${(i + 1).toString(16)}`);

interface QueryStep {
  ok: boolean;
  server: string;
  transport: string;
  edns: boolean;
  rcode: number;
  tc: boolean;
  answers: Array<{ name: string; type: string; data: string }>;
  authorities: string[];
  reason?: string;
}
interface LookupStep {
  ok: boolean;
  canonicalName?: string;
  addresses?: Array<{ family: number; address: string }>;
  reason?: string;
  rfc4074?: string | null;
}

function resolve(ns: Netns, input: object): { steps: unknown[]; stats: Record<string, Record<string, number>> } {
  const r = ns.run('node', [RUNNER, JSON.stringify(input)]);
  assert.equal(r.code, 0, `resolver failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { steps: unknown[]; stats: Record<string, Record<string, number>> };
}

async function servers(t: { after: (fn: () => Promise<void>) => void }): Promise<{ ns: Netns; bind: DnsPeer; unbound: DnsPeer }> {
  const bed = new TestBed('dnsres');
  t.after(() => bed.cleanup());
  const ns = bed.netns('r');
  const [bind, unbound] = await Promise.all([startBind(bed, ns, '2001:db8:53::1'), startUnbound(bed, ns, '2001:db8:53::2')]);
  return { ns, bind, unbound };
}

test('the resolver gets the right answers from BIND 9 and from Unbound, over UDP and, for 60 AAAA, over TCP', { timeout: 60_000 }, async (t) => {
  const { ns, bind, unbound } = await servers(t);
  for (const peer of [bind, unbound]) {
    const out = resolve(ns, {
      servers: [peer.address],
      steps: [
        { query: 'host.turtle6.test', type: 'AAAA' },
        { query: ip6ArpaName(parseIpv6('2001:db8:1::10')!), type: 'PTR' },
        { query: 'many.turtle6.test', type: 'AAAA' },
        { query: 'nope.turtle6.test', type: 'AAAA' },
        { query: 'v6only.turtle6.test', type: 'A' },
        { lookup: 'alias.turtle6.test' },
        { lookup: 'nope.turtle6.test' },
        { lookup: 'v6only.turtle6.test', family: 'ipv4' },
      ],
    });
    const [aaaa, ptr, many, nx, nodata, alias, lnx, lnodata] = out.steps as [QueryStep, QueryStep, QueryStep, QueryStep, QueryStep, LookupStep, LookupStep, LookupStep];
    const who = `${peer.address} (${peer === bind ? 'BIND' : 'Unbound'})`;
    assert.deepEqual([aaaa.ok, aaaa.transport, aaaa.edns, aaaa.answers], [true, 'udp', true, [{ name: 'host.turtle6.test', type: 'AAAA', data: '2001:db8:1::10' }]], who);
    assert.deepEqual(ptr.answers.map((a) => [a.type, a.data]), [['PTR', 'host.turtle6.test']], who);
    assert.equal(many.transport, 'tcp', `${who}: TC=1 over UDP, then TCP`);
    assert.equal(many.tc, false);
    assert.deepEqual(many.answers.map((a) => a.data).sort(), [...MANY].sort(), who);
    assert.deepEqual([nx.ok, nx.rcode, nx.authorities], [true, 3, ['SOA']], `${who}: NXDOMAIN`);
    assert.deepEqual([nodata.ok, nodata.rcode, nodata.answers, nodata.authorities], [true, 0, [], ['SOA']], `${who}: NODATA`);
    assert.equal(alias.ok, true, who);
    assert.equal(alias.canonicalName, 'host.turtle6.test', `${who}: the CNAME chain alias → alias2 → host`);
    assert.deepEqual(alias.addresses?.map((a) => a.address), ['2001:db8:1::10', '192.0.2.10'], `${who}: RFC 6724: IPv6 first`);
    assert.equal(alias.rfc4074, null);
    assert.equal(lnx.reason, 'NXDOMAIN', who);
    assert.equal(lnodata.reason, 'NODATA', who);
    const stats = out.stats[peer.address]!;
    assert.equal(stats.truncated, 1, who);
    assert.equal(stats.tcpQueries, 1, who);
    assert.equal(stats.timeouts, 0, who);
  }
  // The resolver ran synchronously (spawnSync): BIND's output is read once the loop turns again.
  await pollUntil("BIND's query log to show the TCP query", () => /query: many\.turtle6\.test IN AAAA \+E\(0\)\S*T/.test(bind.log()), 5000);
});

test('failover: a silent first server, then BIND answers; a server list of both peers', { timeout: 60_000 }, async (t) => {
  const { ns, bind, unbound } = await servers(t);
  // Nothing listens on 2001:db8:53::99 (an address of lo): the query goes unanswered.
  ns.ip('addr', 'add', '2001:db8:53::99/128', 'dev', 'lo', 'nodad');
  const out = resolve(ns, {
    servers: ['2001:db8:53::99', bind.address, unbound.address],
    timeoutMs: 1000,
    attempts: 1,
    steps: [{ query: 'host.turtle6.test', type: 'AAAA' }],
  });
  const [step] = out.steps as [QueryStep];
  assert.equal(step.ok, true);
  assert.equal(step.server, bind.address);
  assert.equal(out.stats['2001:db8:53::99']!.timeouts, 1);
});
