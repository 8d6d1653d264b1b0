/**
 * `--interfaces IN,OUT --no-namespaces`: the benchmark on two real NICs of this machine,
 * with the traffic generated elsewhere (docs/benchmarking.md: trafgen or TRex on a second
 * machine, sending IPv6/UDP to 2001:db8:99::/48 into IN, addressed to IN's MAC, its sink
 * behind OUT).
 *
 * No topology is built and nothing is generated here. Each forwarder in turn takes the two
 * NICs (turtle6 through `attach:`, the C references through the same tc mirred glue, the
 * kernel by forwarding on the host), and the rate is what OUT transmitted during the window
 * (its kernel tx_packets). On real NICs the receive interrupt and softirq work happen outside
 * the forwarding process, so CPU here is the forwarder's process time plus all softirq time;
 * for the kernel it is the softirq time alone.
 *
 * The kernel's own IPv6 must stay silent on the NICs while a userspace forwarder owns them
 * (its RS, MLD and DAD would leave through OUT and be counted), and must be on for the kernel
 * run: each forwarder sets that up, and the NICs get their original setting back at the end.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { attachToKernelInterface, detachFromKernelInterface } from '../../src/io/tuntap.js';
import { pollUntil, run, runOk, shortName, TestBed } from '../../test/helpers/netns.js';
import { TURTLE6 } from '../../test/helpers/router.js';
import type { BenchBinaries } from './build.js';
import type { ScenarioResult, Sample } from '../forwarding.js';
import { processCpuSeconds, softirqCpuSeconds } from './proc.js';

export interface NicOptions {
  readonly inIf: string;
  readonly outIf: string;
  /** The sink machine's address on OUT's link, and its MAC (the C references do no ND). */
  readonly nextHop: string;
  readonly nextHopMac: string;
  readonly route: string;
  readonly rounds: number;
  readonly seconds: number;
  /** Forwarding before the window starts, so queues and JITs reach their steady state. */
  readonly warmSeconds: number;
}

/** The addresses docs/benchmarking.md gives the NICs: the forwarder's side of each link. */
const IN_ADDRESS = '2001:db8:1::1/64';
const OUT_ADDRESS = '2001:db8:2::1/64';

/**
 * A forwarder counts as forwarding once OUT has sent this many frames since it started: far
 * more than its own ND and MLD chatter (a handful of frames), far less than a second of any
 * generator's traffic.
 */
const FORWARDING_FRAMES = 100;
const FORWARDING_TIMEOUT_MS = 30_000;

interface Running {
  /** The forwarding process, or null for the kernel. */
  readonly pid: number | null;
  stop(): Promise<void>;
}

function sysfs(ifname: string, file: string): string {
  return readFileSync(`/sys/class/net/${ifname}/${file}`, 'utf8').trim();
}

function txPackets(ifname: string): number {
  return Number(sysfs(ifname, 'statistics/tx_packets'));
}

const FORWARDING = 'net.ipv6.conf.all.forwarding';

/** In the slash form, which also works for NIC names with a dot (VLANs such as eth0.100). */
function disableIpv6Key(ifname: string): string {
  return `net/ipv6/conf/${ifname}/disable_ipv6`;
}

function sysctl(key: string): string {
  return runOk('sysctl', ['-n', key]).trim();
}

function setSysctl(key: string, value: string): void {
  runOk('sysctl', ['-qw', `${key}=${value}`]);
}

/** Waits for `marker` in a child's output (it keeps being read, so the pipes never fill); fails with the output when the child exits. */
async function readyLine(child: ChildProcess, what: string, marker: string, timeoutMs: number): Promise<void> {
  let out = '';
  for (const stream of [child.stdout!, child.stderr!]) stream.setEncoding('utf8').on('data', (d: string) => (out += d));
  // pollUntil retries a check that throws until its deadline, so an exit ends the wait instead.
  await pollUntil(`${what} to be ready`, () => child.exitCode !== null || out.includes(marker), timeoutMs);
  if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}:\n${out}`);
}

async function untilExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await pollUntil('the forwarder to exit', () => child.exitCode !== null || child.signalCode !== null, 15_000);
}

async function startTurtle6(bed: TestBed, dir: string, o: NicOptions, lanes: number): Promise<Running> {
  const file = join(dir, `turtle6-${lanes}.yaml`);
  // Each port takes its NIC's MAC: the generator addresses IN's MAC whichever forwarder is
  // measured, and the sink sees OUT's, as it would from the kernel.
  writeFileSync(
    file,
    `interfaces:
  - { name: ${shortName('t6ni')}, kind: tap, attach: ${o.inIf}, mac: "${sysfs(o.inIf, 'address')}", addresses: [${IN_ADDRESS}], ra: { enabled: false } }
  - { name: ${shortName('t6no')}, kind: tap, attach: ${o.outIf}, mac: "${sysfs(o.outIf, 'address')}", addresses: [${OUT_ADDRESS}], ra: { enabled: false } }
