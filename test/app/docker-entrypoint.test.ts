/**
 * docker/entrypoint.sh and docker/healthcheck.sh without a Docker engine: a namespace stands in
 * for the container, with veths named eth1 and eth2 (as `docker network connect` would add)
 * whose peers sit in two host namespaces. The entrypoint runs in a private mount namespace
 * whose /dev/net is empty, as in a container started without --device /dev/net/tun but
 * allowed to create it. The hosts must reach each other through turtle6's attached ports.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pollUntil, run, TestBed, type Netns } from '../helpers/netns.js';
import { TURTLE6, TURTLE6CTL, waitForSlaac } from '../helpers/router.js';
import { ping } from '../e2e/topology.js';

const ENTRYPOINT = resolve('docker/entrypoint.sh');
const HEALTHCHECK = resolve('docker/healthcheck.sh');

function writeConfig(dir: string, body: string): string {
  const file = join(dir, 'turtle6.yaml');
  writeFileSync(file, `${body}\ncontrol:\n  socket: ${join(dir, 'turtle6.sock')}\nstateDir: ${join(dir, 'state')}\n`);
  return file;
}

/** A veth named `name` in the container whose peer, eth0, is in `host` and up. */
function connect(container: Netns, name: string, host: Netns): void {
  container.ip('link', 'add', name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.name);
  host.ip('link', 'set', 'eth0', 'up');
}

function healthcheck(container: Netns, socket: string): { code: number; out: string } {
  const h = run('ip', ['netns', 'exec', container.name, 'env', `TURTLE6CTL_JS=${TURTLE6CTL}`, `TURTLE6_SOCKET=${socket}`, 'sh', HEALTHCHECK]);
  return { code: h.code, out: h.stdout + h.stderr };
}

test('entrypoint: preflight, waits for eth2, turtle6 forwards between the attached ports', { timeout: 120_000 }, async (t) => {
  const bed = new TestBed('dock');
  t.after(() => bed.cleanup());
  const dir = mkdtempSync(join(tmpdir(), 't6dock-'));
  bed.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const container = bed.netns('c');
  const h1 = bed.netns('h1');
  const h2 = bed.netns('h2');
  const config = writeConfig(
    dir,
    `interfaces:
  - name: tap1
    addresses: [2001:db8:1::1/64]
    attach: eth1
    ra: { maxInterval: 4 }
  - { name: tap2, addresses: [2001:db8:2::1/64], attach: "eth2", ra: { maxInterval: 4 } }
metrics:
  listen: "[::1]:9469"
`,
  );
  const socket = join(dir, 'turtle6.sock');
  connect(container, 'eth1', h1);

  const child = bed.spawnIn(container, 'unshare', ['--mount', 'sh', '-c', 'mount -t tmpfs tmpfs /dev/net && exec sh "$0"', ENTRYPOINT], {
    env: { ...process.env, TURTLE6_CONFIG: config, TURTLE6_JS: TURTLE6 },
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const alive = () => {
    if (child.exitCode !== null) throw new Error(`the entrypoint exited with ${child.exitCode}:\n${out}`);
  };

  // eth2 arrives after the container started, as with `docker network connect`.
  await pollUntil('the entrypoint to wait for eth2', () => (alive(), out.includes('waiting for eth2')), 20_000);
  assert.match(out, /\/dev\/net\/tun is missing; creating it/);
  assert.match(out, /eth1 is ready/);
  connect(container, 'eth2', h2);
  await pollUntil('turtle6 to come up', () => (alive(), out.includes('turtle6 is up')), 30_000);
  assert.equal(container.runOk('cat', ['/proc/sys/net/ipv6/conf/eth1/disable_ipv6']).trim(), '1', 'the kernel must be silent on an attached interface');

  const a1 = await waitForSlaac(h1, 'eth0', '2001:db8:1:');
  const a2 = await waitForSlaac(h2, 'eth0', '2001:db8:2:');
  const there = ping(h1, a2);
  assert.equal(there.code, 0, there.out);
  const back = ping(h2, a1);
  assert.equal(back.code, 0, back.out);

  const metrics = container.runOk(process.execPath, ['-e', `fetch('http://[::1]:9469/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`]);
  assert.match(metrics, /turtle6_interface_rx_packets_total\{interface="tap1"\} [1-9]/);
  assert.match(metrics, /turtle6_interface_rx_packets_total\{interface="tap2"\} [1-9]/);

  const healthy = healthcheck(container, socket);
  assert.equal(healthy.code, 0, healthy.out);

  // exec chain: the process the "container" started is turtle6 itself, so SIGTERM stops it
  // cleanly and it removes its tc glue from eth1/eth2.
  child.kill('SIGTERM');
  await pollUntil('turtle6 to exit on SIGTERM', () => child.exitCode !== null, 15_000);
  assert.equal(child.exitCode, 0, out);
  assert.doesNotMatch(container.runOk('tc', ['qdisc', 'show', 'dev', 'eth1']), /ingress/);
  const unhealthy = healthcheck(container, socket);
  assert.notEqual(unhealthy.code, 0, 'the healthcheck must fail once turtle6 is gone');
});

test('entrypoint: clear errors (no config, bad config, no NET_ADMIN, an interface that never appears); arguments pass through', { timeout: 60_000 }, async (t) => {
  const bed = new TestBed('dockerr');
  t.after(() => bed.cleanup());
  const dir = mkdtempSync(join(tmpdir(), 't6dock-'));
  bed.onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const container = bed.netns('c');
  const config = writeConfig(dir, 'interfaces:\n  - { name: tap9, attach: eth9 }\n');
  const entry = (env: Record<string, string>, wrapper: string[] = [], args: string[] = []) =>
    run('ip', ['netns', 'exec', container.name, 'env', `TURTLE6_JS=${TURTLE6}`, ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...wrapper, 'sh', ENTRYPOINT, ...args]);

  const noConfig = entry({ TURTLE6_CONFIG: join(dir, 'absent.yaml') });
  assert.equal(noConfig.code, 1);
  assert.match(noConfig.stderr, /no config at .*absent\.yaml: mount one with -v/);

  const badConfig = join(dir, 'bad.yaml');
  writeFileSync(badConfig, 'interfaces:\n  - { name: tap9, adresses: [] }\n');
  const invalid = entry({ TURTLE6_CONFIG: badConfig });
  assert.equal(invalid.code, 1);
  assert.match(invalid.stderr, /bad\.yaml:2:.*did you mean "addresses"/);

  const noCap = entry({ TURTLE6_CONFIG: config }, ['setpriv', '--bounding-set', '-net_admin']);
  assert.equal(noCap.code, 1);
  assert.match(noCap.stderr, /CAP_NET_ADMIN is missing: run the container with --cap-add NET_ADMIN/);

  const never = entry({ TURTLE6_CONFIG: config, TURTLE6_WAIT_SECONDS: '1' });
  assert.equal(never.code, 1);
  assert.match(never.stderr, /interface eth9 \(attach: in .*\) did not appear within 1s/);

  // Arguments go to turtle6 instead of the preflight (docker run IMAGE check --config ...).
  const check = entry({}, [], ['check', '--config', config]);
  assert.equal(check.code, 0, check.stderr);
  assert.equal(check.stdout.trim(), `${config}: OK`);
});
