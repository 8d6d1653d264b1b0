/**
 * The host port (dataplane.hostInterface): TCP to the router's addresses reaches ordinary
 * sockets in the appliance's namespace through the t6host TUN, and the replies route back
 * through the lanes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pollUntil, TestBed } from '../helpers/netns.js';
import { startRouter, waitForSlaac } from '../helpers/router.js';
import { shortName } from '../helpers/netns.js';

test('TCP to the router reaches a kernel socket in its namespace through t6host', async (t) => {
  const bed = new TestBed('host');
  t.after(() => bed.cleanup());
  const r = bed.netns('r');
  const h1 = bed.netns('h1');
  const h2 = bed.netns('h2');
  const if1 = shortName('t6a');
  const if2 = shortName('t6b');
  const router = await startRouter(
    bed,
    r,
    `interfaces:
  - { name: ${if1}, addresses: [2001:db8:1::1/64], netns: ${h1.name} }
  - { name: ${if2}, addresses: [2001:db8:2::1/64], netns: ${h2.name} }
dataplane: { hostInterface: true }
metrics: { listen: "" }
`,
  );
  await waitForSlaac(h1, if1, '2001:db8:1:');
  // The kernel of the router's namespace owns the router's addresses on t6host.
  assert.match(r.run('ip', ['-6', 'addr', 'show', 'dev', 't6host']).stdout, /2001:db8:1::1\/128/);

  const server = bed.spawnIn(r, '/usr/bin/python3', ['-m', 'http.server', '8080', '--bind', '::']);
  let serverLog = '';
  server.stderr?.on('data', (d: Buffer) => (serverLog += d.toString()));
  const fetchFrom = (addr: string) =>
    h1.run('/usr/bin/python3', ['-c', `import urllib.request; print(urllib.request.urlopen('http://[${addr}]:8080/', timeout=3).status)`]);
  await pollUntil('the HTTP server to answer through t6host', () => fetchFrom('2001:db8:1::1').stdout.trim() === '200', 15_000, 200);
  // The other port's address is the router's too.
  assert.equal(fetchFrom('2001:db8:2::1').stdout.trim(), '200');
  await pollUntil('the server to log the requests', () => /GET \/ HTTP/.test(serverLog), 5000);
  // The requests reached the control plane first (punted), which handed them to the kernel.
  const c = await router.counters(if1);
  assert.ok(c.punted! > 0);
});
