/**
 * RIPng codec: golden bytes captured from BIRD 2 (test/fixtures/wire/ripng-goldens.json,
 * provenance there), then seeded properties: any bytes decode without throwing, and every
 * message survives encode → decode at a non-zero offset in a 0xa5-filled buffer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { formatIpv6 } from '../../src/lib/addr.js';
import {
  decodeRipng,
  encodeRipng,
  hasUpdateHeader,
  encodingLengthRipng,
  isWholeTableRequest,
  maxRtesForMtu,
  RIPNG_COMMAND,
  RIPNG_NEXT_HOP_METRIC,
  type RipngPacket,
  type RipngRte,
} from '../../src/wire/ripng.js';

interface GoldenFile {
  readonly packets: Record<string, { readonly hex: string }>;
}
const goldens = JSON.parse(readFileSync(new URL('../../../test/fixtures/wire/ripng-goldens.json', import.meta.url), 'utf8')) as GoldenFile;
const golden = (name: string): Uint8Array => Uint8Array.from(Buffer.from(goldens.packets[name]!.hex, 'hex'));
const demandGoldens = JSON.parse(readFileSync(new URL('../../../test/fixtures/wire/ripng-demand-goldens.json', import.meta.url), 'utf8')) as GoldenFile;
const demandGolden = (name: string): Uint8Array => Uint8Array.from(Buffer.from(demandGoldens.packets[name]!.hex, 'hex'));
const RUNS = { seed: 42, numRuns: 300 };

function reencode(p: RipngPacket): Uint8Array {
  const out = new Uint8Array(encodingLengthRipng(p)).fill(0xa5);
  assert.equal(encodeRipng(p, out, 0), out.length);
  return out;
}

test("BIRD's whole-table request decodes as one ::/0 metric-16 RTE and re-encodes byte for byte", () => {
  const bytes = golden('bird_request');
  const d = decodeRipng(bytes);
  assert.ok(d.ok);
  assert.equal(d.length, bytes.length);
  assert.equal(d.value.command, RIPNG_COMMAND.REQUEST);
  assert.equal(d.value.version, 1);
  assert.ok(isWholeTableRequest(d.value));
  assert.deepEqual(reencode(d.value), bytes);
});

test("BIRD's response: tags, metrics and next-hop RTEs decode as tshark shows them, and re-encode exactly", () => {
  const bytes = golden('bird_response');
  const d = decodeRipng(bytes);
  assert.ok(d.ok);
  assert.equal(d.value.command, RIPNG_COMMAND.RESPONSE);
  const shown = d.value.rtes.map((r) => `${formatIpv6(r.prefix)}/${r.prefixLen} tag ${r.tag.toString(16)} metric ${r.metric}`);
  assert.deepEqual(shown, [
    '2001:db8:10::/48 tag 1234 metric 3',
    'fe80::c1:99/0 tag 0 metric 255',
    '2001:db8:30::/56 tag 0 metric 1',
    '::/0 tag 0 metric 255',
    '2001:db8:ab::/64 tag 0 metric 1',
    '2001:db8:20::/64 tag 0 metric 1',
  ]);
  assert.equal(d.value.rtes.filter((r) => r.metric === RIPNG_NEXT_HOP_METRIC).length, 2);
  assert.ok(!isWholeTableRequest(d.value));
  assert.deepEqual(reencode(d.value), bytes);
});

test('a body that is not a whole number of RTEs, or a short header, fails with its reason', () => {
  const bytes = golden('bird_response');
  const cut = decodeRipng(bytes, 0, bytes.length - 1);
  assert.equal(cut.ok, false);
  assert.equal(!cut.ok && cut.reason, 'bad_length');
  const header = decodeRipng(bytes, 0, 3);
  assert.equal(!header.ok && header.reason, 'truncated');
  const past = decodeRipng(bytes, 10, bytes.length);
  assert.equal(!past.ok && past.reason, 'truncated');
});

test("BIRD's demand-circuit Update Request (RFC 2091): update header, then the whole-table RTE", () => {
  const bytes = demandGolden('bird_update_request');
  const d = decodeRipng(bytes);
  assert.ok(d.ok);
  assert.equal(d.value.command, RIPNG_COMMAND.UPDATE_REQUEST);
  assert.deepEqual(d.value.update, { version: 1, flush: 0, seq: 0 });
  assert.ok(isWholeTableRequest(d.value));
  assert.deepEqual(reencode(d.value), bytes);
});

test("BIRD's Update Responses: flush flag and sequence number, then RTEs after the 8-byte header; re-encoded exactly", () => {
  const show = (p: RipngPacket) => p.rtes.map((r) => `${formatIpv6(r.prefix)}/${r.prefixLen} tag ${r.tag.toString(16)} metric ${r.metric}`);
  const full = decodeRipng(demandGolden('bird_update_response_flush'));
  assert.ok(full.ok);
  assert.equal(full.value.command, RIPNG_COMMAND.UPDATE_RESPONSE);
  assert.deepEqual(full.value.update, { version: 1, flush: 1, seq: 0 });
  assert.deepEqual(show(full.value), ['2001:db8:a1::/48 tag 1234 metric 3', '2001:db8:a2::/64 tag 0 metric 1']);
  const poisoned = decodeRipng(demandGolden('bird_update_response_poisoned'));
  assert.ok(poisoned.ok);
  assert.deepEqual(poisoned.value.update, { version: 1, flush: 0, seq: 4 });
  assert.deepEqual(show(poisoned.value), ['2001:db8:b1::/48 tag 0 metric 16']);
  const withdraw = decodeRipng(demandGolden('bird_update_response_withdraw'));
  assert.ok(withdraw.ok);
  assert.deepEqual(withdraw.value.update, { version: 1, flush: 0, seq: 5 });
  assert.deepEqual(show(withdraw.value), ['2001:db8:a1::/48 tag 0 metric 16', '2001:db8:a2::/64 tag 0 metric 16']);
  for (const name of ['bird_update_response_flush', 'bird_update_response_poisoned', 'bird_update_response_withdraw']) {
    const bytes = demandGolden(name);
    const d = decodeRipng(bytes);
    assert.ok(d.ok);
    assert.deepEqual(reencode(d.value), bytes, name);
  }
});

test("BIRD's Update Acknowledges echo flush and sequence number with no RTEs; a cut update header is truncated", () => {
  for (const [name, update] of [['bird_update_ack_flush', { version: 1, flush: 1, seq: 0 }], ['bird_update_ack', { version: 1, flush: 0, seq: 5 }]] as const) {
    const bytes = demandGolden(name);
    const d = decodeRipng(bytes);
    assert.ok(d.ok);
    assert.equal(d.value.command, RIPNG_COMMAND.UPDATE_ACK);
    assert.deepEqual(d.value.update, update);
    assert.equal(d.value.rtes.length, 0);
    assert.deepEqual(reencode(d.value), bytes);
    const cut = decodeRipng(bytes, 0, 7);
    assert.equal(!cut.ok && cut.reason, 'truncated');
  }
});

test('maxRtesForMtu: 72 RTEs on Ethernet, 61 on the IPv6 minimum MTU', () => {
  assert.equal(maxRtesForMtu(1500), 72);
  assert.equal(maxRtesForMtu(1280), 61);
  assert.ok(4 + 72 * 20 + 48 <= 1500 && 4 + 73 * 20 + 48 > 1500);
  assert.equal(maxRtesForMtu(1500, true), 72, 'the 4-byte update header still leaves room for 72');
  assert.equal(maxRtesForMtu(52 + 4 + 20, true), 1);
  assert.equal(maxRtesForMtu(52 + 20 + 19, false), 1);
  assert.equal(maxRtesForMtu(52 + 40, false), 2);
  assert.equal(maxRtesForMtu(52 + 40, true), 1, 'the update header costs an RTE at this MTU');
});

const u8 = fc.integer({ min: 0, max: 0xff });
const rte: fc.Arbitrary<RipngRte> = fc.record(
  {
    prefix: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    tag: fc.integer({ min: 0, max: 0xffff }),
    prefixLen: u8,
    metric: u8,
  },
  { noNullPrototype: true },
);
const update = fc.record({ version: u8, flush: u8, seq: fc.integer({ min: 0, max: 0xffff }) }, { noNullPrototype: true });
const packet: fc.Arbitrary<RipngPacket> = fc
  .record(
    { command: u8, version: u8, reserved: fc.integer({ min: 0, max: 0xffff }), update, rtes: fc.array(rte, { maxLength: 30 }) },
    { noNullPrototype: true },
  )
  // The update header exists exactly for RFC 2091's commands (9, 10, 11).
  .map(({ update: u, ...p }) => (hasUpdateHeader(p.command) ? { ...p, update: u } : p));

test('property: any bytes decode to a value or a reason, never a throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(8), (bytes, off) => {
      const d = decodeRipng(bytes, Math.min(off, bytes.length));
      if (d.ok) assert.equal((d.length - 4 - (hasUpdateHeader(d.value.command) ? 4 : 0)) % 20, 0);
      else assert.ok(d.reason.length > 0);
    }),
    RUNS,
  );
});

test('property: every message, unknown codepoints included, survives encode → decode at an offset', () => {
  fc.assert(
    fc.property(packet, fc.nat(16), (p, off) => {
      const len = encodingLengthRipng(p);
      const buf = new Uint8Array(off + len + 8).fill(0xa5);
      assert.equal(encodeRipng(p, buf, off), len);
      assert.ok(buf.subarray(0, off).every((b) => b === 0xa5) && buf.subarray(off + len).every((b) => b === 0xa5));
      const d = decodeRipng(buf, off, len);
      assert.ok(d.ok);
      assert.equal(d.length, len);
      assert.deepEqual(d.value, p);
    }),
    RUNS,
  );
});
