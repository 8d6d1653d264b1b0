/**
 * DHCPv6 authentication (the book's §4.7): delayed authentication (protocol 2, RFC 3315
 * §21.4, as WIDE-DHCPv6 implements it) with keys read from files, and the reconfigure key
 * (protocol 3, RFC 8415 §20.4). Both use HMAC-MD5 over the whole message with the MAC field
 * zeroed, and a monotonic-counter replay detection field (RDM 0, §20.3).
 *
 * Replay detection: "the receiver ... MUST discard the message if the replay detection
 * value is not greater than the value in the previous message" (RFC 3315 §21.3). The last
 * value accepted per (role, key, peer DUID) is kept durably (ReplayStore), so a restart does
 * not reopen the window. Values this router sends are NTP timestamps (seconds since 1900 in
 * the high 32 bits, as WIDE's get_rdvalue does), kept strictly increasing: a peer that
 * remembers our previous value still accepts the next one after our restart.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readKeyFile } from '../../lib/secret.js';
import { writeFileDurably } from '../../lib/durable-file.js';
import { encodeDhcp6ToBytes, findOption, type AuthOption, type Dhcp6ClientMessage, type Dhcp6Option } from '../../wire/dhcpv6.js';
import {
  AUTH_ALGORITHM_HMAC_MD5,
  AUTH_PROTOCOL,
  AUTH_RDM_MONOTONIC,
  authMacOffset,
  decodeDelayedAuthInfo,
  decodeReconfigureKeyInfo,
  encodeDelayedAuthInfo,
  encodeReconfigureKeyInfo,
  HMAC_MD5_LENGTH,
  RECONFIGURE_KEY_TYPE,
  decodeSecret,
} from '../../wire/dhcpv6-auth.js';

export const AUTH_DROPS = ['auth-missing', 'auth-failed', 'auth-replay'] as const;
export type AuthDrop = (typeof AUTH_DROPS)[number];

export interface DelayedKey {
  readonly name: string;
  readonly realm: Uint8Array;
  readonly keyId: number;
  readonly secret: Uint8Array;
}

/** Seconds from 1900-01-01 (the NTP era) to 1970-01-01. */
const NTP_UNIX_OFFSET_S = 2_208_988_800n;

/** The configured keys, their secrets read from their files; a file missing or not base64 is an error naming it. */
export function loadKeys(keys: ReadonlyArray<{ name: string; realm: string; keyId: number; secretFile: string }>): Map<string, DelayedKey> {
  const out = new Map<string, DelayedKey>();
  for (const k of keys) {
    let secret: Uint8Array;
    try {
      secret = readKeyFile(k.secretFile, decodeSecret, 'one base64 secret like 5pvW2g48OHPvkYMJSw0vZA==');
    } catch (e) {
      throw new Error(`dhcpv6.keys ${k.name}: secretFile: ${(e as Error).message}`);
    }
    out.set(k.name, { name: k.name, realm: new TextEncoder().encode(k.realm), keyId: k.keyId, secret });
  }
  return out;
}

/** HMAC-MD5 of `bytes` with the 16 bytes at `macAt` taken as zero. */
export function hmacMd5Zeroed(secret: Uint8Array, bytes: Uint8Array, macAt: number): Buffer {
  const h = createHmac('md5', secret);
  h.update(bytes.subarray(0, macAt));
  h.update(ZERO_MAC);
  h.update(bytes.subarray(macAt + HMAC_MD5_LENGTH));
  return h.digest();
}
const ZERO_MAC = new Uint8Array(HMAC_MD5_LENGTH);

/** The message with `auth` in place of any Authentication option it had, the MAC computed over its encoding. */
function withMac(msg: Dhcp6ClientMessage, auth: AuthOption, secret: Uint8Array, fillInfo: (mac: Uint8Array) => Uint8Array): Dhcp6ClientMessage {
  const options: Dhcp6Option[] = [...msg.options.filter((o) => o.kind !== 'auth'), auth];
  const unsigned: Dhcp6ClientMessage = { ...msg, options };
  const bytes = encodeDhcp6ToBytes(unsigned);
  const mac = hmacMd5Zeroed(secret, bytes, authMacOffset(bytes, 0, bytes.length));
  return { ...msg, options: [...options.slice(0, -1), { ...auth, info: fillInfo(mac) }] };
}

