import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics, startMetricsServer } from '../../src/observability/metrics.js';
import { requireCommand, run } from '../helpers/netns.js';

async function withServer(metrics: Metrics, fn: (base: string) => Promise<void>): Promise<void> {
  const server = await startMetricsServer('[::1]:0', metrics.registry);
  try {
    await fn(`http://[::1]:${server.port}`);
  } finally {
    await server.close();
  }
}

test('GET /metrics serves turtle6_ series computed at scrape time, including zeros', async () => {
  const metrics = new Metrics();
  const rx = new Map([['lan0', 5], ['lan1', 0]]);
  let scrapes = 0;
  metrics.counter({ name: 'interface_rx_packets_total', help: 'Packets received.', labelNames: ['ifname'] }, (emit) => {
    scrapes++;
    for (const [ifname, n] of rx) emit({ ifname }, n);
  });
  metrics.gauge({ name: 'lanes', help: 'Running lanes.' }, (emit) => emit({}, 2));
  await withServer(metrics, async (base) => {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), metrics.registry.contentType);
    const body = await res.text();
    assert.match(body, /^turtle6_interface_rx_packets_total\{ifname="lan0"\} 5$/m);
    assert.match(body, /^turtle6_interface_rx_packets_total\{ifname="lan1"\} 0$/m);
    assert.match(body, /^turtle6_lanes 2$/m);
    assert.match(body, /^turtle6_process_cpu_user_seconds_total /m);
    for (const line of body.split('\n')) if (line !== '' && !line.startsWith('#')) assert.match(line, /^turtle6_/);
    // A later scrape sees the new totals: values are read when asked, not pushed.
    rx.set('lan0', 9);
    assert.match(await (await fetch(`${base}/metrics`)).text(), /^turtle6_interface_rx_packets_total\{ifname="lan0"\} 9$/m);
    assert.equal(scrapes, 2);
  });
});

test('other paths are 404 and other methods 405', async () => {
  await withServer(new Metrics({ defaultMetrics: false }), async (base) => {
    assert.equal((await fetch(`${base}/`)).status, 404);
    assert.equal((await fetch(`${base}/metricsx`)).status, 404);
    assert.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405);
  });
});

test('counters must be named *_total and listen strings must parse', async () => {
  assert.throws(() => new Metrics({ defaultMetrics: false }).counter({ name: 'drops', help: 'x' }, () => undefined), /_total/);
  await assert.rejects(startMetricsServer('::1:9469', new Metrics({ defaultMetrics: false }).registry), /invalid listen address/);
});

test('promtool check metrics accepts the exposition', async () => {
  requireCommand('promtool', 'prometheus');
  const metrics = new Metrics();
  metrics.counter({ name: 'interface_drops_total', help: 'Packets dropped, by reason.', labelNames: ['ifname', 'reason'] }, (emit) => {
    emit({ ifname: 'lan0', reason: 'hop_limit' }, 0);
  });
  await withServer(metrics, async (base) => {
    const body = await (await fetch(`${base}/metrics`)).text();
    const r = run('promtool', ['check', 'metrics'], body);
    assert.equal(r.code, 0, `promtool: ${r.stdout}${r.stderr}`);
    assert.equal(r.stdout + r.stderr, '');
  });
});
