/**
 * LPM benchmark: the FIB (src/shm/fib.ts) against two references measured in the same run —
 * a naive linear scan (the correctness model of test/shm/fib.test.ts) and a plain unibit
 * binary trie in an Int32Array (the simplest trie a FIB could use).
 *
 * Table: 100,000 random /48 routes plus a default route (DESIGN.md's sizing target). Lookups:
 * "hit" addresses fall inside a random /48 (full depth), "miss" addresses are uniformly random
 * (almost all end on the default route in the direct array).
 *
 * Run: npx tsc -p . && node dist/bench/lpm.js [routes]
 */
import { SeededRng } from '../src/lib/rng.js';
import { FibView, NH_CONNECTED, compileFib, type FibNexthop, type FibRoute } from '../src/shm/fib.js';
import { naiveLookup } from '../test/shm/lpm-model.js';

const ROUTES = Number(process.argv[2] ?? 100_000);
const LOOKUPS = 1 << 16;

const rng = new SeededRng(2024);
const randomByte = (): number => Math.floor(rng.next() * 256);
const routes: FibRoute[] = [{ prefix: new Uint8Array(16), len: 0, nexthop: 0 }];
for (let i = 0; i < ROUTES; i++) routes.push({ prefix: Uint8Array.from({ length: 16 }, randomByte), len: 48, nexthop: 1 + (i % 15) });
const nexthops: FibNexthop[] = Array.from({ length: 16 }, (_, i) => ({ kind: NH_CONNECTED, port: i }));

/** LOOKUPS addresses packed 16 bytes apart, so the timed loop allocates nothing. */
function addresses(inside: boolean): Uint8Array {
  const out = new Uint8Array(16 * LOOKUPS);
  for (let i = 0; i < LOOKUPS; i++) {
    for (let b = 0; b < 16; b++) out[16 * i + b] = randomByte();
    if (inside) out.set(routes[1 + Math.floor(rng.next() * ROUTES)]!.prefix.subarray(0, 6), 16 * i);
  }
  return out;
}

/** A unibit binary trie: nodes of [child 0, child 1, nexthop] words, one step per bit. */
class BinaryTrie {
  private nodes = new Int32Array(3 * 1024).fill(-1);
  private used = 3;

  constructor(table: readonly FibRoute[]) {
    for (const r of table) {
      let node = 0;
      for (let bit = 0; bit < r.len; bit++) {
        const b = (r.prefix[bit >> 3]! >> (7 - (bit & 7))) & 1;
        let next = this.nodes[node + b]!;
        if (next < 0) {
          next = this.alloc();
          this.nodes[node + b] = next;
        }
        node = next;
      }
      this.nodes[node + 2] = r.nexthop;
    }
  }

  byteLength(): number {
    return 4 * this.used;
  }

  lookup(a: Uint8Array, off: number): number {
    const nodes = this.nodes;
    let best = nodes[2]!;
    let node = 0;
    for (let bit = 0; bit < 128; bit++) {
      node = nodes[node + ((a[off + (bit >> 3)]! >> (7 - (bit & 7))) & 1)]!;
      if (node < 0) break;
      const nh = nodes[node + 2]!;
      if (nh >= 0) best = nh;
    }
    return best;
  }

  private alloc(): number {
    if (this.used + 3 > this.nodes.length) {
      const grown = new Int32Array(2 * this.nodes.length).fill(-1);
      grown.set(this.nodes);
      this.nodes = grown;
    }
    this.used += 3;
    return this.used - 3;
  }
}

interface Lookup {
  lookup(a: Uint8Array, off: number): number;
}

/**
 * ns per lookup over `rounds` passes of the address block; the checksum keeps the JIT from
 * dropping the work. The FIB is timed first, while the `table.lookup` call site has seen only
 * it (monomorphic, as in a lane); the references may pay for a polymorphic call, which only
 * flatters the ratios against them by a few ns.
 */
function time(table: Lookup, addrs: Uint8Array, count: number, rounds: number): number {
  let checksum = 0;
  for (let i = 0; i < Math.min(count, 4096); i++) checksum += table.lookup(addrs, 16 * i);
  const start = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) for (let i = 0; i < count; i++) checksum += table.lookup(addrs, 16 * i);
  const ns = Number(process.hrtime.bigint() - start) / (rounds * count);
  if (checksum === -1) console.log('unreachable checksum');
  return ns;
}

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const hits = addresses(true);
const misses = addresses(false);

let start = process.hrtime.bigint();
const fib = compileFib(routes, nexthops);
const fibBuildMs = ms(start);
const region = new Uint8Array(new SharedArrayBuffer(fib.byteLength));
start = process.hrtime.bigint();
fib.encode(region);
const fibEncodeMs = ms(start);
const view = new FibView();
view.bind(region, 0);

start = process.hrtime.bigint();
const trie = new BinaryTrie(routes);
const trieBuildMs = ms(start);

const NAIVE_LOOKUPS = 200;
const naive: Lookup = { lookup: (a, off) => naiveLookup(routes, a, off) };
const results = {
  fib: { hit: time(view, hits, LOOKUPS, 20), miss: time(view, misses, LOOKUPS, 20) },
  binaryTrie: { hit: time(trie, hits, LOOKUPS, 5), miss: time(trie, misses, LOOKUPS, 5) },
  naive: { hit: time(naive, hits, NAIVE_LOOKUPS, 1), miss: time(naive, misses, NAIVE_LOOKUPS, 1) },
};

// The three must agree, or the timings compare different work.
for (let i = 0; i < NAIVE_LOOKUPS; i++) {
  for (const block of [hits, misses]) {
    const expected = naiveLookup(routes, block, 16 * i);
    if (view.lookup(block, 16 * i) !== expected || trie.lookup(block, 16 * i) !== expected) {
      throw new Error(`lookup mismatch at address ${i}`);
    }
  }
}

const mib = (bytes: number): string => (bytes / 1048576).toFixed(1);
const rows = [
  ['structure', 'build ms', 'MiB', 'hit ns', 'miss ns', 'hit × naive', 'miss × naive'],
  ['fib (poptrie 16+5)', `${fibBuildMs.toFixed(0)} (+${fibEncodeMs.toFixed(0)} encode)`, mib(fib.byteLength), results.fib.hit, results.fib.miss],
  ['binary trie', trieBuildMs.toFixed(0), mib(trie.byteLength()), results.binaryTrie.hit, results.binaryTrie.miss],
  ['naive linear', '0', '—', results.naive.hit, results.naive.miss],
].map((row, i) => {
  if (i === 0) return row;
  const [name, build, size, hit, miss] = row as [string, string, string, number, number];
  return [name, build, size, hit.toFixed(1), miss.toFixed(1), (results.naive.hit / hit).toFixed(0), (results.naive.miss / miss).toFixed(0)];
});
console.log(`LPM over ${ROUTES} random /48 routes + ::/0, ${LOOKUPS} addresses per pass (node ${process.version})`);
for (const row of rows) console.log(row.map((c, i) => (i === 0 ? String(c).padEnd(20) : String(c).padStart(i === 1 ? 20 : 13))).join(''));
