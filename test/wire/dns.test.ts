/**
 * The DNS codec (src/wire/dns.ts): golden replies captured from BIND 9 and Unbound
 * (test/fixtures/dns/*.hex, made by capture.sh), seeded round-trip and never-throws
 * properties, and the hostile inputs a decompressor must refuse.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  canonicalDnsName,
  decodeDns,
  dnsQuery,
  DNS_RCODE,
  DNS_TYPE,
  encodeDns,
  encodeDnsToBytes,
  encodingLengthDns,
  formatRdata,
  fullRcode,
  ip6ArpaName,
  parseDnsName,
  parseDnsType,
  dnsTypeName,
  parseIp6ArpaName,
  type DnsMessage,
  type DnsRdata,
  type DnsRecord,
  type Edns,
} from '../../src/wire/dns.js';
import { parseIpv6 } from '../../src/lib/addr.js';
import { dnsFixture as fixture, dnsFixtureNames, dnsMessages } from '../helpers/dns-fixtures.js';

const RUNS = { seed: 15, numRuns: 300 };

function decoded(name: string): DnsMessage {
  const d = decodeDns(fixture(name));
  assert.ok(d.ok, `${name}: ${d.ok ? '' : d.reason}`);
  return d.value;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const addr = (s: string) => parseIpv6(s)!;

test('every captured BIND and Unbound message decodes, claims all its bytes, and re-encodes to the same bytes', () => {
  const files = dnsFixtureNames();
  assert.ok(files.length >= 27, `found the captures (${files.length})`);
  for (const f of files) {
    const bytes = fixture(f);
    const d = decodeDns(bytes);
    assert.ok(d.ok, `${f}: ${d.ok ? '' : d.reason}`);
    assert.equal(d.length, bytes.length, f);
    // Both servers compress as this encoder does (first occurrence, whole suffixes), so the
    // bytes come back identical, compression pointers included.
    assert.equal(hex(encodeDnsToBytes(d.value)), hex(bytes), f);
  }
});

for (const server of ['bind', 'unbound']) {
  test(`${server}: AAAA, A, CNAME chain, PTR under ip6.arpa, SOA, TXT, MX`, () => {
    const aaaa = decoded(`${server}-aaaa.hex`);
    assert.equal(aaaa.qr, true);
    assert.equal(aaaa.aa, true);
    assert.deepEqual(aaaa.questions, [{ name: 'host.turtle6.test', type: DNS_TYPE.AAAA, class: 1 }]);
    assert.deepEqual(aaaa.answers, [{ name: 'host.turtle6.test', type: DNS_TYPE.AAAA, class: 1, ttl: 300, rdata: { kind: 'aaaa', address: addr('2001:db8:1::10') } }]);
    assert.equal(aaaa.edns?.udpSize, 1232);

    const a = decoded(`${server}-a.hex`);
    assert.deepEqual(a.answers[0]!.rdata, { kind: 'a', address: Uint8Array.from([192, 0, 2, 10]) });

    const cname = decoded(`${server}-cname.hex`);
    assert.deepEqual(
      cname.answers.map((r) => [r.name, r.rdata]),
      [
        ['alias.turtle6.test', { kind: 'cname', name: 'alias2.turtle6.test' }],
        ['alias2.turtle6.test', { kind: 'cname', name: 'host.turtle6.test' }],
        ['host.turtle6.test', { kind: 'aaaa', address: addr('2001:db8:1::10') }],
      ],
    );

    const ptr = decoded(`${server}-ptr.hex`);
    assert.equal(ptr.questions[0]!.name, ip6ArpaName(addr('2001:db8:1::10')));
    assert.deepEqual(ptr.answers[0]!.rdata, { kind: 'ptr', name: 'host.turtle6.test' });

    const soa = decoded(`${server}-soa.hex`);
    assert.deepEqual(soa.answers[0]!.rdata, {
      kind: 'soa',
      mname: 'ns1.turtle6.test',
      rname: 'hostmaster.turtle6.test',
      serial: 2026120701,
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum: 60,
    });

    const txt = decoded(`${server}-txt.hex`);
    assert.deepEqual(txt.answers[0]!.rdata, { kind: 'txt', strings: [new TextEncoder().encode('hello'), new TextEncoder().encode('turtle6')] });

    const mx = decoded(`${server}-mx.hex`);
    assert.deepEqual(mx.answers[0]!.rdata, { kind: 'mx', preference: 10, exchange: 'host.turtle6.test' });
  });

  test(`${server}: NXDOMAIN and NODATA carry the SOA; 60 AAAA truncate over UDP and arrive whole over TCP`, () => {
    const nx = decoded(`${server}-nxdomain.hex`);
    assert.equal(nx.rcode, DNS_RCODE.NXDOMAIN);
    assert.equal(nx.answers.length, 0);
    assert.equal(nx.authorities[0]!.rdata.kind, 'soa');

    const nodata = decoded(`${server}-nodata.hex`);
    assert.equal(nodata.rcode, DNS_RCODE.NOERROR);
    assert.equal(nodata.answers.length, 0);
    assert.equal(nodata.authorities[0]!.rdata.kind, 'soa');

    const udp = decoded(`${server}-many-udp.hex`);
    assert.equal(udp.tc, true);
    assert.equal(udp.answers.length, 0);
    const tcp = decoded(`${server}-many-tcp.hex`);
    assert.equal(tcp.tc, false);
    assert.equal(tcp.answers.length, 60);
    assert.deepEqual(
      tcp.answers.map((r) => (r.rdata.kind === 'aaaa' ? hex(r.rdata.address) : '')).sort(),
      Array.from({ length: 60 }, (_, i) => hex(addr(`2001:db8:2::${(i + 1).toString(16)}`))).sort(),
    );

    const noedns = decoded(`${server}-noedns.hex`);
    assert.equal(noedns.edns, null);
  });
}

test("dig's query carries EDNS0 with a COOKIE option, kept opaque; BIND's reply echoes it", () => {
  const q = decoded('dig-query-cookie.hex');
  assert.equal(q.qr, false);
  assert.equal(q.rd, true);
  assert.equal(q.edns?.udpSize, 1232);
  assert.equal(q.edns?.options[0]?.code, 10);
  assert.equal(q.edns?.options[0]?.data.length, 8);
  const r = decoded('bind-cookie.hex');
  assert.equal(r.edns?.options[0]?.code, 10);
  assert.deepEqual(r.edns?.options[0]?.data.subarray(0, 8), q.edns?.options[0]?.data);
});

// ---- names ---------------------------------------------------------------------------------

test('names: escapes both ways, label and name limits, type mnemonics', () => {
  assert.deepEqual(parseDnsName('www.Example.COM.'), [...'www.Example.COM'.split('.').map((l) => new TextEncoder().encode(l))]);
  assert.deepEqual(parseDnsName(''), []);
  assert.deepEqual(parseDnsName('.'), []);
  assert.deepEqual(parseDnsName('a\\.b.c'), [Uint8Array.from([0x61, 0x2e, 0x62]), Uint8Array.from([0x63])]);
  assert.deepEqual(parseDnsName('\\000\\255'), [Uint8Array.from([0, 255])]);
  assert.equal(canonicalDnsName('\\097\\032b.'), 'a\\032b');
  assert.match(String(parseDnsName('a..b')), /empty label/);
  assert.match(String(parseDnsName('\\256')), /above 255/);
  assert.match(String(parseDnsName(`${'x'.repeat(64)}.test`)), /label of 64 bytes/);
  assert.equal(typeof parseDnsName(`${'x'.repeat(63)}.test`), 'object');
  // 4 × (1 + 63) + 1 = 257 bytes on the wire.
  assert.match(String(parseDnsName(Array(4).fill('x'.repeat(63)).join('.'))), /257 bytes on the wire, above 255/);
  assert.equal(typeof parseDnsName([...Array(3).fill('x'.repeat(63)), 'x'.repeat(61)].join('.')), 'object');
  assert.equal(parseDnsType('aaaa'), DNS_TYPE.AAAA);
  assert.equal(parseDnsType('TYPE65280'), 65280);
  assert.equal(parseDnsType('TYPE65536'), null);
  assert.equal(parseDnsType('nonsense'), null);
  assert.equal(dnsTypeName(65280), 'TYPE65280');
});

test('ip6.arpa nibble names both ways (RFC 3596 §2.5)', () => {
  const a = addr('2001:db8::567:89ab');
  assert.equal(ip6ArpaName(a), 'b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa');
  assert.deepEqual(parseIp6ArpaName('B.A.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.IP6.ARPA.'), a);
  assert.equal(parseIp6ArpaName('8.b.d.0.1.0.0.2.ip6.arpa'), null, 'a prefix is not an address');
  assert.equal(parseIp6ArpaName(ip6ArpaName(a).replace(/^b/, 'g')), null);
  assert.equal(parseIp6ArpaName(ip6ArpaName(a).replace(/^b/, 'bb')), null);
  fc.assert(fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (x) => assert.deepEqual(parseIp6ArpaName(ip6ArpaName(x)), x)), RUNS);
});

// ---- hostile input -------------------------------------------------------------------------

/** A response header with the given counts, then `body`. */
function message(counts: [number, number, number, number], ...body: number[][]): Uint8Array {
  const [qd, an, ns, ar] = counts;
  return Uint8Array.from([0x12, 0x34, 0x81, 0x80, 0, qd, 0, an, 0, ns, 0, ar, ...body.flat()]);
}
const QTAIL = [0, 28, 0, 1];
const failsWith = (bytes: Uint8Array, re: RegExp) => {
  const d = decodeDns(bytes);
  assert.equal(d.ok, false, `decoded: ${JSON.stringify(d)}`);
  if (!d.ok) assert.match(d.reason, re);
};

