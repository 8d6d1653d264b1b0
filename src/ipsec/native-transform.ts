/**
 * The ESP transforms over the C helper (native-bindings/t6crypto.c): the same seal/open
 * contract and the same bytes on the wire as the node:crypto path (transform.ts), with the
 * SA's OpenSSL contexts keyed once and reused, and no allocation per packet. The framing
 * stays here: the IV counter block is written in TypeScript (the same writeCounter rule as
 * transform.ts), the C side only encrypts, authenticates and verifies.
 *
 * The lane seals and opens with sealBatch and openBatch: all of one SA's packets of a batch
 * in one call, so the FFI crossing is paid once per SA per batch, not per packet. seal() and
 * open() are a batch of one (a traced packet, a packet punted for resolution, the tests).
 * Either way no cipher object is made per packet, as node:crypto does (the benchmark,
 * bench/esp.ts, measures the difference).
 */
import { ESP_HEADER_LEN } from '../wire/esp.js';
import { readU32, writeU32 } from '../wire/bytes.js';
import { loadT6crypto, T6C_CBC, T6C_GCM, T6C_NULL, type T6crypto, type T6cryptoSa } from '../../native-bindings/t6crypto.js';
import { ENCRYPTIONS, INTEGRITIES } from './algorithms.js';
import { nodeTransform, OPEN_INTEGRITY_FAILED, SEAL_FAILED, type EspTransform, type TransformKeys } from './transform.js';

/** Which crypto path an SA uses (`ipsec.crypto`): the helper if built, the helper or nothing, node:crypto. */
export type CryptoPath = 'auto' | 'native' | 'node';

class NativeTransform implements EspTransform {
  readonly ivLen: number;
  readonly blockSize: number;
  readonly icvLen: number;
  // One-packet batch arguments of seal() and open(), reused for every call.
  private readonly off = new Int32Array(1);
  private readonly len = new Int32Array(1);
  private readonly seqHi = new Uint32Array(1);
  private readonly out = new Int32Array(1);
  private sa: T6cryptoSa | null;

  constructor(private readonly lib: T6crypto, keys: TransformKeys, esn: boolean) {
    const enc = ENCRYPTIONS[keys.encryption];
    this.ivLen = enc.ivLen;
    this.blockSize = enc.blockSize;
    this.icvLen = enc.icvLen + INTEGRITIES[keys.integrity].icvLen;
    const kind = enc.aead ? T6C_GCM : keys.encryption === 'null' ? T6C_NULL : T6C_CBC;
    this.sa = lib.saNew(kind, keys.encKey, keys.encKey.length, keys.authKey, keys.authKey.length, esn ? 1 : 0);
    if (this.sa === null) throw new Error(`libt6crypto refused the ${keys.encryption}/${keys.integrity} keys`);
  }

  seal(b: Uint8Array, esp: number, ptLen: number, seqHi: number): number {
    this.off[0] = esp;
    this.len[0] = ptLen;
    this.seqHi[0] = seqHi;
    this.sealBatch(b, 1, this.off, this.len, this.seqHi, this.out);
    return this.out[0]! < 0 ? SEAL_FAILED : this.out[0]!;
  }

  sealBatch(b: Uint8Array, n: number, espOff: Int32Array, ptLen: Int32Array, seqHi: Uint32Array, outLen: Int32Array): void {
    if (this.ivLen > 0) {
      // The counter blocks (seqHi ^ SPI) ‖ seqLo, as transform.ts writes them (RFC 4106 §3.1;
      // for CBC the helper encrypts each into an unpredictable IV).
      for (let i = 0; i < n; i++) {
        const esp = espOff[i]!;
        const iv = esp + ESP_HEADER_LEN;
        writeU32(b, iv, (seqHi[i]! ^ readU32(b, esp)) >>> 0);
        writeU32(b, iv + 4, readU32(b, esp + 4));
      }
    }
    this.lib.seal(this.sa, b, b.byteLength, n, espOff, ptLen, seqHi, outLen);
  }

  open(b: Uint8Array, esp: number, espLen: number, seqHi: number): number {
    this.off[0] = esp;
    this.len[0] = espLen;
    this.seqHi[0] = seqHi;
    this.openBatch(b, 1, this.off, this.len, this.seqHi, this.out);
    return this.out[0]! < 0 ? OPEN_INTEGRITY_FAILED : this.out[0]!;
  }

  openBatch(b: Uint8Array, n: number, espOff: Int32Array, espLen: Int32Array, seqHi: Uint32Array, outLen: Int32Array): void {
    this.lib.open(this.sa, b, b.byteLength, n, espOff, espLen, seqHi, outLen);
  }

  dispose(): void {
    if (this.sa !== null) this.lib.saFree(this.sa);
    this.sa = null;
  }
}

/** Whether the helper is built (and loads) in this thread. */
export function nativeCryptoAvailable(): boolean {
  return loadT6crypto() !== null;
}

/**
 * The transform of one SA on the chosen path. `native` without the helper is refused here;
 * the ipsec module checks it at start, so a lane never meets it.
 */
export function makeTransform(keys: TransformKeys, esn: boolean, path: CryptoPath): EspTransform {
  if (path === 'node') return nodeTransform(keys, esn);
  const lib = loadT6crypto();
  if (lib === null) {
    if (path === 'native') throw new Error('ipsec.crypto is native but libt6crypto.so is not built (scripts/build-native.mjs needs gcc and libssl-dev)');
    return nodeTransform(keys, esn);
  }
  return new NativeTransform(lib, keys, esn);
}
