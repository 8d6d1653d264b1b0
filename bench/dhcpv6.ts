#!/usr/bin/env node
/**
 * DHCPv6 server scale (issue 5, test 9): how many leases a second turtle6's server grants,
 * and what each costs it in CPU, against ISC Kea on the same machine in the same run.
 *
 * Each run builds two namespaces: the server's and the client's, joined by one link (for
 * turtle6, its TAP with the kernel side moved into the client's namespace; for Kea, which
 * uses kernel sockets, a veth pair). The load client (bench/dhcpv6-load.ts) plays `--count`
 * clients with their own DUIDs, at most `--window` exchanges in flight, either
 * Solicit/Advertise/Request/Reply or Solicit/Reply with Rapid Commit (RFC 8415 §18.2.1).
 *
 * Servers, each with durable leases as a real server keeps them:
 *   turtle6        the journal under a directory on disk: one write + fdatasync per lease
 *                  before the Reply leaves (src/protocols/dhcpv6/lease-store.ts)
 *   turtle6-tmpfs  the same journal on tmpfs (/dev/shm), where fdatasync returns at once:
 *                  the difference from `turtle6` is what fsync costs
 *   kea            kea-dhcp6 with its memfile lease database persisted to a CSV file on disk
 *                  (Kea appends each lease to it; whether it fsyncs is reported from strace
 *                  in docs/dhcpv6.md), logging at WARN so no line per lease is written
 *
 * Runs are interleaved (turtle6, kea, turtle6-tmpfs, turtle6, kea, …) over `--rounds` so a
 * shared VM's drift hits all alike; medians and turtle6/Kea ratios are reported. The
 * server's CPU is utime + stime of its process (all threads) from /proc across the run.
 *
 *   node dist/bench/dhcpv6.js [--quick] [--count 5000] [--window 64] [--rounds 3] [--out FILE.json]
 *
 * Needs root and kea-dhcp6-server. Numbers are reported, never judged (docs/dhcpv6.md quotes a run).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { pollUntil, requireCommand, shortName, TestBed, type Netns } from '../test/helpers/netns.js';
import { startRouter } from '../test/helpers/router.js';
import type { LoadResult } from './dhcpv6-load.js';
import { processCpuSeconds } from './lib/proc.js';
import { median, textTable } from './lib/stats.js';

type ServerKind = 'turtle6' | 'kea' | 'turtle6-tmpfs';
type Mode = 'solicit-request' | 'rapid-commit';

const SERVERS: readonly ServerKind[] = ['turtle6', 'kea', 'turtle6-tmpfs'];
const MODES: readonly Mode[] = ['solicit-request', 'rapid-commit'];
const LOAD_CLIENT = join(dirname(fileURLToPath(import.meta.url)), 'dhcpv6-load.js');

/** The link's subnet and a pool far larger than any run. */
const SUBNET = '2001:db8:b::/64';
const SERVER_ADDRESS = '2001:db8:b::1';
const POOL_START = '2001:db8:b::1:0';
const POOL_END = '2001:db8:b::ffff:ffff';

interface Sample {
  readonly server: ServerKind;
  readonly mode: Mode;
  readonly round: number;
  readonly load: LoadResult;
  readonly serverCpuSeconds: number;
  readonly leasesPerSecond: number;
  readonly cpuSecondsPer1000: number;
}

interface Options {
  readonly count: number;
  readonly window: number;
}

/** A server up and listening in `server`, on `ifname`, whose kernel side in `client` is `clientIf`. */
interface Served {
  readonly pid: number;
  readonly clientIf: string;
}

async function startTurtle6(bed: TestBed, server: Netns, client: Netns, mode: Mode, onTmpfs: boolean): Promise<Served> {
  const ifname = shortName('d6b');
  const stateLine = onTmpfs ? `stateDir: ${mkdtempInto(bed, '/dev/shm', 't6-d6bench-')}\n` : '';
  const router = await startRouter(
    bed,
    server,
    `interfaces:
  - name: ${ifname}
    kind: tap
    netns: ${client.name}
    addresses: [${SERVER_ADDRESS}/64]
    ra: { enabled: false }
dataplane:
  lanes: 1
  hostInterface: false
  # The bench measures the server, not the control-plane policing (docs/ARCHITECTURE.md): every
  # Solicit and Request is multicast, more per second than the default budget lets through.
  puntPolicing: { multicast: { rate: 1000000, burst: 1000000 } }
metrics:
  listen: ""
dhcpv6:
  server:
    interfaces:
      - name: ${ifname}
        addressPool: { start: ${POOL_START}, end: ${POOL_END} }
        rapidCommit: ${mode === 'rapid-commit'}
${stateLine}`,
  );
  return { pid: router.process.pid!, clientIf: ifname };
}

