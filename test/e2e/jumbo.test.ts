/**
 * Frames longer than a pool slot, and jumbo frames, through the real binary (issue 11 §1):
 *   - a kernel host raises its side of a 1500-byte TAP port to MTU 9000 and sends 9000-byte
 *     frames among a normal flow: the big frames are dropped as `frame_too_long`, and every
 *     datagram of the normal flow arrives intact, byte for byte;
 *   - with both ports configured at MTU 9000 (TAP and TUN), jumbo packets forward intact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { pollUntil, requireCommand, TestBed, type Netns } from '../helpers/netns.js';
import { ping, twoHosts } from './topology.js';
import { DROPS } from '../../src/dataplane/counters.js';

const DROP_NAMES = new Set<string>(DROPS.map((d) => d.name));

requireCommand('python3', 'python3');
requireCommand('ping', 'iputils-ping');

/**
 * The receiver: prints "ready", then one line per datagram to port 7777 — its length and
 * the SHA-256 of its bytes — until it has `count` or 10 s pass without one.
 */
const RECEIVER = `
import hashlib, socket, sys
count = int(sys.argv[1])
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.bind(('::', 7777))
s.settimeout(10)
print('ready', flush=True)
for _ in range(count):
    try:
        d = s.recv(65535)
    except socket.timeout:
        break
    print(len(d), hashlib.sha256(d).hexdigest(), flush=True)
print('end', flush=True)
`;

/**
 * The sender: `count` datagrams of `size` bytes to [dst]:7777 with seeded pseudo-random
 * contents (random.Random(seed)), each preceded by `jumbos` datagrams of 8900 bytes to
 * port 9 (discard) when asked. Prints each normal datagram's length and SHA-256.
 */
const SENDER = `
import hashlib, random, socket, sys, time
dst, count, size, jumbos, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rng = random.Random(seed)
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
# Never fragment at the source: the jumbo datagrams must leave as single 8948-byte packets.
s.setsockopt(socket.IPPROTO_IPV6, 23, 1)  # IPV6_MTU_DISCOVER = IPV6_PMTUDISC_DO
for i in range(count):
    for _ in range(jumbos):
        s.sendto(b'J' * 8900, (dst, 9))
    d = bytes(rng.getrandbits(8) for _ in range(size))
    s.sendto(d, (dst, 7777))
    print(len(d), hashlib.sha256(d).hexdigest(), flush=True)
    time.sleep(0.002)
print('done', flush=True)
`;

function lines(child: ChildProcess): () => string[] {
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  return () => out.split('\n').filter((l) => l.length > 0);
}

/**
 * Runs the receiver in `to` and the sender in `from` (count datagrams of `size` bytes to
 * `dst`, each after `jumbos` 8900-byte ones) and returns what each side printed per datagram.
 */
async function udpFlow(bed: TestBed, from: Netns, to: Netns, dst: string, count: number, size: number, jumbos: number, seed: number): Promise<{ sent: string[]; received: string[] }> {
  const receiver = bed.spawnIn(to, 'python3', ['-c', RECEIVER, String(count)]);
  const received = lines(receiver);
  await pollUntil('the receiver', () => received().includes('ready'));
  const sender = bed.spawnIn(from, 'python3', ['-c', SENDER, dst, String(count), String(size), String(jumbos), String(seed)]);
  const sent = lines(sender);
  await pollUntil('the sender to finish', () => sent().includes('done'), 30_000);
  await pollUntil('the receiver to have every datagram or give up', () => received().includes('end'), 20_000);
  return { sent: sent().filter((l) => l !== 'done'), received: received().filter((l) => l !== 'ready' && l !== 'end') };
}

test('9000-byte frames on a 1500-byte TAP port are dropped as frame_too_long; a normal flow beside them arrives byte for byte', async (t) => {
  const bed = new TestBed('jumbo-drop');
  t.after(() => bed.cleanup());
  const { h1, h2, if1, a2, router } = await twoHosts(bed);
  assert.equal(ping(h1, a2).code, 0, 'neighbours resolved before the flood');
  // The host owns the kernel side of the TAP: it raises the MTU past what turtle6 configured.
  // (and stops taking the RA's MTU option, which would set its IPv6 MTU back to 1500).
  h1.sysctl(`net.ipv6.conf.${if1}.accept_ra_mtu`, '0');
  h1.ip('link', 'set', if1, 'mtu', '9000');
  h1.sysctl(`net.ipv6.conf.${if1}.mtu`, '9000');

  const COUNT = 200;
  const flow = await udpFlow(bed, h1, h2, a2, COUNT, 1200, 1, 11);
  assert.equal(flow.sent.length, COUNT);
  assert.deepEqual(flow.received, flow.sent, 'every datagram of the normal flow, intact and in order');
  const c = await router.counters(if1);
  assert.ok(c.frame_too_long! >= COUNT, `the jumbo frames were dropped as frame_too_long: ${JSON.stringify(c)}`);
  assert.equal(c.rx_packets, c.forwarded! + c.punted! + Object.entries(c).filter(([k]) => DROP_NAMES.has(k)).reduce((s, [, v]) => s + v, 0), 'rx = forwarded + punted + Σ drops');
});

for (const kind of ['tap', 'tun'] as const) {
  test(`${kind} ports at MTU 9000 forward jumbo packets intact, with 2 lanes`, async (t) => {
    const bed = new TestBed(`jumbo-${kind}`);
    t.after(() => bed.cleanup());
    const { h1, h2, if1, a2, router } = await twoHosts(bed, { kind, mtu: 9000, lanes: 2 });
    const big = ping(h1, a2, '-s', String(9000 - 40 - 8), '-M', 'do');
    assert.equal(big.code, 0, big.out);

    const COUNT = 50;
    // 8952 bytes of UDP payload: 8952 + 8 + 40 = 9000, the MTU exactly.
    const flow = await udpFlow(bed, h1, h2, a2, COUNT, 8952, 0, 12);
    assert.equal(flow.sent.length, COUNT);
    assert.deepEqual(flow.received, flow.sent);
    const c = await router.counters(if1);
    assert.equal(c.frame_too_long, 0);
    assert.ok(c.forwarded! >= COUNT);
  });
}
