/**
 * The lane's ICMPv6 error writer and the RFC 4443 §2.4(e) predicate. Output is checked by
 * our decoders and, independently, by tshark's dissector on a pcap written with pcap.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatIpv6, parseIpv6 } from '../../src/lib/addr.js';
import { SeededRng } from '../../src/lib/rng.js';
import {
  ICMP6,
  ICMP6_ERROR_HOP_LIMIT,
  mayGenerateErrorAbout,
  PARAM_PROBLEM_CODE,
  verifyIcmpv6Checksum,
  writeIcmpv6Error,
} from '../../src/wire/icmpv6.js';
import { decodeIcmpv6Message } from '../../src/wire/icmpv6-message.js';
import { decodeIpv6Header, IPPROTO, IPV6_MIN_MTU, writeIpv6Header } from '../../src/wire/ipv6.js';
import { LINKTYPE_RAW, PcapWriter } from '../../src/wire/pcap.js';
import { requireCommand, runOk } from '../helpers/netns.js';
import { golden } from './goldens.js';

const ROUTER = parseIpv6('2001:db8::fe')!;
const HOST = parseIpv6('2001:db8::1')!;

/** An invoking packet from HOST: IPv6 + `upper` bytes, padded with a seeded pattern to `size`. */
function invoking(size: number, nextHeader: number, upper: number[], dst = parseIpv6('2001:db8:99::5')!): Uint8Array {
  const rng = new SeededRng(7);
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = Math.floor(rng.next() * 256);
  writeIpv6Header(b, 0, 0, 0, size - 40, nextHeader, 63, HOST, 0, dst, 0);
  b.set(upper, 40);
  return b;
}

function writeError(inv: Uint8Array, type: number, code: number, param: number, mtu = 1500, outOff = 7) {
  const out = new Uint8Array(outOff + 1400).fill(0xa5);
  const len = writeIcmpv6Error(out, outOff, type, code, param, ROUTER, 0, inv, 8, inv, 0, inv.length, mtu);
  return { out, outOff, len };
}

test('an error decodes to what was asked, with a valid checksum and nothing written outside', () => {
  const inv = invoking(100, IPPROTO.UDP, [0x0f, 0xa0, 0, 53, 0, 60, 0, 0]);
  const { out, outOff, len } = writeError(inv, ICMP6.DST_UNREACH, 4, 0);
  assert.equal(len, 48 + 100);
  assert.ok(out.subarray(0, outOff).every((x) => x === 0xa5));
  assert.ok(out.subarray(outOff + len).every((x) => x === 0xa5));
  const ip = decodeIpv6Header(out, outOff);
  assert.ok(ip.ok);
  assert.equal(ip.value.hopLimit, ICMP6_ERROR_HOP_LIMIT);
  assert.equal(ip.value.nextHeader, IPPROTO.ICMPV6);
  assert.equal(ip.value.payloadLength, len - 40);
  assert.equal(formatIpv6(ip.value.src), '2001:db8::fe');
  assert.equal(formatIpv6(ip.value.dst), '2001:db8::1');
  assert.ok(verifyIcmpv6Checksum(out, outOff, outOff + 40, len - 40));
  const msg = decodeIcmpv6Message(out, outOff + 40, len - 40);
  assert.ok(msg.ok);
  assert.deepEqual(msg.value, { type: 'destinationUnreachable', code: 4, invoking: inv });
});

test('the 32-bit parameter lands where each type wants it', () => {
  const inv = invoking(80, IPPROTO.UDP, []);
  const ptb = writeError(inv, ICMP6.PACKET_TOO_BIG, 0, 1400);
  const m1 = decodeIcmpv6Message(ptb.out, ptb.outOff + 40, ptb.len - 40);
  assert.ok(m1.ok && m1.value.type === 'packetTooBig');
  assert.equal(m1.value.mtu, 1400);
  const pp = writeError(inv, ICMP6.PARAM_PROBLEM, 0, 0xdeadbeef);
  const m2 = decodeIcmpv6Message(pp.out, pp.outOff + 40, pp.len - 40);
  assert.ok(m2.ok && m2.value.type === 'parameterProblem');
  assert.equal(m2.value.pointer, 0xdeadbeef);
});

test('the error never exceeds 1280 bytes (RFC 4443 §2.4(c)) nor a smaller MTU', () => {
  const inv = invoking(1500, IPPROTO.UDP, []);
  const big = writeError(inv, ICMP6.TIME_EXCEEDED, 0, 0);
  assert.equal(big.len, IPV6_MIN_MTU);
  assert.ok(verifyIcmpv6Checksum(big.out, big.outOff, big.outOff + 40, big.len - 40));
  assert.deepEqual(big.out.subarray(big.outOff + 48, big.outOff + big.len), inv.subarray(0, IPV6_MIN_MTU - 48));
  assert.equal(writeError(inv, ICMP6.TIME_EXCEEDED, 0, 0, 200).len, 200);
  assert.equal(writeError(inv, ICMP6.TIME_EXCEEDED, 0, 0, 40).len, 0, 'no room for the headers');
});

test('in place: the invoking packet already sits behind 48 bytes of headroom', () => {
  const inv = invoking(300, IPPROTO.UDP, []);
  const slot = new Uint8Array(64 + 300).fill(0xa5);
  slot.set(inv, 64);
  const len = writeIcmpv6Error(slot, 16, ICMP6.DST_UNREACH, 0, 0, ROUTER, 0, slot, 64 + 8, slot, 64, 300, 1500);
  assert.equal(len, 348);
  const ip = decodeIpv6Header(slot, 16);
  assert.ok(ip.ok);
  assert.equal(formatIpv6(ip.value.dst), '2001:db8::1');
  assert.deepEqual(slot.subarray(64), inv);
  assert.ok(verifyIcmpv6Checksum(slot, 16, 56, len - 40));
});