test('bad input: compression loop, pointer to itself, forward pointer, label of 64, name over 255', () => {
  // Question "a" (offsets 12–18); an answer at 19 whose owner is "b" + a pointer to 19,
  // its own start: b → b → … (the pointer points backward of itself, but into its own name).
  const loop = message([1, 1, 0, 0], [1, 0x61, 0], QTAIL, [1, 0x62, 0xc0, 19], [0, 1, 0, 1, 0, 0, 0, 0, 0, 0]);
  failsWith(loop, /does not point backward/);
  // Two pointers pointing at each other (offsets 12 and 14).
  failsWith(message([1, 0, 0, 0], [0xc0, 14, 0xc0, 12], QTAIL), /does not point backward/);
  failsWith(message([1, 0, 0, 0], [0xc0, 12], QTAIL), /does not point backward/);
  failsWith(message([1, 0, 0, 0], [0xc0, 20], QTAIL, [1, 0x61, 0]), /does not point backward/);
  failsWith(message([1, 0, 0, 0], [64, ...Array(64).fill(0x61), 0], QTAIL), /label type 0x40|past the end/);
  // Five 63-byte labels: 321 bytes of name.
  const long = Array.from({ length: 5 }, () => [63, ...Array(63).fill(0x61)]).flat();
  failsWith(message([1, 0, 0, 0], [...long, 0], QTAIL), /longer than 255/);
  // Within 255 in place but over it after decompression: 3 × 64 bytes, then a pointer to
  // an earlier 64-byte name: 4 × 64 + 1 = 257.
  const piece = [63, ...Array(63).fill(0x62)];
  failsWith(message([2, 0, 0, 0], [...piece, 0], QTAIL, [...piece, ...piece, ...piece, 0xc0, 12], QTAIL), /longer than 255/);
  // A valid backward chain is fine: "a" + ptr → the question's name.
  const fine = decodeDns(message([2, 0, 0, 0], [1, 0x61, 0], QTAIL, [1, 0x62, 0xc0, 12], QTAIL));
  assert.ok(fine.ok && fine.value.questions[1]!.name === 'b.a');
});

