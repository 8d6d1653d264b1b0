/**
 * What the ESP tunnel benchmark's variants share (bench/esp-tunnel.ts): the shape of a
 * variant (a pair of ESP routers between the C generator and the sink), the addresses and
 * key, and the generator's and sink's sides of the topology.
 */
import { pollUntil, type Netns, type TestBed } from '../test/helpers/netns.js';
import type { BenchBinaries } from './lib/build.js';
import { delivered, Generator, Sink } from './lib/traffic.js';

/** What a variant puts between the generator and the sink. */
export interface TunnelPair {
  readonly id: string;
  readonly description: string;
  readonly genNs: Netns;
  readonly genIf: string;
  /** The MAC the generator addresses its frames to (the first router's ingress). */
  readonly dstMac: string;
  readonly sink: Sink;
  /** CPU seconds the two ESP processes have used so far. */
  cpuSeconds(): number;
}

/** AES-128-GCM key ‖ 4-byte salt (RFC 4106 §8.1), the same in every variant. */
export const TUNNEL_KEY = '4a4b4c4d4e4f505152535455565758590a0b0c0d';
/** The sink's address (the last next hop); gen.c sends every flow to 2001:db8:99::1, in DESTINATION_PREFIX. */
export const SINK_ADDR = '2001:db8:2::100';
export const DESTINATION_PREFIX = '2001:db8:99::/48';
/** UDP flows the generator cycles through (source ports), so multi-queue TAPs spread the load. */
export const FLOWS = 64;

/** The generator's side: up and silent, so that only generated frames reach R1. */
export function quiet(ns: Netns, ifname: string): void {
  ns.sysctl(`net.ipv6.conf.${ifname}.disable_ipv6`, '1');
  ns.ip('link', 'set', ifname, 'up');
}

/** A kernel router's interface in the reference tunnels: its address (no DAD wait) and up. */
export function addressUp(ns: Netns, ifname: string, prefix: string): void {
  ns.ip('addr', 'add', prefix, 'dev', ifname, 'nodad');
  ns.ip('link', 'set', ifname, 'up');
}

/** The sink's side: the next hop's address, and a blackhole behind it so nothing answers. */
export async function sinkSide(bed: TestBed, bins: BenchBinaries, s: Netns, ifname: string): Promise<Sink> {
  s.ip('link', 'set', ifname, 'up');
  s.ip('addr', 'add', `${SINK_ADDR}/64`, 'dev', ifname, 'nodad');
  s.ip('-6', 'route', 'add', 'blackhole', 'default');
  return Sink.start(bed, bins.gen, s, ifname);
}

/** Sends a few packets until some come out, so that neighbour discovery is done before measuring. */
export async function prime(bed: TestBed, bins: BenchBinaries, p: TunnelPair): Promise<void> {
  const before = delivered(await p.sink.report());
  await pollUntil(
    `${p.id} to carry its first packets`,
    async () => {
      const gen = await Generator.start(bed, bins.gen, p.genNs, { ifname: p.genIf, dstMac: p.dstMac, size: 128, flows: FLOWS, rate: 1000, count: 20 });
      await gen.finished(10_000);
      return delivered(await p.sink.report()) > before;
    },
    30_000,
    200,
  );
}

