#!/usr/bin/env node
/**
 * `npm run bench`: the forwarding benchmark (bench/forwarding.ts; method and how to read the
 * numbers in docs/benchmarking.md). Prints a table, and writes every sample to
 * bench/results/latest.json and a Markdown summary to bench/results/latest.md.
 *
 *   npm run bench                   5 rounds of 3 s windows (a few minutes)
 *   npm run bench -- --quick        3 rounds of 1 s windows
 *   npm run bench -- --quick --baseline DIR
 *                                   also runs the turtle6 of DIR (another built checkout) in
 *                                   the forwarding scenario, interleaved with this build round
 *                                   by round, and reports both builds' ratios to tapfwd-uring
 *   npm run bench -- --selftest     one tiny counted run per forwarder and scenario; exit 1
 *                                   when any count does not add up (the test suite runs this)
 *   npm run bench -- --interfaces eth1,eth2 --no-namespaces --next-hop-mac MAC
 *                                   real NICs fed by a traffic machine (docs/benchmarking.md,
 *                                   "On real NICs"); --quick, --rounds, --seconds and --out apply
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { dirname, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { buildBenchBinaries } from './lib/build.js';
import { runForwardingBenchmark, SCENARIOS, type ScenarioId, type ScenarioResult, type Settings } from './forwarding.js';
import { turtle6Binary } from './lib/forwarders.js';
import { runOnInterfaces, type NicOptions } from './lib/interfaces.js';
import { tablesFor } from './lib/report.js';
import { markdownTable, textTable } from './lib/stats.js';

interface CliOptions {
  quick: boolean;
  selftest: boolean;
  rounds?: string;
  seconds?: string;
  scenario?: string;
  routes?: string;
  out?: string;
  interfaces?: string;
  namespaces: boolean;
  protocols: boolean;
  nextHop: string;
  nextHopMac?: string;
  route: string;
  baseline?: string;
}

/** A positive integer or number from the command line, or a clear error. */
function positive(option: string, value: string, integer: boolean): number {
  const n = Number(value);
  if (!(n > 0) || (integer && !Number.isInteger(n))) throw new Error(`${option} takes a positive ${integer ? 'integer' : 'number'}, not '${value}'`);
  return n;
}

function settingsFrom(o: CliOptions): Settings {
  const mode = o.selftest ? 'selftest' : o.quick ? 'quick' : 'full';
  // Checked before anything is built: the baseline's own turtle6 must be there.
  if (o.baseline !== undefined) turtle6Binary(o.baseline);
  const scenarios = (o.scenario ? o.scenario.split(',') : [...SCENARIOS]) as ScenarioId[];
  for (const s of scenarios) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario '${s}' (expected one of ${SCENARIOS.join(', ')})`);
  const defaults = {
    full: { rounds: 5, seconds: 3, warm: 0.5 },
    quick: { rounds: 3, seconds: 1, warm: 0.3 },
    selftest: { rounds: 1, seconds: 0, warm: 0 },
  }[mode];
  return {
    mode,
    rounds: o.rounds ? positive('--rounds', o.rounds, true) : defaults.rounds,
    seconds: o.seconds ? positive('--seconds', o.seconds, false) : defaults.seconds,
    warmSeconds: defaults.warm,
    sizes: [64, 1400],
    // The selftest checks the mechanics, not the scale: a small table loads in a second.
    fullTableRoutes: o.routes ? Number(o.routes) : mode === 'selftest' ? 2000 : 100_000,
    selftestCount: 500,
    selftestRate: 2000,
    scenarios,
    ...(o.baseline !== undefined ? { baseline: o.baseline } : {}),
  };
}

function render(results: readonly ScenarioResult[], format: 'text' | 'markdown'): string {
  const out: string[] = [];
  for (const r of results) {
    for (const t of tablesFor(r)) {
      out.push(format === 'markdown' ? `### ${t.title}\n\n${markdownTable(t.rows)}` : `${t.title}\n${textTable(t.rows)}`);
      for (const n of t.notes ?? []) out.push(format === 'markdown' ? `- ${n}` : `  ${n}`);
    }
    for (const p of r.problems) out.push(format === 'markdown' ? `- **problem:** ${p}` : `  PROBLEM: ${p}`);
  }
  return out.join('\n\n') + '\n';
}

/** --interfaces IN,OUT --no-namespaces: the real-NIC run's settings (docs/benchmarking.md, "On real NICs"). */
function nicOptions(o: CliOptions): NicOptions {
  if (!o.interfaces) throw new Error('--no-namespaces needs --interfaces IN,OUT');
  if (o.namespaces) throw new Error('--interfaces needs --no-namespaces (the NICs replace the namespace topology)');
  // These count, pick or size what this machine generates; here the traffic machine decides.
  for (const [given, name] of [[o.selftest, '--selftest'], [o.scenario, '--scenario'], [o.routes, '--routes'], [o.baseline, '--baseline']] as const) {
    if (given) throw new Error(`${name} needs the namespace topology; with --interfaces use --quick, --rounds and --seconds`);
  }
  const [inIf, outIf, ...more] = o.interfaces.split(',');
  if (!inIf || !outIf || more.length > 0) throw new Error('--interfaces takes two names: IN,OUT');
  if (!o.nextHopMac) throw new Error('--interfaces needs --next-hop-mac MAC (the sink machine\'s MAC on OUT\'s link)');
  const s = settingsFrom(o);
  return { inIf, outIf, nextHop: o.nextHop, nextHopMac: o.nextHopMac, route: o.route, rounds: s.rounds, seconds: s.seconds, warmSeconds: s.warmSeconds };
}

