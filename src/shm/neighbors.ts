/**
 * The neighbour snapshot: (port, IPv6 address) → MAC and NUD state, read by the lanes to
 * rewrite the Ethernet header of forwarded packets. The control plane (stack/nd.ts) owns the
 * neighbour cache and its RFC 4861 §7.3 state machine; lanes only read the states.
 *
 * Open addressing with linear probing, load factor ≤ 1/2, so a miss ends after a short probe.
 *
 * Encoded layout (int32 words from the table start, which must be 4-byte aligned):
 *
 *   0   header: MAGIC, count, capacity (a power of two), (words 3..7 zero)
 *   8   entries: 8 words each —
 *         port + 1 (0 = empty slot), address as four big-endian 32-bit words, state,
 *         MAC (6 bytes at byte 24 of the entry, then 2 zero bytes)
 *
 * An all-zero region (never published) has no MAGIC and reads as an empty table.
 */
import { WordViewCache } from './sab.js';
import { addressWord, alignedStart, capacityFor, hashKey, HEADER_WORDS, tableBase, tableCount, tableMask, writeHeader } from './hash-table.js';

/** Neighbour Unreachability Detection states (RFC 4861 §7.3.2), plus FAILED for a probe that gave up. */
export const NBR_INCOMPLETE = 1;
export const NBR_REACHABLE = 2;
export const NBR_STALE = 3;
export const NBR_DELAY = 4;
export const NBR_PROBE = 5;
export const NBR_FAILED = 6;

export interface NeighborEntry {
  readonly port: number;
  readonly addr: Uint8Array;
  readonly mac: Uint8Array;
  readonly state: number;
}

const MAGIC = 0x4e424236; // "NBB6"
const ENTRY_WORDS = 8;
const E_STATE = 5;
const MAC_BYTE = 24;

export function neighborsByteLength(entries: readonly NeighborEntry[]): number {
  return 4 * (HEADER_WORDS + ENTRY_WORDS * capacityFor(entries.length));
}

/**
 * Encodes the table into `dst` (4-byte aligned, at least neighborsByteLength bytes); returns the
 * bytes written. A later entry for the same (port, address) replaces an earlier one.
 */
export function encodeNeighbors(entries: readonly NeighborEntry[], dst: Uint8Array): number {
  const length = neighborsByteLength(entries);
  alignedStart(dst, 0, 'neighbour table');
  if (dst.byteLength < length) throw new RangeError(`neighbour table needs ${length} bytes, region has ${dst.byteLength}`);
  const capacity = capacityFor(entries.length);
  const words = new Int32Array(dst.buffer, dst.byteOffset, length >>> 2);
  words.fill(0);
  let count = 0;
  for (const e of entries) {
    if (e.addr.length !== 16 || e.mac.length !== 6) throw new RangeError('neighbour entry needs a 16-byte address and a 6-byte MAC');
    if (!Number.isInteger(e.port) || e.port < 0 || e.port >= 0x7fffffff) throw new RangeError(`neighbour port ${e.port} out of range`);
    const a0 = addressWord(e.addr, 0);
    const a1 = addressWord(e.addr, 4);
    const a2 = addressWord(e.addr, 8);
    const a3 = addressWord(e.addr, 12);
    let i = hashKey(e.port, a0, a1, a2, a3) & (capacity - 1);
    for (;;) {
      const at = HEADER_WORDS + ENTRY_WORDS * i;
      const stored = words[at]!;
      if (stored === 0) count++;
      if (stored === 0 || (stored === e.port + 1 && words[at + 1] === a0 && words[at + 2] === a1 && words[at + 3] === a2 && words[at + 4] === a3)) {
        words[at] = e.port + 1;
        words[at + 1] = a0;
        words[at + 2] = a1;
        words[at + 3] = a2;
        words[at + 4] = a3;
        words[at + E_STATE] = e.state;
        dst.set(e.mac, 4 * at + MAC_BYTE);
        break;
      }
      i = (i + 1) & (capacity - 1);
    }
  }
  writeHeader(words, MAGIC, count, capacity);
  return length;
}

/** Lane-side view of an encoded neighbour table. */
export class NeighborView {
  bytes: Uint8Array = new Uint8Array(0);
  private words: Int32Array = new Int32Array(0);
  private readonly views = new WordViewCache();
  /** Word index of the table start in `words`; -1 when the bound region holds no table. */
  private base = -1;
  private byteBase = 0;
  private mask = 0;

  bind(bytes: Uint8Array, offset: number): void {
    const absolute = alignedStart(bytes, offset, 'neighbour table');
    // Views of the whole buffer at bind time (fixed-length: see WordViewCache); offsets into
    // them are absolute.
    this.words = this.views.of(bytes.buffer);
    this.bytes = this.views.bytesOf(bytes.buffer);
    this.byteBase = absolute;
    this.base = tableBase(this.words, absolute, MAGIC);
    if (this.base >= 0) this.mask = tableMask(this.words, this.base);
  }

  /** Entry for (port, the 16-byte address at pkt[addrOffset]), or -1. No allocation. */
  lookup(port: number, pkt: Uint8Array, addrOffset: number): number {
    if (this.base < 0) return -1;
    const words = this.words;
    const a0 = addressWord(pkt, addrOffset);
    const a1 = addressWord(pkt, addrOffset + 4);
    const a2 = addressWord(pkt, addrOffset + 8);
    const a3 = addressWord(pkt, addrOffset + 12);
    const mask = this.mask;
    const first = this.base + HEADER_WORDS;
    let i = hashKey(port, a0, a1, a2, a3) & mask;
    for (;;) {
      const at = first + ENTRY_WORDS * i;
      const stored = words[at]!;
      if (stored === 0) return -1;
      if (stored === port + 1 && words[at + 1] === a0 && words[at + 2] === a1 && words[at + 3] === a2 && words[at + 4] === a3) return i;
      i = (i + 1) & mask;
    }
  }

  state(entry: number): number {
    return this.words[this.base + HEADER_WORDS + ENTRY_WORDS * entry + E_STATE]!;
  }

  /** Byte offset in `bytes` of the entry's 6-byte MAC. */
  macOffset(entry: number): number {
    return this.byteBase + 4 * (HEADER_WORDS + ENTRY_WORDS * entry) + MAC_BYTE;
  }

  count(): number {
    return tableCount(this.words, this.base);
  }
}