test('bad input: counts larger than the message, truncated records, truncated OPT, two OPTs, OPT not at the root', () => {
  failsWith(message([0, 0xff, 0, 0]), /counts .* need at least/);
  failsWith(message([1, 1, 0, 0], [1, 0x61, 0], QTAIL, [3, 0x61, 0x61, 0x61, 0, 0, 28, 0, 1, 0, 0]), /record header cut/);
  failsWith(message([1, 1, 0, 0], [1, 0x61, 0], QTAIL, [0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 0, 0, 16, 1, 2]), /RDATA of 16 bytes runs past/);
  failsWith(message([1, 1, 0, 0], [1, 0x61, 0], QTAIL, [0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 0, 0, 2, 1, 2]), /AAAA RDATA: expected 16 bytes/);
  failsWith(message([0, 0, 0, 1], [0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 3, 0, 10, 0]), /truncated OPT option header/);
  failsWith(message([0, 0, 0, 1], [0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 6, 0, 10, 0, 8, 1, 2]), /OPT option 10 of 8 bytes runs past/);
  const opt = [0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0];
  failsWith(message([0, 0, 0, 2], opt, opt), /more than one OPT/);
  failsWith(message([0, 1, 0, 0], opt), /OPT record outside/);
  failsWith(message([0, 0, 0, 1], [1, 0x61, ...opt]), /OPT record owned by a name/);
  failsWith(Uint8Array.from([1, 2, 3]), /shorter than its 12-byte header/);
  assert.equal(decodeDns(new Uint8Array(12), 4, 12).ok, false, 'range outside the buffer');
});