function keaConfig(ifname: string, dir: string, mode: Mode): string {
  return JSON.stringify({
    Dhcp6: {
      'interfaces-config': { interfaces: [ifname] },
      // persist: every lease is appended to the CSV file; lfc-interval 0 keeps Kea's lease
      // file cleanup process from running in the middle of a measurement.
      'lease-database': { type: 'memfile', persist: true, name: join(dir, 'leases6.csv'), 'lfc-interval': 0 },
      'data-directory': dir,
      'preferred-lifetime': 1800,
      'valid-lifetime': 3600,
      subnet6: [
        {
          id: 1,
          subnet: SUBNET,
          interface: ifname,
          pools: [{ pool: `${POOL_START}-${POOL_END}` }],
          'rapid-commit': mode === 'rapid-commit',
        },
      ],
      loggers: [{ name: 'kea-dhcp6', output_options: [{ output: join(dir, 'kea.log') }], severity: 'WARN' }],
    },
  });
}

async function startKea(bed: TestBed, server: Netns, client: Netns, mode: Mode): Promise<Served> {
  const serverIf = shortName('d6ks');
  const clientIf = shortName('d6kc');
  server.ip('link', 'add', serverIf, 'type', 'veth', 'peer', 'name', clientIf, 'netns', client.name);
  server.ip('link', 'set', serverIf, 'up');
  client.ip('link', 'set', clientIf, 'up');
  server.ip('addr', 'add', `${SERVER_ADDRESS}/64`, 'dev', serverIf, 'nodad');
  await pollUntil(`a link-local address on ${serverIf}`, () => /inet6 fe80::\S+ scope link\s*$/m.test(server.ip('-6', 'addr', 'show', 'dev', serverIf)), 10_000, 50);
  const dir = mkdtempSync(join(tmpdir(), 't6-d6bench-kea-'));
  bed.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'kea.json'), keaConfig(serverIf, dir, mode));
  const kea = bed.spawnIn(server, 'kea-dhcp6', ['-c', join(dir, 'kea.json')], { env: { ...process.env, KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir } });
  let output = '';
  kea.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  kea.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  await pollUntil(
    'kea-dhcp6 to listen on port 547',
    () => {
      if (kea.exitCode !== null) throw new Error(`kea-dhcp6 exited with ${kea.exitCode}:\n${output}`);
      return server.run('ss', ['-Hlun', 'sport = :547']).stdout.includes(':547');
    },
    15_000,
    50,
  );
  return { pid: kea.pid!, clientIf };
}

function mkdtempInto(bed: TestBed, parent: string, prefix: string): string {
  const dir = mkdtempSync(join(parent, prefix));
  bed.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs the load client in `client` to completion and parses its one JSON line. */
function runLoad(client: Netns, ifname: string, mode: Mode, o: Options): Promise<LoadResult> {
  const args = [LOAD_CLIENT, '--interface', ifname, '--count', String(o.count), '--window', String(o.window), ...(mode === 'rapid-commit' ? ['--rapid-commit'] : [])];
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn('ip', ['netns', 'exec', client.name, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`the load client exited with ${code}:\n${stderr}`));
      resolve(JSON.parse(stdout) as LoadResult);
    });
  });
}

async function once(server: ServerKind, mode: Mode, round: number, o: Options): Promise<Sample> {
  const bed = new TestBed(`d6bench-${server === 'kea' ? 'k' : 't'}`);
  try {
    const serverNs = bed.netns('s');
    const clientNs = bed.netns('c');
    const served = server === 'kea' ? await startKea(bed, serverNs, clientNs, mode) : await startTurtle6(bed, serverNs, clientNs, mode, server === 'turtle6-tmpfs');
    // The client sends from its link-local address: wait until the kernel has one on the link.
    await pollUntil(`a link-local address on ${served.clientIf}`, () => /inet6 fe80::\S+ scope link\s*$/m.test(clientNs.ip('-6', 'addr', 'show', 'dev', served.clientIf)), 10_000, 50);
    const cpuBefore = processCpuSeconds(served.pid);
    const load = await runLoad(clientNs, served.clientIf, mode, o);
    const serverCpuSeconds = processCpuSeconds(served.pid) - cpuBefore;
    return {
      server,
      mode,
      round,
      load,
      serverCpuSeconds,
      leasesPerSecond: load.leases / (load.elapsedMs / 1000),
      cpuSecondsPer1000: (serverCpuSeconds / load.leases) * 1000,
    };
  } finally {
    await bed.cleanup();
  }
}

/** Microseconds per 100-byte append + fdatasync in `dir`: the price of one durable lease. */
function fdatasyncMicros(dir: string, times = 200): number {
  const scratch = mkdtempSync(join(dir, 't6-fsync-'));
  const fd = openSync(join(scratch, 'journal'), 'a');
  const line = `${'x'.repeat(99)}\n`;
  try {
    const t0 = performance.now();
    for (let i = 0; i < times; i++) {
      writeSync(fd, line);
      fdatasyncSync(fd);
    }
    return ((performance.now() - t0) * 1000) / times;
  } finally {
    closeSync(fd);
    rmSync(scratch, { recursive: true, force: true });
  }
}

