/**
 * DHCPv6 authentication against WIDE-DHCPv6's own bytes: dhcp6c ⇄ dhcp6s with delayed
 * authentication, captured by test/fixtures/wire/dhcpv6-capture.sh (secret
 * 5pvW2g48OHPvkYMJSw0vZA==, realm "turtle6.test", key ID 1). The expected MACs are WIDE's, and
 * each is recomputed here with nothing but node:crypto over the captured bytes with the MAC
 * field zeroed by hand (RFC 3315 §21.4.1), independently of the code under test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { decodeDhcp6, DHCP6_MSG, encodeDhcp6ToBytes, findOption, type Dhcp6ClientMessage } from '../../src/wire/dhcpv6.js';
import {
  authMacOffset,
  decodeDelayedAuthInfo,
  decodeReconfigureKeyInfo,
  decodeSecret,
  encodeDelayedAuthInfo,
  encodeReconfigureKeyInfo,
} from '../../src/wire/dhcpv6-auth.js';
import {
  announceDelayed,
  ReplayCounter,
  ReplayStore,
  reconfigureKeyIn,
  signDelayed,
  signReconfigure,
  verifyDelayed,
  verifyReconfigure,
  withReconfigureKey,
  type DelayedKey,
} from '../../src/protocols/dhcpv6/auth.js';

const captures = JSON.parse(readFileSync(new URL('../../../test/fixtures/wire/dhcpv6-goldens.json', import.meta.url), 'utf8')) as { messages: Record<string, string> };
const bytesOf = (name: string) => Uint8Array.from(Buffer.from(captures.messages[name]!, 'hex'));
const decodeClient = (b: Uint8Array) => {
  const d = decodeDhcp6(b);
  if (!d.ok || d.value.type !== 'client') throw new Error('not a client message');
  return d.value;
};
const SECRET = Buffer.from('5pvW2g48OHPvkYMJSw0vZA==', 'base64');
const KEY: DelayedKey = { name: 't6key', realm: new TextEncoder().encode('turtle6.test'), keyId: 1, secret: Uint8Array.from(SECRET) };
const RUNS = { seed: 42, numRuns: 300 };

/** WIDE's MACs, read off the captures: the last 16 bytes of each 43-byte Auth option. */
const WIDE_MACS: Record<string, string> = {
  wide_advertise: '54bd5dfef6faf00f21ac8d907cbcb157',
  wide_request: '5b7710ae736a7f90663cfaa232ace797',
  wide_reply: '14918cc918fd8d12bf55f9b78b9c61cc',
  wide_release: '926e74166bc5a0824eafe4b18f450911',
};

test('WIDE\'s HMAC-MD5 MACs match node:crypto over the message with the MAC zeroed', () => {
  for (const [name, mac] of Object.entries(WIDE_MACS)) {
    const b = bytesOf(name);
    assert.equal(Buffer.from(b.subarray(b.length - 16)).toString('hex'), mac, `${name} ends with its Auth option`);
    const zeroed = Buffer.from(b);
    zeroed.fill(0, zeroed.length - 16);
    assert.equal(createHmac('md5', SECRET).update(zeroed).digest('hex'), mac, name);
    assert.equal(authMacOffset(b, 0, b.length), b.length - 16, name);
  }
});

test('the delayed-auth information of WIDE\'s Reply: realm, key ID, MAC', () => {
  const auth = findOption(decodeClient(bytesOf('wide_reply')).options, 'auth')!;
  assert.deepEqual([auth.protocol, auth.algorithm, auth.rdm], [2, 1, 0]);
  const info = decodeDelayedAuthInfo(auth.info);
  assert.ok(info.ok);
  assert.equal(new TextDecoder().decode(info.value.realm), 'turtle6.test');
  assert.equal(info.value.keyId, 1);
  assert.equal(Buffer.from(info.value.mac).toString('hex'), WIDE_MACS['wide_reply']);
  assert.deepEqual(encodeDelayedAuthInfo(info.value), auth.info);
});

test('verifyDelayed accepts every WIDE message, rejects a flipped byte, a wrong key, a replay, and a missing option', () => {
  for (const name of Object.keys(WIDE_MACS)) {
    const b = bytesOf(name);
    const v = verifyDelayed(decodeClient(b), b, KEY, undefined, false);
    assert.ok(v.ok, name);
  }
  const request = bytesOf('wide_request');
  const msg = decodeClient(request);
  const rd = findOption(msg.options, 'auth')!.replayDetection;
  // WIDE's replay detection is an NTP timestamp (seconds since 1900 in the high word).
  assert.ok(rd >> 32n > 3_900_000_000n, rd.toString(16));
  const flipped = Uint8Array.from(request);
  flipped[20] ^= 1;
  assert.deepEqual(verifyDelayed(decodeClient(flipped), flipped, KEY, undefined, false), { ok: false, reason: 'auth-failed', detail: 'HMAC-MD5 mismatch' });
  const wrongSecret = { ...KEY, secret: Uint8Array.from([1, 2, 3]) };
  assert.equal((verifyDelayed(msg, request, wrongSecret, undefined, false) as { reason: string }).reason, 'auth-failed');
  const wrongKeyId = { ...KEY, keyId: 2 };
  assert.match((verifyDelayed(msg, request, wrongKeyId, undefined, false) as { detail: string }).detail, /unknown key 1/);
  assert.equal((verifyDelayed(msg, request, KEY, rd, false) as { reason: string }).reason, 'auth-replay');
  assert.ok(verifyDelayed(msg, request, KEY, rd - 1n, false).ok);
  const kea = bytesOf('kea_request');
  assert.equal((verifyDelayed(decodeClient(kea), kea, KEY, undefined, false) as { reason: string }).reason, 'auth-missing');
  // A Solicit only announces the protocol (RFC 3315 §21.4.2): accepted without a MAC.
  const solicit = bytesOf('wide_solicit');
  assert.ok(verifyDelayed(decodeClient(solicit), solicit, KEY, undefined, true).ok);
  assert.equal((verifyDelayed(decodeClient(solicit), solicit, KEY, undefined, false) as { reason: string }).reason, 'auth-failed');
});