/** RFC 3315 §21.4.2: a Solicit (or Information-request) announces delayed authentication with no information. */
export function announceDelayed(msg: Dhcp6ClientMessage, rd: bigint): Dhcp6ClientMessage {
  const auth: AuthOption = { kind: 'auth', protocol: AUTH_PROTOCOL.DELAYED, algorithm: AUTH_ALGORITHM_HMAC_MD5, rdm: AUTH_RDM_MONOTONIC, replayDetection: rd, info: new Uint8Array(0) };
  return { ...msg, options: [...msg.options.filter((o) => o.kind !== 'auth'), auth] };
}

/** RFC 3315 §21.4.1: realm, key ID and the HMAC-MD5 of the message under `key`. */
export function signDelayed(msg: Dhcp6ClientMessage, key: DelayedKey, rd: bigint): Dhcp6ClientMessage {
  const placeholder = encodeDelayedAuthInfo({ realm: key.realm, keyId: key.keyId, mac: ZERO_MAC });
  const auth: AuthOption = { kind: 'auth', protocol: AUTH_PROTOCOL.DELAYED, algorithm: AUTH_ALGORITHM_HMAC_MD5, rdm: AUTH_RDM_MONOTONIC, replayDetection: rd, info: placeholder };
  return withMac(msg, auth, key.secret, (mac) => encodeDelayedAuthInfo({ realm: key.realm, keyId: key.keyId, mac }));
}

/**
 * RFC 8415 §20.4.1: the Reply that gives a client its reconfigure key carries it in an
 * Authentication option of protocol 3, type 1 ("Reconfigure Key value").
 */
export function withReconfigureKey(msg: Dhcp6ClientMessage, reconfigureKey: Uint8Array, rd: bigint): Dhcp6ClientMessage {
  const auth: AuthOption = {
    kind: 'auth',
    protocol: AUTH_PROTOCOL.RECONFIGURE_KEY,
    algorithm: AUTH_ALGORITHM_HMAC_MD5,
    rdm: AUTH_RDM_MONOTONIC,
    replayDetection: rd,
    info: encodeReconfigureKeyInfo({ type: RECONFIGURE_KEY_TYPE.KEY, value: reconfigureKey }),
  };
  return { ...msg, options: [...msg.options.filter((o) => o.kind !== 'auth'), auth] };
}

/** RFC 8415 §20.4.1: a Reconfigure carries type 2, the HMAC-MD5 of the message under the reconfigure key. */
export function signReconfigure(msg: Dhcp6ClientMessage, reconfigureKey: Uint8Array, rd: bigint): Dhcp6ClientMessage {
  const placeholder = encodeReconfigureKeyInfo({ type: RECONFIGURE_KEY_TYPE.HMAC_MD5, value: ZERO_MAC });
  const auth: AuthOption = { kind: 'auth', protocol: AUTH_PROTOCOL.RECONFIGURE_KEY, algorithm: AUTH_ALGORITHM_HMAC_MD5, rdm: AUTH_RDM_MONOTONIC, replayDetection: rd, info: placeholder };
  return withMac(msg, auth, reconfigureKey, (mac) => encodeReconfigureKeyInfo({ type: RECONFIGURE_KEY_TYPE.HMAC_MD5, value: mac }));
}

/** The reconfigure key a Reply delivers (protocol 3, type 1), if any. */
export function reconfigureKeyIn(msg: Dhcp6ClientMessage): Uint8Array | null {
  const auth = findOption(msg.options, 'auth');
  if (auth === undefined || auth.protocol !== AUTH_PROTOCOL.RECONFIGURE_KEY || auth.algorithm !== AUTH_ALGORITHM_HMAC_MD5) return null;
  const info = decodeReconfigureKeyInfo(auth.info);
  return info.ok && info.value.type === RECONFIGURE_KEY_TYPE.KEY ? info.value.value : null;
}

export type AuthVerdict = { readonly ok: true; readonly rd: bigint } | { readonly ok: false; readonly reason: AuthDrop; readonly detail: string };

/**
 * Checks a message's delayed-authentication MAC (RFC 3315 §21.4.5.1, §21.4.4.2). `bytes`
 * is the message exactly as received. `announceOnly` accepts a Solicit's (or
 * Information-request's) option without information, which carries no MAC to check.
 */
