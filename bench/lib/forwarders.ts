/**
 * The forwarders the benchmark compares, each built in its own namespaces so that all of
 * them can stand ready at once and a run only decides which one the generator feeds:
 *
 *   G (generator) ── port ── R (the forwarder) ── port ── S (sink)
 *
 * - turtle6: the real binary in R with two TAP ports whose kernel sides sit in G and S.
 * - tapfwd / tapfwd-uring (references a and b): the C forwarders in R, the same TAP layout.
 * - kernel (reference c): Linux forwarding in R between two veth pairs.
 * - direct: no router at all, the generator's veth straight into S: the control run that
 *   shows what generator and sink manage on their own.
 *
 * Every forwarder sends to 2001:db8:2::100 in S (the next hop), which has a blackhole default
 * route: the kernel there discards each packet right after the sink's packet socket has
 * counted it, without ICMPv6 errors. IPv6 is disabled on G's interface, so nothing but the
 * generator's frames reaches the forwarder's ingress, and its counters add up exactly.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DROPS } from '../../src/dataplane/counters.js';
import { pollUntil, shortName, type Netns, type TestBed } from '../../test/helpers/netns.js';
import { startRouter } from '../../test/helpers/router.js';
import { processCpuSeconds, softirqCpuSeconds, vmRssKiB } from './proc.js';
import { Sink } from './traffic.js';
import type { BenchBinaries } from './build.js';

/** What a forwarder says it did with the packets it received (cumulative). */
export interface Accounting {
  /** Packets the forwarder read from its ingress; null when it cannot tell. */
  readonly received: number | null;
  readonly forwarded: number | null;
  /** Packets it received and discarded, each counted under some reason. */
  readonly dropped: number;
  /** The forwarder's own non-zero counters behind these sums, for diagnosis. */
  readonly detail?: Record<string, number>;
}

export interface Forwarder {
  readonly id: string;
  readonly description: string;
  /** 'process': utime+stime of the forwarding process; 'softirq': the kernel's softirq time. */
  readonly cpuSource: 'process' | 'softirq';
  readonly genNs: Netns;
  readonly genIf: string;
  readonly dstMac: string;
  /** Destinations for the generator (one per line), when not the default 2001:db8:99::1. */
  readonly dstFile?: string;
  readonly sink: Sink;
  /** Seconds the forwarder has spent on the CPU so far. */
  cpuSeconds(): number;
  /** Its resident memory, when it is a process. */
  rssKiB(): number | null;
  /** Seconds from start to forwarding-ready (turtle6: "turtle6 is up"; kernel: route load). */
  readonly startupSeconds: number;
  accounting(): Promise<Accounting>;
  /** Frames the ingress link dropped before the forwarder saw them (a full TAP queue, a full backlog). */
  ingressDrops(): number;
}

export const NEXT_HOP = '2001:db8:2::100';
export const DEFAULT_ROUTE_PREFIX = '2001:db8:99::/48';
const SINK_MAC = '02:74:36:00:02:64';
const TURTLE6_IN_MAC = '02:74:36:00:01:01';
const TURTLE6_OUT_MAC = '02:74:36:00:02:01';
/** tapfwd's own MAC (bench/lib/tapfwd-common.h); it does not check the destination. */
const TAPFWD_MAC = '02:74:36:00:00:fe';

interface LinkStats {
  rx: { packets: number; dropped: number };
  tx: { packets: number; dropped: number };
}

function linkStats(ns: Netns, ifname: string): LinkStats {
  const [link] = JSON.parse(ns.ip('-s', '-j', 'link', 'show', 'dev', ifname)) as Array<{ stats64: LinkStats }>;
  return link!.stats64;
}

function linkMac(ns: Netns, ifname: string): string {
  const [link] = JSON.parse(ns.ip('-j', 'link', 'show', 'dev', ifname)) as Array<{ address: string }>;
  return link!.address;
}

/** G's side: up, and silent (no RS, MLD or DAD), so only generated frames cross it. */
function quietGeneratorSide(g: Netns, ifname: string): void {
  g.sysctl(`net.ipv6.conf.${ifname}.disable_ipv6`, '1');
  g.ip('link', 'set', ifname, 'up');
}

/** S's side: the next hop's address and MAC, and a blackhole for everything forwarded to it. */
async function sinkSide(bed: TestBed, bins: BenchBinaries, s: Netns, ifname: string, setMac: boolean): Promise<Sink> {
  if (setMac) s.ip('link', 'set', ifname, 'address', SINK_MAC);
  s.ip('link', 'set', ifname, 'up');
  s.ip('addr', 'add', `${NEXT_HOP}/64`, 'dev', ifname, 'nodad');
  s.ip('-6', 'route', 'add', 'blackhole', 'default');
  return Sink.start(bed, bins.gen, s, ifname);
}

