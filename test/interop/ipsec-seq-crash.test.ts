/**
 * Outbound ESP sequence numbers across `kill -9` (issue 11, item 4; docs/ipsec.md, "Sequence
 * numbers across restarts"): the real turtle6 process forwards a UDP flood (the benchmark's
 * generator, bench/ref/gen.c, faster than one lane) through an AES-GCM tunnel SA as fast as it
 * can, well above the 2¹⁶ a second that the former restart margin assumed, and is killed with SIGKILL mid-flood, then
 * started again with the same config and state directory, four runs in all. A capture on the
 * peer's side records every ESP packet that left; across all of them no (SPI, sequence number)
 * pair may repeat (under GCM a repeat is a repeated nonce), and each run must begin above the
 * highest number of the run before. Samples of every run are decrypted by scapy's
 * SecurityAssociation under the one key.
 *
 *   h1 (gen send, 2001:db8:1::100) ── if1 ── turtle6 ── if2 ── peer (kernel, 2001:db8:2::20; tcpdump -i any)
 *
 * The peer's kernel answers Neighbor Discovery and discards the ESP (it has no SA); the capture
 * is on `any`, so it survives the router's TAPs vanishing with each kill and appearing again.
 * A capture drop could hide a repeat, so the test requires tcpdump's "dropped by kernel" to be 0.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pollUntil, requireCommand, run, shortName, TestBed, type Netns } from '../helpers/netns.js';
import { startRouter, type RunningRouter } from '../helpers/router.js';
import { GCM, PEER, PYTHON, ROUTER, SPI_OUT, requireScapy, saYaml } from './scapy-esp/common.js';
import { buildBenchBinaries } from '../../bench/lib/build.js';
import { Generator } from '../../bench/lib/traffic.js';
import { SeededRng, uniform } from '../../src/lib/rng.js';
import { LINKTYPE_RAW, PcapWriter } from '../../src/wire/pcap.js';

const DECRYPT_PY = resolve('test/interop/scapy-esp/decrypt-pcap.py');
const DST = '2001:db8:3::1';
const RUNS = 4;
/** Packets decrypted by scapy at each end of every run. */
const SAMPLE = 20;

const IF1_MAC = '02:00:5e:00:01:01';

interface EspRecord {
  /** Capture time, Unix epoch ms. */
  readonly at: number;
  readonly spi: number;
  readonly seq: number;
  /** The IPv6 packet, for scapy. */
  readonly ip: Uint8Array;
}

/** The ESP packets of a classic pcap from `tcpdump -i any` (Linux cooked v1 or v2) or of an Ethernet link. */
function readEsp(file: string): EspRecord[] {
  const buf = readFileSync(file);
  const little = buf.readUInt32LE(0) === 0xa1b2c3d4;
  const u32 = (at: number) => (little ? buf.readUInt32LE(at) : buf.readUInt32BE(at));
  const linkType = u32(20);
  const linkHeader = { 1: 14, 113: 16, 276: 20 }[linkType];
  if (linkHeader === undefined) throw new Error(`unexpected pcap link type ${linkType}`);
  const out: EspRecord[] = [];
  for (let at = 24; at + 16 <= buf.length; ) {
    const captured = u32(at + 8);
    const ip = at + 16 + linkHeader;
    if (captured >= linkHeader + 48 && buf[ip + 6] === 50) {
      out.push({ at: u32(at) * 1000 + u32(at + 4) / 1000, spi: buf.readUInt32BE(ip + 40), seq: buf.readUInt32BE(ip + 44), ip: buf.subarray(ip, at + 16 + captured) });
    }
    at += 16 + captured;
  }
  return out;
}

/** The router's ports appear with each start: the generator's side up, the peer's address on the other. */
function wireHosts(h1: Netns, peer: Netns, if1: string, if2: string): void {
  h1.ip('link', 'set', if1, 'up');
  peer.ip('addr', 'add', `${PEER}/64`, 'dev', if2, 'nodad');
  peer.ip('link', 'set', if2, 'up');
}

