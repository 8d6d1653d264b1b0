/**
 * Known-answer tests for the ESP transforms, on both crypto paths (node:crypto and the C
 * helper, native-bindings/t6crypto.c — which must be built: scripts/build-native.mjs):
 * - AES-GCM in ESP: draft-mcgrew-gcm-test-01 (the test cases for RFC 4106), whose vectors are
 *   whole ESP payloads — AAD = SPI ‖ Seq (or SPI ‖ ESN), IV, ciphertext ‖ tag;
 * - AES-CBC: RFC 3602 §4 cases #1 and #2;
 * - HMAC-SHA-256-128: RFC 4868 §2.7.2.1 (AUTH256, key 0x0b × 32, "Hi There").
 * Then seal/open inverse properties, ESN authentication, and tamper detection; and the two
 * paths put the same bytes on the wire.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { nodeTransform, OPEN_INTEGRITY_FAILED, type EspTransform, type TransformKeys } from '../../src/ipsec/transform.js';
import { makeTransform } from '../../src/ipsec/native-transform.js';
import { ESP_HEADER_LEN, espPadLength, writeEspTrailer, checkEspTrailer } from '../../src/wire/esp.js';
import { writeU32 } from '../../src/wire/bytes.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** SPI ‖ Seq ‖ IV ‖ ciphertext ‖ ICV, at offset 3 of a junk-filled buffer. */
function espPacket(spi: number, seqLo: number, iv: Uint8Array, body: Uint8Array): { buf: Uint8Array; off: number; len: number } {
  const off = 3;
  const len = ESP_HEADER_LEN + iv.length + body.length;
  const buf = new Uint8Array(off + len + 5).fill(0xa5);
  writeU32(buf, off, spi);
  writeU32(buf, off + 4, seqLo);
  buf.set(iv, off + 8);
  buf.set(body, off + 8 + iv.length);
  return { buf, off, len };
}

const KEYS: TransformKeys[] = [
  { encryption: 'aes-gcm-128', integrity: 'none', encKey: hex('000102030405060708090a0b0c0d0e0f10111213'), authKey: new Uint8Array(0) },
  { encryption: 'aes-gcm-256', integrity: 'none', encKey: new Uint8Array(36).fill(7), authKey: new Uint8Array(0) },
  { encryption: 'aes-cbc-128', integrity: 'hmac-sha256-128', encKey: new Uint8Array(16).fill(1), authKey: new Uint8Array(32).fill(2) },
  { encryption: 'aes-cbc-256', integrity: 'hmac-sha256-128', encKey: new Uint8Array(32).fill(3), authKey: new Uint8Array(32).fill(4) },
  { encryption: 'null', integrity: 'hmac-sha256-128', encKey: new Uint8Array(0), authKey: new Uint8Array(32).fill(5) },
];

const CRYPTO_PATHS: ReadonlyArray<readonly [string, (keys: TransformKeys, esn: boolean) => EspTransform]> = [
  ['node', nodeTransform],
  // 'native' (not 'auto'): a missing helper fails here with the build hint, never silently tests node twice.
  ['native', (keys, esn) => makeTransform(keys, esn, 'native')],
];

