/**
 * ESP in a whole lane (in-process, MemoryEngine; test/dataplane/harness.ts topology): the
 * router protects H1's LAN (2001:db8:1::/64) towards H3's (2001:db8:3::/64) through a
 * tunnel whose far end is H2 (2001:db8:2::20, on port 1). A second ESP stage with the
 * mirrored SAs plays the peer: it decrypts what the lane sends and encrypts what it receives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ESP_IN_TUNNEL } from '../../src/dataplane/esp.js';
import { espStage as stage, h1h3Tunnel } from '../helpers/esp-stage.js';
import { C } from '../../src/dataplane/counters.js';
import { armTrace } from '../../src/dataplane/trace.js';
import { IPPROTO, IPV6_HEADER_LEN } from '../../src/wire/ipv6.js';
import { LaneHarness, TAP0, TAP1, TUN2, H1, H1_MAC, H2_MAC, H3, R1_MAC, R0_MAC, ethFrame, fromH1, ipv6Packet } from '../dataplane/harness.js';
import { PacketContext } from '../../src/dataplane/packet-context.js';

/** Where the ESP stage leaves what it found out about a packet (its position after encapsulation or decapsulation). */
const pc = new PacketContext();

const routerStage = (onExpire: 'discard' | 'bypass' = 'discard', expired: readonly number[] = []) => stage(h1h3Tunnel('router', onExpire), expired);
const peerStage = () => stage(h1h3Tunnel('peer'));

/** Copies `pkt` into a slot-like buffer at offset 128 so a stage can work on it in place. */
function slotted(pkt: Uint8Array): { b: Uint8Array; ip: number } {
  const b = new Uint8Array(2048);
  b.set(pkt, 128);
  return { b, ip: 128 };
}

function setup(t: { after: (fn: () => void) => void }) {
  const h = new LaneHarness();
  t.after(() => h.close());
  h.lane.setEsp(routerStage());
  return h;
}

test('forwarded traffic matching an outbound policy leaves as tunnel-mode ESP towards the peer, which decrypts it', (t) => {
  const h = setup(t);
  const pkt = ipv6Packet({ src: H1, dst: H3, echoData: 100 });
  const out = h.run(TAP0, fromH1(pkt));
  assert.equal(out.length, 1);
  assert.equal(out[0]!.port, TAP1, 'towards the tunnel endpoint, not H3’s own port');
  const frame = out[0]!.frame;
  assert.deepEqual(frame.subarray(0, 6), H2_MAC);
  const outer = frame.subarray(14);
  assert.equal(outer[6], IPPROTO.ESP);
  const { b, ip } = slotted(outer);
  const peer = peerStage();
  assert.equal(peer.inbound(b, ip, outer.length, pc), ESP_IN_TUNNEL);
  const inner = b.slice(pc.ip, pc.ip + pc.len);
  const want = pkt.slice();
  want[7] = want[7]! - 1;
  assert.deepEqual(inner, want, 'the original packet, hop limit decremented');
  assert.equal(h.counter(TAP0, C.forwarded), 1);
});

test('ESP from the peer is decrypted, checked against the inbound policy and forwarded to H1; the books balance', (t) => {
  const h = setup(t);
  const peer = peerStage();
  const pkt = ipv6Packet({ src: H3, dst: H1, echoData: 40 });
  const { b, ip } = slotted(pkt);
  const outIp = peer.encapsulate(b, ip, pkt.length, peer.outbound(b, ip, pkt.length), pc);
  const esp = b.slice(outIp, outIp + pc.len);
  const out = h.run(TAP1, ethFrame(R1_MAC, H2_MAC, esp));
  assert.equal(out.length, 1);
  assert.equal(out[0]!.port, TAP0);
  assert.deepEqual(out[0]!.frame.subarray(0, 6), H1_MAC);
  const inner = out[0]!.frame.subarray(14);
  assert.deepEqual(inner.subarray(8, 40), pkt.subarray(8, 40));
  assert.equal(inner[7], pkt[7]! - 1);
  // The same ESP packet again is a replay.
  h.run(TAP1, ethFrame(R1_MAC, H2_MAC, esp));
  assert.equal(h.counter(TAP1, C.esp_replay), 1);
  // Cleartext for the protected flow, straight from H3's LAN, is refused (RFC 4301 §5.2).
  h.run(TUN2, pkt);
  assert.equal(h.counter(TUN2, C.esp_policy_mismatch), 1);
  // Unknown SPI.
  const bogus = esp.slice();
  bogus[IPV6_HEADER_LEN + 3] ^= 0xff;
  h.run(TAP1, ethFrame(R1_MAC, H2_MAC, bogus));
  assert.equal(h.counter(TAP1, C.esp_unknown_spi), 1);
  for (const port of [TAP1, TUN2]) {
    assert.equal(h.counter(port, C.rx_packets), h.counter(port, C.forwarded) + h.counter(port, C.punted) + h.drops(port), `rx = forwarded + punted + Σ drops on port ${port}`);
  }
});

test('a packet that would outgrow the MTU once encrypted gets Packet Too Big with the MTU less the ESP overhead', (t) => {
  const h = setup(t);
  const pkt = ipv6Packet({ src: H1, dst: H3, echoData: 1500 - 48 - 20 });
  const out = h.run(TAP0, fromH1(pkt));
  assert.equal(h.counter(TAP0, C.too_big), 1);
  assert.equal(out.length, 1);
  assert.equal(out[0]!.port, TAP0);
  const icmp = out[0]!.frame.subarray(14 + 40);
  assert.equal(icmp[0], 2, 'Packet Too Big');
  const mtu = (icmp[4]! << 24) | (icmp[5]! << 16) | (icmp[6]! << 8) | icmp[7]!;
  assert.ok(mtu < 1500 - 40 - 8 - 8 - 16 && mtu > 1400, `reported MTU ${mtu}`);
  assert.deepEqual(out[0]!.frame.subarray(6, 12), R0_MAC);
});

