/**
 * examples/grafana/turtle6.json and examples/prometheus/turtle6.rules.yml against a real
 * Prometheus (the Debian `prometheus` package) scraping a running turtle6 with RIPng (a
 * scripted neighbour), a DHCPv6 server and IPsec SAs configured, and hosts pinging through it:
 * - every PromQL expression of the dashboard (panel targets, and the selectors of its
 *   label_values() variables) parses and returns data through the HTTP query API;
 * - Prometheus loads the rules file and evaluates every rule without error, the recording
 *   rules return data, and every turtle6_* metric the rules read is on /metrics;
 * - the interface counters of both ports rise with the traffic, as Prometheus sees them;
 * - `promtool check metrics` accepts the exposition with every module's series in it, no
 *   label holds an address, and the README's metrics table names every family.
 * The dashboard itself is checked for what an import needs (schemaVersion, the datasource
 * variable that every panel and target uses, unique panel ids).
 *
 * Both servers listen on fixed loopback ports inside the router's namespace, which is
 * private to this test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pollUntil, requireCommand, run, shortName, TestBed, type Netns } from '../helpers/netns.js';
import { startPrometheus } from '../helpers/prometheus.js';
import { scrapeMetrics, startRouter, waitForSlaac } from '../helpers/router.js';

const DASHBOARD = resolve('examples/grafana/turtle6.json');
const RULES = resolve('examples/prometheus/turtle6.rules.yml');
const METRICS = '[::1]:9469';

interface Target {
  expr: string;
  refId: string;
  datasource: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Target[];
}
interface Variable {
  name: string;
  type: string;
  query: string | { query: string };
  datasource?: { type: string; uid: string };
}
interface Dashboard {
  schemaVersion: number;
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: Variable[] };
}

const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;

/**
 * Grafana's substitutions, as it makes them with every router and interface selected
 * ("All" is the variables' allValue, `.*`). The rate interval spans several 1 s scrapes.
 */
function substitute(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', '30s')
    .replaceAll('$__interval', '5s')
    .replaceAll('$__range', '5m')
    .replaceAll('$instance', '.*')
    .replaceAll('$interface', '.*');
}

/** A RIPng Response (RFC 2080 §2.4.2) advertising 2001:db8:99::/48 at metric 1. */
function ripngResponse(): string {
  const rte = [0x20, 0x01, 0x0d, 0xb8, 0x00, 0x99, ...new Array(10).fill(0), 0, 0, 48, 1];
  return Buffer.from([2, 1, 0, 0, ...rte]).toString('hex');
}

/**
 * A RIPng neighbour in `ns`: a Response every second from its link-local address on `ifname`,
 * source port 521, to ff02::9 with hop limit 255 (§2.4.2's checks), until killed.
 */
function ripngNeighborScript(ifname: string, linkLocal: string): string {
  return `
const dgram = require('node:dgram');
const s = dgram.createSocket({ type: 'udp6', reuseAddr: true });
const msg = Buffer.from(${JSON.stringify(ripngResponse())}, 'hex');
s.bind({ port: 521, address: ${JSON.stringify(`${linkLocal}%${ifname}`)} }, () => {
  s.setMulticastInterface(${JSON.stringify(`::%${ifname}`)});
  s.setMulticastTTL(255);
  const send = () => s.send(msg, 521, ${JSON.stringify(`ff02::9%${ifname}`)});
  send();
  setInterval(send, 1000);
});`;
}

/** A datagram the DHCPv6 server must drop (shorter than a message header), from `linkLocal`. */
function dhcpRuntScript(ifname: string, linkLocal: string): string {
  return `
const s = require('node:dgram').createSocket('udp6');
s.bind({ port: 546, address: ${JSON.stringify(`${linkLocal}%${ifname}`)} }, () => {
  s.setMulticastInterface(${JSON.stringify(`::%${ifname}`)});
  s.send(Buffer.from([1]), 547, ${JSON.stringify(`ff02::1:2%${ifname}`)}, () => s.close());
});`;
}

function linkLocalOf(ns: Netns, ifname: string): string | null {
  const out = ns.run('ip', ['-6', '-o', 'addr', 'show', 'dev', ifname, 'scope', 'link', '-tentative']).stdout;
  return /inet6 (fe80::[0-9a-f:]+)\//.exec(out)?.[1] ?? null;
}

test('the Grafana dashboard imports: schemaVersion, a Prometheus datasource variable used by every panel and target, unique ids', () => {
  assert.ok(dashboard.schemaVersion >= 36 && dashboard.schemaVersion <= 41, `schemaVersion ${dashboard.schemaVersion}`);
  assert.equal(typeof dashboard.uid, 'string');
  const ds = dashboard.templating.list.find((v) => v.name === 'datasource');
  assert.deepEqual([ds?.type, ds?.query], ['datasource', 'prometheus']);
  const ids = dashboard.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  const queried = dashboard.panels.filter((p) => p.type !== 'row');
  assert.ok(queried.length >= 20);
  for (const p of queried) {
    assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, p.title);
    assert.ok((p.targets ?? []).length > 0, `${p.title} has targets`);
    for (const t of p.targets!) assert.deepEqual(t.datasource, { type: 'prometheus', uid: '${datasource}' }, `${p.title} ${t.refId}`);
  }
  for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) assert.deepEqual(v.datasource, { type: 'prometheus', uid: '${datasource}' }, v.name);
  // The areas the issue names each have a row.
  const rows = dashboard.panels.filter((p) => p.type === 'row').map((p) => p.title);
  assert.deepEqual(rows, ['Forwarding', 'Drops', 'Lanes', 'Control plane', 'RIPng', 'DHCPv6', 'IPsec']);
});

