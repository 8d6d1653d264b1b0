/**
 * The koffi libc declarations against the real kernel: a TAP and a TUN opened through
 * /dev/net/tun, moved into a test namespace, exchanging a ping with the kernel there (its
 * echo request read from the fd, our echo reply written back), plus fcntl, poll and eventfd.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import {
  EAGAIN,
  F_GETFL,
  O_NONBLOCK,
  POLLIN,
  close,
  errno,
  eventfd,
  EFD_NONBLOCK,
  fcntlGet,
  poll,
  read,
  write,
} from '../../native-bindings/libc.js';
import { closeTunTap, moveToNetns, openTunTap, type TunTap } from '../../src/io/tuntap.js';
import { equalAddress, parseIpv6 } from '../../src/lib/addr.js';
import { TestBed, pollUntil, requireCommand, shortName } from '../helpers/netns.js';
import { ICMPV6_ECHO_REQUEST, echoRequestToReply, icmpv6Type, ipv6Offset, readMatching } from '../io/frames.js';

async function exitCode(child: ChildProcess, what: string): Promise<number> {
  await pollUntil(what, () => child.exitCode !== null || child.signalCode !== null, 15_000);
  return child.exitCode ?? -1;
}

/** Opens a device in the root namespace under a unique name and moves it into the test's. */
function openInto(bed: TestBed, nsName: string, kind: 'tap' | 'tun', queues = 1): TunTap {
  const dev = openTunTap({ name: shortName(`t6${kind}`), kind, queues });
  bed.onCleanup(() => closeTunTap(dev));
  moveToNetns(dev.name, nsName);
  return dev;
}

test('a TUN carries a kernel ping both ways', async (t) => {
  requireCommand('ping', 'iputils-ping');
  const bed = new TestBed('libc-tun');
  t.after(() => bed.cleanup());
  const ns = bed.netns('a');
  const dev = openInto(bed, ns.name, 'tun');
  const fd = dev.fds[0]!;
  assert.equal(dev.fds.length, 1);
  assert.notEqual(fcntlGet(fd, F_GETFL) & O_NONBLOCK, 0, 'queue fds are non-blocking');
  assert.equal(read(fd, new Uint8Array(2048), 2048), -1, 'nothing queued yet');
  assert.equal(errno(), EAGAIN);

  ns.ip('link', 'set', dev.name, 'up');
  ns.ip('addr', 'add', 'fd00:1::1/64', 'dev', dev.name, 'nodad');
  const ping = bed.spawnIn(ns, 'ping', ['-6', '-n', '-c', '1', '-W', '10', 'fd00:1::2']);

  const target = parseIpv6('fd00:1::2')!;
  const request = await readMatching(fd, 'the echo request on the TUN', (f) =>
    icmpv6Type(f, false) === ICMPV6_ECHO_REQUEST && equalAddress(f, target, 24, 0),
  );
  assert.equal(ipv6Offset(request, false), 0, 'IFF_NO_PI: the packet starts at byte 0');
  assert.ok(equalAddress(request, parseIpv6('fd00:1::1')!, 8, 0), 'source is the namespace address');
  assert.equal(request[7], 64, 'the kernel default hop limit');

  echoRequestToReply(request, false);
  assert.equal(write(fd, request, request.length), request.length);
  assert.equal(await exitCode(ping, 'ping to exit'), 0, 'ping got our echo reply');
});

test('a TAP carries a kernel ping both ways', async (t) => {
  requireCommand('ping', 'iputils-ping');
  const bed = new TestBed('libc-tap');
  t.after(() => bed.cleanup());
  const ns = bed.netns('a');
  const dev = openInto(bed, ns.name, 'tap');
  const fd = dev.fds[0]!;

  ns.ip('link', 'set', dev.name, 'address', '02:00:00:00:01:01', 'up');
  ns.ip('addr', 'add', 'fd00:2::1/64', 'dev', dev.name, 'nodad');
  // A static neighbour so the kernel sends the echo request straight away, without ND.
  ns.ip('neigh', 'add', 'fd00:2::2', 'lladdr', '02:00:00:00:01:02', 'dev', dev.name, 'nud', 'permanent');
  const ping = bed.spawnIn(ns, 'ping', ['-6', '-n', '-c', '1', '-W', '10', 'fd00:2::2']);

  const request = await readMatching(fd, 'the echo request on the TAP', (f) => icmpv6Type(f, true) === ICMPV6_ECHO_REQUEST);
  assert.deepEqual([...request.subarray(0, 6)], [2, 0, 0, 0, 1, 2], 'destination MAC from the neighbour entry');
  assert.deepEqual([...request.subarray(6, 12)], [2, 0, 0, 0, 1, 1], 'source MAC is the TAP');
  assert.equal((request[12]! << 8) | request[13]!, 0x86dd);
  assert.ok(equalAddress(request, parseIpv6('fd00:2::2')!, 14 + 24, 0));

  echoRequestToReply(request, true);
  assert.equal(write(fd, request, request.length), request.length);
  assert.equal(await exitCode(ping, 'ping to exit'), 0, 'ping got our echo reply');
});

test('a multi-queue TAP gives one fd per queue under one name', (t) => {
  const bed = new TestBed('libc-mq');
  t.after(() => bed.cleanup());
  const ns = bed.netns('a');
  const dev = openInto(bed, ns.name, 'tap', 3);
  assert.equal(dev.fds.length, 3);
  assert.equal(new Set(dev.fds).size, 3);
  const link = JSON.parse(ns.ip('-d', '-j', 'link', 'show', 'dev', dev.name)) as Array<{ linkinfo?: { info_data?: { multi_queue?: boolean; type?: string } } }>;
  assert.equal(link[0]?.linkinfo?.info_data?.type, 'tap');
  assert.equal(link[0]?.linkinfo?.info_data?.multi_queue, true);
  // A name that is not a valid interface name fails in the ioctl, which the error names.
  assert.throws(() => openTunTap({ name: 'bad/name', kind: 'tun', queues: 1 }), /TUNSETIFF/);
  closeTunTap(dev);
  assert.equal(dev.fds.length, 0);
  // The last queue closed, the kernel removes the (non-persistent) device.
  assert.notEqual(ns.run('ip', ['link', 'show', 'dev', dev.name]).code, 0);
});

test('poll sees an eventfd only after it is written', () => {
  const efd = eventfd(0, EFD_NONBLOCK);
  assert.ok(efd >= 0);
  try {
    const pfd = new Int32Array(2);
    pfd[0] = efd;
    new Int16Array(pfd.buffer)[2] = POLLIN;
    assert.equal(poll(pfd, 1, 0), 0);
    assert.equal(write(efd, new BigUint64Array([3n]), 8), 8);
    assert.equal(poll(pfd, 1, 0), 1);
    assert.equal(new Int16Array(pfd.buffer)[3]! & POLLIN, POLLIN);
    const counter = new BigUint64Array(1);
    assert.equal(read(efd, counter, 8), 8);
    assert.equal(counter[0], 3n);
  } finally {
    close(efd);
  }
});
