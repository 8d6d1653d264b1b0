/**
 * I/O engine benchmark: forwards 64-byte IPv6 packets from one TUN to another through each
 * engine and reports packets per CPU-second of this process (process.cpuUsage: user+system,
 * so kernel work done on our behalf counts), with the syscall engine (one syscall per packet
 * each way, the plain-koffi design) as the reference. Runs are interleaved A B A B … over
 * ROUNDS rounds so drift on a noisy VM hits both alike; medians and their ratio are printed.
 *
 * Topology (one throwaway namespace):
 *   gen send --l3 ──AF_PACKET──► t6in's queue ──(queue fd) engine (queue fd)──► t6out
 *   ──► kernel, which drops the packet (forwarding is off and it is not addressed to it).
 * The generator (bench/ref/gen.c, the forwarding benchmark's) floods on the other CPU so that
 * the TUN queue stays full and the engine never waits; drops at the full queue are the
 * generator's, not ours.
 *
 * Run: npx tsc -p . && node scripts/build-native.mjs && node dist/bench/io-engines.js [seconds-per-run] [rounds]
 */
import { HEADROOM, MIN_SLOT_BYTES, PacketPool } from '../src/shm/pool.js';
import { createEngine, type IoEngine } from '../src/io/engine.js';
import { closeTunTap, moveToNetns, openTunTap } from '../src/io/tuntap.js';
import { TestBed, pollUntil, shortName } from '../test/helpers/netns.js';
import { buildBenchBinaries } from './lib/build.js';
import { median } from './lib/stats.js';

const SECONDS = Number(process.argv[2] ?? 3);
const ROUNDS = Number(process.argv[3] ?? 3);
const BATCH = 64;
const IN_PORT = 0;
const OUT_PORT = 1;

interface RunResult {
  packets: number;
  cpuSeconds: number;
  batches: number;
}

/** Forwards every received packet unchanged to OUT_PORT for `seconds` of wall time. */
function forward(engine: IoEngine, pool: PacketPool, seconds: number): RunResult {
  const rx = { slot: new Int32Array(BATCH), len: new Int32Array(BATCH), port: new Int32Array(BATCH) };
  const off = new Int32Array(BATCH);
  const sent = new Uint8Array(BATCH);
  const port = new Int32Array(BATCH).fill(OUT_PORT);
  // Warm up (JIT, the queue reaching its steady fill) before measuring.
  const warmEnd = performance.now() + 300;
  while (performance.now() < warmEnd) pump();
  let packets = 0;
  let batches = 0;
  const cpu0 = process.cpuUsage();
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const n = pump();
    packets += n;
    if (n > 0) batches++;
  }
  const cpu = process.cpuUsage(cpu0);
  return { packets, cpuSeconds: (cpu.user + cpu.system) / 1e6, batches };

  function pump(): number {
    const n = engine.receive(rx, BATCH, 100);
    for (let i = 0; i < n; i++) off[i] = pool.offsetOf(rx.slot[i]!) + HEADROOM;
    engine.transmit(off, rx.len, port, n, sent);
    for (let i = 0; i < n; i++) pool.free(rx.slot[i]!);
    return n;
  }
}

async function main(): Promise<void> {
  const generatorBin = buildBenchBinaries().gen;

  const bed = new TestBed('bench-io');
  try {
    const ns = bed.netns('fwd');
    const devIn = openTunTap({ name: shortName('t6in'), kind: 'tun', queues: 1 });
    const devOut = openTunTap({ name: shortName('t6out'), kind: 'tun', queues: 1 });
    bed.onCleanup(() => closeTunTap(devIn));
    bed.onCleanup(() => closeTunTap(devOut));
    for (const dev of [devIn, devOut]) {
      moveToNetns(dev.name, ns.name);
      ns.ip('link', 'set', dev.name, 'up');
    }
    ns.ip('addr', 'add', 'fd00:b0::1/64', 'dev', devIn.name, 'nodad');
    ns.ip('addr', 'add', 'fd00:b1::1/64', 'dev', devOut.name, 'nodad');

    // 64-byte bare IPv6 packets (--l3: a TUN has no link header), flooding (rate 0).
    const gen = bed.spawnIn(ns, generatorBin, ['send', '--if', devIn.name, '--size', '64', '--l3', '--rate', '0']);
    let genOut = '';
    gen.stdout!.setEncoding('utf8').on('data', (d: string) => (genOut += d));
    await pollUntil('the generator to start', () => genOut.includes('sending') || gen.exitCode !== null);
    if (gen.exitCode !== null) throw new Error(`the generator exited with ${gen.exitCode}`);

    const pool = new PacketPool(new SharedArrayBuffer(PacketPool.byteLength(1024, MIN_SLOT_BYTES)), 1024, MIN_SLOT_BYTES, true);
    const kinds = ['syscall', 'uring'] as const;
    const rates: Record<(typeof kinds)[number], number[]> = { syscall: [], uring: [] };
    console.log(`io-engines: ${SECONDS} s per run, ${ROUNDS} rounds, 64-byte IPv6, batch ${BATCH}`);
    for (let round = 1; round <= ROUNDS; round++) {
      for (const kind of kinds) {
        const engine = createEngine(kind, pool);
        engine.addPort(IN_PORT, devIn.fds[0]!);
        engine.addPort(OUT_PORT, devOut.fds[0]!);
        const r = forward(engine, pool, SECONDS);
        engine.close();
        const rate = r.packets / r.cpuSeconds;
        rates[kind].push(rate);
        console.log(
          `  round ${round} ${kind.padEnd(7)} ${(rate / 1e6).toFixed(3)} Mpps/CPU-s  (${r.packets} packets, ${r.cpuSeconds.toFixed(2)} CPU-s, ${(r.packets / r.batches).toFixed(1)} per batch)`,
        );
      }
    }
    const ref = median(rates.syscall);
    const uring = median(rates.uring);
    console.log(`median syscall (reference): ${(ref / 1e6).toFixed(3)} Mpps per CPU-second`);
    console.log(`median uring:               ${(uring / 1e6).toFixed(3)} Mpps per CPU-second`);
    console.log(`ratio uring/syscall:        ${(uring / ref).toFixed(2)}×`);
  } finally {
    await bed.cleanup();
  }
}

await main();
