/**
 * `--interfaces IN,OUT --no-namespaces`: the benchmark on two real NICs of this machine,
 * with the traffic generated elsewhere (docs/benchmarking.md: trafgen or TRex on a second
 * machine, sending IPv6/UDP to 2001:db8:99::/48 into IN, its sink behind OUT).
 *
 * No topology is built and nothing is generated here. Each forwarder in turn takes the two
 * NICs (turtle6 through `attach:`, the C references through the same tc mirred glue, the
 * kernel by forwarding on the host), and the rate is what OUT transmitted during the window
 * (its kernel tx_packets). On real NICs the receive interrupt and softirq work happen outside
 * the forwarding process, so CPU here is the forwarder's process time plus all softirq time;
 * for the kernel it is the softirq time alone.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
}

interface Running {
  /** The forwarding process, or null for the kernel. */
  readonly pid: number | null;
  stop(): Promise<void>;
}

function txPackets(ifname: string): number {
  return Number(runOk('cat', [`/sys/class/net/${ifname}/statistics/tx_packets`]).trim());
}

async function untilExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await pollUntil('the forwarder to exit', () => child.exitCode !== null || child.signalCode !== null, 15_000);
}

async function startTurtle6(bed: TestBed, dir: string, o: NicOptions, lanes: number): Promise<Running> {
  const file = join(dir, `turtle6-${lanes}.yaml`);
  writeFileSync(
    file,
    `interfaces:
  - { name: ${shortName('t6ni')}, kind: tap, attach: ${o.inIf}, addresses: [2001:db8:1::1/64], ra: { enabled: false } }
  - { name: ${shortName('t6no')}, kind: tap, attach: ${o.outIf}, addresses: [2001:db8:2::1/64], ra: { enabled: false } }
routes:
  - { prefix: "${o.route}", via: "${o.nextHop}" }
dataplane: { lanes: ${lanes}, io: auto, hostInterface: false }
metrics: { listen: "" }
control: { socket: ${join(dir, `turtle6-${lanes}.sock`)} }
stateDir: ${join(dir, 'state')}
`,
  );
  const child = bed.spawn(process.execPath, [TURTLE6, 'run', '--config', file]);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await pollUntil('turtle6 to come up', () => {
    if (child.exitCode !== null) throw new Error(`turtle6 exited with ${child.exitCode}:\n${out}`);
    return out.includes('turtle6 is up');
  }, 60_000);
  return { pid: child.pid!, stop: () => untilExit(child) };
}

async function startC(bed: TestBed, bin: string, o: NicOptions): Promise<Running> {
  const [tin, tout] = [shortName('t6ci'), shortName('t6co')];
  const child = bed.spawn(bin, [tin, tout, o.nextHopMac]);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await pollUntil(`${bin} to create its TAPs`, () => {
    if (child.exitCode !== null) throw new Error(`${bin} exited with ${child.exitCode}`);
    return out.includes('ready');
  });
  for (const [tap, nic] of [[tin, o.inIf], [tout, o.outIf]] as const) {
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

function startKernel(o: NicOptions): Running {
  const before = runOk('sysctl', ['-n', 'net.ipv6.conf.all.forwarding']).trim();
  runOk('sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
  runOk('ip', ['-6', 'route', 'replace', o.route, 'via', o.nextHop, 'dev', o.outIf]);
  return {
    pid: null,
    stop: async () => {
      run('ip', ['-6', 'route', 'del', o.route, 'via', o.nextHop, 'dev', o.outIf]);
      runOk('sysctl', ['-qw', `net.ipv6.conf.all.forwarding=${before}`]);
    },
  };
}

export async function runOnInterfaces(bins: BenchBinaries, o: NicOptions, log: (s: string) => void): Promise<ScenarioResult> {
  const bed = new TestBed('bench-nic');
  const dir = mkdtempSync(join(tmpdir(), 't6bench-nic-'));
  const forwarders: Array<{ id: string; description: string; start: () => Promise<Running> }> = [
    { id: 'turtle6-1', description: 'turtle6, 1 lane', start: () => startTurtle6(bed, dir, o, 1) },
    { id: 'turtle6-2', description: 'turtle6, 2 lanes', start: () => startTurtle6(bed, dir, o, 2) },
    { id: 'tapfwd', description: '(a) C, one read + one write per packet', start: () => startC(bed, bins.tapfwd, o) },
    { id: 'tapfwd-uring', description: '(b) C, io_uring batches of 64', start: () => startC(bed, bins.tapfwdUring, o) },
    { id: 'kernel', description: '(c) Linux forwarding on the host', start: async () => startKernel(o) },
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
    for (let round = 1; round <= o.rounds; round++) {
      for (const f of forwarders) {
        const running = await f.start();
        try {
          const cpu = () => (running.pid === null ? 0 : processCpuSeconds(running.pid)) + softirqCpuSeconds();
          // Give the forwarder a second to settle (neighbour resolution, JIT) before measuring.
          await new Promise((r) => setTimeout(r, 1000));
          const [t0, c0, p0] = [performance.now(), cpu(), txPackets(o.outIf)];
          await new Promise((r) => setTimeout(r, o.seconds * 1000));
          const [t1, c1, p1] = [performance.now(), cpu(), txPackets(o.outIf)];
          const packets = p1 - p0;
          const sample: Sample = {
            forwarder: f.id,
            size: 0, // set by the external generator
            round,
            packets,
            wallSeconds: (t1 - t0) / 1000,
            cpuSeconds: c1 - c0,
            pps: packets / ((t1 - t0) / 1000),
            ppsPerCpuSecond: packets / (c1 - c0),
            offeredPps: NaN,
            sinkRingDrops: 0,
          };
          result.samples.push(sample);
          if (packets === 0) result.problems.push(`${f.id} round ${round}: nothing left ${o.outIf} (is the generator running?)`);
          log(`  round ${round} ${f.id.padEnd(14)} ${(sample.pps / 1e6).toFixed(3)} Mpps wall, ${(sample.ppsPerCpuSecond / 1e6).toFixed(3)} Mpps/CPU-s`);
        } finally {
          await running.stop();
        }
      }
    }
    return result;
  } finally {
    await bed.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}
