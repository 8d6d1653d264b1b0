/** Codec-level validation of ND (RFC 4861 §6.1, §7.1, §8.1; RFC 8106) and MLD (RFC 3810 §8.1). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpv6 } from '../../src/lib/addr.js';
import { decodeMldMessage, encodeMldMessage, mldv2MaxResponseCode, mldv2MaxResponseDelayMs, mldv2QueryIntervalCode, mldv2QueryIntervalSeconds } from '../../src/wire/mld.js';
import { decodeNdMessage, encodeNdMessage, findOption, ndMessageLength, type NdMessage } from '../../src/wire/nd.js';
import { golden } from './goldens.js';

/** The ICMPv6 part of a golden (no extension headers in these). */
const icmp = (name: string): Uint8Array => golden(name).slice(40);

function reason(bytes: Uint8Array): string {
  const d = decodeNdMessage(bytes, 0, bytes.length);
  assert.equal(d.ok, false);
  return d.ok ? '' : d.reason;
}

test('ICMP code must be 0', () => {
  const ns = icmp('nd_ns');
  ns[1] = 1;
  assert.equal(reason(ns), 'bad_code');
});

test('an option of length 0 invalidates the message', () => {
  const ns = icmp('nd_ns');
  ns[25] = 0;
  assert.equal(reason(ns), 'zero_option_length');
});

test('options must stay inside the message, and known options have their sizes', () => {
  const ra = icmp('nd_ra');
  assert.equal(reason(ra.subarray(0, ra.length - 8)), 'bad_option_length');
  assert.equal(reason(ra.subarray(0, 17)), 'truncated_option');
  const mtu = ra.slice();
  mtu[16 + 8 + 1] = 2; // the MTU option claims 16 bytes
  assert.equal(reason(mtu.subarray(0, 16 + 8 + 16)), 'bad_option_length');
});

test('fixed parts must be present', () => {
  assert.equal(reason(icmp('nd_ns').subarray(0, 23)), 'truncated');
  assert.equal(reason(icmp('nd_ra').subarray(0, 15)), 'truncated');
  assert.equal(reason(Uint8Array.of(133, 0, 0)), 'truncated');
  assert.equal(reason(Uint8Array.of(128, 0, 0, 0)), 'not_nd');
});

test('targets of NS and NA, and the Redirect destination, must not be multicast', () => {
  for (const name of ['nd_ns', 'nd_na']) {
    const m = icmp(name);
    m[8] = 0xff;
    assert.equal(reason(m), 'multicast_target');
  }
  const redirect: NdMessage = {
    type: 'redirect',
    target: parseIpv6('fe80::1')!,
    destination: parseIpv6('ff0e::1')!,
    options: [],
  };
  const b = new Uint8Array(ndMessageLength(redirect));
  encodeNdMessage(redirect, b, 0);
  assert.equal(reason(b), 'multicast_destination');
});

test('a DNSSL with a compression pointer or non-zero padding is refused', () => {
  const ra = icmp('nd_ra');
  const dnsslAt = ra.indexOf(31, 16);
  const pointer = ra.slice();
  pointer[dnsslAt + 8] = 0xc0;
  assert.equal(reason(pointer), 'bad_domain_name');
  const padding = ra.slice();
  padding[ra.length - 1] = 1;
  assert.equal(reason(padding), 'bad_domain_name');
});

test('unknown options survive a round trip', () => {
  const msg: NdMessage = {
    type: 'routerSolicitation',
    options: [{ type: 'unknown', code: 14, data: Uint8Array.of(1, 2, 3, 4, 5, 6) }],
  };
  const b = new Uint8Array(ndMessageLength(msg)).fill(0xa5);
  encodeNdMessage(msg, b, 0);
  const d = decodeNdMessage(b, 0, b.length);
  assert.ok(d.ok);
  assert.deepEqual(d.value, msg);
  assert.equal(findOption(d.value.options, 'mtu'), undefined);
  assert.equal(findOption(d.value.options, 'unknown')?.code, 14);
});

test('MLD: queries of 25 to 27 octets are neither version (RFC 3810 §8.1)', () => {
  const q = golden('mldv2_query').slice(48);
  assert.equal(decodeMldMessage(q, 0, 28).ok, true);
  assert.equal(decodeMldMessage(q, 0, 24).ok, true);
  for (const len of [25, 26, 27]) {
    const d = decodeMldMessage(q, 0, len);
    assert.ok(!d.ok && d.reason === 'bad_length');
  }
});

test('MLD: a report record overrunning the message is refused', () => {
  const report = golden('hbh_router_alert_mldv2_report').slice(48);
  const d = decodeMldMessage(report, 0, report.length - 16);
  assert.ok(!d.ok && d.reason === 'truncated_record');
});

