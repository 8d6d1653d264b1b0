/**
 * ESP transforms over bytes in place: seal (IV, encrypt, ICV) and open (verify, decrypt) the
 * part of an ESP packet behind the cleartext header. This is the node:crypto path, the
 * fallback when the C helper (native-bindings/t6crypto) is not built. node:crypto creates
 * a cipher object per packet, so this path allocates; it is the reference the native path
 * is tested against and the one the benchmark measures it against.
 *
 * Layout at `esp` (RFC 4303 §2):  SPI | Seq | IV | plaintext or ciphertext | ICV
 *
 * Sequence numbers: `seqHi` is the high half of the 64-bit ESN (RFC 4303 §2.2.1), 0 without
 * ESN. It is never sent, but it is authenticated: for GCM in the AAD (RFC 4106 §5, SPI ‖ ESN),
 * for HMAC appended after the trailer for the ICV computation (RFC 4303 §3.3.2.2.1).
 *
 * IVs: GCM needs a nonce that never repeats under a key (RFC 4106 §3.1: a counter is fine):
 * the 64-bit sequence number XOR the SPI in the high word, so two SAs sharing a key by
 * mistake still do not collide until one has sent 2³² packets. CBC needs an unpredictable IV
 * (RFC 3602 §2.3): the encryption of that same counter block under the SA's key, which is
 * NIST SP 800-38A Appendix C's first method and needs no random source per packet.
 */
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual, type CipherGCMTypes } from 'node:crypto';
import { ESP_HEADER_LEN } from '../wire/esp.js';
import { readU32, writeU32 } from '../wire/bytes.js';
import { ENCRYPTIONS, INTEGRITIES, type EncryptionName, type IntegrityName } from './algorithms.js';

/** open() result when the ICV does not verify (or, for GCM, the tag). */
export const OPEN_INTEGRITY_FAILED = -1;
/** seal() result when the crypto library failed (the C helper reports OpenSSL's failures so). */
export const SEAL_FAILED = -1;

export interface TransformKeys {
  readonly encryption: EncryptionName;
  readonly integrity: IntegrityName;
  /** For GCM: AES key ‖ 4-byte salt (RFC 4106 §8.1). */
  readonly encKey: Uint8Array;
  readonly authKey: Uint8Array;
}

export interface EspTransform {
  readonly ivLen: number;
  /** The cipher's block size for padding (RFC 4303 §2.4). */
  readonly blockSize: number;
  /** The whole ICV length: the AEAD tag or the truncated HMAC. */
  readonly icvLen: number;
  /**
   * The header (SPI, low sequence word) is written at `esp`; `ptLen` bytes of payload ‖
   * padding ‖ trailer sit at esp + 8 + ivLen. Writes the IV, encrypts in place, appends the
   * ICV and returns the ESP length, or SEAL_FAILED.
   */
  seal(b: Uint8Array, esp: number, ptLen: number, seqHi: number): number;
  /**
   * seal() over `n` packets of this SA lying in `b` (packet i: espOff[i], ptLen[i], seqHi[i]);
   * outLen[i] is what seal() would return. The C helper takes the whole batch in one call.
   */
  sealBatch(b: Uint8Array, n: number, espOff: Int32Array, ptLen: Int32Array, seqHi: Uint32Array, outLen: Int32Array): void;
  /**
   * Verifies and decrypts the `espLen` bytes at `esp` in place; returns the plaintext length
   * (the plaintext starts at esp + 8 + ivLen), or OPEN_INTEGRITY_FAILED.
   */
  open(b: Uint8Array, esp: number, espLen: number, seqHi: number): number;
  /** open() over `n` packets of this SA lying in `b`, as sealBatch. */
  openBatch(b: Uint8Array, n: number, espOff: Int32Array, espLen: Int32Array, seqHi: Uint32Array, outLen: Int32Array): void;
  /**
   * The SA is gone: releases what the transform holds outside the JS heap (the C helper's
   * contexts, which it cleanses) and zeroes its copies of the keys.
   */
  dispose(): void;
}

function view(b: Uint8Array, off: number, len: number): Buffer {
  return Buffer.from(b.buffer, b.byteOffset + off, len);
}

/** node:crypto has no batch: sealBatch is seal() packet by packet (this path allocates per packet anyway). */
function sealEach(t: EspTransform, b: Uint8Array, n: number, espOff: Int32Array, ptLen: Int32Array, seqHi: Uint32Array, outLen: Int32Array): void {
  for (let i = 0; i < n; i++) outLen[i] = t.seal(b, espOff[i]!, ptLen[i]!, seqHi[i]!);
}

