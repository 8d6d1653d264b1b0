/**
 * Multicast through turtle6 between kernel hosts in namespaces: a static (*,G) route (and an
 * (S,G) one whose incoming port RPF finds), added
 * by a reload, carries a stream from h1 to a receiver on h2 byte for byte with the hop limit
 * decremented; and a flood to groups nobody joined is dropped in the lane, counted there,
 * and never reaches the main thread.
 *
 *    h1 ── lan0 ── turtle6 ── lan1 ── h2 (joins G)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pollUntil, requireCommand, TestBed } from '../helpers/netns.js';
import { sendMulticast, startReceiver, type ShownMfc } from '../helpers/mcast.js';
import { twoHosts } from './topology.js';

requireCommand('python3', 'python3');

const G = 'ff0e::db8:7';
/** An (S,G) route whose incoming port comes from the connected route toward h1 (RPF). */
const G_RPF = 'ff0e::db8:8';
const PORT = 5007;
const SIZE = 200;

interface ShownCounters {
  interfaces: Array<{ interface: string; counters: Record<string, number> }>;
  controlPlane: Record<string, number>;
}

test('multicast: a (*,G) route and an RPF (S,G) route added by a reload forward streams byte for byte; a flood to unjoined groups is dropped in the lane', async (t) => {
  const bed = new TestBed('mcast');
  t.after(() => bed.cleanup());
  const { h1, h2, if1, if2, a1, router } = await twoHosts(bed);

  // The route names the ports twoHosts created: installed by a reload, in place.
  const file = join(router.dir, 'turtle6.yaml');
  writeFileSync(file, `${readFileSync(file, 'utf8')}\nmulticast:\n  routes:\n    - { group: "${G}", in: ${if1}, out: [${if2}] }\n    - { source: "${a1}", group: "${G_RPF}", rpf: true, out: [${if2}] }\n`);
  const report = (await router.ctl(['reload'])) as { ok: boolean; changes: Array<{ participant: string; mode: string }> };
  assert.equal(report.ok, true, JSON.stringify(report));

  const receiver = await startReceiver(bed, h2, if2, G, PORT, 20);
  const sent = sendMulticast(h1, if1, G, PORT, 20, 5, SIZE);
  assert.equal(sent.length, 20);
  const got = await receiver.waitFor(20);
  assert.deepEqual(got.map((d) => d.hex), sent, 'every datagram, in order, byte for byte');
  assert.deepEqual([...new Set(got.map((d) => d.hop))], [4], 'hop limit 5 decremented once by turtle6');
  const viaRpf = await startReceiver(bed, h2, if2, G_RPF, PORT + 1, 5);
  const sentRpf = sendMulticast(h1, if1, G_RPF, PORT + 1, 5, 5, SIZE, 2);
  assert.deepEqual((await viaRpf.waitFor(5)).map((d) => d.hex), sentRpf);
  const mfc = (await router.ctl(['show', 'mfc'])) as ShownMfc;
  assert.deepEqual(mfc.entries, [
    { source: '*', group: G, in: if1, rpf: false, out: [if2], packets: 20, bytes: 20 * (40 + 8 + SIZE), wrongInterface: 0 },
    { source: a1, group: G_RPF, in: if1, rpf: true, out: [if2], packets: 5, bytes: 5 * (40 + 8 + SIZE), wrongInterface: 0 },
  ]);
  const text = await router.ctlText(['show', 'mfc']);
  assert.match(text, new RegExp(`^\\*\\s+${G}\\s+${if1}\\s+${if2}\\s+20\\s+${20 * 248}\\s+0$`, 'm'));

  // A flood: a global-scope group with no route, and a link-scope one nobody joined.
  const counters = async () => {
    const c = (await router.ctl(['show', 'counters'])) as ShownCounters;
    return { port: c.interfaces.find((i) => i.interface === if1)!.counters, control: c.controlPlane };
  };
  const before = await counters();
  sendMulticast(h1, if1, 'ff0e::dead:1', 9, 3000, 5, 64);
  sendMulticast(h1, if1, 'ff02::dead:1', 9, 1000, 1, 64);
  let after = before;
  // The TAP's queue may drop some of a burst before turtle6 reads it; what it read, it drops.
  await pollUntil('the lane to count the flood', async () => {
    after = await counters();
    return after.port.multicast_no_route! - before.port.multicast_no_route! >= 2000 && after.port.multicast_no_listener! - before.port.multicast_no_listener! >= 500;
  });
  await pollUntil('the counters to settle', async () => {
    const again = await counters();
    const settled = again.port.rx_packets === after.port.rx_packets;
    after = again;
    return settled;
  }, 10_000, 300);
  const delta = (name: string) => after.port[name]! - before.port[name]!;
  assert.ok(delta('multicast_no_route') <= 3000 && delta('multicast_no_listener') <= 1000);
  // Nothing of it was copied to the main thread: the few punts are the hosts' own ND and MLD
  // (MLD Reports are punted whatever their group, and the stack has no MLD listener yet).
  assert.ok(delta('punted') < 50, `punted ${delta('punted')}`);
  assert.ok(after.control.not_for_us! - before.control.not_for_us! < 50, 'the control plane saw none of the flood');
  assert.equal(delta('punt_policed_multicast'), 0);
});
