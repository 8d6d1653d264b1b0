/**
 * The README's first example, examples/two-hosts.yaml, works exactly as written: its host
 * namespaces are t6-h1 and t6-h2, its control socket and state directory are the defaults,
 * and it serves metrics on [::1]:9469.
 *
 * Only this test and test/app/lab.test.ts (the demo lab's hosts) use those fixed names; each
 * waits, bounded, for the other's namespaces to be gone before taking them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ControlClient } from '../../src/app/control.js';
import { DEFAULT_CONTROL_SOCKET } from '../../src/config/sections/control.js';
import { Netns, pollUntil, requireCommand, run, runOk, TestBed } from '../helpers/netns.js';
import { scrapeMetrics, TURTLE6, waitForSlaac } from '../helpers/router.js';
import { ping } from './topology.js';

requireCommand('ping', 'iputils-ping');

const EXAMPLE = resolve('examples/two-hosts.yaml');

const HOST_NAMESPACES = ['t6-h1', 't6-h2'];
/** `turtle6 lab` (and test/app/lab.test.ts) also has hosts t6-h1/t6-h2, beside these. */
const LAB_ONLY_NAMESPACES = ['t6-r0', 't6-r1', 't6-h0'];

function namespaceExists(name: string): boolean {
  return existsSync(join('/run/netns', name));
}

function deleteNetns(name: string): void {
  for (const pid of run('ip', ['netns', 'pids', name]).stdout.split(/\s+/).filter(Boolean)) run('kill', ['-9', pid]);
  run('ip', ['netns', 'del', name]);
}

/**
 * Creates the namespaces with the exact names the example expects. A running lab owns them
 * for a while: wait for it to go. What is still there after that was left by a crashed run.
 */
async function hostNamespaces(bed: TestBed): Promise<Netns[]> {
  await pollUntil(`the demo lab (${LAB_ONLY_NAMESPACES.join(', ')}) to be gone`, () => !LAB_ONLY_NAMESPACES.some(namespaceExists), 120_000, 250);
  // A lab tearing down removes its hosts right after its routers.
  await pollUntil('a lab to remove its hosts', () => !HOST_NAMESPACES.some(namespaceExists), 10_000, 250).catch(() => HOST_NAMESPACES.forEach(deleteNetns));
  return HOST_NAMESPACES.map((name) => {
    runOk('ip', ['netns', 'add', name]);
    bed.onCleanup(() => deleteNetns(name));
    const ns = new Netns(name);
    ns.ip('link', 'set', 'lo', 'up');
    return ns;
  });
}

test('examples/two-hosts.yaml as written: SLAAC, ping across, metrics on [::1]:9469', async (t) => {
  const bed = new TestBed('example');
  t.after(() => bed.cleanup());
  const [h1, h2] = (await hostNamespaces(bed)) as [Netns, Netns];
  const r = bed.netns('r');

  const child = bed.spawnIn(r, process.execPath, [TURTLE6, 'run', '--config', EXAMPLE]);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  await pollUntil(
    'turtle6 to come up with examples/two-hosts.yaml',
    () => {
      if (child.exitCode !== null) throw new Error(`turtle6 exited with ${child.exitCode}:\n${out}`);
      return out.includes('turtle6 is up');
    },
    20_000,
  );

  // The example's ports keep their configured names inside the host namespaces. Its RAs use
  // the default 600 s interval, so the hosts' own Router Solicitations bring the answer.
  const a1 = await waitForSlaac(h1, 'lan0', '2001:db8:1:');
  const a2 = await waitForSlaac(h2, 'lan1', '2001:db8:2:');
  const there = ping(h1, a2);
  assert.equal(there.code, 0, there.out);
  const back = ping(h2, a1);
  assert.equal(back.code, 0, back.out);

  // The default control socket answers (turtle6ctl needs no flags for this example).
  const reply = await new ControlClient(DEFAULT_CONTROL_SOCKET).request(['show', 'interfaces'], undefined, true);
  assert.ok(reply.ok, JSON.stringify(reply));
  assert.deepEqual((reply.data as Array<{ name: string; netns: string }>).map((i) => [i.name, i.netns]), [
    ['lan0', 't6-h1'],
    ['lan1', 't6-h2'],
  ]);

  const metrics = scrapeMetrics(r);
  for (const ifname of ['lan0', 'lan1']) {
    const m = new RegExp(`^turtle6_interface_rx_packets_total\\{[^}]*interface="${ifname}"[^}]*\\} (\\d+)`, 'm').exec(metrics);
    assert.ok(m, `no turtle6_interface_rx_packets_total for ${ifname} in:\n${metrics.slice(0, 3000)}`);
    // Each host's three echo requests (and its RS, NS, …) arrived on its port.
    assert.ok(Number(m[1]) >= 3, `${ifname} rx_packets ${m[1]}`);
  }

  child.kill('SIGTERM');
  await pollUntil('turtle6 to stop', () => child.exitCode !== null || child.signalCode !== null);
  assert.equal(child.exitCode, 0, out.slice(-2000));
});
