/**
 * Growable SharedArrayBuffers (ES2024, shipped in Node 20's V8). tsconfig targets the ES2022
 * library, so the ES2024 members are typed here rather than by a global augmentation that
 * every other module would inherit.
 *
 * A typed view built without an explicit length over a growable buffer is length-tracking:
 * it follows `grow()` in every thread that holds the buffer, which is why table regions
 * never have to be re-sent to the lanes when they outgrow their first size.
 */

export interface GrowableSharedArrayBuffer extends SharedArrayBuffer {
  readonly growable: boolean;
  readonly maxByteLength: number;
  grow(newByteLength: number): void;
}

type GrowableSabConstructor = new (byteLength: number, options: { maxByteLength: number }) => GrowableSharedArrayBuffer;

export function growableSab(byteLength: number, maxByteLength: number): GrowableSharedArrayBuffer {
  return new (SharedArrayBuffer as unknown as GrowableSabConstructor)(byteLength, { maxByteLength });
}

export function isGrowable(buffer: ArrayBufferLike): buffer is GrowableSharedArrayBuffer {
  return (buffer as Partial<GrowableSharedArrayBuffer>).growable === true;
}

/**
 * Fixed-length views of the last two buffers seen, at their current length. A table view
 * rebinds at every snapshot flip, and a snapshot alternates between two region buffers, so
 * after the first two binds rebinding allocates nothing, until a region grows.
 *
 * Why fixed-length and not length-tracking: V8 cannot hoist the length of a view over a
 * growable SharedArrayBuffer, and every indexed read re-checks it: a random-access loop over
 * a length-tracking Int32Array measured 3× slower here than over a fixed-length one. A region
 * only grows while the writer prepares a new generation, and readers rebind at every
 * generation change, so a view made at bind time always covers the table it reads.
 */
class FixedViews {
  buffer: ArrayBufferLike | null = null;
  length = -1;
  words: Int32Array = new Int32Array(0);
  bytes: Uint8Array = new Uint8Array(0);

  refresh(buffer: ArrayBufferLike): void {
    this.buffer = buffer;
    this.length = buffer.byteLength;
    this.words = new Int32Array(buffer, 0, buffer.byteLength >>> 2);
    this.bytes = new Uint8Array(buffer, 0, buffer.byteLength);
  }
}

export class WordViewCache {
  private older = new FixedViews();
  private newer = new FixedViews();

  private entry(buffer: ArrayBufferLike): FixedViews {
    if (buffer === this.newer.buffer) {
      if (buffer.byteLength !== this.newer.length) this.newer.refresh(buffer);
      return this.newer;
    }
    if (buffer !== this.older.buffer) {
      const reuse = this.older;
      reuse.refresh(buffer);
      this.older = this.newer;
      this.newer = reuse;
      return reuse;
    }
    if (buffer.byteLength !== this.older.length) this.older.refresh(buffer);
    return this.older;
  }

  /** Int32 view of the whole buffer at its current length. */
  of(buffer: ArrayBufferLike): Int32Array {
    return this.entry(buffer).words;
  }

  /** Byte view of the whole buffer at its current length. */
  bytesOf(buffer: ArrayBufferLike): Uint8Array {
    return this.entry(buffer).bytes;
  }
}
