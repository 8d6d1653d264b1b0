/**
 * ICMPv6 a router owes the packets addressed to it, through the real binary with kernel
 * hosts as neighbours and no host port (`dataplane.hostInterface: false`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireCommand, TestBed } from '../helpers/netns.js';
import { twoHosts } from './topology.js';

requireCommand('python3', 'python3');

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
