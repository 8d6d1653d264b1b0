/**
 * SPD selectors behind extension headers (RFC 4301 §4.4.1.1), non-initial fragments (§7),
 * ESP for the router behind a Destination Options header, and the SPD index: the same
 * first match as a scan of the whole SPD, for any policies and addresses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { espStage as stage } from '../helpers/esp-stage.js';
import {
  ACTION_BYPASS,
  ACTION_DISCARD,
  ACTION_PROTECT,
  ANY,
  DIR_IN,
  DIR_OUT,
  IpsecView,
  encodeIpsecTables,
  ipsecTablesByteLength,
  type PolicyRecord,
} from '../../src/shm/ipsec-tables.js';
import { ESP_BYPASS, ESP_IN_TRANSPORT } from '../../src/dataplane/esp.js';
import { C } from '../../src/dataplane/counters.js';
import { IPPROTO, IPV6_HEADER_LEN } from '../../src/wire/ipv6.js';
import { prefixMatch } from '../../src/lib/addr.js';
import { ipv6Packet, type PacketSpec } from '../dataplane/harness.js';
import { ip } from '../helpers/addr.js';
import { PacketContext } from '../../src/dataplane/packet-context.js';

/** Where the ESP stage leaves what it found out about a packet (its position after encapsulation or decapsulation). */
const pc = new PacketContext();

const KEY = '0x' + '5a'.repeat(16) + '01020304';


const A = ip('2001:db8:1::10');
const B = ip('2001:db8:3::20');
const HEAD = 200;

/** The packet copied to HEAD of a slot-sized buffer, as the lane holds it. */
function inSlot(pkt: Uint8Array): { b: Uint8Array; len: number } {
  const b = new Uint8Array(4096);
  b.set(pkt, HEAD);
  return { b, len: pkt.length };
}

function udp(dport: number, size = 64): Uint8Array {
  const u = new Uint8Array(8 + size);
  u[0] = 0x30;
  u[1] = 0x39;
  u[2] = dport >> 8;
  u[3] = dport & 0xff;
  u[4] = u.length >> 8;
  u[5] = u.length & 0xff;
  return u;
}

const dstOpts = { kind: 'destinationOptions', options: [{ type: 1, data: new Uint8Array(4) }] } as const;
const hopByHop = { kind: 'hopByHop', options: [{ type: 1, data: new Uint8Array(4) }] } as const;
const firstFragment = { kind: 'fragment', fragmentOffset: 0, more: true, identification: 7 } as const;
const laterFragment = { kind: 'fragment', fragmentOffset: 1232, more: false, identification: 7 } as const;

/** The packets of the issue: UDP plain, behind Destination Options, behind Hop-by-Hop, and both fragments of one datagram. */
function udpVariants(dport: number): Array<[string, Uint8Array]> {
  const spec = (ext: PacketSpec['ext'], bytes = udp(dport)): PacketSpec => ({ src: A, dst: B, ext, raw: { nextHeader: IPPROTO.UDP, bytes } });
  return [
    ['UDP', ipv6Packet(spec([]))],
    ['Destination Options + UDP', ipv6Packet(spec([dstOpts]))],
    ['Hop-by-Hop + UDP', ipv6Packet(spec([hopByHop]))],
    ['Hop-by-Hop + Destination Options + UDP', ipv6Packet(spec([hopByHop, dstOpts]))],
    ['first fragment of UDP', ipv6Packet(spec([firstFragment]))],
    ['later fragment of UDP', ipv6Packet(spec([laterFragment], new Uint8Array(200).fill(0x77)))],
  ];
}

const TUNNEL_SA = { spi: 0x100, mode: 'tunnel', src: '2001:db8:ff::1', dst: '2001:db8:ff::2', encryption: 'aes-gcm-128', encKey: KEY };

test('a `proto: udp` protect policy catches UDP behind extension headers and both fragments of a datagram', () => {
  const s = stage({ sas: [{ ...TUNNEL_SA, direction: 'out' }], policies: [{ direction: 'out', src: '2001:db8:1::/64', dst: '2001:db8:3::/64', proto: 'udp', sa: 0x100 }] });
  for (const [name, pkt] of udpVariants(9999)) {
    const { b, len } = inSlot(pkt);
    assert.equal(s.outbound(b, HEAD, len), 0, `${name} is protected by SA 0`);
  }
  // ICMPv6 is not UDP, behind a Destination Options header or not.
  const icmp = inSlot(ipv6Packet({ src: A, dst: B, ext: [dstOpts] }));
  assert.equal(s.outbound(icmp.b, HEAD, icmp.len), ESP_BYPASS);
});

