/**
 * The tc glue that gives the appliance a kernel interface: a TAP attached to one end of a
 * veth pair (namespace A) must pass frames to and from the peer end (namespace B). A kernel
 * ping from B proves both directions: its echo request is read from the TAP fd, and the
 * echo reply written to the TAP comes out of the peer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  NetCommandError,
  attachToKernelInterface,
  closeTunTap,
  detachFromKernelInterface,
  moveToNetns,
  openTunTap,
  setMac,
  setMtu,
  setUp,
} from '../../src/io/tuntap.js';
import { write } from '../../native-bindings/libc.js';
import { TestBed, pollUntil, requireCommand, shortName } from '../helpers/netns.js';
import { ICMPV6_ECHO_REQUEST, echoRequestToReply, icmpv6Type, readMatching } from './frames.js';

test('a TAP attached to a veth end exchanges frames with the veth peer', async (t) => {
  requireCommand('tc', 'iproute2');
  requireCommand('ping', 'iputils-ping');
  const bed = new TestBed('attach');
  t.after(() => bed.cleanup());
  const a = bed.netns('a');
  const b = bed.netns('b');
  const tap = openTunTap({ name: shortName('t6att'), kind: 'tap', queues: 1 });
  bed.onCleanup(() => closeTunTap(tap));
  moveToNetns(tap.name, a.name);
  const va = shortName('t6va');
  const vb = shortName('t6vb');
  a.ip('link', 'add', va, 'type', 'veth', 'peer', 'name', vb, 'netns', b.name);

  // Namespace A only moves frames: no IPv6 of its own on either device, so the TAP sees
  // nothing but what the glue redirects.
  for (const dev of [tap.name, va]) a.sysctl(`net.ipv6.conf.${dev}.disable_ipv6`, '1');
  setMtu(tap.name, 1500, { netns: a.name });
  setMac(tap.name, '02:00:00:00:04:01', { netns: a.name });
  setUp(tap.name, { netns: a.name });
  setUp(va, { netns: a.name });
  attachToKernelInterface(tap.name, va, { netns: a.name });
  const filters = a.runOk('tc', ['filter', 'show', 'dev', va, 'parent', 'ffff:']);
  assert.match(filters, new RegExp(`Egress Redirect to device ${tap.name}`));

  b.ip('link', 'set', vb, 'address', '02:00:00:00:04:02', 'up');
  b.ip('addr', 'add', 'fd00:4::2/64', 'dev', vb, 'nodad');
  b.ip('neigh', 'add', 'fd00:4::1', 'lladdr', '02:00:00:00:04:01', 'dev', vb, 'nud', 'permanent');
  const ping = bed.spawnIn(b, 'ping', ['-6', '-n', '-c', '1', '-W', '10', 'fd00:4::1']);

  const request = await readMatching(tap.fds[0]!, 'the echo request from the veth peer on the TAP', (f) => icmpv6Type(f, true) === ICMPV6_ECHO_REQUEST);
  assert.deepEqual([...request.subarray(6, 12)], [2, 0, 0, 0, 4, 2], 'it came from the veth peer');
  echoRequestToReply(request, true);
  assert.equal(write(tap.fds[0]!, request, request.length), request.length);
  await pollUntil('ping to exit', () => ping.exitCode !== null || ping.signalCode !== null, 15_000);
  assert.equal(ping.exitCode, 0, 'the echo reply written to the TAP reached the veth peer');

  detachFromKernelInterface(tap.name, va, { netns: a.name });
  assert.doesNotMatch(a.runOk('tc', ['qdisc', 'show', 'dev', va]), /ingress/);
  assert.doesNotMatch(a.runOk('tc', ['qdisc', 'show', 'dev', tap.name]), /ingress/);
});

test('a failed attach names the command and its stderr, and leaves nothing installed', (t) => {
  const bed = new TestBed('attach-err');
  t.after(() => bed.cleanup());
  const a = bed.netns('a');
  const tap = openTunTap({ name: shortName('t6atx'), kind: 'tap', queues: 1 });
  bed.onCleanup(() => closeTunTap(tap));
  moveToNetns(tap.name, a.name);
  let error: unknown;
  try {
    attachToKernelInterface(tap.name, 'nosuchdev0', { netns: a.name });
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof NetCommandError, `expected a NetCommandError, got ${String(error)}`);
  assert.match(error.command, /tc filter add dev \S+ parent ffff: protocol all u32 match u32 0 0 action mirred egress redirect dev nosuchdev0/);
  assert.match(error.stderr, /nosuchdev0|Cannot find device/i);
  assert.doesNotMatch(a.runOk('tc', ['qdisc', 'show', 'dev', tap.name]), /ingress/, 'the half-installed glue was rolled back');
});
