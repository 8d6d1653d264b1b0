/**
 * Issue 15: the stub resolver (src/protocols/dns) on host sockets against BIND 9 and
 * Unbound in a namespace, both serving test/fixtures/dns's zones: AAAA, the ip6.arpa PTR,
 * a CNAME chain, a name with 60 AAAA records that truncates over UDP and is fetched over
 * TCP, NXDOMAIN and NODATA; failover from a silent server; and `turtle6ctl resolve` through a
 * running appliance, with its servers changed by a reload.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { pollUntil, shortName, TestBed, type Netns } from '../helpers/netns.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ip6ArpaName } from '../../src/wire/dns.js';
import { parseIpv6 } from '../../src/lib/addr.js';
import { startRouter } from '../helpers/router.js';
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

async function servers(t: { after: (fn: () => Promise<void>) => void }): Promise<{ bed: TestBed; ns: Netns; bind: DnsPeer; unbound: DnsPeer }> {
  const bed = new TestBed('dnsres');
  t.after(() => bed.cleanup());
  const ns = bed.netns('r');
  const [bind, unbound] = await Promise.all([startBind(bed, ns, '2001:db8:53::1'), startUnbound(bed, ns, '2001:db8:53::2')]);
  return { bed, ns, bind, unbound };
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

test('turtle6ctl resolve: the appliance asks its configured servers; a reload changes them in place', { timeout: 90_000 }, async (t) => {
  const { bed, ns, bind, unbound } = await servers(t);
  const h = bed.netns('h');
  const lan = shortName('t6d');
  const router = await startRouter(
    bed,
    ns,
    `
interfaces:
  - name: ${lan}
    addresses: [2001:db8:1::1/64]
    netns: ${h.name}
dataplane:
  lanes: 1
  hostInterface: false
metrics:
  listen: ""
dns:
  servers: ["${bind.address}", "${unbound.address}"]
  timeout: 2
`,
  );
  const many = (await router.ctl(['resolve', 'many.turtle6.test', 'aaaa'])) as { rcode: string; server: string; transport: string; answers: Array<{ data: string }> };
  assert.deepEqual([many.rcode, many.server, many.transport, many.answers.length], ['NOERROR', bind.address, 'tcp', 60]);
  const alias = (await router.ctl(['resolve', 'alias.turtle6.test'])) as { canonicalName: string; addresses: Array<{ address: string }> };
  assert.equal(alias.canonicalName, 'host.turtle6.test');
  assert.deepEqual(alias.addresses.map((a) => a.address), ['2001:db8:1::10', '192.0.2.10']);
  assert.match(await router.ctlText(['resolve', 'alias.turtle6.test']), /^alias\.turtle6\.test is an alias for host\.turtle6\.test\n2001:db8:1::10 {2}\(ttl 300\)\n192\.0\.2\.10/);
  const ptr = (await router.ctl(['resolve', ip6ArpaName(parseIpv6('2001:db8:1::10')!), 'ptr'])) as { answers: Array<{ data: string }> };
  assert.deepEqual(ptr.answers.map((a) => a.data), ['host.turtle6.test']);
  const nx = (await router.ctl(['resolve', 'nope.turtle6.test', 'aaaa'])) as { rcode: string; authorities: Array<{ type: string }> };
  assert.deepEqual([nx.rcode, nx.authorities.map((a) => a.type)], ['NXDOMAIN', ['SOA']]);
  await assert.rejects(router.ctl(['resolve', 'nope.turtle6.test']), /NXDOMAIN/);
  await assert.rejects(router.ctl(['resolve', 'host.turtle6.test', 'bogus']), /unknown record type/);

  // Unbound first: the reload applies in place and the next query goes to it.
  const file = join(router.dir, 'turtle6.yaml');
  writeFileSync(file, readFileSync(file, 'utf8').replace(`servers: ["${bind.address}", "${unbound.address}"]`, `servers: ["${unbound.address}", "${bind.address}"]`));
  await router.ctl(['reload']);
  const again = (await router.ctl(['resolve', 'host.turtle6.test', 'aaaa'])) as { server: string; answers: Array<{ data: string }> };
  assert.deepEqual([again.server, again.answers.map((a) => a.data)], [unbound.address, ['2001:db8:1::10']]);
});