test('a policy naming ports: later fragments are OPAQUE, discarded rather than sent in the clear; a bypass entry naming ports is passed over', () => {
  const s = stage({
    sas: [{ ...TUNNEL_SA, direction: 'out' }],
    policies: [
      { direction: 'out', src: '2001:db8:1::/64', dst: '2001:db8:3::/64', proto: 'udp', dstPort: 5000, action: 'bypass' },
      { direction: 'out', src: '2001:db8:1::/64', dst: '2001:db8:3::/64', proto: 'udp', dstPort: 53, sa: 0x100 },
    ],
  });
  const v = Object.fromEntries(udpVariants(53));
  for (const name of ['UDP', 'Destination Options + UDP', 'Hop-by-Hop + UDP', 'first fragment of UDP']) {
    const { b, len } = inSlot(v[name]!);
    assert.equal(s.outbound(b, HEAD, len), 0, `${name} to port 53 is protected`);
  }
  const later = inSlot(v['later fragment of UDP']!);
  assert.equal(s.outbound(later.b, HEAD, later.len), -C.esp_selector_opaque);
  // A UDP header cut short (a first fragment whose chain ends right after it would be
  // refused by the walk; here Payload Length leaves 2 bytes of UDP) cannot show its ports.
  const short = inSlot(ipv6Packet({ src: A, dst: B, raw: { nextHeader: IPPROTO.UDP, bytes: new Uint8Array([0, 53]) } }));
  assert.equal(s.outbound(short.b, HEAD, short.len), -C.esp_selector_opaque);
  const other = inSlot(udpVariants(54)[1]![1]);
  assert.equal(s.outbound(other.b, HEAD, other.len), ESP_BYPASS, 'another port passes');
});

test('the same packets arriving in cleartext where an inbound policy demands protection are dropped', () => {
  const s = stage({ sas: [{ ...TUNNEL_SA, direction: 'in' }], policies: [{ direction: 'in', src: '2001:db8:1::/64', dst: '2001:db8:3::/64', proto: 'udp', sa: 0x100 }] });
  for (const [name, pkt] of udpVariants(9999)) {
    const { b, len } = inSlot(pkt);
    assert.equal(s.inboundCleartext(b, HEAD, len), -C.esp_policy_mismatch, name);
  }
  // A malformed chain cannot be judged: dropped as such.
  const bad = ipv6Packet({ src: A, dst: B, ext: [dstOpts], raw: { nextHeader: IPPROTO.UDP, bytes: udp(1) } });
  bad[IPV6_HEADER_LEN + 1] = 40;
  const { b, len } = inSlot(bad);
  assert.equal(s.inboundCleartext(b, HEAD, len), -C.ext_header_chain);
});

test('transport-mode ESP behind a Destination Options header is ESP: decrypted, with the header kept in front of the payload', () => {
  const transport = { spi: 0x200, mode: 'transport', src: '2001:db8:1::10', dst: '2001:db8:3::20', encryption: 'aes-gcm-128', encKey: KEY };
  const sel = { src: '2001:db8:1::10/128', dst: '2001:db8:3::20/128', proto: 'udp' };
  const tx = stage({ sas: [{ ...transport, direction: 'out' }], policies: [{ direction: 'out', ...sel, sa: 0x200 }] });
  const rx = stage({ sas: [{ ...transport, direction: 'in' }], policies: [{ direction: 'in', ...sel, sa: 0x200 }] });
  const original = ipv6Packet({ src: A, dst: B, raw: { nextHeader: IPPROTO.UDP, bytes: udp(7) } });
  const { b, len } = inSlot(original);
  const outIp = tx.encapsulate(b, HEAD, len, tx.outbound(b, HEAD, len), pc);
  assert.ok(outIp > 0);
  const esp = b.slice(outIp + IPV6_HEADER_LEN, outIp + pc.len);
  // The same ESP packet with an 8-byte Destination Options header between IPv6 and ESP.
  const wire = ipv6Packet({ src: A, dst: B, ext: [dstOpts], raw: { nextHeader: IPPROTO.ESP, bytes: esp } });
  const at = inSlot(wire);
  assert.equal(rx.locateUpperLayer(at.b, HEAD, at.len, pc), IPPROTO.ESP);
  assert.equal(rx.inbound(at.b, HEAD, at.len, pc), ESP_IN_TRANSPORT);
  const expected = ipv6Packet({ src: A, dst: B, ext: [dstOpts], raw: { nextHeader: IPPROTO.UDP, bytes: udp(7) } });
  assert.deepEqual(at.b.slice(pc.ip, pc.ip + pc.len), expected);
});