export function verifyDelayed(msg: Dhcp6ClientMessage, bytes: Uint8Array, key: DelayedKey, last: bigint | undefined, announceOnly: boolean): AuthVerdict {
  const auth = findOption(msg.options, 'auth');
  if (auth === undefined || auth.protocol !== AUTH_PROTOCOL.DELAYED) return { ok: false, reason: 'auth-missing', detail: 'no delayed authentication option' };
  if (auth.algorithm !== AUTH_ALGORITHM_HMAC_MD5 || auth.rdm !== AUTH_RDM_MONOTONIC) return { ok: false, reason: 'auth-failed', detail: `algorithm ${auth.algorithm}, RDM ${auth.rdm}` };
  if (announceOnly && auth.info.length === 0) return { ok: true, rd: auth.replayDetection };
  const info = decodeDelayedAuthInfo(auth.info);
  if (!info.ok) return { ok: false, reason: 'auth-failed', detail: info.reason };
  if (info.value.keyId !== key.keyId || !equalBytes(info.value.realm, key.realm)) return { ok: false, reason: 'auth-failed', detail: `unknown key ${info.value.keyId} in realm ${new TextDecoder().decode(info.value.realm)}` };
  return checkMac(bytes, key.secret, info.value.mac, auth.replayDetection, last);
}

/** RFC 8415 §20.4.1, §18.2.11: a Reconfigure's type-2 HMAC-MD5 under the reconfigure key. */
export function verifyReconfigure(msg: Dhcp6ClientMessage, bytes: Uint8Array, reconfigureKey: Uint8Array, last: bigint | undefined): AuthVerdict {
  const auth = findOption(msg.options, 'auth');
  if (auth === undefined || auth.protocol !== AUTH_PROTOCOL.RECONFIGURE_KEY) return { ok: false, reason: 'auth-missing', detail: 'no reconfigure key authentication option' };
  const info = decodeReconfigureKeyInfo(auth.info);
  if (auth.algorithm !== AUTH_ALGORITHM_HMAC_MD5 || auth.rdm !== AUTH_RDM_MONOTONIC || !info.ok || info.value.type !== RECONFIGURE_KEY_TYPE.HMAC_MD5) {
    return { ok: false, reason: 'auth-failed', detail: 'not an HMAC-MD5 reconfigure key digest' };
  }
  return checkMac(bytes, reconfigureKey, info.value.value, auth.replayDetection, last);
}

function checkMac(bytes: Uint8Array, secret: Uint8Array, mac: Uint8Array, rd: bigint, last: bigint | undefined): AuthVerdict {
  const at = authMacOffset(bytes, 0, bytes.length);
  if (at < 0) return { ok: false, reason: 'auth-failed', detail: 'no room for a MAC' };
  if (!timingSafeEqual(hmacMd5Zeroed(secret, bytes, at), mac)) return { ok: false, reason: 'auth-failed', detail: 'HMAC-MD5 mismatch' };
  // Checked after the MAC: an unauthenticated counter says nothing.
  if (last !== undefined && rd <= last) return { ok: false, reason: 'auth-replay', detail: `replay detection ${rd} not above ${last}` };
  return { ok: true, rd };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Replay detection values for what this router sends: NTP time, strictly increasing. */
export class ReplayCounter {
  private last = 0n;
  constructor(private readonly wallMs: () => number) {}

  next(): bigint {
    const ms = BigInt(Math.floor(this.wallMs()));
    const ntp = ((ms / 1000n + NTP_UNIX_OFFSET_S) << 32n) | (((ms % 1000n) << 32n) / 1000n);
    this.last = ntp > this.last ? ntp : this.last + 1n;
    return this.last;
  }
}

/**
 * A small string map kept durably in one JSON file: each change is written to a temporary
 * file, fsynced, renamed over the old one and the directory fsynced, before the caller acts
 * on it (DESIGN.md, "State that must survive restarts").
 */
export class DurableMap {
  private readonly values = new Map<string, string>();

  constructor(private readonly path: string) {
    if (!existsSync(path)) return;
    for (const [k, v] of Object.entries(JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>)) this.values.set(k, v);
  }

  get(key: string): string | undefined {
    return this.values.get(key);
  }

  entries(): IterableIterator<[string, string]> {
    return this.values.entries();
  }

  set(key: string, value: string): void {
    if (this.values.get(key) === value) return;
    this.values.set(key, value);
    this.write();
  }

  delete(key: string): void {
    if (this.values.delete(key)) this.write();
  }

  private write(): void {
    writeFileDurably(this.path, JSON.stringify(Object.fromEntries(this.values)));
  }
}

/**
 * The last replay detection value accepted from each peer, per key, kept durably before the
 * message is acted on, so that a `kill -9` right after cannot let the same message in again.
 */
export class ReplayStore {
  private readonly map: DurableMap;

  constructor(path: string) {
    this.map = new DurableMap(path);
  }

  static in(dir: string): ReplayStore {
    return new ReplayStore(join(dir, 'replay.json'));
  }

  last(peer: string): bigint | undefined {
    const v = this.map.get(peer);
    return v === undefined ? undefined : BigInt(v);
  }

  record(peer: string, rd: bigint): void {
    this.map.set(peer, rd.toString());
  }
}
