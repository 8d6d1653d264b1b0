/**
 * The forwarding benchmark's scenarios (run by bench/run.ts; method in docs/benchmarking.md).
 *
 * Every forwarder is built once, in its own namespaces (bench/lib/forwarders.ts), and stays
 * up. A run feeds one of them: the C generator floods its ingress for a warm-up and then a
 * measured window, in which the sink counts what came out and the forwarder's CPU time is
 * read before and after. Runs go round-robin over a scenario's forwarders (A B C A B C …) for
 * several rounds, so drift on a shared VM hits all alike; medians and ratios of medians are
 * reported, never judged.
 *
 *   1. forwarding: turtle6 (1 and 2 lanes) against tapfwd (a), tapfwd-uring (b) and the
 *      kernel (c), at 64 and 1400 bytes, with the no-router control.
 *   2. full table: turtle6 and the kernel with 100,000 random /48 routes (seeded) against the
 *      same with one route, destinations spread over the table; plus RSS and load time.
 *   4. latency: p50/p99 one-way latency at 10 % and 50 % of each forwarder's own 64-byte
 *      maximum from scenario 1, minus the control's at the same fractions of its maximum.
 *
 * --selftest runs each scenario once at a tiny rate with a fixed packet count and checks
 * that the counts add up: sent = delivered + dropped at the ingress queue + dropped by the
 * forwarder under a reason, and for turtle6 and tapfwd also received = forwarded + dropped.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SeededRng } from '../src/lib/rng.js';
import { pollUntil, TestBed } from '../test/helpers/netns.js';
import type { BenchBinaries } from './lib/build.js';
import {
  cForwarder,
  direct,
  kernel,
  NEXT_HOP,
  turtle6,
  writeLines,
  type Accounting,
  type Forwarder,
} from './lib/forwarders.js';
import { median } from './lib/stats.js';
import { delivered, Generator, type SinkReport } from './lib/traffic.js';

export interface Settings {
  readonly mode: 'full' | 'quick' | 'selftest';
  readonly rounds: number;
  /** Length of each measured window. */
  readonly seconds: number;
  /** Flood before the window starts, so queues and JITs reach their steady state. */
  readonly warmSeconds: number;
  readonly sizes: readonly number[];
  readonly fullTableRoutes: number;
  /** --selftest: packets per run and their rate. */
  readonly selftestCount: number;
  readonly selftestRate: number;
  readonly scenarios: readonly ScenarioId[];
  /** --baseline DIR: another built checkout of turtle6, measured beside this one in the forwarding scenario. */
  readonly baseline?: string;
}

export type ScenarioId = 'forwarding' | 'full-table' | 'latency';
export const SCENARIOS: readonly ScenarioId[] = ['forwarding', 'full-table', 'latency'];

/** The id suffix of the --baseline checkout's forwarders: turtle6-1-base beside turtle6-1. */
export const BASELINE = '-base';

/** UDP source ports the generator cycles through, so a multi-queue TAP spreads the load. */
const FLOWS = 64;
const SEED = 42;

export interface Sample {
  readonly forwarder: string;
  readonly size: number;
  readonly round: number;
  /** Packets out of the forwarder into the sink during the window. */
  readonly packets: number;
  readonly wallSeconds: number;
  readonly cpuSeconds: number;
  readonly pps: number;
  readonly ppsPerCpuSecond: number;
  /** What the generator pushed into the ingress, per second, over its whole run. */
  readonly offeredPps: number;
  readonly sinkRingDrops: number;
  /** Latency runs: the offered rate and the one-way latency percentiles, ns. */
  readonly rate?: number;
  readonly fraction?: number;
  readonly latency?: { n: number; p50: number; p99: number };
  /** The forwarder's own counters over the whole run, warm-up included (turtle6, tapfwd). */
  readonly forwarderCounters?: Record<string, number>;
  /** Selftest runs: the counts that must add up. */
  readonly accounting?: AccountingCheck;
}

export interface AccountingCheck {
  readonly sent: number;
  readonly delivered: number;
  readonly ingressDrops: number;
  readonly received: number | null;
  readonly forwarded: number | null;
  readonly dropped: number;
  readonly ok: boolean;
}

