/**
 * Per-lane counter blocks: each lane writes its own block with plain stores, and the metrics
 * exporter on the main thread sums the blocks of every lane at scrape (DESIGN.md, "Counters").
 * Per-thread counters with no shared cache line between writers, as in VPP.
 *
 * Counters are Float64: exact up to 2^53 (at 1 Mpps, 285 years) and a single aligned 8-byte
 * store, which x86-64 and arm64 never tear, so a reader sees either the old or the new value.
 * BigInt64 with Atomics would allocate a BigInt per add.
 *
 * Block layout (G = globals, P = per-port counters, M = maxPorts), one float64 per counter:
 *
 *   | global 0 … global G-1 | port 0: per-port 0 … P-1 | port 1: … | … | port M-1: … |
 *
 * The lane defines what the counters are (its drop-reason table, say); this module only
 * gives them indices.
 */

export class CounterLayout {
  readonly globals: readonly string[];
  readonly perPort: readonly string[];
  readonly maxPorts: number;
  /** Number of float64 counters in a block. */
  readonly size: number;

  constructor(globals: readonly string[], perPort: readonly string[], maxPorts: number) {
    for (const list of [globals, perPort]) {
      if (new Set(list).size !== list.length) throw new RangeError(`counter names must be unique: ${list.join(', ')}`);
    }
    if (!Number.isInteger(maxPorts) || maxPorts < 0) throw new RangeError(`maxPorts must be a non-negative integer, got ${maxPorts}`);
    this.globals = [...globals];
    this.perPort = [...perPort];
    this.maxPorts = maxPorts;
    this.size = globals.length + perPort.length * maxPorts;
  }

  byteLength(): number {
    return this.size * 8;
  }

  /** Index of a global counter; throws for an unknown name (a programming error). */
  globalIndex(name: string): number {
    const i = this.globals.indexOf(name);
    if (i < 0) throw new RangeError(`unknown global counter '${name}'`);
    return i;
  }

  /** Ordinal of a per-port counter, to pass to portIndex(). */
  perPortOrdinal(name: string): number {
    const i = this.perPort.indexOf(name);
    if (i < 0) throw new RangeError(`unknown per-port counter '${name}'`);
    return i;
  }

  /** Index of per-port counter `ordinal` of `port`. */
  portIndex(port: number, ordinal: number): number {
    return this.globals.length + port * this.perPort.length + ordinal;
  }

  /** What a block index means, for the exporter: the counter name and its port (-1 when global). */
  describe(index: number): { name: string; port: number } {
    if (index < this.globals.length) return { name: this.globals[index]!, port: -1 };
    const rest = index - this.globals.length;
    const perPort = this.perPort.length;
    return { name: this.perPort[rest % perPort]!, port: Math.floor(rest / perPort) };
  }
}

export class CounterBlock {
  readonly values: Float64Array;
  private readonly globalCount: number;
  private readonly perPortCount: number;

  constructor(layout: CounterLayout, sab: SharedArrayBuffer, byteOffset = 0) {
    if (byteOffset % 8 !== 0) throw new RangeError(`counter block byteOffset must be 8-aligned, got ${byteOffset}`);
    this.values = new Float64Array(sab, byteOffset, layout.size);
    this.globalCount = layout.globals.length;
    this.perPortCount = layout.perPort.length;
  }

  add(index: number, n: number): void {
    this.values[index] += n;
  }

  inc(index: number): void {
    this.values[index] += 1;
  }

  portIndex(port: number, ordinal: number): number {
    return this.globalCount + port * this.perPortCount + ordinal;
  }

  get(index: number): number {
    return this.values[index]!;
  }
}

/** The sum of one counter over every lane's block. */
export function sumCounters(blocks: readonly CounterBlock[], index: number): number {
  let total = 0;
  for (const block of blocks) total += block.values[index]!;
  return total;
}

/**
 * A fixed-bucket histogram block (batch sizes, ring occupancy), single writer like CounterBlock.
 * `bounds` are inclusive upper bounds in increasing order; one more bucket catches the rest.
 *
 *   | bucket 0 … bucket B-1 | overflow bucket | sum | count |   (float64 each)
 */
export class HistogramBlock {
  readonly bounds: readonly number[];
  readonly values: Float64Array;
  private readonly boundsArray: Float64Array;

  static byteLength(bucketCount: number): number {
    return (bucketCount + 3) * 8;
  }

  constructor(bounds: readonly number[], sab: SharedArrayBuffer, byteOffset = 0) {
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i]! > bounds[i - 1]!)) throw new RangeError(`histogram bounds must increase: ${bounds.join(', ')}`);
    }
    if (byteOffset % 8 !== 0) throw new RangeError(`histogram byteOffset must be 8-aligned, got ${byteOffset}`);
    this.bounds = [...bounds];
    this.boundsArray = Float64Array.from(bounds);
    this.values = new Float64Array(sab, byteOffset, bounds.length + 3);
  }

  /** Linear scan: the bucket lists are short (≈10), which beats a binary search's branches. */
  observe(value: number): void {
    const bounds = this.boundsArray;
    let bucket = 0;
    while (bucket < bounds.length && value > bounds[bucket]!) bucket++;
    const values = this.values;
    values[bucket] += 1;
    values[bounds.length + 1] += value;
    values[bounds.length + 2] += 1;
  }
}

/** Bounds 1, 2, 4, … up to `max` (a power of two): batch-size buckets. */
export function powersOfTwo(max: number): number[] {
  const bounds: number[] = [];
  for (let b = 1; b <= max; b *= 2) bounds.push(b);
  return bounds;
}

export interface HistogramSnapshot {
  /** Cumulative counts per bound, as Prometheus exposes them (le="bound"); the last is +Inf. */
  readonly cumulative: number[];
  readonly sum: number;
  readonly count: number;
}

/** Sums the histograms of every lane (all built with the same bounds). */
export function sumHistograms(blocks: readonly HistogramBlock[]): HistogramSnapshot {
  const width = blocks.length === 0 ? 0 : blocks[0]!.bounds.length + 1;
  const perBucket = new Array<number>(width).fill(0);
  let sum = 0;
  let count = 0;
  for (const block of blocks) {
    for (let i = 0; i < width; i++) perBucket[i]! += block.values[i]!;
    sum += block.values[width]!;
    count += block.values[width + 1]!;
  }
  let running = 0;
  const cumulative = perBucket.map((n) => (running += n));
  return { cumulative, sum, count };
}
