/**
 * What the open-addressing snapshot tables share (the neighbours and the group filter,
 * neighbors.ts; the MFC, mfc.ts): an 8-word header (MAGIC, count, capacity, zeros), a
 * capacity of at least twice the entries so that linear probing ends soon on a miss, keys
 * made of big-endian address words, and their hash.
 */
export const HEADER_WORDS = 8;
const H_COUNT = 1;
const H_CAPACITY = 2;

/** A power of two ≥ 2·count, ≥ 8: load factor ≤ 1/2. */
export function capacityFor(count: number): number {
  let capacity = 8;
  while (capacity < 2 * count) capacity *= 2;
  return capacity;
}

/** Big-endian 32-bit word of an address (the same on every host, unlike an Int32Array read). */
export function addressWord(bytes: Uint8Array, at: number): number {
  return (bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!;
}

/** murmur3-style finaliser over the key; the interface ID sits in a2/a3, so all words count. */
export function hashKey(port: number, a0: number, a1: number, a2: number, a3: number): number {
  let h = Math.imul(port + 1, 0x9e3779b1);
  h = Math.imul(h ^ a0, 0x85ebca6b);
  h = Math.imul(h ^ a1, 0xc2b2ae35);
  h = Math.imul(h ^ a2, 0x85ebca6b);
  h = Math.imul(h ^ a3, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  return h ^ (h >>> 13);
}

/** Writes the header once the entries are in: the table is valid from here on. */
export function writeHeader(words: Int32Array, magic: number, count: number, capacity: number): void {
  words[0] = magic;
  words[H_COUNT] = count;
  words[H_CAPACITY] = capacity;
}

/** The 4-byte-aligned byte offset of a table at `offset` in `bytes`; `what` names it in the error. */
export function alignedStart(bytes: Uint8Array, offset: number, what: string): number {
  const absolute = bytes.byteOffset + offset;
  if (absolute % 4 !== 0) throw new RangeError(`${what} must start 4-byte aligned, got byte offset ${absolute}`);
  return absolute;
}

/** The word index of the table whose bytes start at `absolute` in `words`, or -1 when no `magic` table is there (never published). */
export function tableBase(words: Int32Array, absolute: number, magic: number): number {
  const base = absolute >>> 2;
  return base + HEADER_WORDS > words.length || words[base] !== magic ? -1 : base;
}

export function tableCount(words: Int32Array, base: number): number {
  return base < 0 ? 0 : words[base + H_COUNT]!;
}

/** The probe mask of the table at `base` (capacity - 1). */
export function tableMask(words: Int32Array, base: number): number {
  return words[base + H_CAPACITY]! - 1;
}
