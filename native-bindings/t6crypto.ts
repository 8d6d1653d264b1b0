/**
 * koffi loader for the optional C crypto helper libt6crypto.so (native-bindings/t6crypto.c):
 * the ESP crypto primitive (AES-GCM per RFC 4106; AES-CBC with HMAC-SHA-256-128; NULL with
 * HMAC) over packets in place, one reused OpenSSL context per SA, a batch per call.
 *
 * loadT6crypto() returns null when the library was not built (no gcc or libssl-dev at build
 * time), and the lanes use the node:crypto transforms (src/ipsec/transform.ts) instead.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';

/** An opaque `struct t6c_sa *`. */
export type T6cryptoSa = unknown;

/** t6c_sa_new's `kind`. */
export const T6C_GCM = 1;
export const T6C_CBC = 2;
export const T6C_NULL = 3;

export interface T6crypto {
  /** GCM: encKey is the AES key ‖ 4-byte salt; authKey empty for no integrity. Null on bad parameters. */
  saNew(kind: number, encKey: Uint8Array, encLen: number, authKey: Uint8Array, authLen: number, esn: number): T6cryptoSa | null;
  saFree(sa: T6cryptoSa): void;
  /**
   * Seals n packets of `buf` (bufLen bytes) in place (header and IV counter block written by
   * the caller); outLen[i] = ESP length, or -1 (OpenSSL failed, or the packet with its ICV
   * would not lie inside the buffer: the helper checks every offset and length).
   */
  seal(sa: T6cryptoSa, buf: Uint8Array, bufLen: number, n: number, espOff: Int32Array, ptLen: Int32Array, seqHi: Uint32Array, outLen: Int32Array): number;
  /** Verifies and decrypts n packets in place; outLen[i] = plaintext length or -1 (integrity, or outside the buffer). */
  open(sa: T6cryptoSa, buf: Uint8Array, bufLen: number, n: number, espOff: Int32Array, espLen: Int32Array, seqHi: Uint32Array, outLen: Int32Array): number;
}

/** Where scripts/build-native.mjs puts the library: native-bindings/build under the package root. */
export function t6cryptoLibraryPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'native-bindings', 'build', 'libt6crypto.so');
}

let cached: T6crypto | null | undefined;

/** Loads libt6crypto.so once per thread; null when it has not been built. */
export function loadT6crypto(): T6crypto | null {
  if (cached !== undefined) return cached;
  const path = t6cryptoLibraryPath();
  if (!existsSync(path)) {
    cached = null;
    return cached;
  }
  const lib = koffi.load(path);
  // Arrays are `void *` so koffi passes the TypedArray's bytes in place, without copying.
  const saNew = lib.func('void *t6c_sa_new(int kind, void *enc_key, int enc_len, void *auth_key, int auth_len, int esn)');
  cached = {
    saNew: (kind, encKey, encLen, authKey, authLen, esn) => saNew(kind, encKey, encLen, authKey, authLen, esn) as T6cryptoSa | null,
    saFree: lib.func('void t6c_sa_free(void *sa)'),
    seal: lib.func('int t6c_seal(void *sa, void *buf, int32_t buf_len, int n, void *esp_off, void *pt_len, void *seq_hi, void *out_len)'),
    open: lib.func('int t6c_open(void *sa, void *buf, int32_t buf_len, int n, void *esp_off, void *esp_len, void *seq_hi, void *out_len)'),
  };
  return cached;
}
