/**
 * The turtle6 image for real (issue 13): a private dockerd (test/helpers/docker.ts) builds the
 * repository's Dockerfile, unchanged, on stand-ins for its base images; then containers show
 * what docs/docker.md says. One image per run of this file, shared by its tests.
 *
 * Topology: two internal IPv6 networks, host A on lan1 and host B on lan2, and turtle6 on
 * both (its eth1 and eth2, attached) plus a management network (eth0) for the published
 * metrics port. The hosts route to each other by turtle6's RAs (high preference, over the
 * default route Docker gives them), so a ping between them crosses turtle6.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pollUntil, requireCommand, run, shortName, type ExecResult } from '../helpers/netns.js';
import { buildImage, HOST_IMAGE, importStandIns, startDockerd, writeIn, type BuiltImage, type Dockerd } from '../helpers/docker.js';

const IMAGE = 'turtle6:test';
const CONFIG_PATH = '/etc/turtle6/turtle6.yaml';
/** What the Dockerfile may add to node:20-bookworm-slim: four small packages and the app. */
const MAX_ADDED_BYTES = 60e6;

let d: Dockerd | undefined;
let image: BuiltImage;
let baseBytes = 0;
const dir = mkdtempSync(join(tmpdir(), 't6docker-'));

before(async () => {
  d = await startDockerd();
  importStandIns(d);
  baseBytes = Number(d.inspect('node:20-bookworm-slim', '{{.Size}}'));
  image = buildImage(d, IMAGE);
  console.log(`turtle6 image: ${(image.bytes / 1e6).toFixed(1)} MB (base ${(baseBytes / 1e6).toFixed(1)} MB + ${((image.bytes - baseBytes) / 1e6).toFixed(1)} MB), built in ${image.seconds.toFixed(0)} s`);
}, { timeout: 40 * 60_000 });

