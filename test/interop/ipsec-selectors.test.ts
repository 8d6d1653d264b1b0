/**
 * SPD selectors behind extension headers, against scapy (issue 11 §2; RFC 4301 §4.4.1.1, §7),
 * in the turtle6 ⇄ scapy ESP topology (scapy-esp/topology.ts):
 *
 *   h1 (2001:db8:1::10) ── if1 ── turtle6 ── if2 ── peer (scapy, 2001:db8:2::20) └─ 2001:db8:3::1
 *
 * The only policies are `proto: udp` ones, out and in, for 2001:db8:1::/64 ⇄ 2001:db8:3::/64.
 *   - Outbound: h1 (scapy) sends UDP behind a Destination Options header, UDP behind a
 *     Hop-by-Hop header, and a UDP datagram in three fragments. On the peer's wire every one
 *     of them is ESP, none is cleartext from h1, and the peer decrypts each (scapy's own ESP).
 *   - Inbound: the peer sends the same kinds of packets towards h1 in the clear; the inbound
 *     policy demands protection, so turtle6 drops every one and counts it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { derivedMac } from '../../src/config/sections/interfaces.js';
import { pollUntil, run, TestBed } from '../helpers/netns.js';
import { BEHIND, GCM, H1, PEER, PYTHON, ROUTER, ROUTER_MAC, SPI_IN, SPI_OUT, saYaml, uat } from './scapy-esp/common.js';
import { captureWire, espTopology, startPeer } from './scapy-esp/topology.js';

const IPSEC = `ipsec:
  crypto: native
  sas:
${saYaml(GCM, SPI_OUT, 'out', 'tunnel', ROUTER, PEER, GCM.out)}${saYaml(GCM, SPI_IN, 'in', 'tunnel', PEER, ROUTER, GCM.in)}  policies:
    - { direction: out, src: 2001:db8:1::/64, dst: 2001:db8:3::/64, proto: udp, sa: ${SPI_OUT} }
    - { direction: in, src: 2001:db8:3::/64, dst: 2001:db8:1::/64, proto: udp, sa: ${SPI_IN} }
`;

/**
 * Sends, on `iface` to `dstMac`, from `src` to `dst`: UDP behind Destination Options
 * (payload "sel-dstopts"), UDP behind Hop-by-Hop ("sel-hbh"), and a 2500-byte UDP datagram
 * fragmented into 1280-byte packets. Prints how many packets it sent.
 */
const SENDER = `
import sys
from scapy.all import Ether, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop, IPv6ExtHdrFragment, UDP, PadN, Raw, fragment6, sendp, get_if_hwaddr
iface, dst_mac, src, dst = sys.argv[1:5]
eth = Ether(src=get_if_hwaddr(iface), dst=dst_mac)
packets = [
    eth / IPv6(src=src, dst=dst) / IPv6ExtHdrDestOpt(options=[PadN(optdata=b'\\0' * 4)]) / UDP(sport=40000, dport=9999) / Raw(b'sel-dstopts'),
    eth / IPv6(src=src, dst=dst) / IPv6ExtHdrHopByHop(options=[PadN(optdata=b'\\0' * 4)]) / UDP(sport=40001, dport=9999) / Raw(b'sel-hbh'),
]
whole = IPv6(src=src, dst=dst) / IPv6ExtHdrFragment(id=0x7e57) / UDP(sport=40002, dport=9999) / Raw(b'sel-frag' * 312)
packets += [eth / f for f in fragment6(whole, 1280)]
sendp(packets, iface=iface, verbose=False)
print(len(packets), flush=True)
`;