test('same buffer, overlapping: the invoking packet is moved, not smeared', () => {
  const inv = invoking(200, IPPROTO.UDP, []);
  const buf = new Uint8Array(400).fill(0xa5);
  buf.set(inv, 100);
  // The error starts 20 bytes before the invoking packet, so its body overlaps the source.
  const len = writeIcmpv6Error(buf, 80, ICMP6.DST_UNREACH, 0, 0, ROUTER, 0, HOST, 0, buf, 100, 200, 1500);
  assert.equal(len, 248);
  assert.deepEqual(buf.subarray(128, 328), inv);
  assert.ok(verifyIcmpv6Checksum(buf, 80, 120, len - 40));
});

test('RFC 4443 §2.4(e): which packets may be answered with an error', () => {
  const echo = invoking(64, IPPROTO.ICMPV6, [ICMP6.ECHO_REQUEST, 0, 0, 0]);
  const anError = invoking(64, IPPROTO.ICMPV6, [ICMP6.DST_UNREACH, 0, 0, 0]);
  const redirect = invoking(64, IPPROTO.ICMPV6, [ICMP6.REDIRECT, 0, 0, 0]);
  const toMulticast = invoking(64, IPPROTO.UDP, [], parseIpv6('ff0e::1')!);
  const may = (p: Uint8Array, type: number, code = 0) => mayGenerateErrorAbout(p, 0, p.length, type, code);

  assert.equal(may(echo, ICMP6.TIME_EXCEEDED), true);
  assert.equal(may(anError, ICMP6.TIME_EXCEEDED), false, 'never an error about an error');
  assert.equal(may(redirect, ICMP6.DST_UNREACH), false, 'nor about a Redirect');
  assert.equal(may(toMulticast, ICMP6.TIME_EXCEEDED), false);
  assert.equal(may(toMulticast, ICMP6.PACKET_TOO_BIG), true, 'PTB is allowed to multicast');
  assert.equal(may(toMulticast, ICMP6.PARAM_PROBLEM, PARAM_PROBLEM_CODE.UNRECOGNIZED_OPTION), true);
  assert.equal(may(toMulticast, ICMP6.PARAM_PROBLEM, PARAM_PROBLEM_CODE.ERRONEOUS_HEADER_FIELD), false);

  const unspecifiedSource = echo.slice();
  unspecifiedSource.fill(0, 8, 24);
  assert.equal(may(unspecifiedSource, ICMP6.DST_UNREACH), false);
  const multicastSource = echo.slice();
  multicastSource[8] = 0xff;
  assert.equal(may(multicastSource, ICMP6.DST_UNREACH), false);

  // An MLD-style error behind a Hop-by-Hop header is still recognized as an error.
  const behindHbh = invoking(64, IPPROTO.HOPOPTS, [IPPROTO.ICMPV6, 0, 5, 2, 0, 0, 1, 0, ICMP6.TIME_EXCEEDED, 0]);
  assert.equal(may(behindHbh, ICMP6.DST_UNREACH), false);
});

test('tshark decodes the errors with good checksums and no expert warnings', () => {
  requireCommand('tshark', 'tshark');
  const dir = mkdtempSync(join(tmpdir(), 't6-wire-'));
  try {
    const chunks: Uint8Array[] = [];
    const pcap = new PcapWriter((c) => chunks.push(c), LINKTYPE_RAW);
    const samples: Array<[number, number, number, Uint8Array]> = [
      [ICMP6.DST_UNREACH, 0, 0, invoking(120, IPPROTO.UDP, [0x0f, 0xa0, 0, 53, 0, 80, 0, 0])],
      [ICMP6.PACKET_TOO_BIG, 0, 1280, invoking(1500, IPPROTO.UDP, [0x0f, 0xa0, 0, 9, 0x05, 0xb4, 0, 0])],
      [ICMP6.TIME_EXCEEDED, 0, 0, golden('echo_request')],
      [ICMP6.PARAM_PROBLEM, 2, 42, golden('param_problem').subarray(48)],
    ];
    let t = 1_700_000_000_000;
    for (const [type, code, param, inv] of samples) {
      const out = new Uint8Array(1600);
      const len = writeIcmpv6Error(out, 0, type, code, param, ROUTER, 0, HOST, 0, inv, 0, inv.length, 1500);
      pcap.write(out, 0, len, t++);
    }
    const file = join(dir, 'errors.pcap');
    writeFileSync(file, Buffer.concat(chunks));

    const fields = runOk('tshark', ['-r', file, '-T', 'fields', '-e', 'icmpv6.type', '-e', 'icmpv6.code', '-e', 'icmpv6.checksum.status']);
    const rows = fields.trim().split('\n').map((line) => line.split('\t').map((f) => f.split(',')[0]));
    assert.deepEqual(rows, [
      ['1', '0', '1'],
      ['2', '0', '1'],
      ['3', '0', '1'],
      ['4', '2', '1'],
    ], 'type, code, checksum status "good" for each error');
    const expert = runOk('tshark', ['-r', file, '-q', '-z', 'expert']);
    assert.doesNotMatch(expert, /malformed|checksum|warn|error/i, expert);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
