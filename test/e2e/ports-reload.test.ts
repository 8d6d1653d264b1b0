/**
 * Ports change without a restart (CONFIG.md, "Reloads"): while a ping flood runs between
 * two hosts behind two ports, `turtle6ctl reload` adds a third port (a TAP whose kernel host
 * gets SLAAC from turtle6's RA and pings a host behind another port), restarts it by
 * changing its MAC, then removes it. The flood loses nothing, and only the changed port is
 * closed and opened again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pollUntil, requireCommand, shortName, TestBed } from '../helpers/netns.js';
import { TURTLE6CTL, waitForSlaac } from '../helpers/router.js';
import { ping, twoHosts } from './topology.js';

requireCommand('ping', 'iputils-ping');

/** Flood pings at one per millisecond: long enough to span the three reloads below. */
const FLOOD = 40_000;

test('ports are added, restarted and removed by reloads while a flood between two other ports loses nothing', async (t) => {
  const bed = new TestBed('prel');
  t.after(() => bed.cleanup());
  const { r, h1, h2, if2, a1, a2, router } = await twoHosts(bed, { lanes: 2 });
  const h3 = bed.netns('h3');
  const if3 = shortName('t6c');
  const configFile = join(router.dir, 'turtle6.yaml');
  const original = readFileSync(configFile, 'utf8');
  const withPort = (mac: string) =>
    original.replace(
      'dataplane:\n',
      `  - name: ${if3}\n    kind: tap\n    mac: "${mac}"\n    addresses: [2001:db8:3::1/64]\n    netns: ${h3.name}\n    ra:\n      maxInterval: 4\ndataplane:\n`,
    );
  assert.notEqual(withPort('02:00:00:00:03:01'), original);

  const reload = (): { ok: boolean; changes?: Array<{ participant: string; mode: string; describe: string[] }>; error?: string } => {
    const out = r.run(process.execPath, [TURTLE6CTL, '--socket', router.socket, '--json', 'reload']);
    assert.equal(out.code, 0, `turtle6ctl reload: ${out.stderr}`);
    return JSON.parse(out.stdout) as ReturnType<typeof reload>;
  };
  const interfaces = async () => (await router.ctl(['show', 'interfaces'])) as Array<{ name: string; mac: string | null }>;
  const portLog = (msg: string) => router.logs().filter((l) => l.msg === msg).map((l) => l['ifname']);

  // The flood runs through both lanes' queues of if1 and if2 for the whole test.
  const flood = bed.spawnIn(h1, 'ping', ['-6', '-n', '-q', '-f', '-i', '0.001', '-c', String(FLOOD), '-W', '5', a2]);
  let floodOut = '';
  flood.stdout?.on('data', (d: Buffer) => (floodOut += d.toString()));
  flood.stderr?.on('data', (d: Buffer) => (floodOut += d.toString()));
  const floodRunning = () => flood.exitCode === null && flood.signalCode === null;
  await pollUntil('the flood to be forwarded', async () => (await router.counter(if2, 'tx_packets')) > 100, 10_000, 50);

  await t.test('a reload adds a port: its host gets SLAAC from its RA and reaches a host behind another port', async () => {
    writeFileSync(configFile, withPort('02:00:00:00:03:01'));
    const report = reload();
    assert.ok(report.ok, JSON.stringify(report));
    const change = report.changes!.find((c) => c.participant === 'interfaces')!;
    assert.deepEqual(change.describe, [`${if3}: added (opened on every lane)`]);
    assert.ok((await interfaces()).some((i) => i.name === if3 && i.mac === '02:00:00:00:03:01'));
    const a3 = await waitForSlaac(h3, if3, '2001:db8:3:');
    const p = ping(h3, a1);
    assert.equal(p.code, 0, p.out);
    assert.ok(floodRunning(), `the flood ended before the reloads: raise FLOOD\n${floodOut}`);
    assert.ok(a3.startsWith('2001:db8:3:'));
  });

  await t.test('changing a port\'s MAC restarts that port alone; its host configures itself again', async () => {
    const closedBefore = portLog('port closed').length;
    const openedBefore = portLog('port opened').length;
    writeFileSync(configFile, withPort('02:00:00:00:03:02'));
    const report = reload();
    assert.ok(report.ok, JSON.stringify(report));
    const change = report.changes!.find((c) => c.participant === 'interfaces')!;
    assert.equal(change.mode, 'restart-module');
    assert.deepEqual(change.describe, [`${if3}: restarts (mac, linkLocal changed)`]);
    // pino writes asynchronously: the lines may come just after the reply.
    await pollUntil('the log lines of the restart', () => portLog('port opened').length > openedBefore, 5_000, 20);
    assert.deepEqual(portLog('port closed').slice(closedBefore), [if3], 'only the changed port was closed');
    assert.equal((await interfaces()).find((i) => i.name === if3)?.mac, '02:00:00:00:03:02');
    await waitForSlaac(h3, if3, '2001:db8:3:');
    const p = ping(h3, a1);
    assert.equal(p.code, 0, p.out);
    assert.ok(floodRunning(), `the flood ended before the reloads: raise FLOOD\n${floodOut}`);
  });

  await t.test('a reload removes the port: gone from the router and from its host', async () => {
    writeFileSync(configFile, original);
    const report = reload();
    assert.ok(report.ok, JSON.stringify(report));
    const change = report.changes!.find((c) => c.participant === 'interfaces')!;
    assert.deepEqual(change.describe, [`${if3}: removed (closed on every lane)`]);
    assert.ok(!(await interfaces()).some((i) => i.name === if3));
    // The TAP disappears with its last queue fd (PEERS.md).
    assert.notEqual(h3.run('ip', ['link', 'show', 'dev', if3]).code, 0, `${if3} still exists in ${h3.name}`);
    assert.ok(floodRunning(), `the flood ended before the reloads: raise FLOOD\n${floodOut}`);
  });

  await t.test('the flood between the other two ports lost nothing', async () => {
    await pollUntil('the flood to end', () => !floodRunning(), 120_000, 100);
    const m = /(\d+) packets transmitted, (\d+) received/.exec(floodOut);
    assert.ok(m, `no ping summary:\n${floodOut}`);
    assert.equal(Number(m[1]), FLOOD, floodOut);
    assert.equal(Number(m[2]), FLOOD, `the flood lost packets across the reloads:\n${floodOut}`);
    const p = ping(h2, a1);
    assert.equal(p.code, 0, p.out);
  });
});