test('signDelayed reproduces WIDE\'s Reply byte for byte from the same fields', () => {
  const wide = bytesOf('wide_reply');
  const msg = decodeClient(wide);
  const rd = findOption(msg.options, 'auth')!.replayDetection;
  const unsigned: Dhcp6ClientMessage = { ...msg, options: msg.options.filter((o) => o.kind !== 'auth') };
  assert.equal(Buffer.from(encodeDhcp6ToBytes(signDelayed(unsigned, KEY, rd))).toString('hex'), captures.messages['wide_reply']);
  const announced = encodeDhcp6ToBytes(announceDelayed(unsigned, 7n));
  const auth = findOption(decodeClient(announced).options, 'auth')!;
  assert.deepEqual([auth.protocol, auth.algorithm, auth.rdm, auth.replayDetection, auth.info.length], [2, 1, 0, 7n, 0]);
});

test('reconfigure key: delivered in a Reply (type 1), a Reconfigure signed with it (type 2) verifies; another key or a replay does not', () => {
  const reply = decodeClient(bytesOf('wide_reply'));
  const key = Uint8Array.from({ length: 16 }, (_, i) => i * 7);
  const delivered = decodeClient(encodeDhcp6ToBytes(withReconfigureKey(reply, key, 5n)));
  assert.deepEqual(reconfigureKeyIn(delivered), key);
  assert.equal(reconfigureKeyIn(reply), null, 'a delayed-auth option is not a reconfigure key');
  const reconf: Dhcp6ClientMessage = { type: 'client', msgType: DHCP6_MSG.RECONFIGURE, transactionId: 0, options: [{ kind: 'reconfMsg', msgType: DHCP6_MSG.RENEW }] };
  const bytes = encodeDhcp6ToBytes(signReconfigure(reconf, key, 9n));
  const zeroed = Buffer.from(bytes);
  zeroed.fill(0, zeroed.length - 16);
  assert.equal(Buffer.from(bytes.subarray(bytes.length - 16)).toString('hex'), createHmac('md5', key).update(zeroed).digest('hex'));
  const decoded = decodeClient(bytes);
  assert.ok(verifyReconfigure(decoded, bytes, key, 8n).ok);
  assert.equal((verifyReconfigure(decoded, bytes, key, 9n) as { reason: string }).reason, 'auth-replay');
  assert.equal((verifyReconfigure(decoded, bytes, new Uint8Array(16), undefined) as { reason: string }).reason, 'auth-failed');
  assert.equal((verifyReconfigure(reconf, encodeDhcp6ToBytes(reconf), key, undefined) as { reason: string }).reason, 'auth-missing');
});

test('secrets: base64 as in WIDE\'s keyinfo, anything else refused', () => {
  assert.deepEqual(decodeSecret(' 5pvW2g48OHPvkYMJSw0vZA==\n'), Uint8Array.from(SECRET));
  for (const bad of ['', 'not base64!', 'abc', '====']) assert.equal(decodeSecret(bad), null, bad);
});

test('replay values we send are NTP time and strictly increasing; the last accepted survive a reopen', () => {
  let wall = Date.UTC(2026, 0, 1);
  const counter = new ReplayCounter(() => wall);
  const a = counter.next();
  const b = counter.next();
  assert.equal(a >> 32n, BigInt(wall / 1000) + 2_208_988_800n);
  assert.ok(b > a);
  wall -= 10_000; // the wall clock stepping back must not reopen the window
  assert.ok(counter.next() > b);
  const dir = mkdtempSync(join(tmpdir(), 't6-replay-'));
  try {
    const store = ReplayStore.in(dir);
    assert.equal(store.last('server|k|d'), undefined);
    store.record('server|k|d', (1n << 63n) + 5n);
    assert.equal(ReplayStore.in(dir).last('server|k|d'), (1n << 63n) + 5n);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('property: authentication information decoders never throw and round-trip', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (info) => {
      const d = decodeDelayedAuthInfo(info);
      if (d.ok) assert.deepEqual(encodeDelayedAuthInfo(d.value), info);
      else assert.ok(info.length < 20);
      const r = decodeReconfigureKeyInfo(info);
      if (r.ok) assert.deepEqual(encodeReconfigureKeyInfo(r.value), info);
      else assert.notEqual(info.length, 17);
    }),
    RUNS,
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
      const at = authMacOffset(bytes, 0, bytes.length);
      assert.ok(at === -1 || (at >= 4 && at + 16 <= bytes.length));
    }),
    RUNS,
  );
});