test('EDNS: extended RCODE, version, DO; unknown types and other classes kept opaque (RFC 3597)', () => {
  const d = decodeDns(message([0, 1, 0, 2], [0, 0xff, 0, 0, 1, 0, 0, 0, 9, 0, 3, 1, 2, 3], [0, 0, 1, 1, 0, 0, 0, 0, 9, 0, 1, 9], [0, 0, 41, 2, 0, 1, 0, 0x80, 0x01, 0, 4, 0xfd, 0xe9, 0, 0]));
  assert.ok(d.ok, d.ok ? '' : d.reason);
  assert.deepEqual(d.value.answers.map((r) => r.rdata), [{ kind: 'opaque', data: Uint8Array.from([1, 2, 3]) }]);
  assert.deepEqual(d.value.additionals.map((r) => [r.class, r.rdata]), [[0x100, { kind: 'opaque', data: Uint8Array.from([9]) }]], 'A in class 256 is opaque');
  assert.deepEqual(d.value.edns, { udpSize: 512, extendedRcode: 1, version: 0, dnssecOk: true, z: 1, options: [{ code: 0xfde9, data: new Uint8Array(0) }] });
  assert.equal(fullRcode(d.value), DNS_RCODE.BADVERS | (d.value.rcode & 0xf));
});

// ---- properties ----------------------------------------------------------------------------

const label = fc.uint8Array({ minLength: 1, maxLength: 20 });
/** Any label bytes, written with \DDD escapes and canonicalised (so parse is exercised too). */
const name = fc.array(label, { maxLength: 4 }).map((ls) => canonicalDnsName(ls.map((l) => [...l].map((b) => `\\${String(b).padStart(3, '0')}`).join('')).join('.'))!);
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const KNOWN: readonly number[] = Object.values(DNS_TYPE);

function rdataArb(names: fc.Arbitrary<string>): fc.Arbitrary<{ type: number; cls: number; rdata: DnsRdata }> {
  return fc.oneof(
    fc.uint8Array({ minLength: 4, maxLength: 4 }).map((address) => ({ type: 1, cls: 1, rdata: { kind: 'a' as const, address } })),
    fc.uint8Array({ minLength: 16, maxLength: 16 }).map((address) => ({ type: 28, cls: 1, rdata: { kind: 'aaaa' as const, address } })),
    fc.tuple(fc.constantFrom(['ns', 2] as const, ['cname', 5] as const, ['ptr', 12] as const), names, u16).map(([[kind, type], n, cls]) => ({ type, cls, rdata: { kind, name: n } })),
    fc.tuple(u16, names).map(([preference, exchange]) => ({ type: 15, cls: 1, rdata: { kind: 'mx' as const, preference, exchange } })),
    fc.tuple(names, names, u32, u32, u32, u32, u32).map(([mname, rname, serial, refresh, retry, expire, minimum]) => ({
      type: 6,
      cls: 1,
      rdata: { kind: 'soa' as const, mname, rname, serial, refresh, retry, expire, minimum },
    })),
    fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 3 }).map((strings) => ({ type: 16, cls: 1, rdata: { kind: 'txt' as const, strings } })),
    fc.tuple(u16.filter((t) => !KNOWN.includes(t)), u16, fc.uint8Array({ maxLength: 30 })).map(([type, cls, data]) => ({ type, cls, rdata: { kind: 'opaque' as const, data } })),
  );
}