test('MLDv1 report encodes with a zero Maximum Response Delay', () => {
  const b = new Uint8Array(24).fill(0xa5);
  encodeMldMessage({ type: 'mldv1Report', group: parseIpv6('ff05::2')! }, b, 0);
  assert.deepEqual([...b.subarray(0, 8)], [131, 0, 0, 0, 0, 0, 0, 0]);
});

test('MLDv2 exponential codes (RFC 3810 §5.1.3, §5.1.9)', () => {
  assert.equal(mldv2MaxResponseDelayMs(10000), 10000);
  // 0x8000 | exp 0 | mant 0: (0x1000) << 3
  assert.equal(mldv2MaxResponseDelayMs(0x8000), 0x1000 << 3);
  assert.equal(mldv2MaxResponseDelayMs(0xffff), 0x1fff * 2 ** 10);
  assert.equal(mldv2QueryIntervalSeconds(125), 125);
  assert.equal(mldv2QueryIntervalSeconds(0x80), 0x10 << 3);
  assert.equal(mldv2QueryIntervalSeconds(0xff), 0x1f << 10);
});

test('MLDv2 codes from values: exact below the floating form, rounded down above it, the largest code beyond', () => {
  for (const ms of [0, 1, 1000, 10_000, 32_767]) assert.equal(mldv2MaxResponseCode(ms), ms);
  for (const ms of [32_768, 125_000, 1_000_000, 8_387_584]) {
    const back = mldv2MaxResponseDelayMs(mldv2MaxResponseCode(ms));
    assert.ok(back <= ms && back > ms * 0.999, `${ms} ms -> ${back} ms`);
  }
  assert.equal(mldv2MaxResponseCode(125_000), 0x9e84);
  assert.equal(mldv2MaxResponseCode(1e10), 0xffff);
  assert.equal(mldv2MaxResponseCode(2 ** 32 + 40_000), 0xffff, 'no 32-bit wrap');
  for (const s of [1, 125, 127]) assert.equal(mldv2QueryIntervalCode(s), s);
  assert.equal(mldv2QueryIntervalSeconds(mldv2QueryIntervalCode(128)), 128);
  assert.equal(mldv2QueryIntervalSeconds(mldv2QueryIntervalCode(1000)), 992, 'rounded down to a representable interval');
  assert.equal(mldv2QueryIntervalCode(31_744), 0xff);
  assert.equal(mldv2QueryIntervalCode(1e6), 0xff);
});

test('RFC 4191: Default Router Preference bits and Route Information options, golden octets and round trip', () => {
  const msg: NdMessage = {
    type: 'routerAdvertisement', curHopLimit: 64, managed: false, other: false, routerLifetime: 1800, reachableTime: 0, retransTimer: 0,
    preference: 'high',
    options: [
      { type: 'routeInformation', prefixLength: 0, preference: 'low', lifetime: 600, prefix: new Uint8Array(16) },
      { type: 'routeInformation', prefixLength: 48, preference: 'medium', lifetime: 0xffffffff, prefix: parseIpv6('2001:db8:f::')! },
      { type: 'routeInformation', prefixLength: 96, preference: 'high', lifetime: 1, prefix: parseIpv6('2001:db8:f:0:1::')! },
    ],
  };
  const b = new Uint8Array(ndMessageLength(msg));
  encodeNdMessage(msg, b, 0);
  // §2.2: Prf 01 (high) in bits 3–4 of the flags octet.
  assert.equal(b[5], 0x08);
  // §2.3: type 24; Length 1, 2, 3 for /0, /48, /96; Prf 11 (low) = 0x18, 00, 01 = 0x08.
  assert.deepEqual([...b.subarray(16, 24)], [24, 1, 0, 0x18, 0, 0, 2, 0x58]);
  assert.deepEqual([...b.subarray(24, 32)], [24, 2, 48, 0x00, 0xff, 0xff, 0xff, 0xff]);
  assert.deepEqual([...b.subarray(32, 40)], [0x20, 0x01, 0x0d, 0xb8, 0, 0x0f, 0, 0]);
  assert.deepEqual([...b.subarray(40, 44)], [24, 3, 96, 0x08]);
  assert.equal(b.length, 16 + 8 + 16 + 24);
  const d = decodeNdMessage(b, 0, b.length);
  assert.ok(d.ok);
  assert.deepEqual(d.value, msg);

  // Medium is the absent preference; the reserved value 10 reads as medium (§2.2).
  b[5] = 0x10;
  const reserved = decodeNdMessage(b, 0, b.length);
  assert.ok(reserved.ok && reserved.value.type === 'routerAdvertisement');
  assert.equal(reserved.value.preference, undefined);
  // A /96 in a Length-2 option cannot carry its prefix (§2.3).
  b[41] = 2;
  assert.equal(reason(b.subarray(0, 56)), 'bad_option_length');
});
