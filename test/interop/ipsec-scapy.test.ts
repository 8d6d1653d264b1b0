/**
 * turtle6 ⇄ scapy's SecurityAssociation (an ESP implementation independent of turtle6) in
 * namespaces, for {tunnel, transport} × {AES-GCM-128, AES-CBC-128 + HMAC-SHA-256-128}; and
 * tshark decrypting what turtle6 put on the wire with the same keys.
 *
 *   h1 (2001:db8:1::10) ── lan0 (2001:db8:1::1) ── turtle6 ── lan1 (2001:db8:2::1) ── peer (scapy, 2001:db8:2::20)
 *                                                                                      └─ "behind" 2001:db8:3::1
 *
 * Tunnel mode: h1 pings and sends UDP to 2001:db8:3::1; turtle6 encrypts towards the peer,
 * which decrypts, answers, encrypts the answer, and h1 gets it. Transport mode: the peer
 * pings the router's own address under ESP; the echo module's replies leave under ESP.
 * Policies are scoped to the traffic under test, so Neighbor Discovery stays in the clear.
 * Every scenario runs on the C crypto helper (ipsec.crypto: native) except two on node:crypto.
 * Route-based (issue 6 item 7): the same tunnel with no policy at all; the only thing sending
 * h1's traffic into it is the route to 2001:db8:3::/64 that `ipsec.tunnels` installs, and the
 * peer's answers are accepted because their source is one of the tunnel's routes.
 * The kernel's IPv6 is off on the peer's link: scapy answers ND itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { run, TestBed } from '../helpers/netns.js';
import { ping } from '../e2e/topology.js';
import { BEHIND, CBC, GCM, H1, PEER, PYTHON, ROUTER, SPI_IN, SPI_OUT, saYaml, uat, type Keys } from './scapy-esp/common.js';
import { captureWire, espTopology, startPeer } from './scapy-esp/topology.js';

function ipsecYaml(mode: 'tunnel' | 'transport', keys: Keys, routeBased: boolean, crypto: 'native' | 'node'): string {
  const sas = saYaml(keys, SPI_OUT, 'out', mode, ROUTER, PEER, keys.out) + saYaml(keys, SPI_IN, 'in', mode, PEER, ROUTER, keys.in);
  if (routeBased) return `ipsec:\n  crypto: ${crypto}\n  sas:\n${sas}  tunnels:\n    - { name: site3, saOut: ${SPI_OUT}, saIn: ${SPI_IN}, routes: [2001:db8:3::/64] }\n`;
  const policies =
    mode === 'tunnel'
      ? `    - { direction: out, src: 2001:db8:1::/64, dst: 2001:db8:3::/64, sa: ${SPI_OUT} }\n` +
        `    - { direction: in, src: 2001:db8:3::/64, dst: 2001:db8:1::/64, sa: ${SPI_IN} }\n`
      : // Only the echo exchange: ND between the two stays in the clear.
        `    - { direction: out, src: ${ROUTER}/128, dst: ${PEER}/128, proto: icmpv6, icmpType: 129, sa: ${SPI_OUT} }\n` +
        `    - { direction: in, src: ${PEER}/128, dst: ${ROUTER}/128, proto: icmpv6, icmpType: 128, sa: ${SPI_IN} }\n`;
  return `ipsec:\n  crypto: ${crypto}\n  sas:\n${sas}  policies:\n${policies}`;
}

interface ScenarioOptions {
  /** Lanes in the router; with 2, SA traffic enters both and is handed over to the home lane. */
  readonly lanes?: number;
  /** Tunnel mode: UDP datagrams h1 sends, each from its own socket (its own flow). */
  readonly udpFlows?: number;
  /** Tunnel mode: no policies, a route-based tunnel (`ipsec.tunnels`) routes the far LAN. */
  readonly routeBased?: boolean;
  /** The crypto path: the C helper (the default here, so a missing helper fails loudly) or node:crypto. */
  readonly crypto?: 'native' | 'node';
}