const messageArb: fc.Arbitrary<DnsMessage> = fc.array(name, { minLength: 1, maxLength: 3 }).chain((pool) => {
  // Names drawn from a small pool (and suffixes of each other) so that compression happens.
  const names = fc.oneof(fc.constantFrom(...pool), name);
  const record: fc.Arbitrary<DnsRecord> = fc.tuple(names, rdataArb(names), u32).map(([n, r, ttl]) => ({ name: n, type: r.type, class: r.cls, ttl, rdata: r.rdata }));
  const edns: fc.Arbitrary<Edns | null> = fc.option(
    fc.record(
      {
        udpSize: u16,
        extendedRcode: fc.integer({ min: 0, max: 255 }),
        version: fc.integer({ min: 0, max: 255 }),
        dnssecOk: fc.boolean(),
        z: fc.integer({ min: 0, max: 0x7fff }),
        options: fc.array(fc.record({ code: u16, data: fc.uint8Array({ maxLength: 12 }) }, { noNullPrototype: true }), { maxLength: 3 }),
      },
      { noNullPrototype: true },
    ),
  );
  return fc.record(
    {
      id: u16,
      qr: fc.boolean(),
      opcode: fc.integer({ min: 0, max: 15 }),
      aa: fc.boolean(),
      tc: fc.boolean(),
      rd: fc.boolean(),
      ra: fc.boolean(),
      z: fc.boolean(),
      ad: fc.boolean(),
      cd: fc.boolean(),
      rcode: fc.integer({ min: 0, max: 15 }),
      questions: fc.array(fc.record({ name: names, type: u16, class: u16 }, { noNullPrototype: true }), { maxLength: 2 }),
      answers: fc.array(record, { maxLength: 4 }),
      authorities: fc.array(record, { maxLength: 2 }),
      additionals: fc.array(record, { maxLength: 2 }),
      edns,
    },
    { noNullPrototype: true },
  );
});

test('property: every message survives encode → decode at an offset, compression pointers included', () => {
  fc.assert(
    fc.property(messageArb, (m) => {
      const len = encodingLengthDns(m);
      const off = 5;
      const buf = new Uint8Array(off + len + 7).fill(0xa5);
      assert.equal(encodeDns(m, buf, off), len);
      assert.ok(buf.subarray(0, off).every((b) => b === 0xa5) && buf.subarray(off + len).every((b) => b === 0xa5), 'wrote outside its bytes');
      const d = decodeDns(buf, off, len);
      assert.ok(d.ok, d.ok ? '' : d.reason);
      assert.equal(d.length, len);
      assert.deepStrictEqual(d.value, m);
    }),
    RUNS,
  );
});

test('property: decodeDns never throws, on random bytes and on mutated captures', () => {
  const goldens = dnsMessages();
  const mutated = fc.tuple(fc.constantFrom(...goldens), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.nat()).map(([g, edits, cut]) => {
    const b = g.slice(0, g.length - (cut % 4 === 0 ? cut % g.length : 0));
    for (const [at, v] of edits) if (b.length > 0) b[at % b.length] = v;
    return b;
  });
  fc.assert(
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), mutated), (b) => {
      const d = decodeDns(b);
      if (d.ok) assert.ok(d.length <= b.length);
      else assert.equal(typeof d.reason, 'string');
    }),
    { ...RUNS, numRuns: 3000 },
  );
});

test('dnsQuery builds what a stub sends: RD, one IN question, optional OPT', () => {
  const q = encodeDnsToBytes(dnsQuery(0xbeef, 'host.turtle6.test', DNS_TYPE.AAAA, { udpSize: 1232, extendedRcode: 0, version: 0, dnssecOk: false, z: 0, options: [] }));
  assert.equal(hex(q), 'beef01000001000000000001' + '04686f737407747572746c65360474657374' + '00' + '001c0001' + '00' + '0029' + '04d0' + '00000000' + '0000');
});

test('formatRdata prints RDATA as dig does, unknown types as RFC 3597 \\# length hex', () => {
  const txt = decoded('bind-txt.hex').answers[0]!.rdata;
  assert.equal(formatRdata(txt), '"hello" "turtle6"');
  assert.equal(formatRdata({ kind: 'txt', strings: [Uint8Array.from([0x61, 0x22, 0x2e, 0x5c, 0x0a])] }), '"a\\".\\\\\\010"');
  assert.equal(formatRdata(decoded('bind-soa.hex').answers[0]!.rdata), 'ns1.turtle6.test hostmaster.turtle6.test 2026120701 3600 600 86400 60');
  assert.equal(formatRdata(decoded('bind-mx.hex').answers[0]!.rdata), '10 host.turtle6.test');
  assert.equal(formatRdata(decoded('bind-a.hex').answers[0]!.rdata), '192.0.2.10');
  assert.equal(formatRdata(decoded('bind-aaaa.hex').answers[0]!.rdata), '2001:db8:1::10');
  assert.equal(formatRdata({ kind: 'opaque', data: Uint8Array.from([0xab, 0xcd]) }), '\\# 2 abcd');
  assert.equal(formatRdata({ kind: 'opaque', data: new Uint8Array(0) }), '\\# 0');
});