export interface ScenarioResult {
  readonly id: ScenarioId;
  readonly title: string;
  readonly forwarders: ReadonlyArray<{ id: string; description: string; cpuSource: string }>;
  readonly samples: Sample[];
  readonly extra: Record<string, unknown>;
  readonly problems: string[];
}

function measureFor(seconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, seconds * 1000));
}

/** Random /48s in 2000::/3, none inside the documentation prefix 2001:db8::/32 the bench uses. */
export function randomRoutes(count: number, seed: number): string[] {
  const rng = new SeededRng(seed);
  const word = () => Math.floor(rng.next() * 0x10000);
  const seen = new Set<string>();
  while (seen.size < count) {
    const first = 0x2000 | (word() & 0x1fff);
    const second = word();
    if (first === 0x2001 && second === 0x0db8) continue;
    seen.add(`${first.toString(16)}:${second.toString(16)}:${word().toString(16)}::/48`);
  }
  return [...seen];
}

/** One address inside each of `n` routes drawn from the table, for the generator. */
function destinationsIn(routes: readonly string[], n: number, seed: number): string[] {
  const rng = new SeededRng(seed);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const prefix = routes[Math.floor(rng.next() * routes.length)]!.replace('::/48', '');
    out.push(`${prefix}:${Math.floor(rng.next() * 0x10000).toString(16)}::${(1 + i).toString(16)}`);
  }
  return out;
}

interface Lab {
  readonly bed: TestBed;
  readonly bins: BenchBinaries;
  readonly forwarders: Map<string, Forwarder>;
  readonly extra: Record<string, unknown>;
}

async function buildLab(bins: BenchBinaries, settings: Settings, dir: string, log: (s: string) => void): Promise<Lab> {
  const bed = new TestBed('bench');
  const forwarders = new Map<string, Forwarder>();
  const extra: Record<string, unknown> = {};
  const add = (f: Forwarder) => {
    forwarders.set(f.id, f);
    log(`  ${f.id}: ${f.description} (ready in ${f.startupSeconds.toFixed(1)} s)`);
  };
  try {
    log('building the forwarders');
    add(await direct(bed, bins));
    add(await turtle6(bed, bins, { id: 'turtle6-1', description: 'turtle6, 1 lane', lanes: 1 }));
    add(await turtle6(bed, bins, { id: 'turtle6-2', description: 'turtle6, 2 lanes', lanes: 2 }));
    if (settings.baseline !== undefined && (settings.scenarios.includes('forwarding') || settings.scenarios.includes('latency'))) {
      const checkout = settings.baseline;
      add(await turtle6(bed, bins, { id: `turtle6-1${BASELINE}`, description: `turtle6 of ${checkout}, 1 lane`, lanes: 1, checkout }));
      add(await turtle6(bed, bins, { id: `turtle6-2${BASELINE}`, description: `turtle6 of ${checkout}, 2 lanes`, lanes: 2, checkout }));
    }
    add(await cForwarder(bed, bins, 'tapfwd', '(a) C, one read + one write per packet'));
    add(await cForwarder(bed, bins, 'tapfwd-uring', '(b) C, io_uring batches of 64'));
    add(await kernel(bed, bins, { id: 'kernel', description: '(c) Linux forwarding between veths' }));
    if (settings.scenarios.includes('full-table')) {
      const routes = randomRoutes(settings.fullTableRoutes, SEED);
      const dstFile = writeLines(dir, 'full-table-destinations.txt', destinationsIn(routes, 1024, SEED + 1));
      const routesYaml = routes.map((p) => `  - { prefix: "${p}", via: "${NEXT_HOP}" }`).join('\n');
      const n = settings.fullTableRoutes.toLocaleString('en');
      const startupTimeoutMs = Math.max(30_000, settings.fullTableRoutes * 3); // ≈ 3 ms per route, far above what was measured
      add(await turtle6(bed, bins, { id: 'turtle6-1-full', description: `turtle6, 1 lane, ${n} routes`, lanes: 1, routesYaml, dstFile, startupTimeoutMs }));
      const routeBatch = writeLines(dir, 'full-table.ip-batch', routes.map((p) => `route add ${p} via ${NEXT_HOP}`));
      add(await kernel(bed, bins, { id: 'kernel-full', description: `(c) Linux forwarding, ${n} routes`, routeBatch, dstFile }));
      extra['fullTable'] = { routes: settings.fullTableRoutes, seed: SEED, configBytes: routesYaml.length };
    }
    for (const f of forwarders.values()) await prime(bed, bins, f);
    return { bed, bins, forwarders, extra };
  } catch (e) {
    await bed.cleanup();
    throw e;
  }
}