async function outboundSeq(router: RunningRouter): Promise<number> {
  const sas = (await router.ctl(['show', 'ipsec', 'sa'])) as Array<{ spi: number; direction: string; seq: number }>;
  return sas.find((s) => s.spi === SPI_OUT && s.direction === 'out')?.seq ?? 0;
}

test('kill -9 mid-flood, four runs with one config and state directory: no (SPI, sequence number) repeats on the wire, each run begins above the last', async (t) => {
  requireScapy();
  requireCommand('tcpdump', 'tcpdump');
  const bins = buildBenchBinaries();
  const bed = new TestBed('espcrash');
  t.after(() => bed.cleanup());
  const r = bed.netns('r');
  const h1 = bed.netns('h1');
  const peer = bed.netns('peer');
  const if1 = shortName('t6e');
  const if2 = shortName('t6p');
  const work = mkdtempSync(join(tmpdir(), 't6-seqcrash-'));
  bed.onCleanup(() => rmSync(work, { recursive: true, force: true }));
  const config = `
interfaces:
  - name: ${if1}
    mac: "${IF1_MAC}"
    addresses: [2001:db8:1::1/64]
    netns: ${h1.name}
  - name: ${if2}
    addresses: [${ROUTER}/64]
    netns: ${peer.name}
routes:
  - { prefix: 2001:db8:3::/64, via: ${PEER} }
dataplane: { lanes: 1, hostInterface: false }
stateDir: ${join(work, 'state')}
ipsec:
  crypto: native
  sas:
${saYaml(GCM, SPI_OUT, 'out', 'tunnel', ROUTER, PEER, GCM.out)}  policies:
    - { direction: out, src: 2001:db8:1::/64, dst: 2001:db8:3::/64, sa: ${SPI_OUT} }
`;

  // One capture for all runs: a 256 MiB kernel buffer, whole packets (scapy decrypts samples).
  const pcap = join(work, 'esp.pcap');
  const dsts = join(work, 'dsts');
  writeFileSync(dsts, `${DST}\n`);
  const dump = bed.spawnIn(peer, 'tcpdump', ['-i', 'any', '-n', '-B', '262144', '-s', '0', '-w', pcap, 'ip6 and ip6[6] == 50']);
  let dumpErr = '';
  dump.stderr?.on('data', (d: Buffer) => (dumpErr += d.toString()));
  await pollUntil('tcpdump to listen', () => dumpErr.includes('listening'));

  const rng = new SeededRng(0x5e9c);
  const startedAt: number[] = [];
  const killedAtSeq: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    startedAt.push(Date.now());
    const router = await startRouter(bed, r, config);
    wireHosts(h1, peer, if1, if2);
    // One packet first, so that the flood finds the peer resolved: packets numbered while the
    // router resolves it would be dropped from its ND queue and leave holes in the capture.
    await (await Generator.start(bed, bins.gen, h1, { ifname: if1, dstMac: IF1_MAC, size: 80, flows: 1, dstFile: dsts, rate: 0, count: 1 })).finished(10_000);
    await pollUntil(`run ${i}: the router to resolve the peer`, async () => ((await router.ctl(['show', 'neighbors'])) as Array<{ address: string; mac: string | null }>).some((n) => n.address === PEER && n.mac !== null));
    const gen = await Generator.start(bed, bins.gen, h1, { ifname: if1, dstMac: IF1_MAC, size: 80, flows: 1, dstFile: dsts, rate: 0 });
    // Kill somewhere in the flood: past the first reservation (2^16) and into later ones.
    const start = await outboundSeq(router);
    const killAt = start + Math.floor(uniform(rng, 80_000, 200_000));
    await pollUntil(`run ${i}: the outbound SA to pass sequence number ${killAt}`, async () => (await outboundSeq(router)) >= killAt, 60_000, 20);
    router.process.kill('SIGKILL');
    await pollUntil(`run ${i}: turtle6 to die`, () => router.process.signalCode !== null || router.process.exitCode !== null);
    killedAtSeq.push(killAt);
    await gen.stop();
    // The TAPs go with the process; the next start creates them again under the same names.
    await pollUntil(`run ${i}: the router's ports to vanish`, () => h1.run('ip', ['link', 'show', if1]).code !== 0 && peer.run('ip', ['link', 'show', if2]).code !== 0);
  }
  dump.kill('SIGINT');
  await pollUntil('tcpdump to exit', () => dump.exitCode !== null || dump.signalCode !== null, 30_000);
  const dropped = /(\d+) packets? dropped by kernel/.exec(dumpErr);
  assert.ok(dropped !== null, `tcpdump's statistics:\n${dumpErr}`);
  assert.equal(Number(dropped[1]), 0, `the capture lost packets, so a repeat could hide among them:\n${dumpErr}`);

  const records = readEsp(pcap);
  const seen = new Set<number>();
  const repeats: string[] = [];
  for (const p of records) {
    assert.equal(p.spi, SPI_OUT);
    if (seen.has(p.seq)) repeats.push(`${p.seq}`);
    seen.add(p.seq);
  }
  assert.deepEqual(repeats.slice(0, 20), [], `${repeats.length} (SPI, sequence number) pairs repeated on the wire`);

  const runs = startedAt.map((from, i) => records.filter((p) => p.at >= from && p.at < (startedAt[i + 1] ?? Infinity)));
  assert.equal(runs.flat().length, records.length, 'every packet was captured during one of the runs');
  const summary = runs.map((ps, i) => {
    const seconds = ps.length > 1 ? (ps.at(-1)!.at - ps[0]!.at) / 1000 : 0;
    const first = ps.reduce((m, p) => Math.min(m, p.seq), Infinity);
    const last = ps.reduce((m, p) => Math.max(m, p.seq), -Infinity);
    // Numbers used but missing from the capture (a write the kernel refused, say); the numbers
    // of the last batch before the kill are above `last` and not counted.
    const notOnWire = last - first + 1 - ps.length;
    return { run: i, packets: ps.length, first, last, notOnWire, killedPast: killedAtSeq[i], packetsPerSecond: Math.round(ps.length / seconds) };
  });
  t.diagnostic(JSON.stringify(summary));
  for (const s of summary) assert.ok(s.packets >= 60_000, `run ${s.run} put ${s.packets} ESP packets on the wire: ${JSON.stringify(summary)}`);
  for (let i = 1; i < RUNS; i++) {
    assert.ok(summary[i]!.first > summary[i - 1]!.last, `run ${i} began at ${summary[i]!.first}, not above run ${i - 1}'s highest, ${summary[i - 1]!.last}`);
  }

  // scapy decrypts both ends of every run under the one key: the numbers belong to real packets.
  const samples = join(work, 'samples.pcap');
  const chunks: Uint8Array[] = [];
  const writer = new PcapWriter((c) => chunks.push(c), LINKTYPE_RAW);
  const picked = runs.flatMap((ps) => [...ps.slice(0, SAMPLE), ...ps.slice(-SAMPLE)]);
  for (const p of picked) writer.write(p.ip, 0, p.ip.length, p.at);
  writeFileSync(samples, Buffer.concat(chunks));
  const decrypted = run(PYTHON, [DECRYPT_PY, '--pcap', samples, '--spi', String(SPI_OUT), '--key', GCM.out.enc]);
  assert.equal(decrypted.code, 0, decrypted.stderr);
  const lines = decrypted.stdout.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; ok: boolean; dst?: string; error?: string });
  assert.deepEqual(lines.map((l) => l.seq), picked.map((p) => p.seq));
  for (const l of lines) assert.ok(l.ok && l.dst === DST, `scapy on packet ${l.seq}: ${JSON.stringify(l)}`);
});
