/**
 * The fuzzing core shared by bench/fuzz.ts (10⁶ inputs per target) and test/fuzz (a small
 * sample in `npm test`): a seeded mutator over corpora of real packets, and a runner that
 * feeds a target N inputs and counts the exceptions that escape it. The targets themselves
 * are in fuzz-targets.ts.
 *
 * Inputs are reproducible: input i of target T under seed S is the same on every run, so
 * `--target T --seed S` finds a failure again and `--replay HEX` runs the failing bytes alone.
 */
import { SeededRng, type Rng } from '../../src/lib/rng.js';

/** Uniform integer in [0, n). */
export function below(rng: Rng, n: number): number {
  return Math.floor(rng.next() * n);
}

/** Values that sit on the edges decoders branch on: zero, one, sign bits, all ones. */
const INTERESTING_8 = [0x00, 0x01, 0x02, 0x07, 0x08, 0x10, 0x20, 0x40, 0x7f, 0x80, 0xfe, 0xff];
const INTERESTING_16 = [0x0000, 0x0001, 0x0008, 0x00ff, 0x0100, 0x7fff, 0x8000, 0xfffe, 0xffff];
const INTERESTING_32 = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/**
 * Derives a new input from a corpus. Each input starts from a corpus entry (or, now and
 * then, from random bytes) and takes one to eight stacked mutations: bit flips, bytes set to
 * edge values, random bytes, truncation, extension (also to within a few bytes of the
 * largest input), insertion and deletion (which shift every later field), splicing with
 * another entry, and length-field tweaks: a 16-bit or
 * 8-bit field set to the bytes that follow it, give or take a few, in octets or in the
 * 8-octet units extension headers and ND options count in (RFC 8200 §4, RFC 4861 §4.6).
 * A quarter of the inputs come back as a view at a non-zero byteOffset of a larger buffer,
 * to catch code that reads `buf.buffer` without `buf.byteOffset`.
 */
export class Mutator {
  constructor(
    private readonly corpus: readonly Uint8Array[],
    private readonly maxLength: number,
  ) {
    if (corpus.length === 0) throw new Error('a mutator needs a non-empty corpus');
  }

  mutate(rng: Rng): Uint8Array {
    let b: Uint8Array;
    if (below(rng, 32) === 0) {
      b = new Uint8Array(below(rng, Math.min(this.maxLength, 256) + 1));
      for (let i = 0; i < b.length; i++) b[i] = below(rng, 256);
    } else {
      b = this.corpus[below(rng, this.corpus.length)]!.slice();
    }
    // Some inputs stay whole corpus entries, so the valid paths keep running too.
    const rounds = below(rng, 16) === 0 ? 0 : 1 + below(rng, below(rng, 2) === 0 ? 2 : 8);
    for (let r = 0; r < rounds; r++) b = this.once(rng, b);
    if (b.length > this.maxLength) b = b.subarray(0, this.maxLength);
    if (below(rng, 4) === 0) {
      const shift = 1 + below(rng, 15);
      const wide = new Uint8Array(shift + b.length + below(rng, 8)).fill(0xa5);
      wide.set(b, shift);
      return wide.subarray(shift, shift + b.length);
    }
    return b;
  }

  private once(rng: Rng, b: Uint8Array): Uint8Array {
    const n = b.length;
    const at = n === 0 ? 0 : below(rng, n);
    switch (below(rng, 13)) {
      case 0: // bit flip
        if (n > 0) b[at] = b[at]! ^ (1 << below(rng, 8));
        return b;
      case 1: // edge byte
        if (n > 0) b[at] = INTERESTING_8[below(rng, INTERESTING_8.length)]!;
        return b;
      case 2: // random byte
        if (n > 0) b[at] = below(rng, 256);
        return b;
      case 3: // edge 16- or 32-bit word
        if (below(rng, 2) === 0) writeBe(b, at, 2, INTERESTING_16[below(rng, INTERESTING_16.length)]!);
        else writeBe(b, at, 4, INTERESTING_32[below(rng, INTERESTING_32.length)]!);
        return b;
      case 4: // truncate
        return b.subarray(0, below(rng, n + 1));
      case 5: // extend with random bytes or a repeated edge byte
        return concat(b, filler(rng, 1 + below(rng, 64)));
      case 6: // insert in the middle
        return concat(b.subarray(0, at), filler(rng, 1 + below(rng, 24)), b.subarray(at));
      case 7: // delete a range
        return concat(b.subarray(0, at), b.subarray(Math.min(n, at + 1 + below(rng, 24))));
      case 8: {
        // splice: a prefix of this input with a suffix of another corpus entry
        const other = this.corpus[below(rng, this.corpus.length)]!;
        return concat(b.subarray(0, at), other.subarray(below(rng, other.length + 1)));
      }
      case 9: {
        // copy a block of the input over another place of itself
        const len = 1 + below(rng, 16);
        const from = below(rng, n + 1);
        b.copyWithin(at, from, Math.min(n, from + len));
        return b;
      }
      case 10: {
        // 16-bit length field: the octets that follow it (or the whole input), ± a little
        const rest = below(rng, 2) === 0 ? n - at - 2 : n;
        writeBe(b, at, 2, (rest + below(rng, 9) - 4) & 0xffff);
        return b;
      }
      case 11: {
        // grow to within a few bytes of the largest input: frame and slot sizes have edges too
        const len = Math.max(n, this.maxLength - below(rng, 32));
        return concat(b, filler(rng, len - n));
      }
      default: {
        // 8-bit length field, in octets or in 8-octet units (minus one, as RFC 8200 counts)
        const rest = n - at - 1;
        const value = below(rng, 2) === 0 ? rest + below(rng, 5) - 2 : (rest >> 3) - 1 + below(rng, 3) - 1;
        if (n > 0) b[at] = value & 0xff;
        return b;
      }
    }
  }
}

