/** The Internet checksum (RFC 1071) and the IPv6 pseudo-header (RFC 8200 §8.1). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { foldChecksum, ipv6PseudoHeaderSum, onesComplementSum, upperLayerChecksum } from '../../src/wire/checksum.js';
import { IPPROTO } from '../../src/wire/ipv6.js';
import { golden } from './goldens.js';

test('the RFC 1071 §3 worked example', () => {
  const b = Uint8Array.of(0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7);
  assert.equal(onesComplementSum(b, 0, 8), 0xddf2);
  assert.equal(foldChecksum(onesComplementSum(b, 0, 8)), 0x220d);
});

test('an odd trailing byte is padded on the right', () => {
  assert.equal(onesComplementSum(Uint8Array.of(0x12, 0x34, 0x56), 0, 3), 0x1234 + 0x5600);
  assert.equal(onesComplementSum(Uint8Array.of(0xff, 0x12, 0x34, 0x56), 1, 3), 0x1234 + 0x5600);
});

test('sums chain through `initial` and survive large accumulators', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.nat(150), (b, cut) => {
      const split = Math.min(cut * 2, b.length & ~1);
      const whole = onesComplementSum(b, 0, b.length);
      assert.equal(onesComplementSum(b, split, b.length - split, onesComplementSum(b, 0, split)), whole);
      // Adding 0xffff is adding -0 in one's complement: the folded value is unchanged
      // (up to the two zeros of one's complement).
      const big = onesComplementSum(b, 0, b.length, 0xffff * 100000);
      assert.equal(big % 0xffff, whole % 0xffff);
    }),
    { seed: 42, numRuns: 200 },
  );
});

test('the pseudo-header makes scapy-made packets verify to zero', () => {
  for (const name of ['echo_request', 'nd_ra', 'dest_unreach']) {
    const pkt = golden(name);
    assert.equal(upperLayerChecksum(pkt, 0, 40, pkt.length - 40, IPPROTO.ICMPV6), 0, name);
  }
  const udp = golden('udp');
  assert.equal(upperLayerChecksum(udp, 0, 40, udp.length - 40, IPPROTO.UDP), 0);
  // The pseudo-header counts: the same bytes under another next header do not verify.
  assert.notEqual(upperLayerChecksum(udp, 0, 40, udp.length - 40, IPPROTO.TCP), 0);
  // Upper-layer lengths above 16 bits are summed as two 16-bit words.
  const zeros = new Uint8Array(32);
  assert.equal(ipv6PseudoHeaderSum(zeros, 0, 16, 0x10002, 0), 3);
});
