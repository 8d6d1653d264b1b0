/**
 * ICMPv6 a router owes the packets addressed to it, through the real binary with kernel
 * hosts as neighbours and no host port (`dataplane.hostInterface: false`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireCommand, TestBed } from '../helpers/netns.js';
import { ping, twoHosts } from './topology.js';

requireCommand('python3', 'python3');
requireCommand('ping', 'iputils-ping');

test('UDP to an unbound port of the router is refused: the host socket gets ECONNREFUSED (RFC 4443 §3.1 code 4)', async (t) => {
  const bed = new TestBed('portun');
  t.after(() => bed.cleanup());
  const { h1 } = await twoHosts(bed);
  // A connected UDP socket reports the port unreachable on the next call (Linux: ECONNREFUSED).
  const script = [
    'import socket',
    's = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)',
    's.settimeout(3)',
    "s.connect(('2001:db8:1::1', 9))",
    "s.send(b'x')",
    'try:',
    '    s.recv(16)',
    "    print('answered')",
    'except ConnectionRefusedError:',
    "    print('refused')",
    'except socket.timeout:',
    "    print('timeout')",
  ].join('\n');
  const r = h1.run('/usr/bin/python3', ['-c', script]);
  assert.equal(r.stdout.trim(), 'refused', r.stdout + r.stderr);
});

test('the Subnet-Router anycast address 2001:db8:1:: is the router\'s: a ping to it is answered (RFC 4291 §2.6.1)', async (t) => {
  const bed = new TestBed('anycast');
  t.after(() => bed.cleanup());
  const { h1, if1 } = await twoHosts(bed);
  const r = ping(h1, '2001:db8:1::');
  assert.equal(r.code, 0, r.out);
  // RFC 4443 §4.2: the reply to an anycast request comes from a unicast address of the port.
  assert.match(r.out, /bytes from 2001:db8:1::1: icmp_seq=1/);
  // The host resolved it from the router's NA (Router flag set).
  const neigh = h1.run('ip', ['-6', 'neigh', 'show', 'dev', if1]).stdout;
  assert.match(neigh, /^2001:db8:1:: lladdr \S+ router/m);
});
