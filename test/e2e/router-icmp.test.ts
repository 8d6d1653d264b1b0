/**
 * ICMPv6 and ND a router owes its links (port unreachable, the Subnet-Router anycast
 * address, Routing headers, RFC 4191 RA options), through the real binary with kernel hosts
 * as neighbours and no host port (`dataplane.hostInterface: false`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pollUntil, requireCommand, run, TestBed } from '../helpers/netns.js';
import { ping, twoHosts } from './topology.js';

requireCommand('python3', 'python3');
requireCommand('ping', 'iputils-ping');
requireCommand('tshark', 'tshark');
requireCommand('rdisc6', 'ndisc6');

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

test('a Routing header with segments left to the router gets Parameter Problem code 0 at the Routing Type; tshark decodes it clean (RFC 8200 §4.4)', async (t) => {
  const bed = new TestBed('rthdr');
  t.after(() => bed.cleanup());
  const { h1, router, if1 } = await twoHosts(bed);
  const scapy = run('/usr/bin/python3', ['-c', 'import scapy.layers.inet6']);
  assert.equal(scapy.code, 0, `this test needs scapy for /usr/bin/python3: apt-get install python3-scapy (${scapy.stderr.trim()})`);
  const pcap = join(router.dir, 'rthdr.pcap');
  // Type 0 (RFC 5095) and an unassigned type, each with one segment left, then type 0 with
  // none left (ignored: the Echo Request is answered). The answers go to a pcap for tshark.
  // scapy's sr1 cannot match a reply to a source-routed request (it expects it from the
  // last segment), so a sniffer, started before anything is sent, collects the answers.
  const script = [
    'import threading',
    'from scapy.all import IPv6, IPv6ExtHdrRouting, ICMPv6EchoRequest, ICMPv6EchoReply, ICMPv6ParamProblem, AsyncSniffer, send, wrpcap, conf',
    'conf.verb = 0',
    'ready = threading.Event()',
    "mine = lambda p: IPv6 in p and p[IPv6].src == '2001:db8:1::1' and (ICMPv6ParamProblem in p or ICMPv6EchoReply in p)",
    `sniffer = AsyncSniffer(iface='${if1}', lfilter=mine, count=3, timeout=5, started_callback=ready.set)`,
    'sniffer.start()',
    'ready.wait(5)',
    'for rtype, left in ((0, 1), (253, 1), (0, 0)):',
    "    send(IPv6(dst='2001:db8:1::1') / IPv6ExtHdrRouting(type=rtype, segleft=left, addresses=['2001:db8:2::5']) / ICMPv6EchoRequest(id=7, seq=rtype))",
    'sniffer.join()',
    `wrpcap('${pcap}', sniffer.results)`,
    "print(len(sniffer.results), 'answers')",
  ].join('\n');
  const sent = h1.run('/usr/bin/python3', ['-c', script]);
  assert.equal(sent.code, 0, sent.stdout + sent.stderr);
  const fields = run('tshark', ['-n', '-r', pcap, '-T', 'fields', '-E', 'occurrence=f', '-e', 'ipv6.src', '-e', 'icmpv6.type', '-e', 'icmpv6.code', '-e', 'icmpv6.pointer']);
  assert.equal(fields.code, 0, fields.stderr);
  assert.deepEqual(fields.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t')), [
    // In the order sent. Pointer 42: the IPv6 header (40) + 2, the Routing Type field.
    ['2001:db8:1::1', '4', '0', '42'],
    ['2001:db8:1::1', '4', '0', '42'],
    ['2001:db8:1::1', '129', '0', ''],
  ]);
  const expert = run('tshark', ['-n', '-r', pcap, '-q', '-z', 'expert,warn']);
  assert.doesNotMatch(expert.stdout, /Malformed|Errors \(|Warns \(/, `tshark expert info:\n${expert.stdout}`);
});

test('RAs carry the router preference and Route Information (RFC 4191): rdisc6 shows them, a kernel host installs the route', async (t) => {
  const bed = new TestBed('rtinfo');
  t.after(() => bed.cleanup());
  const ra = '      preference: high\n      routes: [{ prefix: 2001:db8:f::/48, lifetime: 1800, preference: low }]\n';
  const { h1, if1 } = await twoHosts(bed, { ra });
  const shown = h1.run('rdisc6', ['-1', '-n', '-w', '3000', if1]);
  assert.equal(shown.code, 0, shown.stdout + shown.stderr);
  assert.match(shown.stdout, /Router preference\s*:\s*high/);
  assert.match(shown.stdout, /Route\s*:\s*2001:db8:f::\/48\s+Route preference\s*:\s*low\s+Route lifetime\s*:\s*1800/);
  // Linux takes Route Information up to accept_ra_rt_info_max_plen (0 by default); the next
  // RA (at most maxInterval, 4 s, apart) installs it, with its preference.
  h1.run('sysctl', ['-qw', `net.ipv6.conf.${if1}.accept_ra_rt_info_max_plen=64`]);
  await pollUntil('the Route Information route on h1', () => /^2001:db8:f::\/48 via fe80::\S+ .*proto ra .*pref low/m.test(h1.run('ip', ['-6', 'route', 'show', 'dev', if1]).stdout), 10_000);
  assert.match(h1.run('ip', ['-6', 'route', 'show', 'default']).stdout, /proto ra .*pref high/);
});
