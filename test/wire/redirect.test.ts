import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpv6 } from '../../src/lib/addr.js';
import { verifyIcmpv6Checksum, writeRedirect } from '../../src/wire/icmpv6.js';
import { decodeNdMessage, findOption } from '../../src/wire/nd.js';

const ROUTER_LL = parseIpv6('fe80::1')!;
const HOST = parseIpv6('2001:db8:5::10')!;
const TARGET = parseIpv6('fe80::2')!;
const DEST = parseIpv6('2001:db8:77::1')!;
const MAC = Uint8Array.of(0x02, 0, 0, 0, 0, 0x22);

/** An IPv6 packet of `len` bytes, bytes after the header numbered. */
function packet(len: number): Uint8Array {
  const p = new Uint8Array(len);
  p[0] = 0x60;
  p[4] = (len - 40) >> 8;
  p[5] = (len - 40) & 0xff;
  p[6] = 17;
  p[7] = 64;
  p.set(HOST, 8);
  p.set(DEST, 24);
  for (let i = 40; i < len; i++) p[i] = i & 0xff;
  return p;
}

function redirect(pkt: Uint8Array, withMac: boolean): Uint8Array {
  const out = new Uint8Array(1500).fill(0xa5);
  const len = writeRedirect(out, 0, ROUTER_LL, 0, HOST, 0, TARGET, 0, DEST, 0, MAC, withMac ? 0 : -1, pkt, 0, pkt.length);
  return out.subarray(0, len);
}

test('writeRedirect: addresses, hop limit 255, options, checksum (RFC 4861 §4.5)', () => {
  const pkt = packet(61);
  const r = redirect(pkt, true);
  assert.equal(r[6], 58);
  assert.equal(r[7], 255);
  assert.deepEqual(r.subarray(8, 24), ROUTER_LL);
  assert.deepEqual(r.subarray(24, 40), HOST);
  assert.equal((r[4]! << 8) | r[5]!, r.length - 40);
  assert.ok(verifyIcmpv6Checksum(r, 0, 40, r.length - 40));
  const d = decodeNdMessage(r, 40);
  assert.ok(d.ok, JSON.stringify(d));
  const m = d.value;
  assert.equal(m.type, 'redirect');
  if (m.type !== 'redirect') return;
  assert.deepEqual(m.target, TARGET);
  assert.deepEqual(m.destination, DEST);
  assert.deepEqual(findOption(m.options, 'targetLinkLayerAddress')?.mac, MAC);
  const carried = findOption(m.options, 'redirectedHeader')!.data;
  // 61 bytes, padded with zeros to 64 (8-octet units, §4.6.3).
  assert.equal(carried.length, 64);
  assert.deepEqual(carried.subarray(0, 61), pkt);
  assert.deepEqual([...carried.subarray(61)], [0, 0, 0]);
});

test('writeRedirect: without a known MAC there is no Target Link-Layer Address option', () => {
  const d = decodeNdMessage(redirect(packet(80), false), 40);
  assert.ok(d.ok && d.value.type === 'redirect');
  assert.equal(findOption(d.value.options, 'targetLinkLayerAddress'), undefined);
  assert.equal(findOption(d.value.options, 'redirectedHeader')!.data.length, 80);
});

test('writeRedirect: a large packet is cut so the Redirect is exactly 1280 bytes', () => {
  for (const withMac of [true, false]) {
    const pkt = packet(1500);
    const r = redirect(pkt, withMac);
    assert.equal(r.length, 1280);
    assert.ok(verifyIcmpv6Checksum(r, 0, 40, r.length - 40));
    const d = decodeNdMessage(r, 40);
    assert.ok(d.ok && d.value.type === 'redirect');
    const carried = findOption(d.value.options, 'redirectedHeader')!.data;
    assert.equal(carried.length, withMac ? 1280 - 96 : 1280 - 88);
    assert.deepEqual(carried, pkt.subarray(0, carried.length));
  }
});
