/**
 * ESP framing (RFC 4303 §2): the cleartext header (SPI, sequence number), and the trailer
 * that sits inside the encrypted part (padding, Pad Length, Next Header). The cryptographic
 * transforms (IV, ICV, cipher) live in src/ipsec/transform.ts; this file knows only bytes.
 *
 *   0                   1                   2                   3
 *   |               Security Parameters Index (SPI)                 |  cleartext
 *   |                      Sequence Number                          |
 *   |  IV (transform-defined) | Payload Data … | Padding (0-255) | Pad Length | Next Header |
 *   |  Integrity Check Value (transform-defined)                    |
 */
import { readU32, writeU32 } from './bytes.js';
import { type Decoded, fail, ok } from './result.js';

export const ESP_HEADER_LEN = 8;
export const ESP_OFF_SPI = 0;
export const ESP_OFF_SEQ = 4;
/** Pad Length and Next Header (RFC 4303 §2.5, §2.6). */
export const ESP_TRAILER_LEN = 2;
export const ESP_MAX_PAD = 255;
/** Tunnel mode carries a whole IPv6 packet: Next Header 41 (IANA "IPv6", RFC 4303 §2.6). */
export const ESP_NEXT_HEADER_IPV6 = 41;
/** RFC 4303 §2.6: Next Header 59 marks a dummy packet, which the receiver discards. */
export const ESP_NEXT_HEADER_DUMMY = 59;
/** RFC 4303 §2.1: SPIs 1–255 are reserved by IANA, 0 is for local use and never on the wire. */
export const ESP_MIN_SPI = 256;

export interface EspHeader {
  readonly spi: number;
  /** The low 32 bits of the sequence number: the only part on the wire (RFC 4303 §2.2). */
  readonly seq: number;
}

export function espSpi(b: Uint8Array, off: number): number {
  return readU32(b, off + ESP_OFF_SPI);
}

export function espSeq(b: Uint8Array, off: number): number {
  return readU32(b, off + ESP_OFF_SEQ);
}

export function decodeEspHeader(buf: Uint8Array, off: number, length = buf.length - off): Decoded<EspHeader> {
  if (off < 0 || length < ESP_HEADER_LEN || off + ESP_HEADER_LEN > buf.length) return fail('truncated');
  return ok({ spi: espSpi(buf, off), seq: espSeq(buf, off) }, ESP_HEADER_LEN);
}

export function encodeEspHeader(value: EspHeader, buf: Uint8Array, off: number): number {
  writeU32(buf, off + ESP_OFF_SPI, value.spi);
  writeU32(buf, off + ESP_OFF_SEQ, value.seq);
  return ESP_HEADER_LEN;
}

export function encodingLengthEspHeader(_value: EspHeader): number {
  return ESP_HEADER_LEN;
}

/**
 * Padding for `payloadLen` bytes of payload so that payload ‖ padding ‖ trailer fills whole
 * cipher blocks, and at least 4-byte words so the ICV is aligned (RFC 4303 §2.4).
 */
export function espPadLength(payloadLen: number, blockSize: number): number {
  const align = blockSize < 4 ? 4 : blockSize;
  const rem = (payloadLen + ESP_TRAILER_LEN) % align;
  return rem === 0 ? 0 : align - rem;
}

/**
 * Writes padding 1, 2, 3, … (RFC 4303 §2.4's default monotonic pattern), Pad Length and
 * Next Header at `off`, right after the payload. Returns the bytes written.
 */
export function writeEspTrailer(buf: Uint8Array, off: number, padLength: number, nextHeader: number): number {
  for (let i = 0; i < padLength; i++) buf[off + i] = i + 1;
  buf[off + padLength] = padLength;
  buf[off + padLength + 1] = nextHeader;
  return padLength + ESP_TRAILER_LEN;
}

/** Result of checkEspTrailer when the padding is not the monotonic pattern or overruns. */
export const ESP_BAD_PADDING = -1;

/**
 * Checks the trailer of decrypted plaintext `buf[off, off+len)` and returns the payload
 * length, or ESP_BAD_PADDING. RFC 4303 §2.4: with the default padding, "the receiver SHOULD
 * inspect the Padding field"; a wrong pattern or a Pad Length longer than the plaintext
 * means the sender is broken or the keys are wrong. No allocation (the lanes call it).
 */
export function checkEspTrailer(buf: Uint8Array, off: number, len: number): number {
  if (len < ESP_TRAILER_LEN) return ESP_BAD_PADDING;
  const padLength = buf[off + len - 2]!;
  const payloadLen = len - ESP_TRAILER_LEN - padLength;
  if (payloadLen < 0) return ESP_BAD_PADDING;
  for (let i = 0; i < padLength; i++) if (buf[off + payloadLen + i] !== i + 1) return ESP_BAD_PADDING;
  return payloadLen;
}

/** The decrypted inner part of an ESP packet: what the trailer says about the payload. */
export interface EspPlaintext {
  /** A view of the payload (the inner packet in tunnel mode, the transport payload otherwise). */
  readonly payload: Uint8Array;
  readonly padLength: number;
  readonly nextHeader: number;
}

export function decodeEspPlaintext(buf: Uint8Array, off: number, length = buf.length - off): Decoded<EspPlaintext> {
  if (off < 0 || length < ESP_TRAILER_LEN || off + length > buf.length) return fail('truncated');
  const payloadLen = checkEspTrailer(buf, off, length);
  if (payloadLen === ESP_BAD_PADDING) return fail('bad_padding', off + length - 2);
  return ok(
    { payload: buf.subarray(off, off + payloadLen), padLength: buf[off + length - 2]!, nextHeader: buf[off + length - 1]! },
    length,
  );
}

/** Encodes payload ‖ monotonic padding ‖ trailer; the padding must be the value's padLength. */
export function encodeEspPlaintext(value: EspPlaintext, buf: Uint8Array, off: number): number {
  buf.set(value.payload, off);
  return value.payload.length + writeEspTrailer(buf, off + value.payload.length, value.padLength, value.nextHeader);
}

export function encodingLengthEspPlaintext(value: EspPlaintext): number {
  return value.payload.length + value.padLength + ESP_TRAILER_LEN;
}