/**
 * Sends a few packets until some come out, so that neighbour discovery (turtle6's and the
 * kernel's) is done before anything is measured; the first packets may wait on it or be lost.
 */
async function prime(bed: TestBed, bins: BenchBinaries, f: Forwarder): Promise<void> {
  const before = delivered(await f.sink.report());
  await pollUntil(
    `${f.id} to forward its first packets`,
    async () => {
      const gen = await Generator.start(bed, bins.gen, f.genNs, generatorOptions(f, 64, { rate: 1000, count: 20 }));
      await gen.finished(10_000);
      return delivered(await f.sink.report()) > before;
    },
    30_000,
    200,
  );
}

function generatorOptions(f: Forwarder, size: number, o: { rate: number; seconds?: number; count?: number; stamp?: boolean }) {
  return { ifname: f.genIf, dstMac: f.dstMac, size, flows: FLOWS, ...(f.dstFile ? { dstFile: f.dstFile } : {}), ...o };
}

/** The change in each of a forwarder's own counters, for the record (why packets went missing). */
function counterDelta(before: Accounting, after: Accounting): Record<string, number> {
  const out: Record<string, number> = { dropped: after.dropped - before.dropped };
  if (after.received !== null && before.received !== null) out['received'] = after.received - before.received;
  if (after.forwarded !== null && before.forwarded !== null) out['forwarded'] = after.forwarded - before.forwarded;
  for (const [k, v] of Object.entries(after.detail ?? {})) {
    const d = v - (before.detail?.[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

/**
 * A flood (or a paced run) with a measured window in the middle. The forwarder's counters
 * are read before the generator starts and after it stops, outside the window, so that the
 * control-socket calls do not land in turtle6's measured CPU time.
 */
async function window(lab: Lab, f: Forwarder, size: number, settings: Settings, rate: number, stamp: boolean) {
  const acc0 = await f.accounting();
  const gen = await Generator.start(lab.bed, lab.bins.gen, f.genNs, generatorOptions(f, size, { rate, stamp, seconds: settings.warmSeconds + settings.seconds + 30 }));
  await measureFor(settings.warmSeconds);
  const cpu0 = f.cpuSeconds();
  const r0 = await f.sink.report();
  await measureFor(settings.seconds);
  const cpu1 = f.cpuSeconds();
  const r1 = await f.sink.report();
  const g = await gen.stop();
  const acc1 = await f.accounting();
  const packets = delivered(r1) - delivered(r0);
  const wallSeconds = r1.t - r0.t;
  const cpuSeconds = cpu1 - cpu0;
  return {
    packets,
    wallSeconds,
    cpuSeconds,
    pps: packets / wallSeconds,
    ppsPerCpuSecond: cpuSeconds > 0 ? packets / cpuSeconds : NaN,
    offeredPps: g.sent / g.seconds,
    sinkRingDrops: r1.ringDrops - r0.ringDrops,
    latency: r1.latency,
    forwarderCounters: counterDelta(acc0, acc1),
  };
}

/** --selftest: exactly `count` packets at a tiny rate; checks that every one is accounted for. */
async function counted(lab: Lab, f: Forwarder, size: number, settings: Settings, stamp: boolean) {
  const acc0 = await f.accounting();
  const r0 = await f.sink.report();
  const in0 = f.ingressDrops();
  const gen = await Generator.start(lab.bed, lab.bins.gen, f.genNs, generatorOptions(f, size, { rate: settings.selftestRate, count: settings.selftestCount, stamp }));
  const g = await gen.finished(60_000);
  const delta = (a: number | null, b: number | null) => (a === null || b === null ? null : b - a);
  let check: AccountingCheck | undefined;
  let r1: SinkReport = r0;
  // Each sink report covers the latency samples since the previous one: keep the fullest.
  let latency = r0.latency;
  const settled = async () => {
    const acc1 = await f.accounting();
    r1 = await f.sink.report();
    if (r1.latency.n > latency.n) latency = r1.latency;
    const c = {
      sent: g.sent,
      delivered: delivered(r1) - delivered(r0),
      ingressDrops: f.ingressDrops() - in0,
      received: delta(acc0.received, acc1.received),
      forwarded: delta(acc0.forwarded, acc1.forwarded),
      dropped: acc1.dropped - acc0.dropped,
    };
    const ok =
      c.sent > 0 &&
      c.sent === c.delivered + c.ingressDrops + c.dropped &&
      (c.received === null || c.received === c.sent - c.ingressDrops) &&
      (c.received === null || c.forwarded === null || c.received === c.forwarded + c.dropped);
    check = { ...c, ok };
    return ok;
  };
  // Packets may still sit in a queue when the generator ends, and turtle6's lanes publish
  // their counters a little after the packets have left: allow a moment for both. A packet
  // that was never accounted for never turns up, and the last check says so.
  await pollUntil('every packet to be accounted for', settled, 5000).catch(() => undefined);
  if (!check) throw new Error(`${f.id}: could not read its counters or the sink's`);
  const seconds = g.seconds;
  return {
    packets: check.delivered,
    wallSeconds: seconds,
    cpuSeconds: NaN,
    pps: check.delivered / seconds,
    ppsPerCpuSecond: NaN,
    offeredPps: g.sent / seconds,
    sinkRingDrops: r1.ringDrops - r0.ringDrops,
    latency,
    accounting: check,
  };
}

interface Plan {
  readonly id: ScenarioId;
  readonly title: string;
  readonly forwarders: readonly string[];
  readonly sizes: readonly number[];
  /** Latency: fractions of each forwarder's maximum rate, with stamps. */
  readonly fractions?: readonly number[];
}

async function runPlan(lab: Lab, plan: Plan, settings: Settings, maxRate: Map<string, number>, log: (s: string) => void): Promise<ScenarioResult> {
  const result: ScenarioResult = {
    id: plan.id,
    title: plan.title,
    forwarders: plan.forwarders.map((id) => {
      const f = lab.forwarders.get(id)!;
      return { id, description: f.description, cpuSource: f.cpuSource };
    }),
    samples: [],
    extra: {},
    problems: [],
  };
  log(`scenario ${plan.id}: ${plan.title}`);
  const rounds = settings.mode === 'selftest' ? 1 : settings.rounds;
  for (let round = 1; round <= rounds; round++) {
    for (const size of plan.sizes) {
      for (const fraction of plan.fractions ?? [1]) {
        for (const id of roundOrder(plan.forwarders, round)) {
          const f = lab.forwarders.get(id)!;
          const stamp = plan.fractions !== undefined;
          let rate = 0;
          if (stamp && settings.mode !== 'selftest') {
            rate = Math.round(fraction * (maxRate.get(id) ?? NaN));
            if (!Number.isFinite(rate) || rate <= 0) {
              result.problems.push(`${id}: no maximum rate from the forwarding scenario to take ${fraction * 100} % of`);
              continue;
            }
          }
          const { latency, ...s } =
            settings.mode === 'selftest' ? await counted(lab, f, size, settings, stamp) : await window(lab, f, size, settings, rate, stamp);
          const sample: Sample = {
            forwarder: id,
            size,
            round,
            ...s,
            ...(stamp ? { rate: rate || settings.selftestRate, fraction, latency } : {}),
          };
          result.samples.push(sample);
          if (sample.accounting && !sample.accounting.ok) {
            result.problems.push(`${id} ${size} B: counts do not add up: ${JSON.stringify(sample.accounting)}`);
          }
          if (sample.packets <= 0) result.problems.push(`${id} ${size} B round ${round}: nothing came out`);
          log(`  round ${round} ${id.padEnd(14)} ${String(size).padStart(4)} B ${describe(sample)}`);
        }
      }
    }
  }
  return result;
}

/**
 * The forwarders in the order of round `round`: a --baseline build runs right beside its
 * counterpart (turtle6-1-base, turtle6-1), and the two swap places every other round, so
 * that drift and whatever the previous run left behind (a hot cache, a busy core) hit
 * both builds alike.
 */
function roundOrder(ids: readonly string[], round: number): string[] {
  const out = [...ids];
  if (round % 2 === 1) return out;
  for (let i = 0; i + 1 < out.length; i++) {
    if (out[i] === `${out[i + 1]}${BASELINE}`) [out[i], out[i + 1]] = [out[i + 1]!, out[i]!];
  }
  return out;
}

function describe(s: Sample): string {
  const rate = `${(s.pps / 1e6).toFixed(3)} Mpps wall, ${(s.ppsPerCpuSecond / 1e6).toFixed(3)} Mpps/CPU-s`;
  const lat = s.latency ? `, p50 ${(s.latency.p50 / 1000).toFixed(1)} µs p99 ${(s.latency.p99 / 1000).toFixed(1)} µs at ${s.rate} pps` : '';
  const acc = s.accounting ? `, sent ${s.accounting.sent} delivered ${s.accounting.delivered}${s.accounting.ok ? '' : ' MISMATCH'}` : '';
  return `${rate}${lat}${acc}`;
}

/** `id`, preceded by its --baseline counterpart when the lab has one. */
function withBaseline(lab: Lab, id: string): string[] {
  return lab.forwarders.has(`${id}${BASELINE}`) ? [`${id}${BASELINE}`, id] : [id];
}

export async function runForwardingBenchmark(bins: BenchBinaries, settings: Settings, log: (s: string) => void): Promise<ScenarioResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 't6bench-'));
  const lab = await buildLab(bins, settings, dir, log);
  const results: ScenarioResult[] = [];
  try {
    const want = (id: ScenarioId) => settings.scenarios.includes(id);
    const maxRate = new Map<string, number>();
    if (want('forwarding') || want('latency')) {
      const r = await runPlan(
        lab,
        {
          id: 'forwarding',
          title: 'IPv6 forwarding TAP→TAP: turtle6 against C and kernel references',
          forwarders: ['direct', ...withBaseline(lab, 'turtle6-1'), ...withBaseline(lab, 'turtle6-2'), 'tapfwd', 'tapfwd-uring', 'kernel'],
          sizes: settings.sizes,
        },
        settings,
        maxRate,
        log,
      );
      for (const f of r.forwarders) {
        maxRate.set(f.id, median(r.samples.filter((s) => s.forwarder === f.id && s.size === 64).map((s) => s.pps)));
      }
      if (want('forwarding')) results.push(r);
    }
    if (want('full-table')) {
      const r = await runPlan(
        lab,
        {
          id: 'full-table',
          title: `forwarding with ${settings.fullTableRoutes.toLocaleString('en')} random /48 routes against one route`,
          forwarders: ['turtle6-1', 'turtle6-1-full', 'kernel', 'kernel-full'],
          sizes: [64],
        },
        settings,
        maxRate,
        log,
      );
      const base = lab.forwarders.get('turtle6-1')!;
      const full = lab.forwarders.get('turtle6-1-full')!;
      const [baseRss, fullRss] = [base.rssKiB()!, full.rssKiB()!];
      Object.assign(r.extra, lab.extra, {
        turtle6RssKiB: { oneRoute: baseRss, fullTable: fullRss, increase: fullRss - baseRss },
        turtle6StartupSeconds: { oneRoute: base.startupSeconds, fullTable: full.startupSeconds },
        kernelRouteLoadSeconds: lab.forwarders.get('kernel-full')!.startupSeconds,
      });
      results.push(r);
    }
    if (want('latency')) {
      results.push(
        await runPlan(
          lab,
          {
            id: 'latency',
            title: 'one-way latency at 10 % and 50 % of each forwarder’s maximum 64-byte rate',
            forwarders: ['direct', 'turtle6-1', 'tapfwd', 'tapfwd-uring', 'kernel'],
            sizes: [64],
            fractions: [0.1, 0.5],
          },
          settings,
          maxRate,
          log,
        ),
      );
    }
    return results;
  } finally {
    await lab.bed.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}
