/**
 * The DHCPv6 codec against bytes captured from WIDE-DHCPv6 and Kea (see
 * test/fixtures/wire/dhcpv6-capture.sh), plus seeded properties: any bytes decode without
 * throwing, and every Repr survives a round trip at an offset inside a junk-filled buffer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { formatIpv6, parseIpv6 } from '../../src/lib/addr.js';
import {
  decodeDhcp6,
  DHCP6_MSG,
  DHCP6_OPT,
  encodeDhcp6,
  encodeDhcp6ToBytes,
  encodingLengthDhcp6,
  filterOptions,
  findOption,
  formatDuid,
  parseDuid,
  type Dhcp6Message,
  type Dhcp6Option,
  type Duid,
} from '../../src/wire/dhcpv6.js';
import { hex, junk } from './goldens.js';

interface CaptureFile {
  readonly provenance: Record<string, unknown>;
  readonly messages: Record<string, string>;
}
const captures = JSON.parse(readFileSync(new URL('../../../test/fixtures/wire/dhcpv6-goldens.json', import.meta.url), 'utf8')) as CaptureFile;

function captured(name: string): Uint8Array {
  const h = captures.messages[name];
  if (h === undefined) throw new Error(`no capture named ${name}`);
  return Uint8Array.from(Buffer.from(h, 'hex'));
}

function decodeOk(bytes: Uint8Array): Dhcp6Message {
  const d = decodeDhcp6(bytes);
  if (!d.ok) throw new Error(`decode failed: ${d.reason}`);
  return d.value;
}

test('every captured WIDE and Kea message decodes and re-encodes to the same bytes', () => {
  const names = Object.keys(captures.messages);
  assert.ok(names.length >= 10, `expected ten captures, found ${names.join(', ')}`);
  for (const name of names) {
    const bytes = captured(name);
    const msg = decodeOk(bytes);
    assert.equal(hex(encodeDhcp6ToBytes(msg)), hex(bytes), name);
  }
});

test("WIDE dhcp6c's Solicit: client ID, IA_NA, IA_PD, ORO, elapsed time, delayed-auth offer", () => {
  const msg = decodeOk(captured('wide_solicit'));
  assert.equal(msg.type, 'client');
  assert.equal(msg.msgType, DHCP6_MSG.SOLICIT);
  const clientId = findOption(msg.options, 'clientId');
  assert.equal(formatDuid(clientId!.duid), '00:01:00:01:00:00:00:01:02:00:00:00:00:01');
  assert.deepEqual(findOption(msg.options, 'iaNa')?.iaid, 1);
  assert.deepEqual(findOption(msg.options, 'iaPd')?.iaid, 1);
  assert.deepEqual(findOption(msg.options, 'oro')?.codes, [DHCP6_OPT.DNS_SERVERS, DHCP6_OPT.DOMAIN_LIST]);
  assert.equal(findOption(msg.options, 'elapsedTime')?.centiseconds, 0);
  const auth = findOption(msg.options, 'auth')!;
  // RFC 3315 §21.4.2 (kept as RFC 8415 §20.4): the Solicit only announces delayed auth, with no info.
  assert.deepEqual([auth.protocol, auth.algorithm, auth.rdm, auth.info.length], [2, 1, 0, 0]);
});

test("WIDE dhcp6s's Reply carries the lease, DNS options and an HMAC-MD5 auth option", () => {
  const msg = decodeOk(captured('wide_reply'));
  assert.equal(msg.msgType, DHCP6_MSG.REPLY);
  const na = findOption(msg.options, 'iaNa')!;
  assert.deepEqual([na.t1, na.t2], [900, 1440]);
  const addr = findOption(na.options, 'iaAddr')!;
  assert.equal(formatIpv6(addr.address), '2001:db8:1::10');
  assert.deepEqual([addr.preferred, addr.valid], [1800, 3600]);
  const pd = findOption(msg.options, 'iaPd')!;
  const prefix = findOption(pd.options, 'iaPrefix')!;
  assert.equal(`${formatIpv6(prefix.prefix)}/${prefix.prefixLen}`, '2001:db8:100::/56');
  assert.deepEqual(findOption(msg.options, 'dnsServers')?.servers.map((s) => formatIpv6(s)), ['2001:db8:1::53']);
  assert.deepEqual(findOption(msg.options, 'domainList')?.domains, ['turtle6.test']);
  const auth = findOption(msg.options, 'auth')!;
  // realm "turtle6.test" (12) + key id (4) + HMAC-MD5 (16)
  assert.equal(auth.info.length, 32);
  assert.equal(new TextDecoder().decode(auth.info.subarray(0, 12)), 'turtle6.test');
});

test("Kea's Advertise: pool address and a /56 from its PD pool", () => {
  const msg = decodeOk(captured('kea_advertise'));
  assert.equal(msg.msgType, DHCP6_MSG.ADVERTISE);
  const serverId = findOption(msg.options, 'serverId')!;
  assert.equal(serverId.duid.type, 1);
  const addr = findOption(findOption(msg.options, 'iaNa')!.options, 'iaAddr')!;
  assert.ok(formatIpv6(addr.address).startsWith('2001:db8:1::2'));
  const prefix = findOption(findOption(msg.options, 'iaPd')!.options, 'iaPrefix')!;
  assert.equal(prefix.prefixLen, 56);
  assert.ok(formatIpv6(prefix.prefix).startsWith('2001:db8:200:'));
});

test('unknown options and DUID types survive a round trip', () => {
  const msg: Dhcp6Message = {
    type: 'client',
    msgType: 1,
    transactionId: 0xabcdef,
    options: [
      { kind: 'clientId', duid: { type: 0x1234, raw: Uint8Array.of(1, 2, 3) } },
      { kind: 'unknown', code: 0xfff0, data: Uint8Array.of(9, 8, 7) },
      { kind: 'unknown', code: 64, data: new Uint8Array(0) },
    ],
  };
  const bytes = encodeDhcp6ToBytes(msg);
  assert.deepEqual(decodeOk(bytes), msg);
});

test('malformed messages are rejected with a reason, never thrown', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['empty', '', /empty/],
    ['short header', '0101', /shorter than its 4-byte header/],
    ['truncated option header', '01000001000100', /option header truncated/],
    ['option overrun', '0100000100010010000100', /overruns its container/],
    ['DUID too short', '01000001000100020001', /DUID shorter/],
    ['preference of 2 bytes', '020000010007000201ff', /option 7: expected 1 byte/],
    ['IA_NA too short', '0100000100030004000000010', /shorter than IAID, T1 and T2/],
    ['bad label', '07000001001800030200', /option 24/],
    ['IAPREFIX length 129', '0700000100190029' + '00000001' + '00000000' + '00000000' + '001a0019' + '00000000' + '00000000' + '81' + '00'.repeat(16), /prefix length 129/],
    ['relay too short', '0c00' + '00'.repeat(20), /shorter than its 34-byte header/],
  ];
  for (const [what, h, reason] of cases) {
    const bytes = Uint8Array.from(Buffer.from(h.length % 2 ? `${h}0` : h, 'hex'));
    const d = decodeDhcp6(bytes);
    assert.equal(d.ok, false, what);
    if (!d.ok) assert.match(d.reason, reason, what);
  }
});

test('Relay-forw nested 40 deep is refused; 8 deep decodes', () => {
  const nest = (depth: number): Dhcp6Message => {
    let msg: Dhcp6Message = { type: 'client', msgType: DHCP6_MSG.SOLICIT, transactionId: 1, options: [] };
    for (let i = 0; i < depth; i++) {
      msg = { type: 'relay', msgType: 12, hopCount: i, linkAddress: new Uint8Array(16), peerAddress: new Uint8Array(16), options: [{ kind: 'relayMessage', message: msg }] };
    }
    return msg;
  };
  assert.equal(decodeDhcp6(encodeDhcp6ToBytes(nest(8))).ok, true);
  const deep = decodeDhcp6(encodeDhcp6ToBytes(nest(40)));
  assert.equal(deep.ok, false);
  if (!deep.ok) assert.match(deep.reason, /nested more than 32 deep/);
});

test('DUIDs parse from the colon-hex form configs use', () => {
  const d = parseDuid('00:03:00:01:02:00:00:00:00:01')!;
  assert.deepEqual(d, { type: 3, hwType: 1, linkLayer: Uint8Array.of(2, 0, 0, 0, 0, 1) });
  assert.equal(parseDuid('00:01'), null);
  assert.equal(parseDuid('zz'), null);
  assert.equal(filterOptions([{ kind: 'rapidCommit' }, { kind: 'preference', value: 1 }, { kind: 'rapidCommit' }], 'rapidCommit').length, 2);
});

// ---------------------------------------------------------------- properties

const RUNS = { seed: 42, numRuns: 400 };
const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (max: number, min = 0) => fc.uint8Array({ minLength: min, maxLength: max });
const addr = bytes(16, 16);

const duid: fc.Arbitrary<Duid> = fc.oneof(
  fc.record({ type: fc.constant(1 as const), hwType: u16, time: u32, linkLayer: bytes(20) }, { noNullPrototype: true }),
  fc.record({ type: fc.constant(2 as const), enterprise: u32, identifier: bytes(20, 1) }, { noNullPrototype: true }),
  fc.record({ type: fc.constant(3 as const), hwType: u16, linkLayer: bytes(20) }, { noNullPrototype: true }),
  fc.record({ type: fc.constant(4 as const), uuid: bytes(16, 16) }, { noNullPrototype: true }),
  fc.record({ type: fc.integer({ min: 5, max: 0xffff }), raw: bytes(20, 1) }, { noNullPrototype: true }),
);

const label = fc.stringMatching(/^[a-z0-9-]{1,12}$/);
const domain = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));

const { option } = fc.letrec<{ option: Dhcp6Option; message: Dhcp6Message }>((tie) => {
  const sub = fc.array(tie('option'), { maxLength: 2 });
  const r = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }) => fc.record(model, { noNullPrototype: true }) as fc.Arbitrary<T>;
  return {
    option: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      r({ kind: fc.constant('clientId' as const), duid }),
      r({ kind: fc.constant('serverId' as const), duid }),
      r({ kind: fc.constant('iaNa' as const), iaid: u32, t1: u32, t2: u32, options: sub }),
      r({ kind: fc.constant('iaTa' as const), iaid: u32, options: sub }),
      r({ kind: fc.constant('iaPd' as const), iaid: u32, t1: u32, t2: u32, options: sub }),
      r({ kind: fc.constant('iaAddr' as const), address: addr, preferred: u32, valid: u32, options: sub }),
      r({ kind: fc.constant('iaPrefix' as const), preferred: u32, valid: u32, prefixLen: fc.integer({ min: 0, max: 128 }), prefix: addr, options: sub }),
      r({ kind: fc.constant('oro' as const), codes: fc.array(u16, { maxLength: 5 }) }),
      r({ kind: fc.constant('preference' as const), value: u8 }),
      r({ kind: fc.constant('elapsedTime' as const), centiseconds: u16 }),
      r({ kind: fc.constant('relayMessage' as const), message: tie('message') }),
      r({ kind: fc.constant('auth' as const), protocol: u8, algorithm: u8, rdm: u8, replayDetection: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), info: bytes(40) }),
      r({ kind: fc.constant('unicast' as const), address: addr }),
      r({ kind: fc.constant('statusCode' as const), status: u16, message: fc.string({ maxLength: 20 }) }),
      r({ kind: fc.constant('rapidCommit' as const) }),
      r({ kind: fc.constant('userClass' as const), data: fc.array(bytes(8), { maxLength: 3 }) }),
      r({ kind: fc.constant('vendorClass' as const), enterprise: u32, data: fc.array(bytes(8), { maxLength: 3 }) }),
      r({ kind: fc.constant('vendorOpts' as const), enterprise: u32, data: bytes(12) }),
      r({ kind: fc.constant('interfaceId' as const), id: bytes(12) }),
      r({ kind: fc.constant('reconfMsg' as const), msgType: u8 }),
      r({ kind: fc.constant('reconfAccept' as const) }),
      r({ kind: fc.constant('dnsServers' as const), servers: fc.array(addr, { maxLength: 3 }) }),
      r({ kind: fc.constant('domainList' as const), domains: fc.array(domain, { maxLength: 3 }) }),
      r({ kind: fc.constant('solMaxRt' as const), value: u32 }),
      r({ kind: fc.constant('infMaxRt' as const), value: u32 }),
      r({ kind: fc.constant('infoRefreshTime' as const), value: u32 }),
      r({ kind: fc.constant('unknown' as const), code: fc.constantFrom(10, 21, 22, 31, 39, 100, 0xffff), data: bytes(12) }),
    ),
    message: fc.oneof(
      { depthSize: 'small' },
      r({ type: fc.constant('client' as const), msgType: fc.integer({ min: 1, max: 11 }), transactionId: fc.integer({ min: 0, max: 0xffffff }), options: sub }),
      r({ type: fc.constant('relay' as const), msgType: fc.constantFrom(12 as const, 13 as const), hopCount: u8, linkAddress: addr, peerAddress: addr, options: sub }),
    ),
  };
});

const message: fc.Arbitrary<Dhcp6Message> = fc.oneof(
  fc.record({ type: fc.constant('client' as const), msgType: fc.integer({ min: 1, max: 11 }), transactionId: fc.integer({ min: 0, max: 0xffffff }), options: fc.array(option, { maxLength: 6 }) }, { noNullPrototype: true }),
  fc.record({ type: fc.constant('relay' as const), msgType: fc.constantFrom(12 as const, 13 as const), hopCount: u8, linkAddress: addr, peerAddress: addr, options: fc.array(option, { maxLength: 4 }) }, { noNullPrototype: true }),
);

test('property: every Repr survives encode → decode at an offset, touching nothing else', () => {
  fc.assert(
    fc.property(message, fc.integer({ min: 0, max: 9 }), (msg, pad) => {
      const len = encodingLengthDhcp6(msg);
      const buf = junk(pad + len + 7);
      assert.equal(encodeDhcp6(msg, buf, pad), len);
      for (let i = 0; i < pad; i++) assert.equal(buf[i], 0xa5);
      for (let i = pad + len; i < buf.length; i++) assert.equal(buf[i], 0xa5);
      const d = decodeDhcp6(buf, pad, len);
      assert.ok(d.ok, d.ok ? '' : d.reason);
      assert.deepEqual(d.value, msg);
      assert.equal(d.length, len);
    }),
    RUNS,
  );
});

test('property: any bytes decode without throwing, and whatever decodes re-encodes to the same bytes', () => {
  const seeds = Object.keys(captures.messages).map(captured);
  const mutated = fc.tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(400), u8), { maxLength: 4 }), fc.nat(400)).map(([b, edits, cut]) => {
    const out = b.slice(0, Math.max(1, b.length - (cut % 8 === 0 ? cut % b.length : 0)));
    for (const [at, v] of edits) out[at % out.length] = v;
    return out;
  });
  fc.assert(
    fc.property(fc.oneof(bytes(200), mutated), (b) => {
      const d = decodeDhcp6(b);
      // A decoded message re-encodes to its input, except where UTF-8 in a status message or
      // the domain list's character set is normalised: both are text, not structure.
      if (d.ok && !hasText(d.value.options)) assert.equal(hex(encodeDhcp6ToBytes(d.value)), hex(b));
    }),
    { seed: 42, numRuns: 2000 },
  );
});

function hasText(options: readonly Dhcp6Option[]): boolean {
  return options.some(
    (o) =>
      o.kind === 'statusCode' ||
      o.kind === 'domainList' ||
      (o.kind === 'relayMessage' && hasText(o.message.options)) ||
      ('options' in o && hasText(o.options)),
  );
}

test('link and peer addresses of a relay message round-trip', () => {
  const msg: Dhcp6Message = {
    type: 'relay',
    msgType: 12,
    hopCount: 1,
    linkAddress: parseIpv6('2001:db8:1::1')!,
    peerAddress: parseIpv6('fe80::1')!,
    options: [{ kind: 'interfaceId', id: Uint8Array.of(0x65, 0x74, 0x68, 0x30) }, { kind: 'relayMessage', message: { type: 'client', msgType: 1, transactionId: 5, options: [] } }],
  };
  assert.deepEqual(decodeOk(encodeDhcp6ToBytes(msg)), msg);
});