/** And openBatch is open() packet by packet. */
function openEach(t: EspTransform, b: Uint8Array, n: number, espOff: Int32Array, espLen: Int32Array, seqHi: Uint32Array, outLen: Int32Array): void {
  for (let i = 0; i < n; i++) outLen[i] = t.open(b, espOff[i]!, espLen[i]!, seqHi[i]!);
}

/** Writes the 8-byte counter (seqHi ^ spi) ‖ seqLo at `off`. */
function writeCounter(b: Uint8Array, esp: number, seqHi: number, off: number): void {
  writeU32(b, off, (seqHi ^ readU32(b, esp)) >>> 0);
  writeU32(b, off + 4, readU32(b, esp + 4));
}

class GcmTransform implements EspTransform {
  readonly ivLen = 8;
  readonly blockSize = 4;
  readonly icvLen = 16;
  private readonly key: Buffer;
  private readonly cipher: CipherGCMTypes;
  private readonly nonce = Buffer.alloc(12);
  private readonly aad = Buffer.alloc(12);

  /** With ESN the AAD carries Seq-hi even while it is 0. */
  constructor(keys: TransformKeys, private readonly esn: boolean) {
    const keyLen = keys.encKey.length - 4;
    this.key = Buffer.from(keys.encKey.subarray(0, keyLen));
    this.nonce.set(keys.encKey.subarray(keyLen), 0);
    this.cipher = keyLen === 16 ? 'aes-128-gcm' : 'aes-256-gcm';
  }

  /** RFC 4106 §5: AAD is SPI ‖ Seq (8 bytes), or SPI ‖ Seq-hi ‖ Seq-lo with ESN (12 bytes). */
  private setAad(b: Uint8Array, esp: number, seqHi: number): Buffer {
    this.aad.set(b.subarray(esp, esp + 4), 0);
    if (!this.esn) {
      this.aad.set(b.subarray(esp + 4, esp + 8), 4);
      return this.aad.subarray(0, 8);
    }
    writeU32(this.aad, 4, seqHi);
    this.aad.set(b.subarray(esp + 4, esp + 8), 8);
    return this.aad;
  }

  seal(b: Uint8Array, esp: number, ptLen: number, seqHi: number): number {
    const iv = esp + ESP_HEADER_LEN;
    writeCounter(b, esp, seqHi, iv);
    this.nonce.set(b.subarray(iv, iv + 8), 4);
    const c = createCipheriv(this.cipher, this.key, this.nonce, { authTagLength: 16 });
    c.setAAD(this.setAad(b, esp, seqHi));
    const pt = iv + 8;
    const out = c.update(view(b, pt, ptLen));
    c.final();
    b.set(out, pt);
    b.set(c.getAuthTag(), pt + ptLen);
    return ESP_HEADER_LEN + 8 + ptLen + 16;
  }

  sealBatch(b: Uint8Array, n: number, espOff: Int32Array, ptLen: Int32Array, seqHi: Uint32Array, outLen: Int32Array): void {
    sealEach(this, b, n, espOff, ptLen, seqHi, outLen);
  }

  open(b: Uint8Array, esp: number, espLen: number, seqHi: number): number {
    const iv = esp + ESP_HEADER_LEN;
    const ctLen = espLen - ESP_HEADER_LEN - 8 - 16;
    if (ctLen < 0) return OPEN_INTEGRITY_FAILED;
    this.nonce.set(b.subarray(iv, iv + 8), 4);
    const d = createDecipheriv(this.cipher, this.key, this.nonce, { authTagLength: 16 });
    d.setAAD(this.setAad(b, esp, seqHi));
    const ct = iv + 8;
    d.setAuthTag(view(b, ct + ctLen, 16));
    const out = d.update(view(b, ct, ctLen));
    try {
      d.final();
    } catch {
      return OPEN_INTEGRITY_FAILED;
    }
    b.set(out, ct);
    return ctLen;
  }

  openBatch(b: Uint8Array, n: number, espOff: Int32Array, espLen: Int32Array, seqHi: Uint32Array, outLen: Int32Array): void {
    openEach(this, b, n, espOff, espLen, seqHi, outLen);
  }

  /** The key and the salt (part of the key material, RFC 4106 §8.1) zeroed: the SA is gone. */
  dispose(): void {
    this.key.fill(0);
    this.nonce.fill(0);
  }
}

