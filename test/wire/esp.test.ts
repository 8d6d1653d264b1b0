/**
 * ESP framing (src/wire/esp.ts): header golden bytes, padding arithmetic (RFC 4303 §2.4),
 * the trailer check, and seeded properties: any bytes decode without throwing, and every
 * valid Repr survives encode → decode at an offset inside a junk-filled buffer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  checkEspTrailer,
  decodeEspHeader,
  decodeEspPlaintext,
  encodeEspHeader,
  encodeEspPlaintext,
  encodingLengthEspHeader,
  encodingLengthEspPlaintext,
  espPadLength,
  ESP_BAD_PADDING,
  type EspHeader,
  type EspPlaintext,
} from '../../src/wire/esp.js';

const RUNS = { seed: 42, numRuns: 300 };

test('ESP header golden bytes: SPI and sequence number big-endian (RFC 4303 §2)', () => {
  const buf = new Uint8Array(10).fill(0xa5);
  assert.equal(encodeEspHeader({ spi: 0x00001000, seq: 0xfffffffe }, buf, 1), 8);
  assert.deepEqual([...buf], [0xa5, 0x00, 0x00, 0x10, 0x00, 0xff, 0xff, 0xff, 0xfe, 0xa5]);
  const d = decodeEspHeader(buf, 1);
  assert.ok(d.ok);
  assert.deepEqual(d.value, { spi: 0x1000, seq: 0xfffffffe });
  assert.equal(decodeEspHeader(buf, 3).ok, false, 'truncated');
});

test('padding fills cipher blocks and 4-byte words (RFC 4303 §2.4)', () => {
  for (let len = 0; len < 100; len++) {
    const p16 = espPadLength(len, 16);
    assert.equal((len + p16 + 2) % 16, 0);
    assert.ok(p16 < 16);
    const p4 = espPadLength(len, 4);
    assert.equal((len + p4 + 2) % 4, 0);
    assert.equal(espPadLength(len, 1), p4, 'a stream cipher still aligns the ICV to 32 bits');
  }
});

test('trailer check rejects padding other than 1, 2, 3, … and a Pad Length past the start', () => {
  assert.equal(checkEspTrailer(Uint8Array.of(9, 9, 1, 2, 3, 3, 41), 0, 7), 2);
  assert.equal(checkEspTrailer(Uint8Array.of(9, 9, 1, 2, 4, 3, 41), 0, 7), ESP_BAD_PADDING);
  assert.equal(checkEspTrailer(Uint8Array.of(1, 2, 3, 41), 0, 4), ESP_BAD_PADDING);
  assert.equal(checkEspTrailer(Uint8Array.of(41), 0, 1), ESP_BAD_PADDING);
  assert.equal(checkEspTrailer(Uint8Array.of(0, 59), 0, 2), 0);
  const bad = decodeEspPlaintext(Uint8Array.of(7, 1, 5, 2, 41), 0);
  assert.ok(!bad.ok);
  assert.equal(bad.reason, 'bad_padding');
});

test('any bytes decode (header and plaintext) without throwing', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(310), (bytes, off) => {
      decodeEspHeader(bytes, off);
      decodeEspPlaintext(bytes, off);
      decodeEspPlaintext(bytes, 0, bytes.length);
      checkEspTrailer(bytes, 0, bytes.length);
    }),
    RUNS,
  );
});

function roundTrip<T>(value: T, length: number, encode: (v: T, b: Uint8Array, o: number) => number, check: (b: Uint8Array, o: number) => void): void {
  const off = 5;
  const buf = new Uint8Array(off + length + 7).fill(0xa5);
  assert.equal(encode(value, buf, off), length);
  assert.ok(buf.subarray(0, off).every((x) => x === 0xa5));
  assert.ok(buf.subarray(off + length).every((x) => x === 0xa5));
  check(buf, off);
}

test('header and plaintext Reprs round-trip at an offset', () => {
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  fc.assert(
    fc.property(u32, u32, (spi, seq) => {
      const h: EspHeader = { spi, seq };
      roundTrip(h, encodingLengthEspHeader(h), encodeEspHeader, (b, o) => {
        const d = decodeEspHeader(b, o);
        assert.ok(d.ok);
        assert.deepEqual(d.value, h);
      });
    }),
    RUNS,
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), (payload, padLength, nextHeader) => {
      const p: EspPlaintext = { payload, padLength, nextHeader };
      const len = encodingLengthEspPlaintext(p);
      roundTrip(p, len, encodeEspPlaintext, (b, o) => {
        const d = decodeEspPlaintext(b, o, len);
        assert.ok(d.ok);
        assert.deepEqual({ ...d.value, payload: Uint8Array.from(d.value.payload) }, { payload, padLength, nextHeader });
        assert.equal(d.length, len);
      });
    }),
    RUNS,
  );
});
