/**
 * The scapy golden ESP packets (test/interop/scapy-esp/goldens.json; test/wire/esp-scapy.test.ts
 * runs them on node:crypto) on the C helper's path: verified and decrypted, to the same inner
 * bytes, and a flipped ICV bit refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTransform } from '../../src/ipsec/native-transform.js';
import { OPEN_INTEGRITY_FAILED } from '../../src/ipsec/transform.js';
import { decodeEspPlaintext } from '../../src/wire/esp.js';
import { IPV6_HEADER_LEN } from '../../src/wire/ipv6.js';
import type { EncryptionName, IntegrityName } from '../../src/ipsec/algorithms.js';

interface Golden {
  name: string;
  encryption: EncryptionName;
  encKey: string;
  integrity: IntegrityName;
  authKey: string;
  mode: 'tunnel' | 'transport';
  seqHi: number;
  esn: boolean;
  packet: string;
  inner: string;
}

const goldens = JSON.parse(readFileSync(join(process.cwd(), 'test/interop/scapy-esp/goldens.json'), 'utf8')) as { cases: Golden[] };
const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

for (const g of goldens.cases) {
  test(`[native] scapy golden ${g.name}: the C helper verifies and decrypts it`, () => {
    const t = makeTransform({ encryption: g.encryption, integrity: g.integrity, encKey: hex(g.encKey), authKey: hex(g.authKey) }, g.esn, 'native');
    const pkt = hex(g.packet);
    const tampered = pkt.slice();
    tampered[tampered.length - 1]! ^= 1;
    assert.equal(t.open(tampered, IPV6_HEADER_LEN, tampered.length - IPV6_HEADER_LEN, g.seqHi), OPEN_INTEGRITY_FAILED);
    const ptLen = t.open(pkt, IPV6_HEADER_LEN, pkt.length - IPV6_HEADER_LEN, g.seqHi);
    assert.ok(ptLen >= 0, 'integrity verified');
    const plain = decodeEspPlaintext(pkt, IPV6_HEADER_LEN + 8 + t.ivLen, ptLen);
    assert.ok(plain.ok);
    const payload = Buffer.from(plain.value.payload).toString('hex');
    // Tunnel: the inner packet itself; transport: the golden is the rebuilt packet, whose tail is the payload.
    if (g.mode === 'tunnel') assert.equal(payload, g.inner);
    else assert.ok(g.inner.endsWith(payload) && payload.length > 0);
    t.dispose();
  });
}
