/**
 * turtle6 ⇄ BIRD 2 over RIPng with RFC 2091 demand circuits on both ends (turtle6
 * `demand: true`, BIRD `demand circuit yes`) on a TAP link:
 *
 *   turtle6 (lan0 2001:db8:1::1/64) ── t6b (2001:db8:12::1/64) ══ BIRD (2001:db8:12::2) ── vs (2001:db8:99::1/64)
 *
 * Timers are shortened (update 2 s, timeout 6 s, garbage 4 s) so that any periodic update
 * or timeout would show within seconds; on a demand circuit neither may happen.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil, requireCommand, shortName, TestBed } from '../helpers/netns.js';
import { startRouter } from '../helpers/router.js';
import { startBird } from './bird/bird.js';

interface ShownRoute {
  prefix: string;
  origin: string;
  metric: number;
  best: boolean;
}
interface Status {
  badPackets: Record<string, number>;
  interfaces: Array<{
    name: string;
    sent: { periodic: number; triggered: number };
    received: { responses: number };
    demand: { state: string; queued: number; retransmissions: number; acksSent: number } | null;
  }>;
}

test('turtle6 and BIRD exchange routes over a demand circuit: acknowledged updates only, no timeout, explicit withdrawal, flush on BIRD shutdown', async (t) => {
  requireCommand('bird', 'bird2');
  const bed = new TestBed('ripdem');
  t.after(() => bed.cleanup());
  const r = bed.netns('r');
  const h1 = bed.netns('h1');
  const b = bed.netns('bird');
  const ifH = shortName('t6h');
  const ifB = shortName('t6b');
  const vs = shortName('vs');
  const vh = shortName('vh');
  b.ip('link', 'add', vs, 'type', 'veth', 'peer', 'name', vh, 'netns', h1.name);
  b.ip('addr', 'add', '2001:db8:99::1/64', 'dev', vs, 'nodad');
  b.ip('link', 'set', vs, 'up');
  h1.ip('link', 'set', vh, 'up');

  const router = await startRouter(bed, r, `
interfaces:
  - name: ${ifH}
    addresses: [2001:db8:1::1/64]
    netns: ${h1.name}
  - name: ${ifB}
    addresses: [2001:db8:12::1/64]
    netns: ${b.name}
dataplane: { lanes: 1, hostInterface: false }
metrics: { listen: "" }
ripng:
  timers: { update: 2, timeout: 6, garbage: 4 }
  interfaces:
    - name: ${ifH}
      passive: true
    - name: ${ifB}
      demand: true
      retransmit: 1
      retries: 5
`);
  b.ip('addr', 'add', '2001:db8:12::2/64', 'dev', ifB, 'nodad');
  b.ip('link', 'set', ifB, 'up');
  await pollUntil('a link-local address on the TAP in the BIRD namespace', () => /fe80::/.test(b.ip('-6', 'addr', 'show', 'dev', ifB)));
  const bird = startBird(bed, b, '10.0.0.2', [{ name: ifB, update: 2, timeout: 6, garbage: 4, demand: true }], [vs]);

  const routes = async () => (await router.ctl(['show', 'routes'])) as ShownRoute[];
  const learned = async () => (await routes()).find((x) => x.prefix === '2001:db8:99::/64' && x.origin === 'ripng');
  const status = async () => {
    const s = (await router.ctl(['show', 'ripng', 'status'])) as Status;
    return { ...s, port: s.interfaces.find((i) => i.name === ifB)! };
  };
  await pollUntil('turtle6 to learn 2001:db8:99::/64 from BIRD over the demand circuit', async () => (await learned())?.best === true, 20_000, 200);
  assert.equal((await learned())!.metric, 2);
  await pollUntil('BIRD to learn 2001:db8:1::/64 from turtle6', () => /ripng1/.test(bird.routes().get('2001:db8:1::/64') ?? ''), 20_000, 200);
  assert.match(bird.routes().get('2001:db8:1::/64')!, new RegExp(`via fe80::[0-9a-f:]+ on ${ifB}`));
  await pollUntil('BIRD to acknowledge everything turtle6 sent', async () => (await status()).port.demand!.queued === 0, 10_000, 200);

  // Three times turtle6's timeout (6 s) later: nothing periodic went out, and the route is
  // still there, though BIRD sent nothing new either.
  const before = await status();
  await pollUntil('three timeout periods to pass', () => false, 18_000, 1_000).catch(() => undefined);
  const after = await status();
  assert.equal(after.port.sent.periodic, 0, 'no periodic updates on a demand circuit');
  // BIRD's 2 s update time would give 9 periodic updates here; a late triggered one may come.
  assert.ok(after.port.received.responses - before.port.received.responses <= 2, `BIRD sent no periodic updates either (${after.port.received.responses - before.port.received.responses} responses)`);
  assert.equal((await learned())?.best, true, 'the learned route did not time out');
  assert.equal(after.port.demand!.state, 'up');
  assert.ok(after.port.demand!.acksSent >= 1, "BIRD's Update Responses were acknowledged");
  assert.equal(after.badPackets['demand_mismatch'], 0);
  assert.ok(/ripng1/.test(bird.routes().get('2001:db8:1::/64') ?? ''), "BIRD kept turtle6's route too");

  // BIRD's stub goes down: its triggered Update Response withdraws the route at once.
  b.ip('link', 'set', vs, 'down');
  await pollUntil('turtle6 to drop 2001:db8:99::/64 after BIRD withdraws it', async () => (await learned()) === undefined, 10_000, 200);

  // BIRD comes back up: the route returns; then BIRD shuts RIPng down, and its flushing
  // Update Response takes the route away without any timer.
  b.ip('link', 'set', vs, 'up');
  // Linux drops an IPv6 address when its link goes down: give it back.
  b.ip('addr', 'add', '2001:db8:99::1/64', 'dev', vs, 'nodad');
  await pollUntil('turtle6 to relearn 2001:db8:99::/64', async () => (await learned())?.best === true, 15_000, 200);
  bird.birdc('disable', 'ripng1');
  await pollUntil('turtle6 to drop the route when BIRD stops RIPng', async () => (await learned()) === undefined, 10_000, 200);
});
