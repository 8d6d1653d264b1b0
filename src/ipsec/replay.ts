/**
 * The ESP anti-replay window (RFC 4303 §3.4.3) with 64-bit Extended Sequence Numbers
 * (Appendix A2), kept as RFC 6479's ring of 32-bit blocks: advancing the window clears whole
 * blocks instead of shifting a long bitmap, so a 4096-packet window costs what a 64-packet
 * one does.
 *
 * The state of one SA is its highest authenticated sequence number `top` (a JavaScript number:
 * exact up to 2⁵³, far beyond any SA's life) and `blocks` words of bitmap, W/32 + 1 of them
 * (the extra block is what RFC 6479 §3 adds so that the window never loses a bit it still
 * covers while a block is being recycled). Both live in the SAD's SAB state (ipsec-tables.ts),
 * written only by the SA's home lane. Nothing here allocates.
 *
 * Order matters (§3.4.3): check before the ICV is verified, update only after it verified,
 * so forged packets cannot move the window.
 */

/** The sequence number is left of the window. */
export const REPLAY_TOO_OLD = -1;
/** The sequence number was already received. */
export const REPLAY_DUPLICATE = -2;

const TWO_32 = 0x1_0000_0000;

export function replayBlocks(windowBits: number): number {
  return (windowBits >>> 5) + 1;
}

/**
 * Infers the full sequence number of a packet carrying `seqLo` (RFC 4303 Appendix A2.2; without
 * ESN the high half is always 0) and checks it against the window. Returns the full sequence
 * number, or REPLAY_TOO_OLD / REPLAY_DUPLICATE.
 */
export function replayCheck(
  bitmap: Uint32Array,
  base: number,
  windowBits: number,
  top: number,
  seqLo: number,
  esn: boolean,
): number {
  let seq: number;
  if (!esn) {
    seq = seqLo;
  } else {
    const tl = top % TWO_32;
    const th = (top - tl) / TWO_32;
    let seqHi: number;
    if (tl >= windowBits - 1) {
      // Case A: the window lies within one 2³² subspace; a lower value means the next one.
      seqHi = seqLo >= tl - windowBits + 1 ? th : th + 1;
    } else {
      // Case B: the window straddles two subspaces; a value in its upper part belongs to the previous one.
      seqHi = seqLo >= (tl - windowBits + 1 + TWO_32) % TWO_32 ? th - 1 : th;
    }
    if (seqHi < 0) return REPLAY_TOO_OLD;
    seq = seqHi * TWO_32 + seqLo;
  }
  // Sequence number 0 is never sent (§3.3.3: the first packet carries 1).
  if (seq === 0) return REPLAY_TOO_OLD;
  if (seq > top) return seq;
  if (seq + windowBits <= top) return REPLAY_TOO_OLD;
  const blocks = replayBlocks(windowBits);
  const word = base + (Math.floor(seq / 32) % blocks);
  return (bitmap[word]! & (1 << (seq & 31))) !== 0 ? REPLAY_DUPLICATE : seq;
}

/** Marks an authenticated `seq` (from replayCheck) as received; returns the new top. */
export function replayUpdate(bitmap: Uint32Array, base: number, windowBits: number, top: number, seq: number): number {
  const blocks = replayBlocks(windowBits);
  let newTop = top;
  if (seq > top) {
    const from = Math.floor(top / 32);
    const to = Math.floor(seq / 32);
    // Blocks the window slides over are recycled: cleared for their new, higher numbers.
    const clear = to - from < blocks ? to - from : blocks;
    for (let i = 1; i <= clear; i++) bitmap[base + ((from + i) % blocks)] = 0;
    newTop = seq;
  }
  const word = base + (Math.floor(seq / 32) % blocks);
  bitmap[word] = bitmap[word]! | (1 << (seq & 31));
  return newTop;
}
