/**
 * The multicast forwarding cache (MFC) the lanes read: the book's `mf6c` entries (KAME
 * ip6_mroute.c, Linux ip6mr's mfc6_cache) as a snapshot table the control plane writes.
 * An entry is (S,G) or (*,G), with an incoming port, a set of outgoing ports, and a counter
 * slot: each lane counts the entry's packets, bytes and wrong-port arrivals in its own
 * counter block (dataplane/counters.ts, MFC_COUNTERS_BASE), so the table itself stays
 * read-only to the lanes and the counters survive a republish.
 *
 * The outgoing set is a bitmap of MAX_PORTS bits (OUT_WORDS 32-bit words), so it follows the
 * port table's limit rather than the 32 (MAXMIFS) or 64 interfaces of the kernels' APIs.
 *
 * Open addressing with linear probing, load factor ≤ 1/2. A lookup tries (S,G), then (*,G),
 * as ip6_mforward's cache lookup falls back to the wildcard entry; it reads the addresses
 * straight from the packet and allocates nothing.
 *
 * Encoded layout (int32 words from the table start, which must be 4-byte aligned):
 *
 *   0   header: MAGIC, count, capacity (a power of two), (words 3..7 zero)
 *   8   entries: ENTRY_WORDS each —
 *         kind (0 empty, KIND_ANY (*,G), KIND_SOURCE (S,G)), incoming port, counter slot,
 *         zero, group as four big-endian words, source as four
 *         big-endian words (zero for (*,G)), the outgoing-port bitmap (bit p of word p>>5)
 *
 * An all-zero region (never published) has no MAGIC and reads as an empty table.
 */
import { MAX_PORTS } from './port-table.js';
import { addressWord, alignedStart, capacityFor, hashKey, HEADER_WORDS, tableBase, tableCount, tableMask, writeHeader } from './hash-table.js';
import { WordViewCache } from './sab.js';

/** Entries the table (and the lanes' per-entry counters) hold at most. */
export const MFC_MAX_ENTRIES = 1024;
/** Counters per entry in a lane's block: packets, bytes, wrong-port arrivals. */
export const MFC_ENTRY_COUNTERS = 3;
export const MFC_PACKETS = 0;
export const MFC_BYTES = 1;
export const MFC_WRONG_PORT = 2;

export interface MfcEntry {
  /** The 16-byte source; null for a (*,G) entry. */
  readonly source: Uint8Array | null;
  readonly group: Uint8Array;
  readonly inPort: number;
  readonly outPorts: readonly number[];
  /** The lane counter slot the entry counts into, 0..MFC_MAX_ENTRIES-1. */
  readonly counter: number;
}

const MAGIC = 0x4d464336; // "MFC6"
const KIND_ANY = 1;
const KIND_SOURCE = 2;
const E_KIND = 0;
const E_IN = 1;
const E_COUNTER = 2;
const E_GROUP = 4;
const E_SOURCE = 8;
const E_OUT = 12;
/** Words of the outgoing-port bitmap. */
export const OUT_WORDS = (MAX_PORTS + 31) >>> 5;
const ENTRY_WORDS = E_OUT + OUT_WORDS;

function hashEntry(kind: number, g0: number, g1: number, g2: number, g3: number, s0: number, s1: number, s2: number, s3: number): number {
  return hashKey(hashKey(kind, s0, s1, s2, s3), g0, g1, g2, g3);
}

export function mfcByteLength(entries: readonly MfcEntry[]): number {
  return 4 * (HEADER_WORDS + ENTRY_WORDS * capacityFor(entries.length));
}

const NO_SOURCE = new Uint8Array(16);

/**
 * Encodes the table into `dst` (4-byte aligned, at least mfcByteLength bytes); returns the
 * bytes written. The caller (the config, later PIM) keeps (S,G) keys unique; a repeated key
 * replaces the earlier entry.
 */