export interface Turtle6Options {
  readonly lanes: number;
  /** Extra static routes (YAML list entries), e.g. a full table; written to the config file. */
  readonly routesYaml?: string;
  readonly dstFile?: string;
  readonly id: string;
  readonly description: string;
  /** How long to wait for "turtle6 is up" (default 30 s). */
  readonly startupTimeoutMs?: number;
  /** Another built checkout of turtle6 (--baseline DIR) to run instead of this one. */
  readonly checkout?: string;
}

/** The built turtle6 of checkout `dir`, or a clear error when it has not been built. */
export function turtle6Binary(dir: string): string {
  const file = join(resolve(dir), 'dist', 'src', 'app', 'turtle6.js');
  if (!existsSync(file)) throw new Error(`--baseline ${dir}: no ${file} (run \`npm ci && npm run build\` in that checkout)`);
  return file;
}

export async function turtle6(bed: TestBed, bins: BenchBinaries, o: Turtle6Options): Promise<Forwarder> {
  const [g, r, s] = [bed.netns(`${o.id}-g`), bed.netns(`${o.id}-r`), bed.netns(`${o.id}-s`)];
  const [inIf, outIf] = [shortName('t6bi'), shortName('t6bo')];
  const config = `
interfaces:
  - name: ${inIf}
    kind: tap
    mac: ${TURTLE6_IN_MAC}
    addresses: [2001:db8:1::1/64]
    netns: ${g.name}
    ra: { enabled: false }
  - name: ${outIf}
    kind: tap
    mac: ${TURTLE6_OUT_MAC}
    addresses: [2001:db8:2::1/64]
    netns: ${s.name}
    ra: { enabled: false }
routes:
  - { prefix: "${DEFAULT_ROUTE_PREFIX}", via: "${NEXT_HOP}" }
${o.routesYaml ?? ''}
dataplane:
  lanes: ${o.lanes}
  io: auto
  hostInterface: false
metrics:
  listen: ""
`;
  const started = performance.now();
  // startRouter keeps polling until the deadline even after turtle6 has died, so the
  // deadline is tight unless a big table is loading (that time is itself a result).
  const options = o.checkout === undefined ? {} : { command: [process.execPath, turtle6Binary(o.checkout)] };
  const router = await startRouter(bed, r, config, o.startupTimeoutMs ?? 30_000, options);
  const startupSeconds = (performance.now() - started) / 1000;
  const pid = router.process.pid!;
  quietGeneratorSide(g, inIf);
  const sink = await sinkSide(bed, bins, s, outIf, false);
  return {
    id: o.id,
    description: o.description,
    cpuSource: 'process',
    genNs: g,
    genIf: inIf,
    dstMac: TURTLE6_IN_MAC,
    ...(o.dstFile ? { dstFile: o.dstFile } : {}),
    sink,
    cpuSeconds: () => processCpuSeconds(pid),
    rssKiB: () => vmRssKiB(pid),
    startupSeconds,
    accounting: async () => {
      const c = await router.counters(inIf);
      const out = await router.counters(outIf);
      // Every frame read ends forwarded, punted or under one drop reason (counters.ts); a
      // forwarded frame the kernel then refused to take is lost too.
      const dropped = DROPS.reduce((sum, d) => sum + (c[d.name] ?? 0), 0) + (c['punted'] ?? 0) + (out['tx_failed'] ?? 0);
      const detail = Object.fromEntries([
        ...Object.entries(c).map(([k, v]) => [`in.${k}`, v] as const),
        ...Object.entries(out).map(([k, v]) => [`out.${k}`, v] as const),
      ].filter(([, v]) => v !== 0));
      return { received: c['rx_packets'] ?? 0, forwarded: c['forwarded'] ?? 0, dropped, detail };
    },
    ingressDrops: () => linkStats(g, inIf).tx.dropped,
  };
}

export async function cForwarder(bed: TestBed, bins: BenchBinaries, kind: 'tapfwd' | 'tapfwd-uring', description: string): Promise<Forwarder> {
  const [g, r, s] = [bed.netns(`${kind}-g`), bed.netns(`${kind}-r`), bed.netns(`${kind}-s`)];
  const [inIf, outIf] = [shortName('t6ci'), shortName('t6co')];
  const bin = kind === 'tapfwd' ? bins.tapfwd : bins.tapfwdUring;
  const child = bed.spawnIn(r, bin, [inIf, outIf, SINK_MAC]);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  await pollUntil(`${kind} to create its TAPs`, () => {
    if (child.exitCode !== null) throw new Error(`${kind} exited with ${child.exitCode}: ${err}`);
    return out.includes('ready');
  });
  // The fds stay attached when the kernel sides move (DESIGN.md, "What it is").
  r.ip('link', 'set', inIf, 'netns', g.name);
  r.ip('link', 'set', outIf, 'netns', s.name);
  quietGeneratorSide(g, inIf);
  const sink = await sinkSide(bed, bins, s, outIf, true);
  const pid = child.pid!;
  return {
    id: kind,
    description,
    cpuSource: 'process',
    genNs: g,
    genIf: inIf,
    dstMac: TAPFWD_MAC,
    sink,
    cpuSeconds: () => processCpuSeconds(pid),
    rssKiB: () => vmRssKiB(pid),
    startupSeconds: 0,
    accounting: async () => {
      const before = out.length;
      child.kill('SIGUSR1');
      let counts: { rx: number; tx: number; dropped: number } | undefined;
      await pollUntil(`${kind} to report its counters`, () => {
        const line = out.slice(before).split('\n').find((l) => l.startsWith('{'));
        if (line && out.slice(before).includes('}\n')) counts = JSON.parse(line) as typeof counts;
        return counts !== undefined;
      });
      return { received: counts!.rx, forwarded: counts!.tx, dropped: counts!.dropped, detail: counts };
    },
    ingressDrops: () => linkStats(g, inIf).tx.dropped,
  };
}

