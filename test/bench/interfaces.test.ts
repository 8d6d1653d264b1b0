/**
 * The real-NIC mode of the benchmark (bench/run.ts --interfaces IN,OUT --no-namespaces),
 * end to end, with the second machine simulated by namespaces:
 *
 *   G (traffic machine: gen send) ── veth ── IN  R: the bench  OUT ── veth ── S (sink machine)
 *
 * The bench runs inside R as it would on the machine under test, taking the two veth ends as
 * its NICs; G keeps sending IPv6/UDP to the benchmark's route the whole time, and S holds the
 * next hop. The test checks what the bench wrote (every forwarder, every round, positive
 * rates), that the sink really received the generator's packets during each forwarder's turn,
 * and that R is left as it was found. The numbers themselves are never judged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildBenchBinaries } from '../../bench/lib/build.js';
import { delivered, Generator, Sink } from '../../bench/lib/traffic.js';
import { pollUntil, requireCommand, shortName, TestBed, type Netns } from '../helpers/netns.js';

requireCommand('gcc', 'gcc');
requireCommand('ip', 'iproute2');
requireCommand('tc', 'iproute2');

const FORWARDERS = ['turtle6-1', 'turtle6-2', 'tapfwd', 'tapfwd-uring', 'kernel'];
/** One round: each starts turtle6 twice, the slow part on a busy machine. */
const ROUNDS = 1;
const NEXT_HOP = '2001:db8:2::100';
const SINK_MAC = '02:74:36:00:02:64';
/**
 * The traffic machine's steady rate, and the measured window. CPU time is counted in 10 ms
 * ticks (USER_HZ), and the bench reports a window with none as a problem: the kernel's
 * forwarding costs it about 0.1 s of softirq per second of this rate, so a 2 s window counts
 * some even when a busy machine starves the generator for part of it.
 */
const RATE = 100_000;
const SECONDS = 2;

interface Results {
  mode: string;
  settings: { inIf: string; outIf: string; rounds: number };
  scenarios: Array<{
    id: string;
    forwarders: Array<{ id: string }>;
    samples: Array<{ forwarder: string; round: number; packets: number; cpuSeconds: number; pps: number; ppsPerCpuSecond: number | null }>;
    problems: string[];
  }>;
}

function linkJson<T>(ns: Netns, ...args: string[]): T {
  return (JSON.parse(ns.ip('-j', ...args)) as T[])[0]!;
}

function rxPackets(ns: Netns, ifname: string): number {
  return linkJson<{ stats64: { rx: { packets: number } } }>(ns, '-s', 'link', 'show', 'dev', ifname).stats64.rx.packets;
}

