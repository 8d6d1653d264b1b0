#!/usr/bin/env node
/**
 * ESP tunnel throughput (issue 6, "Performance"; issue 7, scenario 3): two turtle6 routers
 * with a tunnel-mode AES-128-GCM SA between them, fed by the forwarding benchmark's C
 * generator and counted by its sink (bench/ref/gen.c, bench/lib/traffic.ts):
 *
 *   G ── tap ── R1 (turtle6: SPD out → encrypt) ── tap ─┐
 *                                                       M (a bridge)
 *   S ── tap ── R2 (turtle6: decrypt → SPD in → FIB) ── tap ─┘
 *
 * Variants, each a router pair standing ready in its own namespaces, measured round-robin
 * (A B C … A B C …) so that drift on a shared VM hits all alike; medians and ratios of
 * medians are reported, never judged:
 *   plain-L   the same pair with no ipsec section: plain forwarding twice
 *   native-L  ESP with the C crypto helper (`ipsec.crypto: native`)
 *   node-L    ESP with node:crypto (`ipsec.crypto: node`)
 *   for L = 1 and 2 lanes. An SA is pinned to one lane (its home lane, SPI mod lanes), so with
 *   2 lanes there are two SAs, each protecting half of the generator's 64 flows (by UDP
 *   source port), one per lane: as two IKE child SAs would spread a tunnel over two cores.
 *   strongswan  the C reference: charon with kernel-libipsec in both routers (userspace ESP
 *               over a TUN device, UDP-encapsulated on 4500, bench/esp-strongswan.ts).
 *   wireguard   what users pick instead: wireguard-go in both (bench/esp-wireguard.ts).
 *
 * Packets per second at the sink (wall clock), and per CPU-second of the two ESP processes
 * (utime + stime of both routers from /proc, lanes and threads included; the bridge, the
 * generator and the sink are not counted), and Gbit/s of inner IPv6 packets.
 *
 *   node dist/bench/esp-tunnel.js [--quick] [--rounds N] [--seconds S] [--no-strongswan] [--no-wireguard] [--json FILE]
 */
import { cpus, release } from 'node:os';
import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { run, shortName, TestBed, type Netns } from '../test/helpers/netns.js';
import { startRouter } from '../test/helpers/router.js';
import { buildBenchBinaries, type BenchBinaries } from './lib/build.js';
import { processCpuSeconds } from './lib/proc.js';
import { delivered, Generator } from './lib/traffic.js';
import { markdownTable, median, mpps, ratio, textTable } from './lib/stats.js';
import { strongswanPair } from './esp-strongswan.js';
import { wireguardPair } from './esp-wireguard.js';
import { DESTINATION_PREFIX, FLOWS, SINK_ADDR, TUNNEL_KEY, prime, quiet, sinkSide, type TunnelPair } from './esp-topology.js';

const R1_IN_MAC = '02:74:36:00:e1:01';
const R1_MID_MAC = '02:74:36:00:e1:02';
const R2_MID_MAC = '02:74:36:00:e2:02';
const R2_OUT_MAC = '02:74:36:00:e2:01';
const R1_MID = '2001:db8:ff::1';
const R2_MID = '2001:db8:ff::2';
/** gen.c's flows: UDP source ports 1024 … 1024 + FLOWS − 1. */
const FIRST_PORT = 1024;
const SIZES = [64, 512, 1400];

type Crypto = 'plain' | 'native' | 'node';

/** One SA per lane; SA i protects the i-th slice of the source ports and lives on lane i. */
function ipsecSection(crypto: Crypto, lanes: number, direction: 'out' | 'in'): string {
  if (crypto === 'plain') return '';
  // Both routers describe the same SAs: from R1's middle port to R2's.
  const [src, dst] = [R1_MID, R2_MID];
  const per = FLOWS / lanes;
  const sas: string[] = [];
  const policies: string[] = [];
  for (let i = 0; i < lanes; i++) {
    // SPI mod lanes is the home lane (src/ipsec/model.ts): 0x1000 + i lives on lane i.
    const spi = 0x1000 + i;
    const ports = `"${FIRST_PORT + i * per}-${FIRST_PORT + (i + 1) * per - 1}"`;
    sas.push(`    - { spi: ${spi}, direction: ${direction}, mode: tunnel, src: ${src}, dst: ${dst}, encryption: aes-gcm-128, encKey: "0x${TUNNEL_KEY}", replayWindow: 1024 }`);
    policies.push(`    - { direction: ${direction}, dst: "${DESTINATION_PREFIX}", proto: udp, srcPort: ${ports}, sa: ${spi} }`);
  }
  return `ipsec:\n  crypto: ${crypto}\n  sas:\n${sas.join('\n')}\n  policies:\n${policies.join('\n')}\n`;
}