function writeBe(b: Uint8Array, at: number, width: number, value: number): void {
  for (let i = 0; i < width && at + i < b.length; i++) b[at + i] = (value >>> (8 * (width - 1 - i))) & 0xff;
}

function filler(rng: Rng, len: number): Uint8Array {
  const f = new Uint8Array(len);
  if (below(rng, 2) === 0) f.fill(INTERESTING_8[below(rng, INTERESTING_8.length)]!);
  else for (let i = 0; i < len; i++) f[i] = below(rng, 256);
  return f;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** What a target drives and how; `open()` builds its state (a lane, a stack) for one run. */
export interface FuzzTarget {
  readonly name: string;
  /** Functions exported by src/wire that this target calls on every input (test/fuzz checks none is left out). */
  readonly covers: readonly Function[];
  corpus(): Uint8Array[];
  open(): OpenTarget;
}

export interface OpenTarget {
  /** Inputs longer than this are cut (the lane's: its selector byte and one pool slot's frame). */
  readonly maxLength: number;
  /** Runs one input; throws only on a bug (an escaped exception or a broken invariant). */
  run(input: Uint8Array): void;
  /** Checks that hold after any number of inputs (the lane's books); throws if broken. */
  check?(): void;
  /** What the inputs reached (counters by name), so a test can tell deep paths from a wall of early drops. */
  stats?(): Record<string, number>;
  close?(): void;
}

export interface FuzzFailure {
  readonly index: number;
  readonly input: Uint8Array;
  readonly error: unknown;
}

export interface FuzzResult {
  readonly target: string;
  readonly inputs: number;
  readonly throws: number;
  readonly ms: number;
  /** The first input that threw (with index -1 when the final check() did). */
  readonly first: FuzzFailure | null;
  readonly stats: Record<string, number>;
}

/** Each target's stream depends only on the seed and its name, so one target reruns alone. */
export function targetSeed(seed: number, name: string): number {
  let h = seed >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * Feeds `target` `iterations` mutated inputs (`replay` instead: just those bytes) and counts
 * the exceptions that escape it. The target's check() runs every `checkEvery` inputs and at
 * the end; a failed check counts as a throw of the input that preceded it. The event loop
 * gets a turn every `checkEvery` inputs, as it would between real packets: the control
 * plane's coalesced work (table publishes, the lease journal's group commit) runs there.
 */
export async function runTarget(target: FuzzTarget, opts: { iterations: number; seed: number; replay?: Uint8Array; checkEvery?: number }): Promise<FuzzResult> {
  const rng = new SeededRng(targetSeed(opts.seed, target.name));
  const open = target.open();
  const mutator = new Mutator(target.corpus(), open.maxLength);
  const checkEvery = opts.checkEvery ?? 256;
  const count = opts.replay === undefined ? opts.iterations : 1;
  let throws = 0;
  let first: FuzzFailure | null = null;
  const fail = (index: number, input: Uint8Array, error: unknown) => {
    throws++;
    first ??= { index, input: input.slice(), error };
  };
  const started = performance.now();
  let stats: Record<string, number> = {};
  try {
    for (let i = 0; i < count; i++) {
      const input = opts.replay ?? mutator.mutate(rng);
      try {
        open.run(input);
      } catch (error) {
        fail(i, input, error);
      }
      if ((i + 1) % checkEvery === 0 || i === count - 1) {
        try {
          open.check?.();
        } catch (error) {
          fail(i, input, error);
        }
        await new Promise(setImmediate);
      }
    }
    stats = open.stats?.() ?? {};
  } finally {
    open.close?.();
  }
  return { target: target.name, inputs: count, throws, ms: performance.now() - started, first, stats };
}

/** Frames of a classic pcap file (either byte order, microsecond or nanosecond magic). */
export function pcapFrames(file: Uint8Array): Uint8Array[] {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magic = v.getUint32(0, false);
  const little = magic === 0xd4c3b2a1 || magic === 0x4d3cb2a1;
  if (!little && magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) throw new Error('not a pcap file');
  const frames: Uint8Array[] = [];
  for (let at = 24; at + 16 <= file.length; ) {
    const captured = v.getUint32(at + 8, little);
    frames.push(file.slice(at + 16, at + 16 + captured));
    at += 16 + captured;
  }
  return frames;
}