async function main(): Promise<number> {
  const program = new Command('bench')
    .description('turtle6 forwarding benchmark')
    .option('--quick', '3 rounds of 1 s windows (about two minutes)', false)
    .option('--selftest', 'one tiny counted run per forwarder; checks that the counts add up', false)
    .option('--rounds <n>', 'rounds of A B C … runs')
    .option('--seconds <s>', 'length of each measured window')
    .option('--scenario <ids>', `comma-separated subset of ${SCENARIOS.join(',')}`)
    .option('--routes <n>', 'routes in the full-table scenario')
    .option('--baseline <dir>', 'another built checkout of turtle6 (with dist/), measured beside this one in the forwarding scenario')
    .option('--out <file>', 'JSON results file (the Markdown summary goes beside it)')
    .option('--interfaces <a,b>', 'forward between these two real NICs (with --no-namespaces)')
    .addOption(new Option('--no-namespaces', 'do not build the namespace topology; use --interfaces'))
    .addOption(new Option('--no-protocols', 'skip the ESP, RIPng and DHCPv6 benchmarks that follow the forwarding ones'))
    .option('--next-hop <addr>', 'with --interfaces: the sink machine\'s address on OUT\'s link', '2001:db8:2::100')
    .option('--next-hop-mac <mac>', 'with --interfaces: its MAC (the C references do no neighbour discovery)')
    .option('--route <prefix>', 'with --interfaces: where the external generator sends', '2001:db8:99::/48');
  const o = program.parse(process.argv).opts<CliOptions>();
  const log = (s: string) => process.stderr.write(`${s}\n`);

  // The options are checked before anything is built or started.
  const settings = o.namespaces && !o.interfaces ? settingsFrom(o) : nicOptions(o);
  const started = new Date();
  const binaries = buildBenchBinaries();
  const results = 'inIf' in settings ? [await runOnInterfaces(binaries, settings, log)] : await runForwardingBenchmark(binaries, settings, log);

  const mode = o.selftest ? 'selftest' : o.quick ? 'quick' : 'full';
  const json = resolve(o.out ?? `bench/results/${mode === 'selftest' ? 'selftest' : 'latest'}.json`);
  const md = json.replace(/\.json$/, '') + '.md';
  mkdirSync(dirname(json), { recursive: true });
  const host = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', kernel: release(), node: process.version };
  writeFileSync(json, JSON.stringify({ started: started.toISOString(), mode, host, settings, scenarios: results }, null, 2) + '\n');
  const header = `# turtle6 forwarding benchmark (${mode})\n\n${started.toISOString()} · ${host.cpus} × ${host.cpuModel} · Linux ${host.kernel} · Node ${host.node}\n\nMedians over the rounds; ratios are ratios of medians measured in the same run. See docs/benchmarking.md.\n\n`;
  writeFileSync(md, header + render(results, 'markdown'));
  process.stdout.write(render(results, 'text'));
  log(`wrote ${json} and ${md}`);
  const problems = results.flatMap((r) => r.problems);
  const others = o.namespaces && !o.selftest && o.protocols && !o.scenario ? runOtherBenchmarks(mode === 'quick', dirname(json), log) : 0;
  return problems.length > 0 || others > 0 ? 1 : 0;
}

/**
 * The rest of `npm run bench` (issue 7, scenarios 3 and 5): ESP tunnel throughput against
 * strongSwan and wireguard-go, RIPng convergence against BIRD, DHCPv6 leases/s against Kea.
 * Each is its own script with its own references run in the same invocation; they write their
 * samples beside latest.json. Returns how many of them failed.
 */
function runOtherBenchmarks(quick: boolean, dir: string, log: (s: string) => void): number {
  const scripts: Array<[string, string[]]> = [
    ['esp-tunnel', [...(quick ? ['--quick'] : []), '--json', `${dir}/esp-tunnel.json`]],
    ['ripng-scale', [...(quick ? ['--routes', '2000', '--rounds', '1'] : []), '--out', `${dir}/ripng-scale.json`]],
    ['dhcpv6', [...(quick ? ['--quick'] : []), '--out', `${dir}/dhcpv6.json`]],
  ];
  let failed = 0;
  for (const [name, args] of scripts) {
    log(`running bench/${name}.ts ${args.join(' ')}`);
    const r = spawnSync(process.execPath, [new URL(`./${name}.js`, import.meta.url).pathname, ...args], { stdio: 'inherit' });
    if (r.status !== 0) {
      log(`bench/${name}.ts failed (exit ${r.status ?? r.signal})`);
      failed++;
    }
  }
  return failed;
}

process.exitCode = await main();
