/**
 * turtle6 scraped by a real Prometheus server (the Debian `prometheus` package): the server
 * runs in the router's namespace on loopback, scrapes every second, and its query API must
 * show the interface counters of both ports rising while hosts ping through the router. The
 * same live exposition must pass `promtool check metrics`.
 *
 * Both servers listen on fixed ports: the router's namespace is private to this test, so its
 * loopback has no other tenants to collide with.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pollUntil, requireCommand, run, shortName, TestBed, type Netns } from '../helpers/netns.js';
import { startRouter, waitForSlaac } from '../helpers/router.js';

const METRICS = '[::1]:9469';
const PROMETHEUS = '[::1]:9090';

/** GETs `url` from inside `ns` (loopback there is the namespace's own) and returns the body. */
function fetchIn(ns: Netns, url: string): string {
  const script = `fetch(${JSON.stringify(url)}).then(async (r) => { if (!r.ok) throw new Error(r.status + ' ' + (await r.text())); process.stdout.write(await r.text()); })`;
  return ns.runOk(process.execPath, ['-e', script]);
}

interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

/** An instant query against the Prometheus HTTP API. */
function query(ns: Netns, promql: string): VectorSample[] {
  const body = JSON.parse(fetchIn(ns, `http://${PROMETHEUS}/api/v1/query?query=${encodeURIComponent(promql)}`)) as {
    status: string;
    data: { resultType: string; result: VectorSample[] };
  };
  assert.equal(body.status, 'success');
  assert.equal(body.data.resultType, 'vector');
  return body.data.result;
}

/** Each sample's value by its `interface` label. */
function byInterface(samples: VectorSample[]): Map<string, number> {
  return new Map(samples.map((s) => [s.metric['interface']!, Number(s.value[1])]));
}

test('Prometheus scrapes turtle6: rx counters of both ports exist and rise with traffic; promtool accepts the exposition', { timeout: 120_000 }, async (t) => {
  requireCommand('prometheus', 'prometheus');
  requireCommand('promtool', 'prometheus');
  requireCommand('ping', 'iputils-ping');
  const bed = new TestBed('prom');
  t.after(() => bed.cleanup());
  const dir = mkdtempSync(join(tmpdir(), 't6prom-'));
  bed.onCleanup(() => rmSync(dir, { recursive: true, force: true }));

  const r = bed.netns('r');
  const h1 = bed.netns('h1');
  const h2 = bed.netns('h2');
  const if1 = shortName('t6p');
  const if2 = shortName('t6q');
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
`,
  );
  await waitForSlaac(h1, if1, '2001:db8:1:');
  const a2 = await waitForSlaac(h2, if2, '2001:db8:2:');

  const promConfig = join(dir, 'prometheus.yml');
  writeFileSync(
    promConfig,
    `global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: turtle6
    static_configs:
      - targets: ["${METRICS}"]
`,
  );
  const check = run('promtool', ['check', 'config', promConfig]);
  assert.equal(check.code, 0, `promtool check config: ${check.stdout}${check.stderr}`);
  const prometheus = bed.spawnIn(r, 'prometheus', [
    `--config.file=${promConfig}`,
    `--storage.tsdb.path=${join(dir, 'tsdb')}`,
    `--web.listen-address=${PROMETHEUS}`,
    '--log.level=warn',
  ]);
  let promLog = '';
  prometheus.stderr?.on('data', (d: Buffer) => (promLog += d.toString()));

  // Traffic flows for the rest of the test; cleanup() stops it.
  bed.spawnIn(h1, 'ping', ['-6', '-n', '-i', '0.2', a2]);

  const rx = 'turtle6_interface_rx_packets_total{job="turtle6"}';
  let first = new Map<string, number>();
  await pollUntil(
    `Prometheus to hold ${rx} for ${if1} and ${if2}`,
    () => {
      if (prometheus.exitCode !== null) throw new Error(`prometheus exited with ${prometheus.exitCode}:\n${promLog}`);
      first = byInterface(query(r, rx));
      return (first.get(if1) ?? 0) > 0 && (first.get(if2) ?? 0) > 0;
    },
    30_000,
    250,
  );
  let later = new Map<string, number>();
  await pollUntil(
    `both series to rise past ${JSON.stringify([...first])}`,
    () => {
      later = byInterface(query(r, rx));
      return later.get(if1)! > first.get(if1)! && later.get(if2)! > first.get(if2)!;
    },
    30_000,
    250,
  );
  // The scrape target is healthy by Prometheus's own account.
  assert.deepEqual(query(r, 'up{job="turtle6"}').map((s) => s.value[1]), ['1']);

  const exposition = fetchIn(r, `http://${METRICS}/metrics`);
  assert.match(exposition, new RegExp(`turtle6_interface_rx_packets_total\\{interface="${if1}"\\}`));
  const lint = run('promtool', ['check', 'metrics'], exposition);
  assert.equal(lint.code, 0, `promtool check metrics: ${lint.stdout}${lint.stderr}`);
});