after(async () => {
  await d?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function docker(): Dockerd {
  if (d === undefined) throw new Error('no dockerd');
  return d;
}

/** `docker logs NAME`, stdout and stderr together. */
function logs(name: string): string {
  const r = docker().docker(['logs', name]);
  return r.stdout + r.stderr;
}

function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

/** A container's address on a network, as Docker assigned it. */
function ipv6On(name: string, network: string): string {
  return docker().inspect(name, `{{(index .NetworkSettings.Networks "${network}").GlobalIPv6Address}}`);
}

function ping(from: string, to: string): ExecResult {
  return docker().docker(['exec', from, 'ping', '-6', '-c', '2', '-W', '2', to]);
}

/** Pings until one succeeds: the hosts learn their route from an RA. */
async function pingsThrough(from: string, to: string): Promise<void> {
  let last: ExecResult | undefined;
  try {
    await pollUntil(`${from} to ping ${to}`, () => (last = ping(from, to)).code === 0, 45_000, 500);
  } catch (e) {
    throw new Error(`${String(e)}\n${last?.stdout}${last?.stderr}`);
  }
}

/**
 * The host's route to `to` is turtle6's RA route: Docker also gives hosts on an IPv6 network
 * a default route to its bridge (in the machine's namespace, which may forward), and the RA's
 * high preference (RFC 4191) is what makes turtle6 win.
 */
function viaTurtle6(host: string, to: string): void {
  const route = docker().dockerOk(['exec', host, 'ip', '-6', 'route', 'get', to]);
  assert.match(route, /via fe80::\S+ dev eth0 proto ra/, route);
}

async function scrape(container: string): Promise<string> {
  const published = docker().dockerOk(['port', container, '9469/tcp']).trim().split('\n')[0]!;
  const res = await fetch(`http://${published}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

/** Waits for the container's HEALTHCHECK (the image's own, every 15 s) to say healthy. */
async function healthy(container: string): Promise<void> {
  await pollUntil(`${container} to be healthy`, () => docker().inspect(container, '{{.State.Health.Status}}') === 'healthy', 90_000, 1000);
}

function routerConfig(p1: string, p2: string): string {
  return `interfaces:
  - name: tap1
    addresses: [${p1}ff/64]
    attach: eth1
    ra: { maxInterval: 10, preference: high }
  - name: tap2
    addresses: [${p2}ff/64]
    attach: eth2
    ra: { maxInterval: 10, preference: high }
metrics:
  listen: "[::]:9469"
`;
}

test('image: built from the Dockerfile, small, production dependencies only, no compiler', () => {
  const added = image.bytes - baseBytes;
  assert.ok(added > 0 && added < MAX_ADDED_BYTES, `the image adds ${added} bytes to its base (at most ${MAX_ADDED_BYTES})`);
  const inside = docker().docker([
    'run', '--rm', '--entrypoint', 'sh', IMAGE, '-c',
    'for c in gcc cc tsc; do command -v $c && exit 1; done; ' +
      'test ! -e /app/node_modules/typescript && test ! -e /app/node_modules/fast-check && ' +
      'test -e /app/native-bindings/build/libt6io.so && test -e /app/native-bindings/build/libt6crypto.so && ' +
      'turtle6ctl --help >/dev/null && tc -V >/dev/null && echo clean',
  ]);
  assert.equal(inside.stdout.trim(), 'clean', inside.stdout + inside.stderr);
});

test('topology: hosts on two Docker networks ping each other through turtle6; turtle6ctl, healthcheck, metrics through -p, stop and start', { timeout: 10 * 60_000 }, async () => {
  const k = docker();
  const tag = shortName('t6');
  // Random prefixes: the networks' bridges live in the machine's own namespace.
  const n = randomInt(0x1000, 0xfff0);
  const p1 = `2001:db8:${n.toString(16)}::`;
  const p2 = `2001:db8:${(n + 1).toString(16)}::`;
  // Docker names interfaces in network order: the one with the default route first (eth0),
  // then by name, so lan1 is eth1 and lan2 eth2, on every start.
  const [mgmt, lan1, lan2] = [`${tag}-mgmt`, `${tag}-lan1`, `${tag}-lan2`];
  k.dockerOk(['network', 'create', mgmt]);
  k.dockerOk(['network', 'create', '--internal', '--ipv6', '--subnet', `${p1}/64`, lan1]);
  k.dockerOk(['network', 'create', '--internal', '--ipv6', '--subnet', `${p2}/64`, lan2]);
  const config = writeIn(dir, 'router.yaml', routerConfig(p1, p2));
  const r = `${tag}-r`;
  k.dockerOk([
    'create', '--name', r, '--cap-add', 'NET_ADMIN', '--device', '/dev/net/tun', '--sysctl', 'net.ipv6.conf.default.disable_ipv6=0',
    '-v', `${config}:${CONFIG_PATH}:ro`, '--network', mgmt, '-p', '127.0.0.1::9469', IMAGE,
  ]);
  k.dockerOk(['network', 'connect', lan1, r]);
  k.dockerOk(['network', 'connect', lan2, r]);
  k.dockerOk(['start', r]);
  const [a, b] = [`${tag}-a`, `${tag}-b`];
  k.dockerOk(['run', '-d', '--name', a, '--network', lan1, HOST_IMAGE]);
  k.dockerOk(['run', '-d', '--name', b, '--network', lan2, HOST_IMAGE]);
  await pollUntil('turtle6 to come up', () => {
    if (k.inspect(r, '{{.State.Running}}') !== 'true') throw new Error(`turtle6 exited:\n${logs(r)}`);
    return logs(r).includes('turtle6 is up');
  }, 60_000, 500);

  const [addrA, addrB] = [ipv6On(a, lan1), ipv6On(b, lan2)];
  assert.ok(addrA.startsWith(p1) && addrB.startsWith(p2), `${addrA} ${addrB}`);
  await pingsThrough(a, addrB);
  await pingsThrough(b, addrA);
  viaTurtle6(a, addrB);
  viaTurtle6(b, addrA);

  const shown = k.dockerOk(['exec', r, 'turtle6ctl', 'show', 'interfaces']);
  assert.match(shown, /tap1/);
  assert.match(shown, /tap2/);
  assert.match(shown, new RegExp(`${p1}ff`));
  // Docker's /proc/sys is read-only: instead of disable_ipv6, the TAPs get no kernel address.
  assert.match(logs(r), /read-only \/proc\/sys: the kernel gets no IPv6 address on the TAP instead/);
  assert.equal(k.dockerOk(['exec', r, 'ip', '-6', 'addr', 'show', 'dev', 'tap1']).trim(), '');
  // The glue is in place while it runs (it is removed on stop, below).
  assert.match(k.dockerOk(['exec', r, 'tc', 'filter', 'show', 'dev', 'eth1', 'ingress']), /mirred/);

  const metrics = await scrape(r);
  assert.match(metrics, /turtle6_interface_rx_packets_total\{interface="tap1"\} [1-9]/);
  assert.match(metrics, /turtle6_interface_rx_packets_total\{interface="tap2"\} [1-9]/);
  await healthy(r);

  // docker stop: SIGTERM to turtle6 itself (the entrypoint execs it), which removes its glue
  // and exits 0 well within the grace period (a SIGKILL after it would give 137).
  const grace = 10; // docker stop's default
  const t0 = Date.now();
  k.dockerOk(['stop', '-t', String(grace), r]);
  const took = (Date.now() - t0) / 1000;
  assert.ok(took < grace, `docker stop took ${took} s, the grace period is ${grace} s`);
  assert.equal(k.inspect(r, '{{.State.ExitCode}}'), '0', logs(r));
  const stopped = logs(r);
  assert.match(stopped, /turtle6 stopped/);
  assert.doesNotMatch(stopped, /could not remove the tc glue/);

  k.dockerOk(['start', r]);
  await pollUntil('turtle6 to come up again', () => count(logs(r), 'turtle6 is up') === 2, 60_000, 500);
  await pingsThrough(a, addrB);
  await pingsThrough(b, addrA);
  assert.match(await scrape(r), /turtle6_interface_rx_packets_total\{interface="tap1"\} [1-9]/);
  await healthy(r);

  k.dockerOk(['rm', '-f', r, a, b]);
  k.dockerOk(['network', 'rm', mgmt, lan1, lan2]);
});

test('a bad config mounted into the container: it exits at once, naming file, line and path', { timeout: 120_000 }, () => {
  const k = docker();
  const bad = writeIn(dir, 'bad.yaml', 'interfaces:\n  - { name: tap9, adresses: [] }\n');
  const name = shortName('t6bad');
  const t0 = Date.now();
  const r = k.docker(['run', '--name', name, '--cap-add', 'NET_ADMIN', '--device', '/dev/net/tun', '-v', `${bad}:${CONFIG_PATH}:ro`, IMAGE]);
  const took = (Date.now() - t0) / 1000;
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.ok(took < 30, `it took ${took} s to fail`);
  const err = k.docker(['logs', name]).stderr;
  assert.match(err, /\/etc\/turtle6\/turtle6\.yaml:2:\d+: interfaces\[0\]\.adresses: .*did you mean "addresses"/);
  assert.match(err, /turtle6-entrypoint: \/etc\/turtle6\/turtle6\.yaml is not a valid turtle6 config/);
  k.dockerOk(['rm', name]);
});

test('without NET_ADMIN, or without /dev/net/tun and the means to make it, the entrypoint says what to add to docker run', { timeout: 120_000 }, () => {
  const k = docker();
  const config = writeIn(dir, 'plain.yaml', 'interfaces:\n  - { name: tap1, attach: eth0 }\n');
  const mount = ['-v', `${config}:${CONFIG_PATH}:ro`];
  const noCap = k.docker(['run', '--rm', '--device', '/dev/net/tun', ...mount, IMAGE]);
  assert.equal(noCap.code, 1, noCap.stdout + noCap.stderr);
  assert.match(noCap.stderr, /CAP_NET_ADMIN is missing: run the container with --cap-add NET_ADMIN/);
  // Docker's device cgroup allows the TUN clone device (10:200) by default, so without
  // --device the entrypoint makes the node itself with CAP_MKNOD; without that too it cannot.
  const noTun = k.docker(['run', '--rm', '--cap-add', 'NET_ADMIN', '--cap-drop', 'MKNOD', ...mount, IMAGE]);
  assert.equal(noTun.code, 1, noTun.stdout + noTun.stderr);
  assert.match(noTun.stderr, /\/dev\/net\/tun is missing; creating it\n.*cannot create \/dev\/net\/tun: run the container with --device \/dev\/net\/tun/);
  const made = k.docker(['run', '--rm', '--cap-add', 'NET_ADMIN', '-e', 'TURTLE6_WAIT_SECONDS=1', ...mount, IMAGE]);
  assert.match(made.stderr, /\/dev\/net\/tun is missing; creating it\n/);
  assert.doesNotMatch(made.stderr, /cannot create/);
});

test('examples/compose.yaml: the same topology with docker-compose', { timeout: 10 * 60_000 }, async () => {
  requireCommand('docker-compose', 'docker-compose');
  const k = docker();
  const project = shortName('t6c');
  const file = resolve('examples/compose.yaml');
  const env = { ...k.env, TURTLE6_IMAGE: IMAGE, HOST_IMAGE, METRICS_PUBLISH: '127.0.0.1:' };
  const compose = (...args: string[]): ExecResult => {
    const r = run('env', [...Object.entries(env).map(([key, v]) => `${key}=${v}`), 'docker-compose', '-f', file, '-p', project, ...args]);
    return r;
  };
  const composeOk = (...args: string[]): string => {
    const r = compose(...args);
    if (r.code !== 0) throw new Error(`docker-compose ${args.join(' ')} failed (${r.code}):\n${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  try {
    composeOk('up', '-d');
    const id = (service: string) => composeOk('ps', '-q', service).trim();
    const [r, a, b] = [id('turtle6'), id('host-a'), id('host-b')];
    await pollUntil('turtle6 to come up', () => logs(r).includes('turtle6 is up'), 60_000, 500);
    const addrA = ipv6On(a, `${project}_lan1`);
    const addrB = ipv6On(b, `${project}_lan2`);
    assert.ok(addrA.startsWith('2001:db8:1::') && addrB.startsWith('2001:db8:2::'), `${addrA} ${addrB}`);
    await pingsThrough(a, addrB);
    await pingsThrough(b, addrA);
    viaTurtle6(a, addrB);
    assert.match(composeOk('exec', '-T', 'turtle6', 'turtle6ctl', 'show', 'interfaces'), /2001:db8:2::ff/);
    assert.match(await scrape(r), /turtle6_interface_rx_packets_total\{interface="tap2"\} [1-9]/);
    await healthy(r);
    composeOk('stop');
    assert.equal(k.inspect(r, '{{.State.ExitCode}}'), '0', logs(r));
  } finally {
    compose('down', '--volumes', '--remove-orphans');
  }
  assert.equal(k.dockerOk(['network', 'ls', '-q', '--filter', `name=${project}`]).trim(), '', 'compose down removes its networks');
});