routes:
  - { prefix: "${o.route}", via: "${o.nextHop}" }
dataplane: { lanes: ${lanes}, io: auto, hostInterface: false }
metrics: { listen: "" }
control: { socket: ${join(dir, `turtle6-${lanes}.sock`)} }
stateDir: ${join(dir, 'state')}
`,
  );
  const child = bed.spawn(process.execPath, [TURTLE6, 'run', '--config', file]);
  await readyLine(child, `turtle6 (${lanes} lanes)`, 'turtle6 is up', 60_000);
  return { pid: child.pid!, stop: () => untilExit(child) };
}

async function startC(bed: TestBed, bin: string, o: NicOptions): Promise<Running> {
  const [tin, tout] = [shortName('t6ci'), shortName('t6co')];
  const child = bed.spawn(bin, [tin, tout, o.nextHopMac]);
  await readyLine(child, bin, 'ready', 10_000);
  // turtle6 silences the kernel on its glued TAPs and NICs itself; the references cannot.
  for (const [tap, nic] of [[tin, o.inIf], [tout, o.outIf]] as const) {
    setSysctl(disableIpv6Key(tap), '1');
    setSysctl(disableIpv6Key(nic), '1');
    runOk('ip', ['link', 'set', tap, 'up']);
    attachToKernelInterface(tap, nic);
  }
  return {
    pid: child.pid!,
    stop: async () => {
      detachFromKernelInterface(tin, o.inIf);
      detachFromKernelInterface(tout, o.outIf);
      await untilExit(child);
    },
  };
}

/** `forwarding`: the host's setting before the bench, which the kernel's turn ends with. */
async function startKernel(o: NicOptions, forwarding: string): Promise<Running> {
  // OUT's address makes the next hop on-link, and is the source of the kernel's ND for it.
  const addresses = [[IN_ADDRESS, o.inIf], [OUT_ADDRESS, o.outIf]] as const;
  const stop = async () => {
    run('ip', ['-6', 'route', 'del', o.route, 'via', o.nextHop, 'dev', o.outIf]);
    for (const [addr, nic] of addresses) run('ip', ['-6', 'addr', 'del', addr, 'dev', nic]);
    setSysctl(FORWARDING, forwarding);
  };
  try {
    // Forwarding first, so that the NICs come up as a router's: no router solicitations.
    setSysctl(FORWARDING, '1');
    for (const nic of [o.inIf, o.outIf]) setSysctl(disableIpv6Key(nic), '0');
    for (const [addr, nic] of addresses) runOk('ip', ['-6', 'addr', 'replace', addr, 'dev', nic, 'nodad']);
    runOk('ip', ['-6', 'route', 'replace', o.route, 'via', o.nextHop, 'dev', o.outIf]);
  } catch (e) {
    await stop();
    throw e;
  }
  return { pid: null, stop };
}

function measureFor(seconds: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, seconds * 1000));
}

/**
 * One forwarder's turn: wait until traffic comes out of OUT, warm up, then measure a window.
 * Returns null (with a problem recorded) when nothing is forwarded.
 */
async function measure(o: NicOptions, id: string, round: number, running: Running, problems: string[]): Promise<Sample | null> {
  const cpu = () => (running.pid === null ? 0 : processCpuSeconds(running.pid)) + softirqCpuSeconds();
  const started = txPackets(o.outIf);
  try {
    await pollUntil(`${id} to forward through ${o.outIf}`, () => txPackets(o.outIf) - started >= FORWARDING_FRAMES, FORWARDING_TIMEOUT_MS);
  } catch {
    problems.push(`${id} round ${round}: nothing left ${o.outIf} within ${FORWARDING_TIMEOUT_MS / 1000} s (is the generator running, addressed to ${o.inIf}'s MAC ${sysfs(o.inIf, 'address')}?)`);
    return null;
  }
  await measureFor(o.warmSeconds);
  const [t0, c0, p0] = [performance.now(), cpu(), txPackets(o.outIf)];
  await measureFor(o.seconds);
  const [t1, c1, p1] = [performance.now(), cpu(), txPackets(o.outIf)];
  const [packets, wallSeconds, cpuSeconds] = [p1 - p0, (t1 - t0) / 1000, c1 - c0];
  if (packets === 0) problems.push(`${id} round ${round}: nothing left ${o.outIf} in the window (did the generator stop?)`);
  if (cpuSeconds <= 0) problems.push(`${id} round ${round}: no CPU time was counted in the window (too short for the tick accounting: raise --seconds)`);
  return {
    forwarder: id,
    size: 0, // set by the external generator
    round,
    packets,
    wallSeconds,
    cpuSeconds,
    pps: packets / wallSeconds,
    ppsPerCpuSecond: cpuSeconds > 0 ? packets / cpuSeconds : NaN,
    offeredPps: NaN,
    sinkRingDrops: 0,
  };
}

