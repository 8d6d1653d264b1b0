/**
 * The protocol-specific "authentication information" of the DHCPv6 Authentication option
 * (the `info` bytes of AuthOption in dhcpv6.ts).
 *
 * - Delayed authentication, protocol 2 (RFC 3315 §21.4.1, as WIDE-DHCPv6 implements it;
 *   RFC 8415 deprecated it but kept the code point): realm (the rest of the option), key ID
 *   (4 bytes), HMAC-MD5 (16 bytes). A Solicit announces it with no information at all
 *   (RFC 3315 §21.4.2).
 * - Reconfigure key authentication, protocol 3 (RFC 8415 §20.4): a 1-byte type (1: the
 *   reconfigure key value, in a Reply; 2: an HMAC-MD5 digest, in a Reconfigure) and 16 bytes.
 *
 * Both MACs are HMAC-MD5 over the whole DHCP message with the MAC field set to zero
 * (RFC 3315 §21.4.1, RFC 8415 §20.4.1); `authMacOffset` finds that field in encoded bytes.
 */
import { authOptionOffset } from './dhcpv6.js';
import { readU32, writeU32 } from './bytes.js';
import { type Decoded, fail, ok } from './result.js';

export const AUTH_PROTOCOL = { DELAYED: 2, RECONFIGURE_KEY: 3 } as const;
/** RFC 8415 §20: algorithm 1 is HMAC-MD5 for both protocols. */
export const AUTH_ALGORITHM_HMAC_MD5 = 1;
/** RFC 8415 §20: RDM 0 is a monotonically increasing counter. */
export const AUTH_RDM_MONOTONIC = 0;
export const HMAC_MD5_LENGTH = 16;
/** RFC 8415 §20.4: the two kinds of reconfigure-key information. */
export const RECONFIGURE_KEY_TYPE = { KEY: 1, HMAC_MD5: 2 } as const;
/** Protocol, algorithm, RDM and the 8-byte replay detection field, before `info`. */
const AUTH_FIXED_LENGTH = 11;

export interface DelayedAuthInfo {
  readonly realm: Uint8Array;
  readonly keyId: number;
  readonly mac: Uint8Array;
}

export interface ReconfigureKeyInfo {
  readonly type: number;
  readonly value: Uint8Array;
}

export function decodeDelayedAuthInfo(info: Uint8Array): Decoded<DelayedAuthInfo> {
  if (info.length < 4 + HMAC_MD5_LENGTH) return fail('delayed authentication information shorter than key ID and HMAC-MD5');
  const realmEnd = info.length - 4 - HMAC_MD5_LENGTH;
  return ok({ realm: info.slice(0, realmEnd), keyId: readU32(info, realmEnd), mac: info.slice(realmEnd + 4) }, info.length);
}

export function encodeDelayedAuthInfo(value: DelayedAuthInfo): Uint8Array {
  const out = new Uint8Array(value.realm.length + 4 + HMAC_MD5_LENGTH);
  out.set(value.realm, 0);
  writeU32(out, value.realm.length, value.keyId);
  out.set(value.mac.subarray(0, HMAC_MD5_LENGTH), value.realm.length + 4);
  return out;
}

export function decodeReconfigureKeyInfo(info: Uint8Array): Decoded<ReconfigureKeyInfo> {
  if (info.length !== 1 + HMAC_MD5_LENGTH) return fail('reconfigure key information is not a type and 16 bytes');
  return ok({ type: info[0]!, value: info.slice(1) }, info.length);
}

export function encodeReconfigureKeyInfo(value: ReconfigureKeyInfo): Uint8Array {
  const out = new Uint8Array(1 + HMAC_MD5_LENGTH);
  out[0] = value.type;
  out.set(value.value.subarray(0, HMAC_MD5_LENGTH), 1);
  return out;
}

/**
 * Offset of the 16-byte MAC inside an encoded client/server message at `off` (the last 16
 * bytes of the first Authentication option, for both protocols), or -1 when the message has
 * no Authentication option with room for one.
 */
export function authMacOffset(buf: Uint8Array, off: number, len: number): number {
  const body = authOptionOffset(buf, off, len);
  if (body < 0) return -1;
  const optionLength = (buf[body - 2]! << 8) | buf[body - 1]!;
  if (optionLength < AUTH_FIXED_LENGTH + HMAC_MD5_LENGTH) return -1;
  return body + optionLength - HMAC_MD5_LENGTH;
}

/** A WIDE `keyinfo` secret: base64 text, surrounding white space ignored. Null when it is not base64 of at least one byte. */
export function decodeSecret(text: string): Uint8Array | null {
  const t = text.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(t) || t.length % 4 !== 0) return null;
  const bytes = Buffer.from(t, 'base64');
  // A copy of its own, and the decoding buffer (a slice of Node's shared pool) zeroed.
  const secret = bytes.length > 0 ? Uint8Array.from(bytes) : null;
  bytes.fill(0);
  return secret;
}
