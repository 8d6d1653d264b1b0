/**
 * Packet trace (the appliance-shell issue, test 5): a trace of 10 pings gives 10 records
 * with their stages, and the pcap opens in tshark without errors. A trace that outlasts the
 * client's usual answer timeout still returns its partial result and its pcap (issue 20).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { requireCommand, run, TestBed } from '../helpers/netns.js';
import { ping, twoHosts } from './topology.js';
import { TURTLE6CTL } from '../helpers/router.js';

requireCommand('tshark', 'tshark');

test('trace 10 pings: records with verdicts and stages, and a pcap tshark reads', async (t) => {
  const bed = new TestBed('trace');
  t.after(() => bed.cleanup());
  const { h1, a2, router, if1 } = await twoHosts(bed);
  const pcap = join(router.dir, 'trace.pcap');
  // One ping first, so the router knows h2's MAC and the traced ones are forwarded, not
  // held for neighbour resolution.
  assert.equal(ping(h1, a2).code, 0);
  // Arm first, then ping: the trace waits for its 10 packets.
  const traced = router.ctl(['trace', '10'], { if: if1, proto: 'icmpv6', dst: '2001:db8:2::/64', pcap, timeout: 20 });
  const pinger = bed.spawnIn(h1, 'ping', ['-6', '-n', '-c', '15', '-i', '0.1', a2]);
  const records = (await traced) as Array<{ interface: string; verdict: string; stages: string[]; summary: string }>;
  assert.equal(records.length, 10);
  for (const r of records) {
    assert.equal(r.interface, if1);
    assert.equal(r.verdict, 'forwarded');
    assert.deepEqual(r.stages, ['receive', 'link', 'validate', 'classify', 'fib', 'forward', 'neighbor', 'output']);
    assert.match(r.summary, new RegExp(`> ${a2} nh 58`));
  }
  pinger.kill();

  // tshark reads the file: 10 echo requests, no malformed packets or expert errors.
  const read = run('tshark', ['-r', pcap, '-Y', 'icmpv6.type == 128', '-T', 'fields', '-e', 'ipv6.dst']);
  assert.equal(read.code, 0, read.stderr);
  assert.deepEqual(read.stdout.trim().split('\n'), new Array(10).fill(a2));
  const expert = run('tshark', ['-r', pcap, '-q', '-z', 'expert,error']);
  assert.equal(expert.code, 0);
  assert.doesNotMatch(expert.stdout, /Malformed|Error/);

  // The real turtle6ctl drives the same command and prints a table for people.
  const cliPing = bed.spawnIn(h1, 'ping', ['-6', '-n', '-c', '20', '-i', '0.1', a2]);
  const cli = router.ns.run(process.execPath, [TURTLE6CTL, '--socket', router.socket, 'trace', '2', '--if', if1, '--proto', 'icmpv6', '--dst', '2001:db8:2::/64', '--timeout', '10']);
  cliPing.kill();
  assert.equal(cli.code, 0, cli.stderr);
  assert.match(cli.stdout, /Verdict/);
  assert.equal(cli.stdout.match(/forwarded → /g)?.length, 2, cli.stdout);
});

test('a trace longer than the client\'s usual wait returns what it saw, with its pcap', async (t) => {
  const bed = new TestBed('trace-long');
  t.after(() => bed.cleanup());
  const { h1, a2, router, if1 } = await twoHosts(bed);
  assert.equal(ping(h1, a2).code, 0);
  const pcap = join(router.dir, 'partial.pcap');
  // --wait 2 stands in for the default 30 s, so that the test need not run for 30 s: a
  // 4-second trace outlasts it, and turtle6ctl must wait for the trace, not give up at 2 s.
  const pinger = bed.spawnIn(h1, 'ping', ['-6', '-n', '-c', '60', '-i', '0.2', a2]);
  const started = Date.now();
  const cli = router.ns.run(process.execPath, [TURTLE6CTL, '--socket', router.socket, '--wait', '2', 'trace', '1000', '--if', if1, '--proto', 'icmpv6', '--dst', '2001:db8:2::/64', '--timeout', '4', '--pcap', pcap]);
  const tookMs = Date.now() - started;
  pinger.kill();
  assert.equal(cli.code, 0, cli.stderr);
  assert.ok(tookMs >= 4000, `turtle6ctl answered after the trace's 4 s, not before (${tookMs} ms)`);
  const seen = /^(\d+) of 1000 packets seen before the timeout$/m.exec(cli.stdout);
  assert.ok(seen !== null && Number(seen[1]) > 0, cli.stdout);
  assert.ok(existsSync(pcap), 'the pcap exists when turtle6ctl returns');
  const frames = run('tshark', ['-r', pcap, '-T', 'fields', '-e', 'frame.number']);
  assert.equal(frames.code, 0, frames.stderr);
  assert.equal(frames.stdout.trim().split('\n').length, Number(seen[1]), 'the pcap holds the packets the table lists');
});
