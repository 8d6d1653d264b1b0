/**
 * The ESP transforms turtle6 speaks, with the sizes the RFCs fix for each. One table drives
 * config validation, the SAD layout, both crypto paths and the `show ipsec sa` text.
 *
 * - AES-GCM (RFC 4106): keying material is the AES key followed by a 4-byte salt (§8.1);
 *   8-byte explicit IV (§3.1); 16-byte ICV; ESP needs no block alignment beyond 4 bytes (§3.2).
 * - AES-CBC (RFC 3602): 16-byte IV (§3), 16-byte blocks; paired with HMAC-SHA-256-128
 *   (RFC 4868: 256-bit key §2.1.1, ICV truncated to 128 bits §2.3).
 * - NULL encryption (RFC 2410), for testing, with HMAC-SHA-256-128: RFC 4303 §3.2 forbids
 *   NULL encryption with no integrity.
 */
import { ESP_HEADER_LEN, ESP_TRAILER_LEN, espPadLength } from '../wire/esp.js';

export const ENC = { 'aes-gcm-128': 1, 'aes-gcm-256': 2, 'aes-cbc-128': 3, 'aes-cbc-256': 4, null: 5 } as const;
export type EncryptionName = keyof typeof ENC;

export const AUTH = { none: 0, 'hmac-sha256-128': 1 } as const;
export type IntegrityName = keyof typeof AUTH;

export interface EncryptionInfo {
  readonly code: number;
  /** Bytes of keying material in the config (for GCM: key ‖ salt). */
  readonly keyBytes: number;
  readonly ivLen: number;
  readonly blockSize: number;
  /** True for combined-mode (AEAD) ciphers, which bring their own ICV. */
  readonly aead: boolean;
  readonly icvLen: number;
  /** What the Wireshark esp_sa UAT calls it (docs and the tshark test use it). */
  readonly wireshark: string;
}

export const ENCRYPTIONS: Readonly<Record<EncryptionName, EncryptionInfo>> = {
  'aes-gcm-128': { code: ENC['aes-gcm-128'], keyBytes: 20, ivLen: 8, blockSize: 4, aead: true, icvLen: 16, wireshark: 'AES-GCM with 16 octet ICV [RFC4106]' },
  'aes-gcm-256': { code: ENC['aes-gcm-256'], keyBytes: 36, ivLen: 8, blockSize: 4, aead: true, icvLen: 16, wireshark: 'AES-GCM with 16 octet ICV [RFC4106]' },
  'aes-cbc-128': { code: ENC['aes-cbc-128'], keyBytes: 16, ivLen: 16, blockSize: 16, aead: false, icvLen: 0, wireshark: 'AES-CBC [RFC3602]' },
  'aes-cbc-256': { code: ENC['aes-cbc-256'], keyBytes: 32, ivLen: 16, blockSize: 16, aead: false, icvLen: 0, wireshark: 'AES-CBC [RFC3602]' },
  null: { code: ENC.null, keyBytes: 0, ivLen: 0, blockSize: 4, aead: false, icvLen: 0, wireshark: 'NULL' },
};

export interface IntegrityInfo {
  readonly code: number;
  readonly keyBytes: number;
  readonly icvLen: number;
}

export const INTEGRITIES: Readonly<Record<IntegrityName, IntegrityInfo>> = {
  none: { code: AUTH.none, keyBytes: 0, icvLen: 0 },
  'hmac-sha256-128': { code: AUTH['hmac-sha256-128'], keyBytes: 32, icvLen: 16 },
};

export function encryptionByCode(code: number): EncryptionName | undefined {
  return (Object.keys(ENC) as EncryptionName[]).find((k) => ENC[k] === code);
}

export function integrityByCode(code: number): IntegrityName | undefined {
  return (Object.keys(AUTH) as IntegrityName[]).find((k) => AUTH[k] === code);
}

/** Total bytes ESP adds around a payload of `payloadLen` (header, IV, padding, trailer, ICV). */
export function espOverhead(enc: EncryptionName, auth: IntegrityName, payloadLen: number): number {
  const e = ENCRYPTIONS[enc];
  const pad = espPadLength(payloadLen, e.blockSize);
  return ESP_HEADER_LEN + e.ivLen + pad + ESP_TRAILER_LEN + e.icvLen + INTEGRITIES[auth].icvLen;
}