const LABELS: Record<ServerKind, string> = { turtle6: 'turtle6 (journal on disk)', kea: 'Kea (memfile CSV on disk)', 'turtle6-tmpfs': 'turtle6 (journal on tmpfs)' };

async function main(): Promise<void> {
  const o = new Command()
    .option('--quick', 'a small run (500 leases per run) to see that it works')
    .option('--count <n>', 'leases per run (clients, one exchange each)', '5000')
    .option('--window <n>', 'exchanges in flight at most', '64')
    .option('--rounds <n>', 'runs of each server in each mode', '3')
    .option('--out <file>', 'write every sample as JSON')
    .parse()
    .opts<{ quick?: boolean; count: string; window: string; rounds: string; out?: string }>();
  requireCommand('kea-dhcp6', 'kea-dhcp6-server');
  requireCommand('ss', 'iproute2');
  const options: Options = { count: o.quick ? 500 : Number(o.count), window: Number(o.window) };
  const rounds = Number(o.rounds);
  // A median of fewer than three interleaved runs cannot outvote one disturbed run.
  if (!(rounds >= 3)) throw new Error(`--rounds must be at least 3 (got ${o.rounds})`);
  // A shared VM's disk latency drifts from minute to minute: measured before and after the runs.
  const fsyncBefore = fdatasyncMicros(tmpdir());
  const samples: Sample[] = [];
  for (let round = 1; round <= rounds; round++) {
    for (const mode of MODES) {
      for (const server of SERVERS) {
        const s = await once(server, mode, round, options);
        samples.push(s);
        process.stderr.write(
          `round ${round} ${mode} ${server}: ${s.load.leases} leases in ${(s.load.elapsedMs / 1000).toFixed(2)} s = ${s.leasesPerSecond.toFixed(0)}/s, ` +
            `server ${s.cpuSecondsPer1000.toFixed(3)} CPU-s/1000, client ${s.load.clientCpuSeconds.toFixed(2)} CPU-s, ` +
            `${s.load.failed} failed, ${s.load.retransmissions} retransmitted, ${s.load.duplicateAddresses} duplicate\n`,
        );
      }
    }
  }

  const pick = (server: ServerKind, mode: Mode) => samples.filter((s) => s.server === server && s.mode === mode);
  const med = (server: ServerKind, mode: Mode, f: (s: Sample) => number) => median(pick(server, mode).map(f));
  const rows: string[][] = [['mode', 'server', 'leases/s', 'server CPU-s per 1000', 'client CPU-s', 'failed', 'retransmitted']];
  for (const mode of MODES) {
    for (const server of SERVERS) {
      rows.push([
        mode,
        LABELS[server],
        med(server, mode, (s) => s.leasesPerSecond).toFixed(0),
        med(server, mode, (s) => s.cpuSecondsPer1000).toFixed(3),
        med(server, mode, (s) => s.load.clientCpuSeconds).toFixed(2),
        String(pick(server, mode).reduce((n, s) => n + s.load.failed, 0)),
        String(pick(server, mode).reduce((n, s) => n + s.load.retransmissions, 0)),
      ]);
    }
  }
  const ratios: string[][] = [['mode', 'leases/s turtle6 ÷ Kea', 'CPU per lease turtle6 ÷ Kea', 'leases/s disk ÷ tmpfs (turtle6)', 'fsync CPU-s per 1000 (turtle6)']];
  for (const mode of MODES) {
    const rate = (server: ServerKind) => med(server, mode, (s) => s.leasesPerSecond);
    const cpu = (server: ServerKind) => med(server, mode, (s) => s.cpuSecondsPer1000);
    ratios.push([
      mode,
      `${(rate('turtle6') / rate('kea')).toFixed(2)}×`,
      `${(cpu('turtle6') / cpu('kea')).toFixed(2)}×`,
      `${(rate('turtle6') / rate('turtle6-tmpfs')).toFixed(2)}×`,
      (cpu('turtle6') - cpu('turtle6-tmpfs')).toFixed(3),
    ]);
  }
  const fsyncAfter = fdatasyncMicros(tmpdir());
  process.stdout.write(
    `DHCPv6 server scale: ${options.count} leases per run, window ${options.window}, ${rounds} rounds, medians; ` +
      `${cpus().length}× ${cpus()[0]?.model ?? '?'}, Linux ${release()}\n` +
      `append + fdatasync of 100 bytes in ${tmpdir()}: ${fsyncBefore.toFixed(0)} µs before the runs, ${fsyncAfter.toFixed(0)} µs after\n\n` +
      `${textTable(rows)}\n\n${textTable(ratios)}\n`,
  );
  if (o.out) writeFileSync(o.out, `${JSON.stringify({ options, rounds, fdatasyncMicros: { before: fsyncBefore, after: fsyncAfter }, samples }, null, 2)}\n`);
}

await main();
