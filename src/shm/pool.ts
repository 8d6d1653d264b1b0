/**
 * The packet buffer pool of one lane: fixed 2 KiB slots in a SharedArrayBuffer, so the native
 * I/O helper reads and writes frames in place and descriptor rings pass slot indices, never
 * copies (DESIGN.md, "The data path").
 *
 * Layout (byte offsets; N = slots):
 *
 *   0                     N*SLOT_BYTES          +4          +8                  +8+4N
 *   | slot 0 | slot 1 | … | top (int32) | N (int32) | free stack: int32 × N |
 *
 *   each slot:  | HEADROOM (128) | frame (≤ MAX_FRAME = 1920) |
 *
 * The headroom lets ESP tunnel mode and Ethernet encapsulation prepend headers in place
 * (outer IPv6 40 + ESP 8 + IV 16 = 64, plus a 14-byte Ethernet header, with room to spare),
 * the way wireguard-go's device interface reserves an offset in front of every packet.
 *
 * One lane owns the pool, so the allocator is single-threaded and uses plain loads and stores.
 * The free list lives in the buffer (not in a JS array) so a replacement lane, started by
 * piscina after a crash, can rebuild it over the same memory with `init = true`.
 */

export const SLOT_BYTES = 2048;
export const HEADROOM = 128;
export const MAX_FRAME = SLOT_BYTES - HEADROOM;

const TOP = 0;
const SLOT_COUNT = 1;
const STACK = 2;

export class PacketPool {
  readonly sab: SharedArrayBuffer;
  readonly bytes: Uint8Array;
  readonly slots: number;
  /** [top, slots, stack…]: stack[0..top) holds the free slot indices. */
  private readonly freeList: Int32Array;

  static byteLength(slots: number): number {
    return slots * SLOT_BYTES + 4 * (STACK + slots);
  }

  constructor(sab: SharedArrayBuffer, slots: number, init: boolean) {
    if (!Number.isInteger(slots) || slots <= 0) throw new RangeError(`pool slot count must be a positive integer, got ${slots}`);
    if (sab.byteLength < PacketPool.byteLength(slots)) {
      throw new RangeError(`pool needs ${PacketPool.byteLength(slots)} bytes for ${slots} slots, buffer has ${sab.byteLength}`);
    }
    this.sab = sab;
    this.slots = slots;
    this.bytes = new Uint8Array(sab, 0, slots * SLOT_BYTES);
    this.freeList = new Int32Array(sab, slots * SLOT_BYTES, STACK + slots);
    if (init) {
      // Pushed in reverse so that alloc() hands out 0, 1, 2, … first: low slots stay warm in cache.
      for (let i = 0; i < slots; i++) this.freeList[STACK + i] = slots - 1 - i;
      this.freeList[TOP] = slots;
      this.freeList[SLOT_COUNT] = slots;
    } else if (this.freeList[SLOT_COUNT] !== slots) {
      // The header sits after the slots, so with another slot count this reads frame bytes.
      throw new RangeError(`pool header does not match ${slots} slots: the pool was initialised with another slot count`);
    }
  }

  offsetOf(slot: number): number {
    return slot * SLOT_BYTES;
  }

  /** A free slot index, or -1 when the pool is exhausted (the caller counts a drop). */
  alloc(): number {
    const top = this.freeList[TOP]! - 1;
    if (top < 0) return -1;
    this.freeList[TOP] = top;
    return this.freeList[STACK + top]!;
  }

  free(slot: number): void {
    const top = this.freeList[TOP]!;
    this.freeList[STACK + top] = slot;
    this.freeList[TOP] = top + 1;
  }

  available(): number {
    return this.freeList[TOP]!;
  }

  /**
   * Debug check, never on the hot path: throws when the free list holds a slot twice (a double
   * free), an index out of range, or more entries than slots. O(slots); tests and the lane's
   * debug mode call it.
   */
  checkFreeList(): void {
    const top = this.freeList[TOP]!;
    if (top < 0 || top > this.slots) throw new Error(`pool free list corrupt: ${top} free of ${this.slots} slots (double free?)`);
    const seen = new Uint8Array(this.slots);
    for (let i = 0; i < top; i++) {
      const slot = this.freeList[STACK + i]!;
      if (slot < 0 || slot >= this.slots) throw new Error(`pool free list holds slot ${slot}, outside 0..${this.slots - 1}`);
      if (seen[slot] !== 0) throw new Error(`pool slot ${slot} is free twice (double free)`);
      seen[slot] = 1;
    }
  }
}
