/** walkExtensionHeaders: RFC 8200 §4 chain rules and §4.2 option actions, case by case. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseIpv6 } from '../../src/lib/addr.js';
import {
  MAX_EXTENSION_HEADERS,
  PARAM_PROBLEM_CODE,
  walkExtensionHeaders,
  validateOptionsTlv,
  WALK_DISCARD,
  WALK_FRAGMENT_HEADER,
  WALK_HEADER_COUNT,
  WALK_LATER_FRAGMENT,
  WALK_OK,
  WALK_OUT_SIZE,
  WALK_PARAM_CODE,
  WALK_PARAM_POINTER,
  WALK_PARAM_PROBLEM,
  WALK_ROUTER_ALERT,
  WALK_TOO_MANY_HEADERS,
  WALK_TRUNCATED,
  WALK_UPPER_NEXT_HEADER_POINTER,
  WALK_UPPER_OFFSET,
  WALK_UPPER_PROTOCOL,
} from '../../src/wire/ext-headers.js';
import { IPPROTO, writeIpv6Header } from '../../src/wire/ipv6.js';

const UNICAST = parseIpv6('2001:db8::2')!;
const MULTICAST = parseIpv6('ff0e::1')!;

/**
 * An IPv6 packet at offset `at` of a 0xa5-filled buffer: `first` names the first header and
 * `payload` follows the fixed header.
 */
function packet(first: number, payload: number[], dst = UNICAST, at = 3): { b: Uint8Array; at: number; len: number } {
  const len = 40 + payload.length;
  const b = new Uint8Array(at + len + 5).fill(0xa5);
  writeIpv6Header(b, at, 0, 0, payload.length, first, 64, parseIpv6('2001:db8::1')!, 0, dst, 0);
  b.set(payload, at + 40);
  return { b, at, len };
}

function walk(p: { b: Uint8Array; at: number; len: number }): { verdict: number; out: Int32Array } {
  const out = new Int32Array(WALK_OUT_SIZE).fill(0x5a5a);
  return { verdict: walkExtensionHeaders(p.b, p.at, p.len, out), out };
}

/** Hop-by-Hop header (next header `next`) with the given option bytes, padded to 8 octets. */
function hbh(next: number, options: number[]): number[] {
  const total = Math.ceil((2 + options.length) / 8) * 8;
  const pad = total - 2 - options.length;
  const padding = pad === 0 ? [] : pad === 1 ? [0] : [1, pad - 2, ...new Array<number>(pad - 2).fill(0)];
  return [next, total / 8 - 1, ...options, ...padding];
}

test('no extension headers: the upper layer follows the fixed header', () => {
  const { verdict, out } = walk(packet(IPPROTO.UDP, new Array(8).fill(0)));
  assert.equal(verdict, WALK_OK);
  assert.equal(out[WALK_UPPER_PROTOCOL], IPPROTO.UDP);
  assert.equal(out[WALK_UPPER_OFFSET], 3 + 40);
  assert.equal(out[WALK_UPPER_NEXT_HEADER_POINTER], 6);
  assert.equal(out[WALK_ROUTER_ALERT], -1);
  assert.equal(out[WALK_HEADER_COUNT], 0);
});

test('Pad1 and PadN are skipped; a Router Alert value is reported', () => {
  const { verdict, out } = walk(packet(IPPROTO.HOPOPTS, [...hbh(IPPROTO.ICMPV6, [0, 5, 2, 0, 1]), 128, 0, 0, 0]));
  assert.equal(verdict, WALK_OK);
  assert.equal(out[WALK_ROUTER_ALERT], 1);
  assert.equal(out[WALK_UPPER_OFFSET], 3 + 48);
  assert.equal(out[WALK_UPPER_NEXT_HEADER_POINTER], 40, 'the Next Header field of the HBH header');
});

