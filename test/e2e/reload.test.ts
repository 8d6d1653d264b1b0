/**
 * Reload is a transaction (the appliance-shell issue, test 2): a bad file changes nothing,
 * a good one adds a route and an address live, and forwarding never stops while it happens.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pollUntil, TestBed } from '../helpers/netns.js';
import { ping, twoHosts } from './topology.js';

test('reload: a bad file changes nothing, a good one applies live, and no ping is lost meanwhile', async (t) => {
  const bed = new TestBed('reload');
  t.after(() => bed.cleanup());
  const { h1, h2, if2, a2, router } = await twoHosts(bed, { io: 'syscall' });
  const file = join(router.dir, 'turtle6.yaml');
  const original = readFileSync(file, 'utf8');
  const routesBefore = await router.ctl(['show', 'routes']);

  // 400 echo requests, 10 ms apart, run across both reloads.
  const flood = bed.spawnIn(h1, 'ping', ['-6', '-n', '-c', '400', '-i', '0.01', '-W', '1', a2]);
  let floodOut = '';
  flood.stdout?.on('data', (d: Buffer) => (floodOut += d.toString()));
  await pollUntil('the ping flood to start', () => /icmp_seq=\d+/.test(floodOut));

  // A file with a typo: refused with the file's own error, and nothing changes.
  writeFileSync(file, original.replace('addresses: [2001:db8:2::1/64]', 'addresses: [2001:db8:2::zz/64]'));
  const bad = (await router.ctl(['reload'])) as { ok: boolean; error?: string };
  assert.equal(bad.ok, false);
  assert.match(bad.error ?? '', /turtle6\.yaml:\d+:\d+: interfaces\[1\]\.addresses\[0\]/);
  assert.deepEqual(await router.ctl(['show', 'routes']), routesBefore);

  // A good file: a second address on lan1 and a static route, both applied in place.
  const good = original
    .replace('addresses: [2001:db8:2::1/64]', 'addresses: [2001:db8:2::1/64, 2001:db8:22::1/64]')
    .replace(/^dataplane:/m, 'routes:\n  - prefix: 2001:db8:77::/48\n    via: 2001:db8:2::77\ndataplane:');
  writeFileSync(file, good);
  const report = (await router.ctl(['reload'])) as { ok: boolean; changes: Array<{ participant: string; mode: string }> };
  assert.equal(report.ok, true, JSON.stringify(report));
  assert.deepEqual(report.changes.map((c) => c.participant).sort(), ['interfaces', 'routes']);
  assert.ok(report.changes.every((c) => c.mode === 'in-place'));
  const routes = (await router.ctl(['show', 'routes'])) as Array<{ prefix: string; origin: string }>;
  assert.ok(routes.some((r) => r.prefix === '2001:db8:77::/48' && r.origin === 'static'));
  assert.ok(routes.some((r) => r.prefix === '2001:db8:22::/64' && r.origin === 'connected'));
  // The new address answers at once; RAs on lan1 now announce its prefix too.
  assert.equal(ping(h1, '2001:db8:22::1').code, 0);
  await pollUntil('h2 to learn the new prefix from RA', () => /2001:db8:22:/.test(h2.run('ip', ['-6', 'addr', 'show', 'dev', if2]).stdout), 15_000, 200);

  await pollUntil('the ping flood to finish', () => flood.exitCode !== null, 30_000);
  assert.match(floodOut, / 400 received, 0% packet loss/, floodOut.split('\n').slice(-4).join('\n'));
});