/** AES-CBC or NULL encryption, with HMAC-SHA-256-128 (RFC 4868) or, for CBC only, no integrity. */
class CbcHmacTransform implements EspTransform {
  readonly ivLen: number;
  readonly blockSize: number;
  readonly icvLen: number;
  private readonly encKey: Buffer;
  private readonly authKey: Buffer;
  private readonly cipher: string;
  private readonly ecb: string;
  private readonly counter = Buffer.alloc(16);
  private readonly seqHiBytes = Buffer.alloc(4);

  constructor(keys: TransformKeys, private readonly esn: boolean) {
    const enc = ENCRYPTIONS[keys.encryption];
    this.ivLen = enc.ivLen;
    this.blockSize = enc.blockSize;
    this.icvLen = INTEGRITIES[keys.integrity].icvLen;
    this.encKey = Buffer.from(keys.encKey);
    this.authKey = Buffer.from(keys.authKey);
    this.cipher = `aes-${keys.encKey.length * 8}-cbc`;
    this.ecb = `aes-${keys.encKey.length * 8}-ecb`;
  }

  /** RFC 4868 §2.3 over SPI ‖ Seq ‖ IV ‖ ciphertext (‖ Seq-hi with ESN, RFC 4303 §3.3.2.2.1). */
  private icv(b: Uint8Array, esp: number, len: number, seqHi: number): Buffer {
    const h = createHmac('sha256', this.authKey).update(view(b, esp, len));
    if (this.esn) {
      writeU32(this.seqHiBytes, 0, seqHi);
      h.update(this.seqHiBytes);
    }
    return h.digest();
  }

  seal(b: Uint8Array, esp: number, ptLen: number, seqHi: number): number {
    const iv = esp + ESP_HEADER_LEN;
    const pt = iv + this.ivLen;
    if (this.ivLen > 0) {
      writeCounter(b, esp, seqHi, iv);
      this.counter.set(b.subarray(iv, iv + 8), 0);
      const e = createCipheriv(this.ecb, this.encKey, null).setAutoPadding(false);
      b.set(e.update(this.counter), iv);
      const c = createCipheriv(this.cipher, this.encKey, view(b, iv, 16)).setAutoPadding(false);
      b.set(c.update(view(b, pt, ptLen)), pt);
      c.final();
    }
    const len = ESP_HEADER_LEN + this.ivLen + ptLen;
    if (this.icvLen > 0) b.set(this.icv(b, esp, len, seqHi).subarray(0, this.icvLen), esp + len);
    return len + this.icvLen;
  }

  sealBatch(b: Uint8Array, n: number, espOff: Int32Array, ptLen: Int32Array, seqHi: Uint32Array, outLen: Int32Array): void {
    sealEach(this, b, n, espOff, ptLen, seqHi, outLen);
  }

  open(b: Uint8Array, esp: number, espLen: number, seqHi: number): number {
    const ctLen = espLen - ESP_HEADER_LEN - this.ivLen - this.icvLen;
    if (ctLen < 0 || ctLen % this.blockSize !== 0) return OPEN_INTEGRITY_FAILED;
    const authLen = espLen - this.icvLen;
    if (this.icvLen > 0) {
      const mac = this.icv(b, esp, authLen, seqHi).subarray(0, this.icvLen);
      if (!timingSafeEqual(mac, view(b, esp + authLen, this.icvLen))) return OPEN_INTEGRITY_FAILED;
    }
    if (this.ivLen > 0) {
      const iv = esp + ESP_HEADER_LEN;
      const ct = iv + this.ivLen;
      const d = createDecipheriv(this.cipher, this.encKey, view(b, iv, 16)).setAutoPadding(false);
      b.set(d.update(view(b, ct, ctLen)), ct);
      d.final();
    }
    return ctLen;
  }

  openBatch(b: Uint8Array, n: number, espOff: Int32Array, espLen: Int32Array, seqHi: Uint32Array, outLen: Int32Array): void {
    openEach(this, b, n, espOff, espLen, seqHi, outLen);
  }

  /** The keys zeroed: the SA is gone. */
  dispose(): void {
    this.encKey.fill(0);
    this.authKey.fill(0);
  }
}

/** Builds the node:crypto transform of one SA. `esn` says whether Seq-hi is authenticated. */
export function nodeTransform(keys: TransformKeys, esn: boolean): EspTransform {
  return ENCRYPTIONS[keys.encryption].aead ? new GcmTransform(keys, esn) : new CbcHmacTransform(keys, esn);
}