for (const [path, make] of CRYPTO_PATHS) {
  const GCM_VECTORS = [
    {
      name: 'draft-mcgrew-gcm-test-01 case 2 (64-bit ESN)',
      key: '4c80cdefbb5d10da906ac73c3613a634',
      salt: '2e443b68',
      spi: 0x4321,
      seqHi: 0x87654321,
      seqLo: 0,
      esn: true,
      iv: '4956ed7e3b244cfe',
      plain: '45000048699a000080114db7c0a80102c0a801010a9bf15638d301000001000000000000045f736970045f756470037369700963796265726369747902646b000021000101020201',
      sealed:
        'fecf537e729d5b07dc30df528dd22b768d1b98736696a6fd348509fa13ceac34cfa2436f14a3f3cf65925bf1f4a13c5d15b21e1884f5ff6247aeabb786b93bce61bc17d768fd9732' +
        '459018148f6cbe722fd04796562dfdb4',
    },
    {
      name: 'draft-mcgrew-gcm-test-01 case 5 (all-zero key)',
      key: '00000000000000000000000000000000',
      salt: '00000000',
      spi: 0,
      seqHi: 0,
      seqLo: 1,
      esn: false,
      iv: '0000000000000000',
      plain: '4500003c99c500008001cb7a40679318010101010800075c020044006162636465666768696a6b6c6d6e6f70717273747576776162636465666768690102' + '0201',
      sealed:
        '4688daf2f973a392732909c331d56d60f694abaa414b5e7ff5fdcdfff5e9a284456476492719ffb64de7d9dca1e1d894bc3bd57873ed4d181d19d4d5c8c18af3' +
        'f821d496eeb096e98ad2b69e4799c71d',
    },
    {
      name: 'draft-mcgrew-gcm-test-01 case 7 (sequence 0xffffffff, trailer only)',
      key: '7d773d00c144c525ac619d18c84a3f47',
      salt: 'd9664267',
      spi: 0x335467ae,
      seqHi: 0,
      seqLo: 0xffffffff,
      esn: false,
      iv: '43457e9182443bc6',
      plain: '01020201',
      sealed: '437f866b' + 'cb3f699fe9b0822bac961c4504bef270',
    },
  ];

  for (const v of GCM_VECTORS) {
    test(`[${path}] AES-GCM known answer: ${v.name}`, () => {
      const t = make({ encryption: 'aes-gcm-128', integrity: 'none', encKey: hex(v.key + v.salt), authKey: new Uint8Array(0) }, v.esn);
      const { buf, off, len } = espPacket(v.spi, v.seqLo, hex(v.iv), hex(v.sealed));
      const ptLen = t.open(buf, off, len, v.seqHi);
      assert.equal(ptLen, hex(v.plain).length);
      assert.equal(toHex(buf.subarray(off + 16, off + 16 + ptLen)), v.plain);
      // The plaintext ends in a valid ESP trailer (these are real ESP payloads).
      assert.notEqual(checkEspTrailer(buf, off + 16, ptLen), -1);
      assert.equal(buf[off - 1], 0xa5, 'nothing written before the packet');
    });
  }

  test(`[${path}] ` + 'AES-GCM: a wrong Seq-hi (ESN) fails the tag, since RFC 4106 §5 puts it in the AAD', () => {
    const v = GCM_VECTORS[0]!;
    const t = make({ encryption: 'aes-gcm-128', integrity: 'none', encKey: hex(v.key + v.salt), authKey: new Uint8Array(0) }, true);
    const { buf, off, len } = espPacket(v.spi, v.seqLo, hex(v.iv), hex(v.sealed));
    assert.equal(t.open(buf, off, len, v.seqHi + 1), OPEN_INTEGRITY_FAILED);
  });

  test(`[${path}] ` + 'AES-CBC known answers (RFC 3602 §4 cases #1 and #2), through open() with no integrity', () => {
    const cases = [
      { key: '06a9214036b8a15b512e03d534120006', iv: '3dafba429d9eb430b422da802c9fac41', plain: Buffer.from('Single block msg').toString('hex'), cipher: 'e353779c1079aeb82708942dbe77181a' },
      {
        key: 'c286696d887c9aa0611bbb3e2025a45a',
        iv: '562e17996d093d28ddb3ba695a2e6f58',
        plain: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
        cipher: 'd296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1',
      },
    ];
    for (const c of cases) {
      const t = make({ encryption: 'aes-cbc-128', integrity: 'none', encKey: hex(c.key), authKey: new Uint8Array(0) }, false);
      const { buf, off, len } = espPacket(0x1000, 1, hex(c.iv), hex(c.cipher));
      const ptLen = t.open(buf, off, len, 0);
      assert.equal(toHex(buf.subarray(off + 24, off + 24 + ptLen)), c.plain);
    }
  });

  test(`[${path}] ` + 'HMAC-SHA-256-128 known answer (RFC 4868 §2.7.2.1, AUTH256 test case 1)', () => {
    // NULL encryption leaves the bytes as they are, so the ICV is HMAC over header ‖ payload:
    // make the "ESP header ‖ payload" the test's "Hi There".
    const key = new Uint8Array(32).fill(0x0b);
    const t = make({ encryption: 'null', integrity: 'hmac-sha256-128', encKey: new Uint8Array(0), authKey: key }, false);
    const data = Buffer.from('Hi There');
    const buf = new Uint8Array(8 + 16).fill(0xa5);
    buf.set(data, 0);
    const len = t.seal(buf, 0, 0, 0);
    assert.equal(len, 24);
    assert.equal(toHex(buf.subarray(8, 24)), '198a607eb44bfbc69903a0f1cf2bbdc5');
    assert.equal(t.open(buf, 0, 24, 0), 0);
  });


  /** Builds header ‖ IV room ‖ payload ‖ trailer at `off` and seals it; returns the ESP length. */
  function seal(keys: TransformKeys, esn: boolean, buf: Uint8Array, off: number, payload: Uint8Array, seqLo: number, seqHi: number): number {
    const t = make(keys, esn);
    writeU32(buf, off, 0xabcd);
    writeU32(buf, off + 4, seqLo);
    const pt = off + 8 + t.ivLen;
    buf.set(payload, pt);
    const pad = espPadLength(payload.length, t.blockSize);
    const ptLen = payload.length + writeEspTrailer(buf, pt + payload.length, pad, 41);
    return t.seal(buf, off, ptLen, seqHi);
  }

  test(`[${path}] ` + 'seal then open returns the payload for every transform, at any ESN, and touches no byte outside', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...KEYS),
        fc.boolean(),
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.integer({ min: 1, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffff }),
        (keys, esn, payload, seqLo, hi) => {
          const seqHi = esn ? hi : 0;
          const off = 11;
          const buf = new Uint8Array(off + 400 + 60).fill(0xa5);
          const len = seal(keys, esn, buf, off, payload, seqLo, seqHi);
          assert.ok(buf.subarray(off + len).every((x) => x === 0xa5), 'nothing written after the ICV');
          assert.ok(buf.subarray(0, off).every((x) => x === 0xa5), 'nothing written before the header');
          const t = make(keys, esn);
          const ptLen = t.open(buf, off, len, seqHi);
          assert.ok(ptLen >= 0);
          const start = off + 8 + t.ivLen;
          const payloadLen = checkEspTrailer(buf, start, ptLen);
          assert.equal(payloadLen, payload.length);
          assert.deepEqual(buf.subarray(start, start + payloadLen), payload);
          assert.equal(buf[start + ptLen - 1], 41);
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });

  test(`[${path}] ` + 'any flipped bit in SPI, Seq, IV, ciphertext or ICV fails integrity', () => {
    fc.assert(
      fc.property(fc.constantFrom(...KEYS), fc.uint8Array({ minLength: 1, maxLength: 100 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (keys, payload, at, bit) => {
        const buf = new Uint8Array(300);
        const len = seal(keys, false, buf, 0, payload, 5, 0);
        const i = at % len;
        buf[i] = buf[i]! ^ (1 << bit);
        assert.equal(make(keys, false).open(buf, 0, len, 0), OPEN_INTEGRITY_FAILED);
      }),
      { seed: 42, numRuns: 200 },
    );
  });

  test(`[${path}] ` + 'HMAC with ESN authenticates Seq-hi (RFC 4303 §3.3.2.2.1): the wrong high half fails', () => {
    const keys = KEYS[2]!;
    const buf = new Uint8Array(200);
    const len = seal(keys, true, buf, 0, Uint8Array.of(1, 2, 3), 9, 1);
    assert.equal(make(keys, true).open(buf.slice(), 0, len, 2), OPEN_INTEGRITY_FAILED);
    assert.ok(make(keys, true).open(buf, 0, len, 1) >= 0);
  });

  test(`[${path}] ` + 'IVs never repeat within an SA: GCM uses the sequence number; CBC an unpredictable encryption of it', () => {
    const ivs = new Set<string>();
    for (const keys of [KEYS[0]!, KEYS[2]!]) {
      for (let seq = 1; seq <= 50; seq++) {
        const buf = new Uint8Array(200);
        seal(keys, false, buf, 0, Uint8Array.of(seq), seq, 0);
        const ivLen = keys.encryption === 'aes-gcm-128' ? 8 : 16;
        ivs.add(toHex(buf.subarray(8, 8 + ivLen)));
      }
    }
    assert.equal(ivs.size, 100);
    // RFC 3602 §2.3: a CBC IV must not be guessable, so it is not the counter itself.
    const buf = new Uint8Array(200);
    seal(KEYS[2]!, false, buf, 0, Uint8Array.of(1), 1, 0);
    assert.notEqual(toHex(buf.subarray(8, 16)), '0000abcd00000001');
  });
}

test('the C helper and node:crypto seal to identical bytes and open each other’s packets, for every transform and ESN', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 4 }),
      fc.boolean(),
      fc.uint8Array({ minLength: 0, maxLength: 300 }),
      fc.integer({ min: 1, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffffffff }),
      (k, esn, payload, seqLo, seqHi) => {
        const keys = KEYS[k]!;
        const sealed: Uint8Array[] = [];
        for (const t of [nodeTransform(keys, esn), makeTransform(keys, esn, 'native')]) {
          const buf = new Uint8Array(400).fill(0xa5);
          writeU32(buf, 0, 0x1234);
          writeU32(buf, 4, seqLo);
          const pt = 8 + t.ivLen;
          buf.set(payload, pt);
          const ptLen = payload.length + writeEspTrailer(buf, pt + payload.length, espPadLength(payload.length, t.blockSize), 4);
          sealed.push(buf.slice(0, t.seal(buf, 0, ptLen, esn ? seqHi : 0)));
          t.dispose();
        }
        assert.deepEqual(sealed[0], sealed[1]);
        const other = makeTransform(keys, esn, 'native');
        const copy = sealed[0]!.slice();
        assert.ok(other.open(copy, 0, copy.length, esn ? seqHi : 0) >= 0);
        other.dispose();
      },
    ),
    { seed: 42, numRuns: 300 },
  );
});
