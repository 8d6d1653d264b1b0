/**
 * A real Prometheus server (the Debian `prometheus` package) for tests: it runs inside a
 * namespace the test created, on a loopback port there, with a temporary storage directory,
 * scraping turtle6 every second. The namespace is private to the test, so fixed ports do not
 * collide.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireCommand, run, type Netns, type TestBed } from './netns.js';

export const PROMETHEUS_LISTEN = '[::1]:9090';

export interface QueryResult {
  status: string;
  error?: string;
  data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

export interface RunningPrometheus {
  /** Instant queries through the HTTP API, all from one process inside the namespace. */
  queryAll(promql: readonly string[]): QueryResult[];
  query(promql: string): QueryResult;
  /** GET a path of the API (e.g. `/api/v1/rules`), parsed. */
  get(path: string): unknown;
  /** Throws, with the server's log, when it has exited. */
  alive(): void;
}

/** GETs every URL from inside `ns` (its loopback is the namespace's own) and returns the bodies. */
export function fetchAllIn(ns: Netns, urls: readonly string[]): string[] {
  const script = `Promise.all(${JSON.stringify(urls)}.map(async (u) => { const r = await fetch(u); const t = await r.text(); if (!r.ok && !r.headers.get('content-type')?.includes('json')) throw new Error(u + ': ' + r.status + ' ' + t); return t; })).then((b) => process.stdout.write(JSON.stringify(b)))`;
  return JSON.parse(ns.runOk(process.execPath, ['-e', script])) as string[];
}

export function fetchIn(ns: Netns, url: string): string {
  return fetchAllIn(ns, [url])[0]!;
}

/** Starts Prometheus in `ns`, scraping `target` (job `turtle6`) and loading `ruleFiles`. */
export function startPrometheus(bed: TestBed, ns: Netns, target: string, ruleFiles: readonly string[] = []): RunningPrometheus {
  requireCommand('prometheus', 'prometheus');
  requireCommand('promtool', 'prometheus');
  const dir = mkdtempSync(join(tmpdir(), 't6prom-'));
  bed.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'prometheus.yml');
  const rules = ruleFiles.length === 0 ? '' : `rule_files:\n${ruleFiles.map((f) => `  - ${JSON.stringify(f)}\n`).join('')}`;
  writeFileSync(
    config,
    `global:
  scrape_interval: 1s
  evaluation_interval: 1s
${rules}scrape_configs:
  - job_name: turtle6
    static_configs:
      - targets: ["${target}"]
`,
  );
  const check = run('promtool', ['check', 'config', config]);
  assert.equal(check.code, 0, `promtool check config: ${check.stdout}${check.stderr}`);
  const server = bed.spawnIn(ns, 'prometheus', [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, 'tsdb')}`,
    `--web.listen-address=${PROMETHEUS_LISTEN}`,
    '--log.level=warn',
  ]);
  let log = '';
  server.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const base = `http://${PROMETHEUS_LISTEN}`;
  const queryAll = (promql: readonly string[]) =>
    fetchAllIn(ns, promql.map((q) => `${base}/api/v1/query?query=${encodeURIComponent(q)}`)).map((b) => JSON.parse(b) as QueryResult);
  return {
    queryAll,
    query: (promql) => queryAll([promql])[0]!,
    get: (path) => JSON.parse(fetchIn(ns, `${base}${path}`)) as unknown,
    alive: () => {
      if (server.exitCode !== null) throw new Error(`prometheus exited with ${server.exitCode}:\n${log}`);
    },
  };
}