export async function runOnInterfaces(bins: BenchBinaries, o: NicOptions, log: (s: string) => void): Promise<ScenarioResult> {
  for (const nic of [o.inIf, o.outIf]) {
    if (!existsSync(`/sys/class/net/${nic}`)) throw new Error(`--interfaces: no interface ${nic} here`);
  }
  const bed = new TestBed('bench-nic');
  const dir = mkdtempSync(join(tmpdir(), 't6bench-nic-'));
  // What the forwarders change on the host, to put back however the run ends.
  const original = new Map([FORWARDING, disableIpv6Key(o.inIf), disableIpv6Key(o.outIf)].map((key) => [key, sysctl(key)]));
  const forwarders: Array<{ id: string; description: string; start: () => Promise<Running> }> = [
    { id: 'turtle6-1', description: 'turtle6, 1 lane', start: () => startTurtle6(bed, dir, o, 1) },
    { id: 'turtle6-2', description: 'turtle6, 2 lanes', start: () => startTurtle6(bed, dir, o, 2) },
    { id: 'tapfwd', description: '(a) C, one read + one write per packet', start: () => startC(bed, bins.tapfwd, o) },
    { id: 'tapfwd-uring', description: '(b) C, io_uring batches of 64', start: () => startC(bed, bins.tapfwdUring, o) },
    { id: 'kernel', description: '(c) Linux forwarding on the host', start: () => startKernel(o, original.get(FORWARDING)!) },
  ];
  const result: ScenarioResult = {
    id: 'forwarding',
    title: `IPv6 forwarding ${o.inIf}→${o.outIf} (external generator)`,
    forwarders: forwarders.map((f) => ({ id: f.id, description: f.description, cpuSource: f.id === 'kernel' ? 'softirq' : 'process+softirq' })),
    samples: [],
    extra: { nextHop: o.nextHop, route: o.route },
    problems: [],
  };
  try {
    // turtle6 brings up the NICs it attaches to; the C references and the kernel need it done.
    for (const nic of [o.inIf, o.outIf]) runOk('ip', ['link', 'set', nic, 'up']);
    for (let round = 1; round <= o.rounds; round++) {
      for (const f of forwarders) {
        const running = await f.start();
        try {
          const sample = await measure(o, f.id, round, running, result.problems);
          if (!sample) continue;
          result.samples.push(sample);
          log(`  round ${round} ${f.id.padEnd(14)} ${(sample.pps / 1e6).toFixed(3)} Mpps wall, ${(sample.ppsPerCpuSecond / 1e6).toFixed(3)} Mpps/CPU-s`);
        } finally {
          await running.stop();
        }
      }
    }
    return result;
  } finally {
    await bed.cleanup();
    // The glue of a forwarder that died before its stop (a killed turtle6 leaves its own).
    for (const nic of [o.inIf, o.outIf]) run('tc', ['qdisc', 'del', 'dev', nic, 'ingress']);
    for (const [key, value] of original) setSysctl(key, value);
    rmSync(dir, { recursive: true, force: true });
  }
}