/** The SPD as RFC 4301 §4.4.1 states it: the first entry of the direction that matches, scanning them all. */
function linearLookup(policies: readonly PolicyRecord[], direction: number, src: Uint8Array, dst: Uint8Array, proto: number, dport: number): number {
  return policies.findIndex(
    (p) =>
      p.direction === direction &&
      (p.proto === ANY || p.proto === proto) &&
      prefixMatch(src, 0, p.src, 0, p.srcLen) &&
      prefixMatch(dst, 0, p.dst, 0, p.dstLen) &&
      (p.dstPorts[0] === ANY || (dport >= p.dstPorts[0] && dport <= p.dstPorts[1])),
  );
}

test('the SPD index finds exactly the first match a scan of the whole SPD finds (seeded property)', () => {
  // Prefixes drawn from a few nested ones, so that policies overlap, shadow and nest.
  const bases = ['2001:db8::', '2001:db8:1::', '2001:db8:1:2::', '2001:db8:1:2::5', '2001:db8:80::', '::'].map(ip);
  const prefix = fc.tuple(fc.constantFrom(...bases), fc.constantFrom(0, 16, 32, 48, 57, 64, 127, 128));
  const policy = fc.record({
    direction: fc.constantFrom(DIR_OUT, DIR_IN),
    action: fc.constantFrom(ACTION_BYPASS, ACTION_DISCARD, ACTION_PROTECT),
    proto: fc.constantFrom(ANY, IPPROTO.UDP, IPPROTO.TCP),
    src: prefix,
    dst: prefix,
    port: fc.constantFrom(ANY, 53, 500),
  });
  const address = fc.tuple(fc.constantFrom(...bases), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 15 })).map(([base, low, at]) => {
    const a = base.slice();
    a[at] = a[at]! ^ (low & 0xff);
    a[15] = low >> 8;
    return a;
  });
  fc.assert(
    fc.property(fc.array(policy, { maxLength: 90, size: 'max' }), fc.array(fc.tuple(address, address, fc.constantFrom(IPPROTO.UDP, IPPROTO.TCP, IPPROTO.ICMPV6), fc.constantFrom(53, 500, 7)), { minLength: 1, maxLength: 20 }), (raw, packets) => {
      const masked = ([addr, len]: [Uint8Array, number]): Uint8Array => {
        const out = new Uint8Array(16);
        for (let i = 0; i < 16; i++) out[i] = i * 8 + 8 <= len ? addr[i]! : i * 8 >= len ? 0 : addr[i]! & (0xff << (8 - (len - i * 8)));
        return out;
      };
      const policies: PolicyRecord[] = raw.map((p) => ({
        direction: p.direction,
        action: p.action,
        proto: p.proto,
        src: masked(p.src),
        srcLen: p.src[1],
        dst: masked(p.dst),
        dstLen: p.dst[1],
        srcPorts: [ANY, ANY],
        dstPorts: p.proto === ANY ? [ANY, ANY] : [p.port, p.port],
        icmpType: ANY,
        icmpCode: ANY,
        sa: -1,
      }));
      const region = new Uint8Array(ipsecTablesByteLength([], policies));
      encodeIpsecTables([], policies, region);
      const view = new IpsecView();
      view.bind(region, 0);
      const b = new Uint8Array(32);
      for (const [src, dst, proto, dport] of packets) {
        b.set(src, 0);
        b.set(dst, 16);
        for (const direction of [DIR_OUT, DIR_IN]) {
          const want = linearLookup(policies, direction, src, dst, proto, dport);
          assert.equal(view.lookupPolicy(direction, b, 0, 16, proto, 1234, dport), want);
        }
      }
    }),
    { seed: 4301, numRuns: 300 },
  );
});
