/**
 * Key material as bytes that never print: a Secret renders as REDACTED through
 * JSON.stringify (show config, --json, pino logs), String() and util.inspect, so a config or a
 * log record that holds one cannot leak it by accident. The config schema makes one for every
 * field it marks secret (config/fields.ts, `secret()`), and only code that means to use the
 * key reads `bytes`.
 *
 * Bytes, not a string, so that the copy can be zeroed (wipe()) when its user lets it go;
 * JavaScript strings cannot be zeroed, which is why a key is turned into bytes as soon as it
 * is parsed (docs/ipsec.md, "Secrets").
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';

export const REDACTED = '<redacted>';

export class Secret {
  /** Enumerable on purpose: util.isDeepStrictEqual (reload's "did this change?") compares it. */
  readonly bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  get length(): number {
    return this.bytes.length;
  }

  /** Same bytes, compared in constant time for equal lengths. */
  equals(other: Secret): boolean {
    return this.bytes.length === other.bytes.length && timingSafeEqual(this.bytes, other.bytes);
  }

  /**
   * A SHA-256 of the bytes, in hex: stands for the key where an identity is needed (is this
   * SA's key the same as before?) without the key itself in a string.
   */
  fingerprint(): string {
    return createHash('sha256').update(this.bytes).digest('hex');
  }

  /**
   * Feeds the key to `hash` as lower-case hex text, through a scratch buffer that is zeroed
   * afterwards: for fingerprints defined over the hex spelling of a key, without making a string of it.
   */
  updateHex(hash: { update(data: Uint8Array): unknown }): void {
    const digits = new Uint8Array(this.bytes.length * 2);
    for (let i = 0; i < this.bytes.length; i++) {
      digits[2 * i] = HEX_DIGITS[this.bytes[i]! >> 4]!;
      digits[2 * i + 1] = HEX_DIGITS[this.bytes[i]! & 15]!;
    }
    hash.update(digits);
    digits.fill(0);
  }

  /** Zeroes the bytes: for a copy whose user is done with it (an SA removed, a config dropped). */
  wipe(): void {
    this.bytes.fill(0);
  }

  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

const HEX_DIGITS = new TextEncoder().encode('0123456789abcdef');

/**
 * Reads a key file and decodes its text with `decode` (null: not a key in the expected
 * format). Throws an Error naming the file and what is wrong with it, never its content.
 * The raw bytes read are zeroed once decoded.
 */
export function readKeyFile(path: string, decode: (text: string) => Uint8Array | null, expected: string): Uint8Array {
  let raw: Buffer;
  try {
    raw = readFileSync(path);
  } catch (e) {
    throw new Error(`cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const key = decode(raw.toString('latin1'));
  raw.fill(0);
  if (key === null) throw new Error(`${path} does not hold ${expected}`);
  return key;
}