test('unknown option actions follow the two high-order bits (RFC 8200 §4.2)', () => {
  const cases: Array<[number, number[] /* dst */, number, number | undefined]> = [
    [0x1e, [...UNICAST], WALK_OK, undefined], // 00: skip
    [0x5e, [...UNICAST], WALK_DISCARD, undefined], // 01: discard
    [0x9e, [...UNICAST], WALK_PARAM_PROBLEM, 42], // 10: ICMP
    [0x9e, [...MULTICAST], WALK_PARAM_PROBLEM, 42], // 10: ICMP even to multicast
    [0xde, [...UNICAST], WALK_PARAM_PROBLEM, 42], // 11: ICMP to unicast
    [0xde, [...MULTICAST], WALK_DISCARD, undefined], // 11: only discard to multicast
  ];
  for (const [type, dst, expected, pointer] of cases) {
    const { verdict, out } = walk(packet(IPPROTO.HOPOPTS, [...hbh(IPPROTO.NONE, [type, 2, 0, 0])], Uint8Array.from(dst)));
    assert.equal(verdict, expected, `option 0x${type.toString(16)}`);
    if (pointer !== undefined) {
      assert.equal(out[WALK_PARAM_CODE], PARAM_PROBLEM_CODE.UNRECOGNIZED_OPTION);
      assert.equal(out[WALK_PARAM_POINTER], pointer);
    }
  }
});

test('an option overrunning its header: code 0 pointing at its length byte', () => {
  // Option 0x1e claims 9 data bytes inside an 8-byte header; its length byte is at 40+3.
  const { verdict, out } = walk(packet(IPPROTO.HOPOPTS, [IPPROTO.NONE, 0, 1, 0, 0x1e, 9, 0, 0]));
  assert.equal(verdict, WALK_PARAM_PROBLEM);
  assert.equal(out[WALK_PARAM_CODE], PARAM_PROBLEM_CODE.ERRONEOUS_HEADER_FIELD);
  assert.equal(out[WALK_PARAM_POINTER], 45);
});

test('a Router Alert with a bad length is an erroneous field', () => {
  const { verdict, out } = walk(packet(IPPROTO.HOPOPTS, [IPPROTO.NONE, 0, 5, 1, 0, 1, 1, 0]));
  assert.equal(verdict, WALK_PARAM_PROBLEM);
  assert.equal(out[WALK_PARAM_CODE], 0);
  assert.equal(out[WALK_PARAM_POINTER], 43);
});

test('Hop-by-Hop anywhere but first: unrecognized Next Header at the naming field (RFC 8200 §4.1)', () => {
  // Destination Options (8 bytes, Next Header 0) then a Hop-by-Hop header.
  const { verdict, out } = walk(packet(IPPROTO.DSTOPTS, [IPPROTO.HOPOPTS, 0, 1, 4, 0, 0, 0, 0, ...hbh(59, [])]));
  assert.equal(verdict, WALK_PARAM_PROBLEM);
  assert.equal(out[WALK_PARAM_CODE], PARAM_PROBLEM_CODE.UNRECOGNIZED_NEXT_HEADER);
  assert.equal(out[WALK_PARAM_POINTER], 40);
});

test('a header running past the packet is truncated', () => {
  assert.equal(walk(packet(IPPROTO.ROUTING, [IPPROTO.UDP, 1, 0, 0, 0, 0, 0, 0])).verdict, WALK_TRUNCATED);
  assert.equal(walk(packet(IPPROTO.DSTOPTS, [IPPROTO.UDP])).verdict, WALK_TRUNCATED);
  const p = packet(IPPROTO.UDP, []);
  assert.equal(walkExtensionHeaders(p.b, p.at, 39, new Int32Array(WALK_OUT_SIZE)), WALK_TRUNCATED);
  assert.equal(walkExtensionHeaders(p.b, p.at, p.b.length, new Int32Array(WALK_OUT_SIZE)), WALK_TRUNCATED);
});