function routerConfig(ports: Array<{ name: string; mac: string; address: string; netns: string }>, route: string, ipsec: string, lanes: number): string {
  const interfaces = ports.map((p) => `  - { name: ${p.name}, kind: tap, mac: "${p.mac}", addresses: [${p.address}], netns: ${p.netns}, ra: { enabled: false } }`).join('\n');
  return `interfaces:\n${interfaces}\nroutes:\n  - { prefix: "${DESTINATION_PREFIX}", via: "${route}" }\ndataplane: { lanes: ${lanes}, io: auto, hostInterface: false }\nmetrics: { listen: "" }\n${ipsec}`;
}

async function turtle6Pair(bed: TestBed, bins: BenchBinaries, crypto: Crypto, lanes: number): Promise<TunnelPair> {
  const id = `${crypto}-${lanes}`;
  const tag = `${crypto.slice(0, 2)}${lanes}`;
  const [g, r1, m, r2, s] = ['g', 'r1', 'm', 'r2', 's'].map((n) => bed.netns(`${tag}${n}`)) as [Netns, Netns, Netns, Netns, Netns];
  const [inIf, mid1, mid2, outIf] = [shortName('t6ei'), shortName('t6em'), shortName('t6en'), shortName('t6eo')];
  const one = await startRouter(bed, r1, routerConfig([
    { name: inIf, mac: R1_IN_MAC, address: '2001:db8:1::1/64', netns: g.name },
    { name: mid1, mac: R1_MID_MAC, address: `${R1_MID}/64`, netns: m.name },
  ], R2_MID, ipsecSection(crypto, lanes, 'out'), lanes), 60_000);
  const two = await startRouter(bed, r2, routerConfig([
    { name: mid2, mac: R2_MID_MAC, address: `${R2_MID}/64`, netns: m.name },
    { name: outIf, mac: R2_OUT_MAC, address: '2001:db8:2::1/64', netns: s.name },
  ], SINK_ADDR, ipsecSection(crypto, lanes, 'in'), lanes), 60_000);
  // M joins the two routers' middle ports with a bridge and says nothing itself.
  m.ip('link', 'add', 'br0', 'type', 'bridge');
  for (const ifname of ['br0', mid1, mid2]) m.sysctl(`net.ipv6.conf.${ifname}.disable_ipv6`, '1');
  for (const ifname of [mid1, mid2]) m.ip('link', 'set', ifname, 'master', 'br0');
  for (const ifname of ['br0', mid1, mid2]) m.ip('link', 'set', ifname, 'up');
  quiet(g, inIf);
  const sink = await sinkSide(bed, bins, s, outIf);
  const pids = [one.process.pid!, two.process.pid!];
  const what = crypto === 'plain' ? 'plain forwarding, no SA' : crypto === 'native' ? 'ESP, C crypto helper' : 'ESP, node:crypto';
  return {
    id,
    description: `turtle6 × 2, ${lanes} lane${lanes > 1 ? 's' : ''}, ${what}`,
    genNs: g,
    genIf: inIf,
    dstMac: R1_IN_MAC,
    sink,
    cpuSeconds: () => pids.reduce((sum, pid) => sum + processCpuSeconds(pid), 0),
  };
}

interface Sample {
  readonly variant: string;
  readonly size: number;
  readonly round: number;
  readonly packets: number;
  readonly wallSeconds: number;
  readonly cpuSeconds: number;
  readonly pps: number;
  readonly ppsPerCpuSecond: number;
  readonly offeredPps: number;
}

const sleep = (seconds: number) => new Promise<void>((resolve) => setTimeout(resolve, seconds * 1000));

async function measure(bed: TestBed, bins: BenchBinaries, p: TunnelPair, size: number, round: number, warm: number, seconds: number): Promise<Sample> {
  const gen = await Generator.start(bed, bins.gen, p.genNs, { ifname: p.genIf, dstMac: p.dstMac, size, flows: FLOWS, rate: 0, seconds: warm + seconds + 30 });
  await sleep(warm);
  const [c0, r0] = [p.cpuSeconds(), await p.sink.report()];
  await sleep(seconds);
  const [c1, r1] = [p.cpuSeconds(), await p.sink.report()];
  const g = await gen.stop();
  const packets = delivered(r1) - delivered(r0);
  const wallSeconds = r1.t - r0.t;
  const cpuSeconds = c1 - c0;
  return { variant: p.id, size, round, packets, wallSeconds, cpuSeconds, pps: packets / wallSeconds, ppsPerCpuSecond: cpuSeconds > 0 ? packets / cpuSeconds : NaN, offeredPps: g.sent / g.seconds };
}

function medianOf(samples: readonly Sample[], variant: string, size: number, pick: (s: Sample) => number): number {
  return median(samples.filter((s) => s.variant === variant && s.size === size).map(pick).filter(Number.isFinite));
}

const gbps = (pps: number, size: number) => (Number.isFinite(pps) ? ((pps * size * 8) / 1e9).toFixed(2) : '–');