test('after both SAs expired: onExpire discard drops the protected flow both ways; bypass forwards it in the clear both ways', (t) => {
  const out = ipv6Packet({ src: H1, dst: H3, echoData: 60 });
  const back = ipv6Packet({ src: H3, dst: H1, echoData: 60 });
  const expired = [0x1000, 0x2000];

  const discarding = new LaneHarness();
  t.after(() => discarding.close());
  discarding.lane.setEsp(routerStage('discard', expired));
  // Nothing leaves towards H3, not in ESP, not in the clear: H1 is told, administratively
  // prohibited (RFC 4443 §3.1 code 1), with its own packet quoted.
  const told = discarding.run(TAP0, fromH1(out));
  assert.equal(told.length, 1);
  assert.equal(told[0]!.port, TAP0);
  const icmp = told[0]!.frame.subarray(14);
  assert.deepEqual([icmp[6], icmp[40], icmp[41]], [IPPROTO.ICMPV6, 1, 1], 'Destination Unreachable, code 1');
  assert.deepEqual(icmp.subarray(48, 48 + out.length), out, 'the packet as it arrived, hop limit untouched');
  assert.equal(discarding.counter(TAP0, C.esp_policy_discard), 1);
  assert.deepEqual(discarding.run(TUN2, back), []);
  assert.equal(discarding.counter(TUN2, C.esp_policy_mismatch), 1, 'cleartext where protection is required is refused');

  const bypassing = new LaneHarness();
  t.after(() => bypassing.close());
  bypassing.lane.setEsp(routerStage('bypass', expired));
  const sent = bypassing.run(TAP0, fromH1(out));
  assert.equal(sent.length, 1);
  assert.equal(sent[0]!.port, TUN2, 'straight to H3’s side, by the FIB, not to the tunnel endpoint');
  assert.equal(sent[0]!.frame[6], IPPROTO.ICMPV6, 'in the clear');
  assert.deepEqual(sent[0]!.frame.subarray(8, 40), out.subarray(8, 40));
  const received = bypassing.run(TUN2, back);
  assert.equal(received.length, 1, 'cleartext from H3’s LAN is accepted');
  assert.equal(received[0]!.port, TAP0);
  assert.deepEqual(received[0]!.frame.subarray(14 + 8, 14 + 40), back.subarray(8, 40));
  assert.equal(bypassing.counter(TAP0, C.forwarded) + bypassing.counter(TUN2, C.forwarded), 2);
});

test('onExpire bypass changes nothing while the SA is installed: the flow is still protected', (t) => {
  const h = new LaneHarness();
  t.after(() => h.close());
  h.lane.setEsp(routerStage('bypass'));
  const out = h.run(TAP0, fromH1(ipv6Packet({ src: H1, dst: H3, echoData: 60 })));
  assert.equal(out.length, 1);
  assert.equal(out[0]!.port, TAP1);
  assert.equal(out[0]!.frame[14 + 6], IPPROTO.ESP);
  assert.deepEqual(h.run(TUN2, ipv6Packet({ src: H3, dst: H1, echoData: 60 })), []);
  assert.equal(h.counter(TUN2, C.esp_policy_mismatch), 1);
});

test('the trace shows the ESP stages where they happen: esp-out with SPI and sequence, esp-in before the inner packet\'s path, a replay dropped in esp-in', (t) => {
  const h = setup(t);
  armTrace(h.traceControl, 4, { port: null, proto: null, src: null, dst: null });
  // Outbound: H1 → H3 leaves under SA 0x1000, sequence 1.
  h.run(TAP0, fromH1(ipv6Packet({ src: H1, dst: H3, echoData: 20 })));
  // Inbound: the peer's packet under SA 0x2000, sequence 1; then the same again (a replay).
  const peer = peerStage();
  const pkt = ipv6Packet({ src: H3, dst: H1, echoData: 20 });
  const { b, ip } = slotted(pkt);
  const outIp = peer.encapsulate(b, ip, pkt.length, peer.outbound(b, ip, pkt.length), pc);
  const esp = b.slice(outIp, outIp + pc.len);
  h.run(TAP1, ethFrame(R1_MAC, H2_MAC, esp));
  h.run(TAP1, ethFrame(R1_MAC, H2_MAC, esp));
  const [out, inbound, replay] = h.traced();
  assert.deepEqual(out!.stages, ['receive', 'link', 'validate', 'classify', 'fib', 'forward', 'esp-out', 'neighbor', 'output']);
  assert.deepEqual(out!.esp, { in: null, out: { spi: 0x1000, seq: 1 } });
  assert.equal(inbound!.verdict, 'forwarded');
  assert.deepEqual(inbound!.stages, ['receive', 'link', 'validate', 'classify', 'fib', 'esp-in', 'validate', 'classify', 'fib', 'forward', 'neighbor', 'output']);
  assert.deepEqual(inbound!.esp, { in: { spi: 0x2000, seq: 1, mode: 'tunnel' }, out: null });
  assert.deepEqual([replay!.verdict, replay!.reason], ['dropped', 'esp_replay']);
  assert.deepEqual(replay!.stages, ['receive', 'link', 'validate', 'classify', 'fib', 'esp-in'], 'the replay check comes after the FIB\'s local verdict');
  assert.deepEqual(replay!.esp.in?.spi, 0x2000);
});
