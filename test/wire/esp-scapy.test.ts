/**
 * Golden ESP packets from an independent implementation (scapy's SecurityAssociation; see
 * test/interop/scapy-esp/make-goldens.py for provenance), decrypted and decapsulated by
 * turtle6's codec and node:crypto transforms: tunnel mode yields the inner packet, transport
 * mode the original packet once the ESP header and trailer are removed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nodeTransform } from '../../src/ipsec/transform.js';
import { decodeEspHeader, decodeEspPlaintext, ESP_NEXT_HEADER_IPV6 } from '../../src/wire/esp.js';
import { decodeIpv6Header, IPPROTO, IPV6_HEADER_LEN } from '../../src/wire/ipv6.js';
import type { EncryptionName, IntegrityName } from '../../src/ipsec/algorithms.js';

interface Golden {
  name: string;
  encryption: EncryptionName;
  encKey: string;
  integrity: IntegrityName;
  authKey: string;
  mode: 'tunnel' | 'transport';
  spi: number;
  seq: number;
  seqHi: number;
  esn: boolean;
  packet: string;
  inner: string;
}

const goldens = JSON.parse(readFileSync(join(process.cwd(), 'test/interop/scapy-esp/goldens.json'), 'utf8')) as { provenance: string; cases: Golden[] };
const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));

test('the golden file records where its packets came from', () => {
  assert.match(goldens.provenance, /scapy/);
  assert.ok(goldens.cases.length >= 8);
});

for (const g of goldens.cases) {
  test(`scapy golden ${g.name}: turtle6 verifies, decrypts and decapsulates it`, () => {
    const pkt = hex(g.packet);
    const ip = decodeIpv6Header(pkt, 0);
    assert.ok(ip.ok);
    assert.equal(ip.value.nextHeader, IPPROTO.ESP);
    const esp = IPV6_HEADER_LEN;
    const espLen = pkt.length - esp;
    const header = decodeEspHeader(pkt, esp);
    assert.ok(header.ok);
    assert.equal(header.value.spi, g.spi);
    assert.equal(header.value.seq, g.seq);
    const t = nodeTransform({ encryption: g.encryption, integrity: g.integrity, encKey: hex(g.encKey), authKey: hex(g.authKey) }, g.esn);
    const ptLen = t.open(pkt, esp, espLen, g.seqHi);
    assert.ok(ptLen >= 0, 'integrity verified');
    const plain = decodeEspPlaintext(pkt, esp + 8 + t.ivLen, ptLen);
    assert.ok(plain.ok, 'padding is RFC 4303 §2.4 monotonic');
    if (g.mode === 'tunnel') {
      assert.equal(plain.value.nextHeader, ESP_NEXT_HEADER_IPV6);
      assert.equal(Buffer.from(plain.value.payload).toString('hex'), g.inner);
    } else {
      const rebuilt = new Uint8Array(IPV6_HEADER_LEN + plain.value.payload.length);
      rebuilt.set(pkt.subarray(0, IPV6_HEADER_LEN));
      rebuilt[6] = plain.value.nextHeader;
      rebuilt[4] = plain.value.payload.length >> 8;
      rebuilt[5] = plain.value.payload.length & 0xff;
      rebuilt.set(plain.value.payload, IPV6_HEADER_LEN);
      assert.equal(Buffer.from(rebuilt).toString('hex'), g.inner);
    }
  });
}