test('every dashboard query and every rule returns data from a real Prometheus scraping turtle6; promtool check metrics is clean', { timeout: 180_000 }, async (t) => {
  requireCommand('prometheus', 'prometheus');
  requireCommand('promtool', 'prometheus');
  requireCommand('ping', 'iputils-ping');
  const bed = new TestBed('graf');
  t.after(() => bed.cleanup());

  const r = bed.netns('r');
  const h1 = bed.netns('h1');
  const h2 = bed.netns('h2');
  const if1 = shortName('t6g');
  const if2 = shortName('t6w');
  await startRouter(
    bed,
    r,
    `interfaces:
  - { name: ${if1}, addresses: [2001:db8:1::1/64], netns: ${h1.name}, ra: { maxInterval: 4 } }
  - { name: ${if2}, addresses: [2001:db8:2::1/64], netns: ${h2.name}, ra: { maxInterval: 4 } }
dataplane:
  hostInterface: false
metrics:
  listen: "${METRICS}"
ripng:
  timers: { update: 2, timeout: 6, garbage: 4 }
  interfaces:
    - { name: ${if1}, passive: true }
dhcpv6:
  server:
    interfaces:
      - name: ${if1}
        addressPool: { start: "2001:db8:1::100", end: "2001:db8:1::1ff" }
ipsec:
  sas:
    - { spi: 0x1000, direction: out, mode: tunnel, src: 2001:db8:2::1, dst: 2001:db8:2::20, encryption: aes-gcm-128, encKey: "0x${'11'.repeat(20)}" }
    - { spi: 0x2000, direction: in, mode: tunnel, src: 2001:db8:2::20, dst: 2001:db8:2::1, encryption: aes-gcm-128, encKey: "0x${'22'.repeat(20)}" }
  policies:
    - { direction: out, src: 2001:db8:1::/64, dst: 2001:db8:9::/64, sa: 0x1000 }
`,
  );
  await waitForSlaac(h1, if1, '2001:db8:1:');
  const a2 = await waitForSlaac(h2, if2, '2001:db8:2:');
  let ll1: string | null = null;
  let ll2: string | null = null;
  await pollUntil('link-local addresses on both hosts', () => (ll1 = linkLocalOf(h1, if1)) !== null && (ll2 = linkLocalOf(h2, if2)) !== null, 15_000);

  const prometheus = startPrometheus(bed, r, METRICS, [RULES]);

  // Traffic for the rest of the test (cleanup() stops it): forwarded pings, pings to a
  // prefix with no route (lane drops), a RIPng neighbour on if2, a runt to the DHCPv6 server.
  bed.spawnIn(h1, 'ping', ['-6', '-n', '-i', '0.2', a2]);
  bed.spawnIn(h1, 'ping', ['-6', '-n', '-i', '0.5', '2001:db8:77::1']);
  bed.spawnIn(h2, process.execPath, ['-e', ripngNeighborScript(if2, ll2!)]);
  h1.runOk(process.execPath, ['-e', dhcpRuntScript(if1, ll1!)]);

  await pollUntil('Prometheus to scrape turtle6', () => {
    prometheus.alive();
    const up = prometheus.query('up{job="turtle6"}');
    return up.data?.result[0]?.value[1] === '1';
  }, 30_000, 250);

  // Every expression, polled until all return data (rates need a few scrapes; the RIPng
  // neighbour and the DHCPv6 drop need a moment to show).
  const exprs: Array<{ where: string; promql: string; label?: string }> = [];
  for (const p of dashboard.panels) for (const tg of p.targets ?? []) exprs.push({ where: `panel "${p.title}" ${tg.refId}`, promql: substitute(tg.expr) });
  for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) {
    const q = typeof v.query === 'string' ? v.query : v.query.query;
    const m = /^label_values\((.+),\s*([a-zA-Z_]\w*)\)$/.exec(q);
    assert.ok(m, `variable ${v.name}: label_values(selector, label), found ${q}`);
    exprs.push({ where: `variable $${v.name}`, promql: substitute(m[1]!), label: m[2]! });
  }
  const rules = readFileSync(RULES, 'utf8');
  for (const name of new Set([...rules.matchAll(/record: (\S+)/g)].map((m) => m[1]!))) exprs.push({ where: `recording rule ${name}`, promql: name });

  const failures = new Map<string, string>();
  await pollUntil(
    'every dashboard expression and recording rule to return data',
    () => {
      prometheus.alive();
      failures.clear();
      const results = prometheus.queryAll(exprs.map((e) => e.promql));
      for (const [i, e] of exprs.entries()) {
        const res = results[i]!;
        if (res.status !== 'success') failures.set(e.where, `${e.promql}: ${res.error}`);
        else if (res.data!.result.length === 0) failures.set(e.where, `${e.promql}: no data`);
        else if (e.label !== undefined && !res.data!.result.every((s) => (s.metric[e.label!] ?? '') !== '')) failures.set(e.where, `${e.promql}: series without ${e.label}`);
      }
      return failures.size === 0;
    },
    60_000,
    1_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${[...failures].map(([w, f]) => `  ${w}: ${f}`).join('\n')}`);
  });
  assert.ok(exprs.length >= 60, `${exprs.length} expressions checked`);

  // The variables' values are the real ones: this router, both interfaces.
  const instances = prometheus.query('group by (instance) (turtle6_lane_up)').data!.result.map((s) => s.metric['instance']);
  assert.deepEqual(instances, [METRICS]);
  const ifaces = prometheus.query('group by (interface) (turtle6_interface_rx_packets_total)').data!.result.map((s) => s.metric['interface']).sort();
  assert.deepEqual(ifaces, [if1, if2].sort());
  // The counters rise with the traffic, as Prometheus sees them, on both ports.
  const rx = () => new Map(prometheus.query('turtle6_interface_rx_packets_total{job="turtle6"}').data!.result.map((x) => [x.metric['interface']!, Number(x.value[1])]));
  const first = rx();
  assert.ok(first.get(if1)! > 0 && first.get(if2)! > 0, JSON.stringify([...first]));
  await pollUntil(`rx counters of both ports to rise past ${JSON.stringify([...first])}`, () => {
    const later = rx();
    return later.get(if1)! > first.get(if1)! && later.get(if2)! > first.get(if2)!;
  }, 30_000, 500);
  // Every running lane's heartbeat advances (Turtle6LaneStuck stays quiet on a healthy router).
  const beats = prometheus.query('rate(turtle6_lane_heartbeats_total[30s]) > 0 and on (lane) turtle6_lane_up == 1').data!.result.length;
  assert.ok(beats > 0 && beats === prometheus.query('turtle6_lane_up').data!.result.length, `${beats} lanes with an advancing heartbeat`);
  // The RIPng neighbour and the DHCPv6 drop are counted where the panels look.
  assert.equal(prometheus.query(`turtle6_ripng_neighbors{interface="${if2}"}`).data!.result[0]?.value[1], '1');
  assert.ok(Number(prometheus.query('sum(turtle6_dhcpv6_drops_total)').data!.result[0]?.value[1]) >= 1);

  // Prometheus loaded every rule and evaluates it without error.
  type Rules = { data: { groups: Array<{ name: string; rules: Array<{ name: string; health: string; lastError?: string }> }> } };
  const ruleNames = [...rules.matchAll(/(?:record|alert): (\S+)/g)].map((m) => m[1]!);
  await pollUntil('every rule evaluated once', () => {
    const g = (prometheus.get('/api/v1/rules') as Rules).data.groups;
    return g.flatMap((x) => x.rules).every((x) => x.health !== 'unknown');
  }, 10_000, 250);
  const evaluated = (prometheus.get('/api/v1/rules') as Rules).data.groups.flatMap((g) => g.rules);
  assert.deepEqual(evaluated.map((x) => x.name).sort(), [...ruleNames].sort());
  for (const x of evaluated) assert.equal(x.health, 'ok', `${x.name}: ${x.lastError}`);

  // Every turtle6_* metric the rules read is exported (a rename would silence an alert).
  const exposition = scrapeMetrics(r, METRICS);
  const exported = new Set([...exposition.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
  for (const name of new Set([...rules.matchAll(/\b(turtle6_[a-z0-9_]+)/g)].map((m) => m[1]!))) {
    assert.ok(exported.has(name), `${name}, read by the rules, is not on /metrics`);
  }

  // The README's metrics table names every family turtle6 itself exports.
  const readme = readFileSync(resolve('README.md'), 'utf8');
  const start = readme.indexOf('\n### Metrics\n');
  assert.ok(start >= 0, 'README has a "### Metrics" section');
  const section = readme.slice(start, readme.indexOf('\n#', start + 1));
  for (const name of exported) {
    if (/^turtle6_(process|nodejs)_/.test(name)) continue;
    assert.ok(section.includes(`\`${name}\``), `${name} is exported but not in the README's metrics table`);
  }

  const lint = run('promtool', ['check', 'metrics'], exposition);
  assert.equal(lint.code, 0, `promtool check metrics: ${lint.stdout}${lint.stderr}`);
  assert.equal(lint.stdout + lint.stderr, '', 'no warnings either');
  // Bounded cardinality: no label holds an IPv6 address.
  for (const line of exposition.split('\n').filter((l) => l.startsWith('turtle6_'))) {
    assert.doesNotMatch(line, /="[0-9a-f]*:[0-9a-f:]*:[0-9a-f:]*"/, `a per-address label: ${line}`);
  }
});