test('a first fragment without the whole chain: Parameter Problem code 3, pointer 0 (RFC 7112)', () => {
  // Fragment (offset 0, M=1) announcing a Destination Options header that is not there.
  const { verdict, out } = walk(packet(IPPROTO.FRAGMENT, [IPPROTO.DSTOPTS, 0, 0, 1, 0, 0, 0, 9]));
  assert.equal(verdict, WALK_PARAM_PROBLEM);
  assert.equal(out[WALK_PARAM_CODE], PARAM_PROBLEM_CODE.INCOMPLETE_HEADER_CHAIN);
  assert.equal(out[WALK_PARAM_POINTER], 0);
});

test('a later fragment stops the walk: its data is not a header', () => {
  const { verdict, out } = walk(packet(IPPROTO.FRAGMENT, [IPPROTO.TCP, 0, 0x05, 0x39, 0, 0, 0, 9, 1, 2, 3]));
  assert.equal(verdict, WALK_OK);
  assert.equal(out[WALK_LATER_FRAGMENT], 1);
  assert.equal(out[WALK_FRAGMENT_HEADER], 43);
  assert.equal(out[WALK_UPPER_PROTOCOL], IPPROTO.TCP);
  assert.equal(out[WALK_UPPER_OFFSET], -1);
});

test('Authentication Header length counts 4-octet units', () => {
  // AH with Payload Len 4: (4 + 2) × 4 = 24 bytes.
  const ah = [IPPROTO.UDP, 4, ...new Array<number>(22).fill(0)];
  const { verdict, out } = walk(packet(IPPROTO.AH, [...ah, ...new Array<number>(8).fill(0)]));
  assert.equal(verdict, WALK_OK);
  assert.equal(out[WALK_UPPER_OFFSET], 3 + 40 + 24);
});

test('ESP ends the chain', () => {
  const { verdict, out } = walk(packet(IPPROTO.ESP, new Array<number>(16).fill(0)));
  assert.equal(verdict, WALK_OK);
  assert.equal(out[WALK_UPPER_PROTOCOL], IPPROTO.ESP);
});

test('chains longer than the cap are refused', () => {
  const dstopts = (next: number) => [next, 0, 1, 4, 0, 0, 0, 0];
  const chain = (n: number) => {
    const bytes: number[] = [];
    for (let i = 0; i < n; i++) bytes.push(...dstopts(i === n - 1 ? IPPROTO.NONE : IPPROTO.DSTOPTS));
    return bytes;
  };
  assert.equal(walk(packet(IPPROTO.DSTOPTS, chain(MAX_EXTENSION_HEADERS))).verdict, WALK_OK);
  assert.equal(walk(packet(IPPROTO.DSTOPTS, chain(MAX_EXTENSION_HEADERS + 1))).verdict, WALK_TOO_MANY_HEADERS);
});

test('Destination Options are validated on demand, with their own recognized options', () => {
  const out = new Int32Array(WALK_OUT_SIZE);
  const p = packet(IPPROTO.DSTOPTS, [IPPROTO.NONE, 0, 4, 1, 4, 0x9e, 0, 0]);
  // Walking skips them (they are the destination's)...
  assert.equal(walkExtensionHeaders(p.b, p.at, p.len, out), WALK_OK);
  // ...and local delivery checks them: Tunnel Encapsulation Limit is known, 0x9e is not.
  assert.equal(validateOptionsTlv(p.b, p.at, p.at + 42, p.at + 48, false, out), WALK_PARAM_PROBLEM);
  assert.equal(out[WALK_PARAM_POINTER], 45);
  // The same Router Alert bytes are not recognized outside Hop-by-Hop: 0x05 has action 00, skipped.
  const q = packet(IPPROTO.DSTOPTS, [IPPROTO.NONE, 0, 5, 2, 0, 0, 1, 0]);
  out[WALK_ROUTER_ALERT] = -1;
  assert.equal(validateOptionsTlv(q.b, q.at, q.at + 42, q.at + 48, false, out), WALK_OK);
  assert.equal(out[WALK_ROUTER_ALERT], -1);
});
