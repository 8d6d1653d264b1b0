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

/** An Int32Array over the whole buffer; length-tracking when the buffer is growable. */
export function wholeInt32View(buffer: ArrayBufferLike): Int32Array {
  return isGrowable(buffer) ? new Int32Array(buffer) : new Int32Array(buffer, 0, buffer.byteLength >>> 2);
}


/**
 * Int32 views of the last two buffers seen. A table view rebinds at every snapshot flip, and a
 * snapshot alternates between two region buffers, so after the first two binds rebinding
 * allocates nothing.
 */
export class WordViewCache {
  private olderBuffer: ArrayBufferLike | null = null;
  private olderWords: Int32Array = new Int32Array(0);
  private newerBuffer: ArrayBufferLike | null = null;
  private newerWords: Int32Array = new Int32Array(0);

  of(buffer: ArrayBufferLike): Int32Array {
    if (buffer === this.newerBuffer) return this.newerWords;
    if (buffer === this.olderBuffer) return this.olderWords;
    this.olderBuffer = this.newerBuffer;
    this.olderWords = this.newerWords;
    this.newerBuffer = buffer;
    this.newerWords = wholeInt32View(buffer);
    return this.newerWords;
  }
}