test('UDP behind Destination Options, behind Hop-by-Hop, and fragmented leaves encrypted under a `proto: udp` policy; the same in cleartext towards h1 is dropped', async (t) => {
  const bed = new TestBed('espsel');
  t.after(() => bed.cleanup());
  const topology = await espTopology(bed, { lanes: 1, routeBehind: true, ipsec: IPSEC });
  const { h1, peer: peerNs, if1, if2, router } = topology;

  // Inbound first, while nothing else has crossed the router: the peer's cleartext UDP to h1.
  const inbound = peerNs.run(PYTHON, ['-c', SENDER, if2, ROUTER_MAC, BEHIND, H1]);
  assert.equal(inbound.code, 0, inbound.stderr);
  const sentIn = Number(inbound.stdout.trim());
  assert.equal(sentIn, 5, 'two single packets and a datagram in three fragments');
  const before = await router.counters(if2);
  // The counters are read through the control socket after the lane saw the frames: poll.
  const deadline = Date.now() + 5000;
  let c = before;
  while (c.esp_policy_mismatch! < sentIn && Date.now() < deadline) c = await router.counters(if2);
  assert.equal(c.esp_policy_mismatch, sentIn, `every cleartext packet was dropped as a policy mismatch: ${JSON.stringify(c)}`);
  assert.equal(c.forwarded, 0, 'nothing reached h1');

  // Outbound: h1's packets through the tunnel, seen on the peer's wire and by the peer.
  const capture = await captureWire(bed, topology, 'ip6');
  const peer = await startPeer(bed, topology, 'tunnel', GCM, ['--behind', BEHIND]);
  // The router resolves the peer first (an unencrypted ping: ICMPv6 is not under the
  // policy), so no ESP packet waits in the neighbour queue, which keeps only a few.
  h1.run('ping', ['-6', '-c', '1', '-W', '1', PEER]);
  await pollUntil('the router to know the peer\'s MAC', async () => {
    const neighbors = (await router.ctl(['show', 'neighbors'])) as Array<{ address: string; state: string }>;
    return neighbors.some((n) => n.address === PEER && n.state !== 'INCOMPLETE');
  });
  const outbound = h1.run(PYTHON, ['-c', SENDER, if1, derivedMac(if1), H1, BEHIND]);
  assert.equal(outbound.code, 0, outbound.stderr);
  const sentOut = Number(outbound.stdout.trim());
  const deadlineOut = Date.now() + 10_000;
  while (peer.events().filter((e) => e.event === 'esp').length < sentOut && Date.now() < deadlineOut) await new Promise((r) => setImmediate(r));
  peer.stop();
  const done = await peer.finished(30_000);
  assert.deepEqual(done.failures, [], peer.output());
  const esp = peer.events().filter((e) => e.event === 'esp');
  assert.equal(esp.length, sentOut, `the peer decrypted every packet h1 sent: ${peer.output()}`);
  const payloads = esp.filter((e) => e.inner === 'udp').map((e) => e.payload as string);
  assert.ok(payloads.includes('sel-dstopts') && payloads.includes('sel-hbh'), `the UDP behind extension headers: ${JSON.stringify(esp)}`);
  assert.ok(esp.some((e) => e.inner === 'other' && /Fragment/.test(String(e.summary))), `the later fragment, inside ESP: ${JSON.stringify(esp)}`);

  // On the wire: nothing from h1 in the clear, and the router's ESP packets carry them all.
  await capture.finish(sentOut);
  // (ICMPv6 is outside the policy: the ping above, and h1's Port Unreachable answers to the
  // peer's echoes, rightly go in the clear.)
  const clear = run('tshark', ['-n', '-r', capture.file, '-Y', `ipv6.src == ${H1} && !esp && !icmpv6`]);
  assert.equal(clear.code, 0, clear.stderr);
  assert.equal(clear.stdout.trim(), '', `no cleartext UDP or fragment from h1 on the peer's link:\n${clear.stdout}`);
  const decoded = run('tshark', ['-n', '-r', capture.file, '-o', 'esp.enable_encryption_decode:TRUE', ...uat(SPI_OUT, GCM, GCM.out), '-Y', `esp.spi == ${SPI_OUT}`, '-T', 'fields', '-e', 'ipv6.dst', '-e', 'ipv6.nxt']);
  assert.equal(decoded.code, 0, decoded.stderr);
  const rows = decoded.stdout.trim().split('\n').filter(Boolean);
  assert.equal(rows.length, sentOut, `turtle6's ESP packets:\n${decoded.stdout}`);
  // tshark decrypts each: outer to the peer, inner to the host behind it, with the extension header kept.
  const nexts = rows.map((r) => r.split('\t')[1]!);
  assert.ok(nexts.some((n) => n.includes('60')) && nexts.some((n) => n.includes('0')) && nexts.filter((n) => n.includes('44')).length === 3, `Destination Options (60), Hop-by-Hop (0) and three Fragment (44) headers inside: ${nexts.join(' | ')}`);
  const counters = await router.counters(if1);
  assert.ok(counters.forwarded! >= sentOut);
});