/** A veth pair with one end in each namespace. */
function veth(a: Netns, aIf: string, b: Netns, bIf: string): void {
  a.ip('link', 'add', aIf, 'type', 'veth', 'peer', 'name', bIf, 'netns', b.name);
}

function snmp6(ns: Netns): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of ns.runOk('cat', ['/proc/net/snmp6']).split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v) out[k] = Number(v);
  }
  return out;
}

/** The IP-MIB counters (RFC 4293) under which Linux counts a packet it did not forward. */
const KERNEL_DISCARDS = ['Ip6InDiscards', 'Ip6InNoRoutes', 'Ip6InHdrErrors', 'Ip6InAddrErrors', 'Ip6OutDiscards', 'Ip6OutNoRoutes'];

export interface KernelOptions {
  readonly id: string;
  readonly description: string;
  /** A file of `route add …` lines for `ip -6 -batch`, e.g. a full table. */
  readonly routeBatch?: string;
  readonly dstFile?: string;
}

export async function kernel(bed: TestBed, bins: BenchBinaries, o: KernelOptions): Promise<Forwarder> {
  const [g, r, s] = [bed.netns(`${o.id}-g`), bed.netns(`${o.id}-r`), bed.netns(`${o.id}-s`)];
  const [gIf, rIn, rOut, sIf] = [shortName('t6kg'), shortName('t6ki'), shortName('t6ko'), shortName('t6ks')];
  veth(g, gIf, r, rIn);
  veth(r, rOut, s, sIf);
  r.sysctl('net.ipv6.conf.all.forwarding', '1');
  for (const ifn of [rIn, rOut]) r.ip('link', 'set', ifn, 'up');
  r.ip('addr', 'add', '2001:db8:1::1/64', 'dev', rIn, 'nodad');
  r.ip('addr', 'add', '2001:db8:2::1/64', 'dev', rOut, 'nodad');
  r.ip('-6', 'route', 'add', DEFAULT_ROUTE_PREFIX, 'via', NEXT_HOP);
  const started = performance.now();
  if (o.routeBatch) r.ip('-6', '-batch', o.routeBatch);
  const startupSeconds = (performance.now() - started) / 1000;
  quietGeneratorSide(g, gIf);
  const sink = await sinkSide(bed, bins, s, sIf, false);
  const dstMac = linkMac(r, rIn);
  return {
    id: o.id,
    description: o.description,
    cpuSource: 'softirq',
    genNs: g,
    genIf: gIf,
    dstMac,
    ...(o.dstFile ? { dstFile: o.dstFile } : {}),
    sink,
    cpuSeconds: softirqCpuSeconds,
    rssKiB: () => null,
    startupSeconds,
    accounting: async () => {
      // RFC 4293's IP-MIB counters of R's stack. Ip6InReceives would also count ND from S,
      // so received stays unknown; every discard lands in one of these.
      const c = snmp6(r);
      const detail: Record<string, number> = { txDropped: linkStats(r, rOut).tx.dropped };
      for (const k of KERNEL_DISCARDS) detail[k] = c[k] ?? 0;
      const dropped = Object.values(detail).reduce((sum, v) => sum + v, 0);
      return { received: null, forwarded: c['Ip6OutForwDatagrams'] ?? 0, dropped, detail };
    },
    ingressDrops: () => linkStats(g, gIf).tx.dropped,
  };
}

export async function direct(bed: TestBed, bins: BenchBinaries): Promise<Forwarder> {
  const [g, s] = [bed.netns('direct-g'), bed.netns('direct-s')];
  const [gIf, sIf] = [shortName('t6dg'), shortName('t6ds')];
  veth(g, gIf, s, sIf);
  quietGeneratorSide(g, gIf);
  const sink = await sinkSide(bed, bins, s, sIf, false);
  return {
    id: 'direct',
    description: 'control: generator → sink, no router',
    cpuSource: 'softirq',
    genNs: g,
    genIf: gIf,
    dstMac: linkMac(s, sIf),
    sink,
    cpuSeconds: softirqCpuSeconds,
    rssKiB: () => null,
    startupSeconds: 0,
    accounting: async () => ({ received: null, forwarded: null, dropped: 0 }),
    ingressDrops: () => linkStats(g, gIf).tx.dropped,
  };
}

/** Writes lines to a file in `dir` and returns its path. */
export function writeLines(dir: string, name: string, lines: readonly string[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}