async function scenario(mode: 'tunnel' | 'transport', keys: Keys, t: { after: (fn: () => Promise<void>) => void }, opts: ScenarioOptions = {}): Promise<void> {
  const lanes = opts.lanes ?? 1;
  const flows = opts.udpFlows ?? 1;
  const routeBased = opts.routeBased ?? false;
  const crypto = opts.crypto ?? 'native';
  const bed = new TestBed(`esp${mode.slice(0, 2)}${keys.encryption.slice(4, 7)}${lanes}${routeBased ? 'r' : ''}${crypto === 'node' ? 'n' : ''}`);
  t.after(() => bed.cleanup());
  const topology = await espTopology(bed, { lanes, routeBehind: !routeBased, ipsec: ipsecYaml(mode, keys, routeBased, crypto) });
  const { h1, if1, if2, router } = topology;
  // ESP only: the packets tshark decrypts below.
  const capture = await captureWire(bed, topology, 'ip6 and ip6[6] = 50');
  const peer = await startPeer(bed, topology, mode, keys, mode === 'tunnel' ? ['--behind', BEHIND] : ['--ping', '3']);

  let expectedPackets: number;
  if (mode === 'tunnel') {
    const p = ping(h1, BEHIND);
    assert.equal(p.code, 0, `h1's ping through the ESP tunnel:\n${p.out}\npeer:\n${peer.output()}`);
    // UDP too: the peer echoes each datagram back through the tunnel. Each comes from its
    // own socket, so the TAP spreads them over its queues (lanes) by flow hash.
    const udp = h1.run(PYTHON, ['-c', [
      'import socket',
      `socks = [socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) for _ in range(${flows})]`,
      'for i, s in enumerate(socks):',
      '    s.settimeout(5)',
      `    s.sendto(b"turtle6 udp over esp %d" % i, ("${BEHIND}", 7))`,
      'for s in socks:',
      '    print(s.recvfrom(2048)[0].decode())',
    ].join('\n')]);
    assert.deepEqual(udp.stdout.trim().split('\n'), Array.from({ length: flows }, (_, i) => `turtle6 udp over esp ${i}`), `UDP echo through the tunnel: ${udp.stderr}`);
    peer.stop();
    expectedPackets = 3 + flows;
  } else {
    expectedPackets = 3;
  }
  const done = await peer.finished(30_000);
  assert.deepEqual(done.failures, [], `peer failures; peer output:\n${peer.output()}`);
  const seqs = done.seqs as number[];
  assert.equal(seqs.length, expectedPackets, `ESP packets the peer decrypted: ${peer.output()}`);
  assert.deepEqual(seqs, seqs.map((_, i) => i + 1), 'turtle6 numbers an SA’s packets 1, 2, 3… (RFC 4303 §3.3.3)');
  if (mode === 'tunnel') {
    const inner = peer.events().filter((e) => e.event === 'esp');
    assert.ok(inner.every((e) => e.src === H1 && e.dst === BEHIND && (e.inner !== 'echo-request' || e.hlim === 63)), `inner packets as h1 sent them, hop limit decremented once: ${JSON.stringify(inner)}`);
    assert.deepEqual(inner.map((e) => e.inner), ['echo-request', 'echo-request', 'echo-request', ...Array<string>(flows).fill('udp')]);
  } else {
    assert.ok(peer.events().filter((e) => e.event === 'esp').every((e) => e.ok === true));
  }

  // Both sides' books: the router's SAs carried exactly these packets, with no drops.
  const sas = (await router.ctl(['show', 'ipsec', 'sa'])) as Array<{ spi: number; direction: string; packets: number; seq: number; drops: Record<string, number> }>;
  const out = sas.find((s) => s.spi === SPI_OUT)!;
  const inb = sas.find((s) => s.spi === SPI_IN)!;
  assert.equal(out.packets, expectedPackets);
  assert.equal(out.seq, expectedPackets);
  assert.equal(inb.packets, expectedPackets);
  assert.equal(inb.seq, expectedPackets, 'the highest authenticated sequence number received');
  for (const sa of sas) assert.ok(Object.values(sa.drops).every((n) => n === 0), `no drops on SA ${sa.spi}: ${JSON.stringify(sa.drops)}`);
  if (lanes > 1) {
    // Both SAs live on lane 0 (SPI mod 2); flows the TAP put on lane 1 were handed over.
    assert.ok((await router.counter(if1, 'esp_handed_over')) > 0, 'some of h1’s flows entered lane 1 and were handed over to the SA’s home lane');
    assert.equal(await router.counter(if2, 'esp_wrong_lane') + (await router.counter(if1, 'esp_wrong_lane')), 0);
  }
  if (routeBased) {
    const routes = (await router.ctl(['show', 'routes'])) as Array<{ prefix: string; origin: string; kind: string; best: boolean }>;
    assert.deepEqual(routes.filter((r) => r.prefix === '2001:db8:3::/64'), [{ prefix: '2001:db8:3::/64', origin: 'ipsec', kind: 'ipsec', preference: 10, metric: 0, best: true, nexthops: [] }]);
    assert.match(await router.ctlText(['show', 'ipsec', 'policy']), /^(?![\s\S]*spi=)/, 'no policy: the route alone chose the SA');
  } else {
    const policyText = await router.ctlText(['show', 'ipsec', 'policy']);
    assert.match(policyText, /out ipsec\n\tesp spi=4096\(0x00001000\)\n/);
  }

  // tshark decrypts turtle6's packets (and the peer's) with the keys, and finds nothing malformed.
  await capture.finish(2 * expectedPackets);
  const esp = ['-o', 'esp.enable_encryption_decode:TRUE', '-o', 'esp.enable_authentication_check:TRUE', ...uat(SPI_OUT, keys, keys.out), ...uat(SPI_IN, keys, keys.in)];
  const decoded = run('tshark', ['-n', '-r', capture.file, ...esp, '-T', 'fields', '-e', 'esp.spi', '-e', 'esp.sequence', '-e', 'ipv6.src', '-e', 'ipv6.dst', '-e', 'icmpv6.type', '-e', 'udp.dstport', '-e', 'esp.icv_good']);
  assert.equal(decoded.code, 0, decoded.stderr);
  const rows = decoded.stdout.trim().split('\n').map((l) => l.split('\t'));
  const fromRouter = rows.filter((f) => f[0] === '0x00001000' || Number(f[0]) === SPI_OUT);
  assert.equal(fromRouter.length, expectedPackets, `turtle6's ESP packets in the capture:\n${decoded.stdout}`);
  for (const f of fromRouter) {
    assert.ok(f[6] === '1' || f[6] === 'True', `tshark verified the ICV of turtle6's packet ${f[1]}: ${f.join(' | ')}`);
    const srcs = f[2]!.split(',');
    const dsts = f[3]!.split(',');
    if (mode === 'tunnel') {
      // Outer then inner header, both decoded.
      assert.deepEqual([srcs[0], dsts[0]], [ROUTER, PEER]);
      assert.deepEqual([srcs[1], dsts[1]], [H1, BEHIND], `tshark sees the inner packet: ${f.join(' | ')}`);
      assert.ok(f[4] === '128' || f[5] === '7', `an echo request or the UDP datagram inside: ${f.join(' | ')}`);
    } else {
      assert.deepEqual([srcs[0], dsts[0]], [ROUTER, PEER]);
      assert.equal(f[4], '129', `tshark decrypts the echo reply: ${f.join(' | ')}`);
    }
  }
  const expert = run('tshark', ['-n', '-r', capture.file, ...esp, '-q', '-z', 'expert,warn']);
  assert.equal(expert.code, 0, expert.stderr);
  assert.doesNotMatch(expert.stdout, /Malformed|Errors \(|Warns \(/, `tshark expert info:\n${expert.stdout}`);
}

test('tunnel mode, AES-GCM-128: h1’s ping and UDP cross turtle6 ⇄ scapy ESP; tshark decrypts turtle6’s packets', (t) => scenario('tunnel', GCM, t));
test('tunnel mode, AES-CBC-128 + HMAC-SHA-256-128: h1’s ping and UDP cross turtle6 ⇄ scapy ESP; tshark decrypts them', (t) => scenario('tunnel', CBC, t));
test('transport mode, AES-GCM-128: scapy pings the router under ESP and the replies come back under ESP; tshark decrypts them', (t) => scenario('transport', GCM, t));
test('transport mode, AES-CBC-128 + HMAC-SHA-256-128: scapy pings the router under ESP; replies come back under ESP; tshark decrypts them', (t) => scenario('transport', CBC, t));
test('route-based tunnel, AES-GCM-128: no policy; the route into ipsec tunnel site3 alone carries h1’s LAN to the LAN behind scapy and back', (t) =>
  scenario('tunnel', GCM, t, { routeBased: true }));
test('route-based tunnel, AES-CBC-128 + HMAC-SHA-256-128: the same over CBC', (t) => scenario('tunnel', CBC, t, { routeBased: true }));
test('node:crypto path, tunnel mode, AES-GCM-128: the same exchange with the fallback transforms', (t) => scenario('tunnel', GCM, t, { crypto: 'node' }));
test('node:crypto path, transport mode, AES-CBC-128 + HMAC-SHA-256-128: the same exchange with the fallback transforms', (t) =>
  scenario('transport', CBC, t, { crypto: 'node' }));
test('two lanes: h1’s flows enter both lanes, the SA’s home lane alone numbers them, and the sequence numbers on the wire are 1, 2, 3… in order', (t) =>
  scenario('tunnel', GCM, t, { lanes: 2, udpFlows: 32 }));
