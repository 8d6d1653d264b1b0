/**
 * Prometheus metrics: a prom-client Registry whose series are all named `turtle6_*`, with
 * values computed at scrape time (lanes keep counters in SharedArrayBuffer blocks; the
 * exporter sums them when asked, so nothing is pushed per packet), and a small node:http
 * server for `GET /metrics`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { parseListen } from '../config/listen.js';

export const METRIC_PREFIX = 'turtle6_';

export type Labels<L extends string> = Partial<Record<L, string | number>>;

/** Called at scrape time; report every series with `emit`, including zeros for objects that are down. */
export type SampleCollector<L extends string> = (emit: (labels: Labels<L>, value: number) => void) => void | Promise<void>;

export interface MetricSpec<L extends string> {
  /** Without the prefix: `interface_rx_packets_total` becomes `turtle6_interface_rx_packets_total`. */
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly L[];
}

export class Metrics {
  readonly registry = new Registry();

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) {
      collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
      // prom-client exports these sums as gauges named *_total, which Prometheus naming (and
      // `promtool check metrics`) reserves for counters; the per-type gauges beside them
      // (nodejs_active_handles{type=…} and friends) carry the same information.
      for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
        this.registry.removeSingleMetric(METRIC_PREFIX + name);
      }
    }
  }

  /** A gauge whose series are exactly those `collect` emits at each scrape. */
  gauge<L extends string>(spec: MetricSpec<L>, collect: SampleCollector<L>): Gauge<L> {
    return new Gauge<L>({
      name: METRIC_PREFIX + spec.name,
      help: spec.help,
      labelNames: spec.labelNames ?? [],
      registers: [this.registry],
      async collect() {
        // Reset first, so series of objects that disappeared do not linger with stale values.
        this.reset();
        await collect((labels, value) => this.set(labels, value));
      },
    });
  }

  /**
   * A counter mirroring totals kept elsewhere (per-lane SAB blocks): `collect` emits the
   * current totals, which must only grow while the process lives (Prometheus counter semantics).
   */
  counter<L extends string>(spec: MetricSpec<L>, collect: SampleCollector<L>): Counter<L> {
    if (!spec.name.endsWith('_total')) throw new Error(`counter ${spec.name} must end in _total (Prometheus naming)`);
    return new Counter<L>({
      name: METRIC_PREFIX + spec.name,
      help: spec.help,
      labelNames: spec.labelNames ?? [],
      registers: [this.registry],
      async collect() {
        this.reset();
        await collect((labels, value) => this.inc(labels, value));
      },
    });
  }
}

/** One histogram series: cumulative counts per upper bound, plus the sum and count. */
export interface HistogramSample<L extends string> {
  readonly labels: Labels<L>;
  /** [upper bound, cumulative count] in increasing bound order; +Inf is added from `count`. */
  readonly buckets: ReadonlyArray<readonly [number, number]>;
  readonly sum: number;
  readonly count: number;
}

/**
 * A histogram whose buckets are kept elsewhere (per-lane SAB blocks) and read at scrape
 * time. prom-client's Histogram only observes values one by one, so this registers a metric
 * object that reports the existing counts in the Prometheus histogram shape.
 */
export function addHistogram<L extends string>(metrics: Metrics, spec: MetricSpec<L>, collect: () => HistogramSample<L>[]): void {
  const name = METRIC_PREFIX + spec.name;
  metrics.registry.registerMetric({
    name,
    help: spec.help,
    type: 'histogram',
    get: async () => ({
      name,
      help: spec.help,
      type: 'histogram',
      aggregator: 'sum',
      values: collect().flatMap((h) => [
        ...h.buckets.map(([le, value]) => ({ metricName: `${name}_bucket`, labels: { ...h.labels, le }, value })),
        { metricName: `${name}_bucket`, labels: { ...h.labels, le: '+Inf' }, value: h.count },
        { metricName: `${name}_sum`, labels: h.labels, value: h.sum },
        { metricName: `${name}_count`, labels: h.labels, value: h.count },
      ]),
    }),
    reset: () => {},
  } as unknown as Parameters<Registry['registerMetric']>[0]);
}

export interface MetricsServer {
  /** The bound port (useful when listening on port 0). */
  readonly port: number;
  close(): Promise<void>;
}

export async function startMetricsServer(listen: string, registry: Registry): Promise<MetricsServer> {
  const address = parseListen(listen);
  if (address === null) throw new Error(`metrics: invalid listen address ${JSON.stringify(listen)} (expected like "[::1]:9469")`);
  const server = createServer((req, res) => {
    void serve(registry, req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address.host, port: address.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function serve(registry: Registry, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '').split('?')[0];
  if (path !== '/metrics') {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: try GET /metrics\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
    return;
  }
  try {
    const body = await registry.metrics();
    res.writeHead(200, { 'content-type': registry.contentType });
    res.end(req.method === 'HEAD' ? undefined : body);
  } catch (e) {
    res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end(`collecting metrics failed: ${String(e)}\n`);
  }
}