export function encodeMfc(entries: readonly MfcEntry[], dst: Uint8Array): number {
  const length = mfcByteLength(entries);
  if (entries.length > MFC_MAX_ENTRIES) throw new RangeError(`the MFC holds at most ${MFC_MAX_ENTRIES} entries, got ${entries.length}`);
  alignedStart(dst, 0, 'MFC');
  if (dst.byteLength < length) throw new RangeError(`MFC needs ${length} bytes, region has ${dst.byteLength}`);
  const capacity = capacityFor(entries.length);
  const words = new Int32Array(dst.buffer, dst.byteOffset, length >>> 2);
  words.fill(0);
  let count = 0;
  for (const e of entries) {
    if (e.group.length !== 16 || (e.source !== null && e.source.length !== 16)) throw new RangeError('MFC entry needs 16-byte addresses');
    if (!Number.isInteger(e.counter) || e.counter < 0 || e.counter >= MFC_MAX_ENTRIES) throw new RangeError(`MFC counter slot ${e.counter} out of range`);
    for (const p of [e.inPort, ...e.outPorts]) if (!Number.isInteger(p) || p < 0 || p >= MAX_PORTS) throw new RangeError(`MFC port ${p} out of range`);
    const kind = e.source === null ? KIND_ANY : KIND_SOURCE;
    const src = e.source ?? NO_SOURCE;
    const g = [addressWord(e.group, 0), addressWord(e.group, 4), addressWord(e.group, 8), addressWord(e.group, 12)] as const;
    const s = [addressWord(src, 0), addressWord(src, 4), addressWord(src, 8), addressWord(src, 12)] as const;
    let i = hashEntry(kind, ...g, ...s) & (capacity - 1);
    for (;;) {
      const at = HEADER_WORDS + ENTRY_WORDS * i;
      const stored = words[at + E_KIND]!;
      const same = stored === kind && g.every((w, k) => words[at + E_GROUP + k] === w) && s.every((w, k) => words[at + E_SOURCE + k] === w);
      if (stored === 0 || same) {
        if (stored === 0) count++;
        words.fill(0, at, at + ENTRY_WORDS);
        words[at + E_KIND] = kind;
        words[at + E_IN] = e.inPort;
        words[at + E_COUNTER] = e.counter;
        words.set(g, at + E_GROUP);
        words.set(s, at + E_SOURCE);
        for (const p of e.outPorts) words[at + E_OUT + (p >>> 5)] |= 1 << (p & 31);
        break;
      }
      i = (i + 1) & (capacity - 1);
    }
  }
  writeHeader(words, MAGIC, count, capacity);
  return length;
}

/** Lane-side view of an encoded MFC. */
export class MfcView {
  private words: Int32Array = new Int32Array(0);
  private readonly views = new WordViewCache();
  /** Word index of the table start in `words`; -1 when the bound region holds no table. */
  private base = -1;
  private mask = 0;

  bind(bytes: Uint8Array, offset: number): void {
    const absolute = alignedStart(bytes, offset, 'MFC');
    this.words = this.views.of(bytes.buffer);
    this.base = tableBase(this.words, absolute, MAGIC);
    if (this.base >= 0) this.mask = tableMask(this.words, this.base);
  }

  /**
   * The entry for the packet's (source, group), the 16-byte addresses at pkt[srcOff] and
   * pkt[groupOff]: its (S,G) entry, else its (*,G) entry, else -1. No allocation.
   */
  lookup(pkt: Uint8Array, srcOff: number, groupOff: number): number {
    if (this.base < 0) return -1;
    const g0 = addressWord(pkt, groupOff);
    const g1 = addressWord(pkt, groupOff + 4);
    const g2 = addressWord(pkt, groupOff + 8);
    const g3 = addressWord(pkt, groupOff + 12);
    const e = this.find(KIND_SOURCE, g0, g1, g2, g3, addressWord(pkt, srcOff), addressWord(pkt, srcOff + 4), addressWord(pkt, srcOff + 8), addressWord(pkt, srcOff + 12));
    return e >= 0 ? e : this.find(KIND_ANY, g0, g1, g2, g3, 0, 0, 0, 0);
  }

  private find(kind: number, g0: number, g1: number, g2: number, g3: number, s0: number, s1: number, s2: number, s3: number): number {
    const words = this.words;
    const mask = this.mask;
    const first = this.base + HEADER_WORDS;
    let i = hashEntry(kind, g0, g1, g2, g3, s0, s1, s2, s3) & mask;
    for (;;) {
      const at = first + ENTRY_WORDS * i;
      const stored = words[at + E_KIND]!;
      if (stored === 0) return -1;
      if (
        stored === kind &&
        words[at + E_GROUP] === g0 && words[at + E_GROUP + 1] === g1 && words[at + E_GROUP + 2] === g2 && words[at + E_GROUP + 3] === g3 &&
        words[at + E_SOURCE] === s0 && words[at + E_SOURCE + 1] === s1 && words[at + E_SOURCE + 2] === s2 && words[at + E_SOURCE + 3] === s3
      ) return i;
      i = (i + 1) & mask;
    }
  }

  inPort(entry: number): number {
    return this.words[this.base + HEADER_WORDS + ENTRY_WORDS * entry + E_IN]!;
  }

  counterSlot(entry: number): number {
    return this.words[this.base + HEADER_WORDS + ENTRY_WORDS * entry + E_COUNTER]!;
  }

  /** Word `w` (0..OUT_WORDS-1) of the entry's outgoing-port bitmap. */
  outWord(entry: number, w: number): number {
    return this.words[this.base + HEADER_WORDS + ENTRY_WORDS * entry + E_OUT + w]!;
  }

  count(): number {
    return tableCount(this.words, this.base);
  }
}
