/**
 * The packet buffer pool of one lane: fixed-size slots in a SharedArrayBuffer, so the native
 * I/O helper reads and writes frames in place and descriptor rings pass slot indices, never
 * copies (DESIGN.md, "The data path").
 *
 * Layout (byte offsets; N = slots, S = slot bytes):
 *
 *   0                     N*S          +4          +8           +12             +12+4N
 *   | slot 0 | slot 1 | … | top (int32) | N (int32) | S (int32) | free stack: int32 × N |
 *
 *   each slot:  | HEADROOM (128) | frame (≤ frameCapacity = S − HEADROOM) |
 *
 * The slot size follows the largest configured MTU (slotBytesForMtu): 2048 bytes (a 1920-byte
 * frame) for standard Ethernet, 9152 for 9000-byte jumbo frames. The engines never let the
 * kernel write past a slot's frame area, and the lane drops a frame whose reported length
 * fills it (`frame_too_long`): a TUN or TAP read into a short buffer copies what fits, and
 * the frame area is always longer than the largest frame a configured MTU allows.
 *
 * The headroom lets ESP tunnel mode and Ethernet encapsulation prepend headers in place
 * (outer IPv6 40 + ESP 8 + IV 16 = 64, plus a 14-byte Ethernet header, with room to spare),
 * the way wireguard-go's device interface reserves an offset in front of every packet.
 *
 * One lane owns the pool, so the allocator is single-threaded and uses plain loads and stores.
 * The free list lives in the buffer (not in a JS array) so a replacement lane, started by
 * piscina after a crash, can rebuild it over the same memory with `init = true`.
 */
import { ETH_HEADER_LEN } from '../wire/ethernet.js';

export const HEADROOM = 128;
/** The smallest slot, and the one a standard 1500-byte MTU (or anything up to 1905) gets. */
export const MIN_SLOT_BYTES = 2048;
/** The largest MTU a port may have (jumbo frames). */
export const MAX_PORT_MTU = 9000;

/**
 * Slot bytes for ports of at most `maxMtu`: headroom, an Ethernet header, the MTU and at least
 * one byte more, in 64-byte lines. The spare byte is what tells a truncated read apart: a
 * TUN/TAP read into a short buffer fills it and (depending on the kernel) returns either the
 * packet's full length or the buffer's, so a frame that fills the whole frame area is too long.
 */
export function slotBytesForMtu(maxMtu: number): number {
  if (!Number.isInteger(maxMtu) || maxMtu <= 0 || maxMtu > MAX_PORT_MTU) throw new RangeError(`MTU must be an integer in 1..${MAX_PORT_MTU}, got ${maxMtu}`);
  return Math.max(MIN_SLOT_BYTES, (HEADROOM + ETH_HEADER_LEN + maxMtu + 1 + 63) & ~63);
}

/** The largest frame a slot of `slotBytes` holds. */
export function frameCapacity(slotBytes: number): number {
  return slotBytes - HEADROOM;
}

const TOP = 0;
const SLOT_COUNT = 1;
const SLOT_SIZE = 2;
const STACK = 3;

export class PacketPool {
  readonly sab: SharedArrayBuffer;
  readonly bytes: Uint8Array;
  readonly slots: number;
  readonly slotBytes: number;
  /** The largest frame a slot holds (slotBytes − HEADROOM). */
  readonly frameCapacity: number;
  /** [top, slots, slotBytes, stack…]: stack[0..top) holds the free slot indices. */
  private readonly freeList: Int32Array;

  static byteLength(slots: number, slotBytes: number): number {
    return slots * slotBytes + 4 * (STACK + slots);
  }

  constructor(sab: SharedArrayBuffer, slots: number, slotBytes: number, init: boolean) {
    if (!Number.isInteger(slots) || slots <= 0) throw new RangeError(`pool slot count must be a positive integer, got ${slots}`);
    if (!Number.isInteger(slotBytes) || slotBytes < MIN_SLOT_BYTES || slotBytes % 64 !== 0) {
      throw new RangeError(`pool slot size must be a multiple of 64 of at least ${MIN_SLOT_BYTES}, got ${slotBytes}`);
    }
    if (sab.byteLength < PacketPool.byteLength(slots, slotBytes)) {
      throw new RangeError(`pool needs ${PacketPool.byteLength(slots, slotBytes)} bytes for ${slots} slots of ${slotBytes}, buffer has ${sab.byteLength}`);
    }
    this.sab = sab;
    this.slots = slots;
    this.slotBytes = slotBytes;
    this.frameCapacity = frameCapacity(slotBytes);
    this.bytes = new Uint8Array(sab, 0, slots * slotBytes);
    this.freeList = new Int32Array(sab, slots * slotBytes, STACK + slots);
    if (init) {
      // Pushed in reverse so that alloc() hands out 0, 1, 2, … first: low slots stay warm in cache.
      for (let i = 0; i < slots; i++) this.freeList[STACK + i] = slots - 1 - i;
      this.freeList[TOP] = slots;
      this.freeList[SLOT_COUNT] = slots;
      this.freeList[SLOT_SIZE] = slotBytes;
    } else if (this.freeList[SLOT_COUNT] !== slots || this.freeList[SLOT_SIZE] !== slotBytes) {
      // The header sits after the slots, so with another geometry this reads frame bytes.
      throw new RangeError(`pool header does not match ${slots} slots of ${slotBytes} bytes: the pool was initialised with another geometry`);
    }
  }

  offsetOf(slot: number): number {
    return slot * this.slotBytes;
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