test('bench --interfaces IN,OUT --no-namespaces: every forwarder in turn forwards the external traffic', { timeout: 110_000 }, async (t) => {
  const bed = new TestBed('bench-nic');
  t.after(() => bed.cleanup());
  const dir = mkdtempSync(join(tmpdir(), 't6-bench-nic-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bins = buildBenchBinaries();

  const [g, r, s] = [bed.netns('g'), bed.netns('r'), bed.netns('s')];
  const [genIf, inIf, outIf, sinkIf] = [shortName('t6ng'), shortName('t6nicin'), shortName('t6nicout'), shortName('t6ns')];
  g.ip('link', 'add', genIf, 'type', 'veth', 'peer', 'name', inIf, 'netns', r.name);
  r.ip('link', 'add', outIf, 'type', 'veth', 'peer', 'name', sinkIf, 'netns', s.name);
  // The traffic machine says nothing but its traffic; the sink machine is the next hop and
  // discards what it receives (after the sink has counted it) without ICMPv6 errors.
  g.sysctl(`net.ipv6.conf.${genIf}.disable_ipv6`, '1');
  g.ip('link', 'set', genIf, 'up');
  s.ip('link', 'set', sinkIf, 'address', SINK_MAC);
  s.ip('link', 'set', sinkIf, 'up');
  s.ip('addr', 'add', `${NEXT_HOP}/64`, 'dev', sinkIf, 'nodad');
  s.ip('-6', 'route', 'add', 'blackhole', 'default');
  const sink = await Sink.start(bed, bins.gen, s, sinkIf);
  // R's NICs are left down and unconfigured, as docs/benchmarking.md asks of real ones; the
  // kernel's IPv6 is on for IN but off for OUT, and the bench must put back both.
  r.sysctl(`net.ipv6.conf.${outIf}.disable_ipv6`, '1');
  const inMac = linkJson<{ address: string }>(r, 'link', 'show', 'dev', inIf).address;
  await Generator.start(bed, bins.gen, g, { ifname: genIf, dstMac: inMac, size: 64, flows: 64, rate: RATE });

  // The sink's count each time the bench reports a forwarder's window, in order: the
  // difference between two is what came through while that forwarder held the NICs.
  const rx0 = rxPackets(s, sinkIf);
  const turns: Array<{ label: string; delivered: Promise<number> }> = [];
  let counted = sink.report().then(delivered);
  turns.push({ label: 'before the bench', delivered: counted });
  const out = join(dir, 'nic.json');
  const bench = bed.spawnIn(r, process.execPath, [
    resolve('dist/bench/run.js'),
    ...['--interfaces', `${inIf},${outIf}`, '--no-namespaces', '--next-hop', NEXT_HOP, '--next-hop-mac', SINK_MAC],
    ...['--quick', '--rounds', String(ROUNDS), '--seconds', String(SECONDS), '--out', out],
  ]);
  let output = '';
  let partial = '';
  bench.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  bench.stderr!.setEncoding('utf8').on('data', (d: string) => {
    output += d;
    const lines = (partial + d).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      const m = /^\s+round (\d+) (\S+)\s/.exec(line);
      if (!m) continue;
      // One report at a time: the sink answers SIGUSR1s in turn.
      counted = counted.then(() => sink.report()).then(delivered);
      turns.push({ label: `round ${m[1]} ${m[2]}`, delivered: counted });
    }
  });
  await pollUntil('the bench to finish', () => bench.exitCode !== null || bench.signalCode !== null, 100_000, 100);
  assert.equal(bench.exitCode, 0, `the bench failed (${bench.exitCode ?? bench.signalCode}):\n${output}`);

  const results = JSON.parse(readFileSync(out, 'utf8')) as Results;
  assert.equal(results.mode, 'quick');
  assert.deepEqual([results.settings.inIf, results.settings.outIf, results.settings.rounds], [inIf, outIf, ROUNDS]);
  assert.equal(results.scenarios.length, 1);
  const [scenario] = results.scenarios;
  assert.deepEqual(scenario!.problems, []);
  assert.deepEqual(scenario!.forwarders.map((f) => f.id), FORWARDERS);
  // Each round takes every forwarder in turn (A B C … A B C … over more rounds).
  const order = Array.from({ length: ROUNDS }, (_, i) => FORWARDERS.map((f) => `round ${i + 1} ${f}`)).flat();
  assert.deepEqual(scenario!.samples.map((x) => `round ${x.round} ${x.forwarder}`), order);
  for (const x of scenario!.samples) {
    const what = `round ${x.round} ${x.forwarder}`;
    assert.ok(x.packets > 0 && x.pps > 0, `${what}: nothing left ${outIf}`);
    assert.ok(x.cpuSeconds > 0, `${what}: no CPU time counted`);
    assert.ok(x.ppsPerCpuSecond !== null && x.ppsPerCpuSecond > 0, `${what}: no rate per CPU-second`);
  }
  const md = readFileSync(out.replace(/\.json$/, '.md'), 'utf8');
  assert.ok(md.includes('# turtle6 forwarding benchmark (quick)'), md);
  for (const f of FORWARDERS) assert.match(md, new RegExp(`^\\| ${f} \\| external \\| ${ROUNDS} \\|`, 'm'), `no medians row for ${f}:\n${md}`);
  assert.match(md, /^\| turtle6-1 \/ tapfwd-uring \| external \|/m);

  // The sink machine saw the generator's packets (UDP to its port, not ND or MLD) in every
  // forwarder's turn, and at least everything OUT was measured to send.
  const counts = await Promise.all(turns.map((x) => x.delivered));
  assert.deepEqual(turns.slice(1).map((x) => x.label), order);
  for (let i = 1; i < turns.length; i++) {
    assert.ok(counts[i]! > counts[i - 1]!, `${turns[i]!.label}: the sink received nothing (${counts[i - 1]} → ${counts[i]})`);
  }
  const measured = scenario!.samples.reduce((sum, x) => sum + x.packets, 0);
  assert.ok(rxPackets(s, sinkIf) - rx0 >= measured, `the sink's link received fewer frames than the ${measured} the bench counted`);

  // R as the bench found it: not forwarding, no glue, no addresses, no route.
  assert.equal(r.runOk('sysctl', ['-n', 'net.ipv6.conf.all.forwarding']).trim(), '0');
  for (const [nic, disabled] of [[inIf, '0'], [outIf, '1']]) {
    assert.equal(r.runOk('sysctl', ['-n', `net.ipv6.conf.${nic}.disable_ipv6`]).trim(), disabled, `${nic}: disable_ipv6 not put back`);
    assert.equal(r.runOk('tc', ['qdisc', 'show', 'dev', nic, 'ingress']).trim(), '', `${nic}: tc glue left behind`);
    assert.equal(r.ip('-6', 'addr', 'show', 'dev', nic, 'scope', 'global').trim(), '', `${nic}: addresses left behind`);
  }
  assert.equal(r.ip('-6', 'route', 'show', '2001:db8:99::/48').trim(), '', 'the route to the generator\'s prefix was left behind');
});