function tables(samples: readonly Sample[], pairs: readonly TunnelPair[]): Array<{ title: string; rows: string[][] }> {
  const med = [['variant', 'size', 'runs', 'Mpps (wall)', 'Gbit/s (wall)', 'Mpps per CPU-s', 'Gbit/s per CPU-s']];
  for (const size of SIZES) {
    for (const p of pairs) {
      const wall = medianOf(samples, p.id, size, (s) => s.pps);
      const cpu = medianOf(samples, p.id, size, (s) => s.ppsPerCpuSecond);
      med.push([p.id, `${size} B`, String(samples.filter((s) => s.variant === p.id && s.size === size).length), mpps(wall), gbps(wall, size), mpps(cpu), gbps(cpu, size)]);
    }
  }
  const ratios = [['ratio of medians', 'size', 'per CPU-s', 'wall', 'target']];
  const has = (id: string) => pairs.some((p) => p.id === id);
  const row = (a: string, b: string, size: number, target: string) => {
    if (!has(a) || !has(b)) return;
    const cpu = medianOf(samples, a, size, (s) => s.ppsPerCpuSecond) / medianOf(samples, b, size, (s) => s.ppsPerCpuSecond);
    const wall = medianOf(samples, a, size, (s) => s.pps) / medianOf(samples, b, size, (s) => s.pps);
    ratios.push([`${a} / ${b}`, `${size} B`, ratio(cpu), ratio(wall), target]);
  };
  for (const size of SIZES) {
    for (const lanes of [1, 2]) {
      row(`native-${lanes}`, `plain-${lanes}`, size, '–');
      row(`native-${lanes}`, `node-${lanes}`, size, '–');
      row(`native-${lanes}`, 'strongswan', size, '≥ 2×');
      row(`native-${lanes}`, 'wireguard', size, '≥ 1×');
    }
  }
  return [
    { title: 'ESP tunnel (AES-128-GCM) between two routers: medians', rows: med },
    { title: 'ESP tunnel: ratios', rows: ratios },
  ];
}

interface Options {
  quick: boolean;
  rounds?: string;
  seconds?: string;
  strongswan: boolean;
  wireguard: boolean;
  json?: string;
}

async function main(): Promise<void> {
  const o = new Command()
    .option('--quick', 'three rounds of 1-second windows')
    .option('--rounds <n>', 'rounds (default 5; 3 with --quick)')
    .option('--seconds <s>', 'length of each measured window (default 3; 1 with --quick)')
    .option('--no-strongswan', 'leave out the strongSwan kernel-libipsec reference')
    .option('--no-wireguard', 'leave out the wireguard-go reference')
    .option('--json <file>', 'write every sample there')
    .parse()
    .opts<Options>();
  const rounds = Number(o.rounds ?? (o.quick ? 3 : 5));
  const seconds = Number(o.seconds ?? (o.quick ? 1 : 3));
  const warm = o.quick ? 0.5 : 1;
  const bins = buildBenchBinaries();
  const bed = new TestBed('espb');
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const cleanup = () => void bed.cleanup();
  process.once('SIGINT', cleanup);
  try {
    const pairs: TunnelPair[] = [];
    for (const lanes of [1, 2]) for (const crypto of ['plain', 'native', 'node'] as const) pairs.push(await turtle6Pair(bed, bins, crypto, lanes));
    if (o.strongswan) pairs.push(await strongswanPair(bed, bins));
    if (o.wireguard) pairs.push(await wireguardPair(bed, bins));
    for (const p of pairs) {
      await prime(bed, bins, p);
      log(`ready: ${p.id} — ${p.description}`);
    }
    const samples: Sample[] = [];
    for (let round = 1; round <= rounds; round++) {
      for (const size of SIZES) {
        for (const p of pairs) {
          const s = await measure(bed, bins, p, size, round, warm, seconds);
          samples.push(s);
          log(`round ${round} ${String(size).padStart(4)} B ${p.id.padEnd(10)} ${mpps(s.pps)} Mpps wall, ${mpps(s.ppsPerCpuSecond)} Mpps/CPU-s (offered ${mpps(s.offeredPps)})`);
        }
      }
    }
    const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} vCPUs, Linux ${release()}, Node ${process.versions.node}, OpenSSL ${process.versions.openssl}`;
    const strongswanVersion = o.strongswan ? run('dpkg-query', ['-W', '-f', '${Version}', 'charon-systemd']).stdout.trim() : null;
    process.stdout.write(`ESP tunnel benchmark — ${machine}; ${rounds} rounds of ${seconds} s windows${strongswanVersion ? `; strongSwan ${strongswanVersion}` : ''}\n\n`);
    for (const p of pairs) process.stdout.write(`  ${p.id.padEnd(10)} ${p.description}\n`);
    for (const t of tables(samples, pairs)) process.stdout.write(`\n${t.title}\n${textTable(t.rows)}\n\nMarkdown:\n${markdownTable(t.rows)}\n`);
    if (o.json) writeFileSync(o.json, JSON.stringify({ machine, rounds, seconds, variants: pairs.map((p) => ({ id: p.id, description: p.description })), samples }, null, 1));
  } finally {
    process.off('SIGINT', cleanup);
    await bed.cleanup();
  }
}

await main();
