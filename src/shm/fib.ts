/**
 * The FIB snapshot: longest-prefix match over IPv6 destinations, read by the lanes straight
 * from packet bytes with no allocation.
 *
 * Structure (chosen by bench/lpm.ts; numbers in docs/shm.md): a Poptrie-style multibit trie
 * (Asai & Ohara, SIGCOMM 2015) adapted to 32-bit JavaScript integers.
 *   - A direct-pointing array indexed by the first 16 address bits.
 *   - Below it, nodes of stride 5: each node splits the next 5 bits into 32 slots and holds two
 *     32-bit bitmaps. `vector` marks the slots that continue in a child node; `leafvec` marks
 *     where a run of equal leaves starts among the other slots. Children of a node are
 *     contiguous, and so are its leaves, so a slot's child or leaf is found by counting the bits
 *     set below it (popcount) — a node costs 16 bytes whatever its fan-out.
 *   - Leaves are pushed: each holds the nexthop of the longest prefix covering its slot, so a
 *     lookup stops at the first leaf with no backtracking.
 *   - Path compression for lone routes: a subtree holding a single route becomes a "tail" — one
 *     comparison of the address against that route's prefix instead of a chain of one-child
 *     nodes. Random /48s part ways near the top, so most lookups end direct → node → tail.
 * Without tails a /48 took the direct step and 7 node steps (≈140 ns a hit in bench/lpm.ts);
 * with them, about three dependent loads.
 *
 * Encoded layout (int32 words from the table start, which must be 4-byte aligned):
 *
 *   0   header: MAGIC, routeCount, nexthopCount, nexthopsAt, directAt, nodesAt, nodeWords,
 *              leavesAt, leafCount, tailsAt, tailWords, membersAt, memberWords, flow seed,
 *              (words 14..15 zero)
 *   16  nexthops: 10 words each — kind, port, mtu, hasGateway, gateway (16 bytes), member
 *                 count (0: a plain nexthop), first member's word offset in members
 *       direct:   2^16 words — a node's word offset (≥ 0), or a leaf as -(nexthop + 2)
 *       nodes:    4 words each — vector, leafvec, first child's word offset, first leaf's index;
 *                 a tail is a node with vector = leafvec = 0 (impossible for a real node, whose
 *                 first leaf always sets a leafvec bit) — 0, 0, its record's index in tails,
 *                 the nexthop when the address does not match
 *       leaves:   one word each — nexthop index, or -1 for no route
 *       tails:    6 words each — prefix length, nexthop, prefix as four big-endian words
 *       members:  2 words each — a member's nexthop index, its counter slot (-1: none)
 *
 * ECMP (RFC 2992): a route with several next hops points at a group nexthop. Its own kind,
 * port, MTU and gateway are its first member's, so a reader that does not balance (the
 * router's own packets, tunnel endpoints) uses that one; the forwarding path calls
 * selectMember(), which hashes the packet's flow (wire/flow-hash.ts) onto a member whose
 * port is up.
 *
 * An all-zero region (a snapshot never published) has no MAGIC and reads as an empty table.
 */
import { WordViewCache } from './sab.js';
import type { PortTableView } from './port-table.js';
import { flowHash } from '../wire/flow-hash.js';

export const NH_CONNECTED = 1;
export const NH_GATEWAY = 2;
export const NH_LOCAL = 3;
export const NH_REJECT = 4;
export const NH_BLACKHOLE = 5;
/**
 * Into an IPsec tunnel (a route-based SA pair, `ipsec.tunnels[]`): `port` carries the
 * tunnel's index, which the IPsec snapshot maps to its outbound SA (shm/ipsec-tables.ts).
 */
export const NH_IPSEC = 6;

/** Per-member packet counters a lane keeps for ECMP groups (counter slots 0..this-1). */
export const FIB_MEMBER_COUNTERS = 64;

export interface FibMember {
  /** Index of a plain (non-group) nexthop. */
  nexthop: number;
  /** The lane counter slot this member counts into (0..FIB_MEMBER_COUNTERS-1), or -1. */
  counter: number;
}

export interface FibNexthop {
  kind: number;
  /** The egress port; for NH_IPSEC the tunnel index. */
  port: number;
  /** 16 bytes; for NH_GATEWAY the neighbour to resolve (usually link-local, RFC 4861 §8). */
  gateway?: Uint8Array;
  /** Path MTU towards this nexthop; 0 or absent means the port's link MTU. */
  mtu?: number;
  /** An ECMP group: its members (at least two). kind, port, gateway and mtu are then the first member's. */
  members?: readonly FibMember[];
}

export interface FibRoute {
  prefix: Uint8Array;
  len: number;
  /** Index into the nexthop list. */
  nexthop: number;
}

const MAGIC = 0x46494236; // "FIB6"
const HEADER_WORDS = 16;
const H_ROUTES = 1;
const H_NEXTHOPS = 2;
const H_NEXTHOPS_AT = 3;
const H_DIRECT_AT = 4;
const H_NODES_AT = 5;
const H_NODE_WORDS = 6;
const H_LEAVES_AT = 7;
const H_LEAF_COUNT = 8;
const H_TAILS_AT = 9;
const H_TAIL_WORDS = 10;
const H_MEMBERS_AT = 11;
const H_MEMBER_WORDS = 12;
const H_SEED = 13;
const NEXTHOP_WORDS = 10;
const MEMBER_WORDS = 2;
const DIRECT_BITS = 16;
const STRIDE = 5;
const SLOTS = 1 << STRIDE;
const NODE_WORDS = 4;
const TAIL_WORDS = 6;

/**
 * The default flow hash seed: drawn once per process. Whichever seed the caller gives is
 * written into every FIB generation, so every lane hashes a flow alike and a flow keeps its
 * member across batches and FIB updates; a seed of its own per router keeps routers in
 * series from all making the same choice (hash polarisation).
 */
export const PROCESS_FLOW_SEED = (Math.random() * 0x1_0000_0000) >>> 0;

/** Bits set in a 32-bit integer (SWAR; JavaScript has no popcount instruction). */
function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  x = (x + (x >>> 4)) & 0x0f0f0f0f;
  return Math.imul(x, 0x01010101) >>> 24;
}

/** A FIB built once and encodable into any region of at least `byteLength` bytes. */
export class CompiledFib {
  constructor(
    readonly byteLength: number,
    private readonly routeCount: number,
    private readonly nexthops: readonly FibNexthop[],
    private readonly direct: Int32Array,
    private readonly nodes: Int32Array,
    private readonly leaves: Int32Array,
    private readonly tails: Int32Array,
    private readonly members: Int32Array,
  ) {}

  encode(dst: Uint8Array, seed = PROCESS_FLOW_SEED): number {
    if (dst.byteOffset % 4 !== 0) throw new RangeError(`FIB must start 4-byte aligned, got byte offset ${dst.byteOffset}`);
    if (dst.byteLength < this.byteLength) throw new RangeError(`FIB needs ${this.byteLength} bytes, region has ${dst.byteLength}`);
    const words = new Int32Array(dst.buffer, dst.byteOffset, this.byteLength >>> 2);
    const nexthopsAt = HEADER_WORDS;
    const directAt = nexthopsAt + NEXTHOP_WORDS * this.nexthops.length;
    const nodesAt = directAt + this.direct.length;
    const leavesAt = nodesAt + this.nodes.length;
    const tailsAt = leavesAt + this.leaves.length;
    const membersAt = tailsAt + this.tails.length;
    words.fill(0, 0, HEADER_WORDS);
    words[0] = MAGIC;
    words[H_ROUTES] = this.routeCount;
    words[H_NEXTHOPS] = this.nexthops.length;
    words[H_NEXTHOPS_AT] = nexthopsAt;
    words[H_DIRECT_AT] = directAt;
    words[H_NODES_AT] = nodesAt;
    words[H_NODE_WORDS] = this.nodes.length;
    words[H_LEAVES_AT] = leavesAt;
    words[H_LEAF_COUNT] = this.leaves.length;
    words[H_TAILS_AT] = tailsAt;
    words[H_TAIL_WORDS] = this.tails.length;
    words[H_MEMBERS_AT] = membersAt;
    words[H_MEMBER_WORDS] = this.members.length;
    words[H_SEED] = seed | 0;
    let memberAt = 0;
    this.nexthops.forEach((nh, i) => {
      const at = nexthopsAt + NEXTHOP_WORDS * i;
      words[at] = nh.kind;
      words[at + 1] = nh.port;
      words[at + 2] = nh.mtu ?? 0;
      words[at + 3] = nh.gateway === undefined ? 0 : 1;
      const gatewayBytes = new Uint8Array(dst.buffer, dst.byteOffset + 4 * (at + 4), 16);
      if (nh.gateway === undefined) gatewayBytes.fill(0);
      else gatewayBytes.set(nh.gateway.subarray(0, 16));
      const count = nh.members?.length ?? 0;
      words[at + 8] = count;
      words[at + 9] = count === 0 ? 0 : memberAt;
      memberAt += MEMBER_WORDS * count;
    });
    words.set(this.direct, directAt);
    words.set(this.nodes, nodesAt);
    words.set(this.leaves, leavesAt);
    words.set(this.tails, tailsAt);
    words.set(this.members, membersAt);
    return this.byteLength;
  }
}

/** Builds the trie for a route list. Later duplicates of the same prefix/length win. */
export function compileFib(routes: readonly FibRoute[], nexthops: readonly FibNexthop[]): CompiledFib {
  const members: number[] = [];
  for (const nh of nexthops) {
    if (nh.gateway !== undefined && nh.gateway.length !== 16) throw new RangeError('FIB nexthop gateway must be 16 bytes');
    if (nh.members === undefined) continue;
    if (nh.members.length < 2) throw new RangeError('an ECMP group needs at least two members');
    for (const m of nh.members) {
      if (!Number.isInteger(m.nexthop) || nexthops[m.nexthop] === undefined || nexthops[m.nexthop]!.members !== undefined) {
        throw new RangeError(`ECMP member ${m.nexthop} is not a plain nexthop`);
      }
      if (!Number.isInteger(m.counter) || m.counter < -1 || m.counter >= FIB_MEMBER_COUNTERS) throw new RangeError(`ECMP member counter ${m.counter} outside -1..${FIB_MEMBER_COUNTERS - 1}`);
      members.push(m.nexthop, m.counter);
    }
  }
  const nodesAt = HEADER_WORDS + NEXTHOP_WORDS * nexthops.length + (1 << DIRECT_BITS);
  const builder = new TrieBuilder(routes, nexthops.length, nodesAt);
  const byteLength = 4 * (nodesAt + builder.nodes.length + builder.leaves.length + builder.tails.length + members.length);
  return new CompiledFib(
    byteLength,
    routes.length,
    // A group reads as its first member to whoever does not balance.
    nexthops.map((nh) => (nh.members === undefined ? { ...nh } : { ...nexthops[nh.members[0]!.nexthop]!, members: nh.members })),
    builder.direct,
    builder.nodes.toArray(),
    builder.leaves.toArray(),
    builder.tails.toArray(),
    Int32Array.from(members),
  );
}

// fibByteLength and encodeFib are usually called as a pair on the same lists; the last build
// is remembered so the pair builds once.
let lastBuild: { routes: readonly FibRoute[]; nexthops: readonly FibNexthop[]; fib: CompiledFib } | null = null;

function compileCached(routes: readonly FibRoute[], nexthops: readonly FibNexthop[]): CompiledFib {
  if (lastBuild === null || lastBuild.routes !== routes || lastBuild.nexthops !== nexthops) {
    lastBuild = { routes, nexthops, fib: compileFib(routes, nexthops) };
  }
  return lastBuild.fib;
}

export function fibByteLength(routes: readonly FibRoute[], nexthops: readonly FibNexthop[]): number {
  return compileCached(routes, nexthops).byteLength;
}

/** Encodes the FIB into `dst` (4-byte aligned) with the flow hash seed; returns the bytes written. */
export function encodeFib(routes: readonly FibRoute[], nexthops: readonly FibNexthop[], dst: Uint8Array, seed = PROCESS_FLOW_SEED): number {
  const fib = compileCached(routes, nexthops);
  lastBuild = null;
  return fib.encode(dst, seed);
}

/**
 * Builds the direct array, nodes and leaves from a route list.
 *
 * Routes are sorted by (address, length, input order). Every subtree then owns a contiguous
 * range of them, and within a node the routes that continue in the child for slot s form a
 * contiguous run: a route ending inside the node has zero bits past its length, so it sorts
 * before every longer route sharing its slot.
 *
 * Node pointers (in the direct array and in nodes) are word offsets from the table start, as
 * the lanes read them; `nodesAt` is where the nodes will sit in the encoded table.
 */
class TrieBuilder {
  readonly direct = new Int32Array(1 << DIRECT_BITS).fill(-1);
  readonly nodes = new Int32List();
  readonly leaves = new Int32List();
  readonly tails = new Int32List();
  private readonly keys: Uint32Array;
  private readonly lens: Uint8Array;
  private readonly nexthopOf: Int32Array;
  private readonly order: Uint32Array;
  /** One leaf scratch per trie level, so a parent's leaves survive its children's builds. */
  private readonly scratch: Int32Array[] = [];

  constructor(routes: readonly FibRoute[], nexthopCount: number, private readonly nodesAt: number) {
    const n = routes.length;
    this.keys = new Uint32Array(4 * n);
    this.lens = new Uint8Array(n);
    this.nexthopOf = new Int32Array(n);
    routes.forEach((r, i) => {
      if (!Number.isInteger(r.len) || r.len < 0 || r.len > 128) throw new RangeError(`route prefix length ${r.len} outside 0..128`);
      if (!Number.isInteger(r.nexthop) || r.nexthop < 0 || r.nexthop >= nexthopCount) {
        throw new RangeError(`route nexthop ${r.nexthop} outside 0..${nexthopCount - 1}`);
      }
      if (r.prefix.length < 16) throw new RangeError('route prefix must be 16 bytes');
      for (let w = 0; w < 4; w++) {
        let word = 0;
        for (let b = 0; b < 4; b++) {
          const bit = 32 * w + 8 * b;
          const keep = r.len - bit >= 8 ? 0xff : r.len - bit <= 0 ? 0 : (0xff << (8 - (r.len - bit))) & 0xff;
          word = (word << 8) | (r.prefix[4 * w + b]! & keep);
        }
        this.keys[4 * i + w] = word >>> 0;
      }
      this.lens[i] = r.len;
      this.nexthopOf[i] = r.nexthop;
    });
    const keys = this.keys;
    const lens = this.lens;
    this.order = Uint32Array.from({ length: n }, (_, i) => i).sort((a, b) => {
      for (let w = 0; w < 4; w++) {
        const d = keys[4 * a + w]! - keys[4 * b + w]!;
        if (d !== 0) return d;
      }
      return lens[a]! - lens[b]! || a - b;
    });
    this.buildDirect();
  }

  /** Bits [depth, depth + width) of route r's key; bits past 128 read as zero. */
  private keyBits(r: number, depth: number, width: number): number {
    const wi = depth >>> 5;
    const shift = depth & 31;
    let x = (this.keys[4 * r + wi]! << shift) >>> 0;
    if (shift + width > 32 && wi < 3) x = (x | (this.keys[4 * r + wi + 1]! >>> (32 - shift))) >>> 0;
    return x >>> (32 - width);
  }

  private buildDirect(): void {
    const order = this.order;
    const short = Array.from(order).filter((r) => this.lens[r]! <= DIRECT_BITS);
    short.sort((a, b) => this.lens[a]! - this.lens[b]! || a - b);
    for (const r of short) {
      const start = this.keyBits(r, 0, DIRECT_BITS);
      this.direct.fill(-(this.nexthopOf[r]! + 2), start, start + (1 << (DIRECT_BITS - this.lens[r]!)));
    }
    let i = 0;
    while (i < order.length) {
      if (this.lens[order[i]!]! <= DIRECT_BITS) { i++; continue; }
      const slot = this.keyBits(order[i]!, 0, DIRECT_BITS);
      let end = i + 1;
      while (end < order.length && this.keyBits(order[end]!, 0, DIRECT_BITS) === slot) end++;
      const inherited = -this.direct[slot]! - 2;
      const at = this.nodes.reserve(NODE_WORDS);
      this.fillSubtree(at, DIRECT_BITS, i, end, inherited);
      this.direct[slot] = this.nodesAt + at;
      i = end;
    }
  }

  /**
   * Fills the node at word `at` of `nodes` for the subtree below bit `depth` holding the routes
   * order[lo..hi), all longer than `depth`; `inherited` is the nexthop of the longest prefix
   * above it (-1 for none).
   */
  private fillSubtree(at: number, depth: number, lo: number, hi: number, inherited: number): void {
    if (this.sameRoute(this.order[lo]!, this.order[hi - 1]!)) this.fillTail(at, this.order[hi - 1]!, inherited);
    else this.fillNode(at, depth, lo, hi, inherited);
  }

  /** A lone route (or duplicates of it, the last winning): compare once instead of descending. */
  private fillTail(at: number, r: number, inherited: number): void {
    const record = this.tails.reserve(TAIL_WORDS);
    this.tails.data[record] = this.lens[r]!;
    this.tails.data[record + 1] = this.nexthopOf[r]!;
    for (let w = 0; w < 4; w++) this.tails.data[record + 2 + w] = this.keys[4 * r + w]! | 0;
    const nodes = this.nodes.data;
    nodes[at] = 0;
    nodes[at + 1] = 0;
    nodes[at + 2] = record;
    nodes[at + 3] = inherited;
  }

  private fillNode(at: number, depth: number, lo: number, hi: number, inherited: number): void {
    const level = (depth - DIRECT_BITS) / STRIDE;
    if (this.scratch.length <= level) this.scratch.push(new Int32Array(SLOTS));
    const leafValues = this.scratch[level]!;
    leafValues.fill(inherited);
    const order = this.order;
    const end = depth + STRIDE;

    // Prefixes ending inside this node expand over the slots they cover, shorter first so
    // that longer (more specific) ones overwrite them — RFC 4291 §2.5 longest match.
    const ending: number[] = [];
    let vector = 0;
    for (let i = lo; i < hi; i++) {
      const r = order[i]!;
      if (this.lens[r]! <= end) ending.push(r);
      else vector |= 1 << this.keyBits(r, depth, STRIDE);
    }
    if (ending.length > 1) ending.sort((a, b) => this.lens[a]! - this.lens[b]! || a - b);
    for (const r of ending) {
      const start = this.keyBits(r, depth, STRIDE);
      leafValues.fill(this.nexthopOf[r]!, start, start + (1 << (end - this.lens[r]!)));
    }

    let leafvec = 0;
    const leafBase = this.leaves.length;
    let previous = 0;
    for (let s = 0; s < SLOTS; s++) {
      if ((vector >>> s) & 1) continue;
      if (leafvec === 0 || leafValues[s] !== previous) {
        leafvec |= 1 << s;
        this.leaves.push(leafValues[s]!);
        previous = leafValues[s]!;
      }
    }
    const childBase = this.nodes.reserve(NODE_WORDS * popcount(vector));
    const nodes = this.nodes.data;
    nodes[at] = vector;
    nodes[at + 1] = leafvec;
    nodes[at + 2] = this.nodesAt + childBase;
    nodes[at + 3] = leafBase;

    let child = childBase;
    let i = lo;
    while (i < hi) {
      const r = order[i]!;
      if (this.lens[r]! <= end) { i++; continue; }
      const slot = this.keyBits(r, depth, STRIDE);
      let runEnd = i + 1;
      while (runEnd < hi && this.keyBits(order[runEnd]!, depth, STRIDE) === slot) runEnd++;
      this.fillSubtree(child, end, i, runEnd, leafValues[slot]!);
      child += NODE_WORDS;
      i = runEnd;
    }
  }

  private sameRoute(a: number, b: number): boolean {
    if (this.lens[a] !== this.lens[b]) return false;
    for (let w = 0; w < 4; w++) if (this.keys[4 * a + w] !== this.keys[4 * b + w]) return false;
    return true;
  }
}

/** A growable Int32Array for the builder; `data` is replaced when it grows. */
class Int32List {
  data = new Int32Array(1024);
  length = 0;

  /** Appends `count` zero words; returns the index of the first. */
  reserve(count: number): number {
    const at = this.length;
    if (at + count > this.data.length) {
      const grown = new Int32Array(Math.max(at + count, 2 * this.data.length));
      grown.set(this.data);
      this.data = grown;
    }
    this.length = at + count;
    return at;
  }

  push(value: number): void {
    this.data[this.reserve(1)] = value;
  }

  toArray(): Int32Array {
    return this.data.slice(0, this.length);
  }
}

const EMPTY_BYTES = new Uint8Array(0);
const EMPTY_WORDS = new Int32Array(0);

/**
 * Lane-side view of an encoded FIB. bind() is called when the snapshot generation changes;
 * flipping between a snapshot's two regions allocates nothing (WordViewCache).
 */
export class FibView {
  bytes: Uint8Array = EMPTY_BYTES;
  private words: Int32Array = EMPTY_WORDS;
  private readonly views = new WordViewCache();
  /** Word index of the table start in `words`; -1 when the bound region holds no table. */
  private base = -1;
  private byteBase = 0;
  private nexthopsAt = 0;
  private directAt = 0;
  private leavesAt = 0;
  private tailsAt = 0;
  private membersAt = 0;
  private seed = 0;

  bind(bytes: Uint8Array, offset: number): void {
    const absolute = bytes.byteOffset + offset;
    if (absolute % 4 !== 0) throw new RangeError(`FIB must start 4-byte aligned, got byte offset ${absolute}`);
    // Views of the whole buffer at bind time (fixed-length: see WordViewCache); offsets into
    // them are absolute.
    this.words = this.views.of(bytes.buffer);
    this.bytes = this.views.bytesOf(bytes.buffer);
    this.byteBase = absolute;
    const base = absolute >>> 2;
    if (base + HEADER_WORDS > this.words.length || this.words[base] !== MAGIC) {
      this.base = -1;
      return;
    }
    this.base = base;
    this.nexthopsAt = base + this.words[base + H_NEXTHOPS_AT]!;
    this.directAt = base + this.words[base + H_DIRECT_AT]!;
    this.leavesAt = base + this.words[base + H_LEAVES_AT]!;
    this.tailsAt = base + this.words[base + H_TAILS_AT]!;
    this.membersAt = base + this.words[base + H_MEMBERS_AT]!;
    this.seed = this.words[base + H_SEED]!;
  }

  /**
   * The nexthop to forward the IPv6 packet at pkt[ip, ip + ipLen) by: `nh` itself unless it
   * is an ECMP group, else the member its flow hashes to (wire/flow-hash.ts), counted in
   * counters[counterBase + the member's slot]. A member whose port is down is skipped: its
   * flows spread over the members still up by another part of the hash, and every other
   * flow keeps its member (so a link going down moves only the flows that were on it). With
   * every member down the hashed one is returned, for the caller's port_down verdict.
   */
  selectMember(nh: number, pkt: Uint8Array, ip: number, ipLen: number, ports: PortTableView, counters: Float64Array, counterBase: number): number {
    if (nh < 0) return nh;
    const words = this.words;
    const at = this.nexthopsAt + NEXTHOP_WORDS * nh;
    const n = words[at + 8]!;
    if (n === 0) return nh;
    const first = this.membersAt + words[at + 9]!;
    const hash = flowHash(pkt, ip, ipLen, this.seed);
    let m = first + MEMBER_WORDS * (hash % n);
    if (!ports.isUp(this.nexthopPort(words[m]!))) {
      let up = 0;
      for (let i = 0; i < n; i++) if (ports.isUp(this.nexthopPort(words[first + MEMBER_WORDS * i]!))) up++;
      for (let i = 0, pick = up === 0 ? -1 : (hash >>> 16) % up; i < n && pick >= 0; i++) {
        const k = first + MEMBER_WORDS * i;
        if (ports.isUp(this.nexthopPort(words[k]!)) && pick-- === 0) m = k;
      }
    }
    const counter = words[m + 1]!;
    if (counter >= 0) counters[counterBase + counter]!++;
    return words[m]!;
  }

  /** Nexthop index of the longest prefix matching the 16 bytes at pkt[addrOffset], or -1. */
  lookup(pkt: Uint8Array, addrOffset: number): number {
    const base = this.base;
    if (base < 0) return -1;
    const words = this.words;
    let e = words[this.directAt + ((pkt[addrOffset]! << 8) | pkt[addrOffset + 1]!)]!;
    let depth = DIRECT_BITS;
    while (e >= 0) {
      const at = base + e;
      const byte = addrOffset + (depth >>> 3);
      // The last level (depth 126) covers 3 bits past the address; they read as zero, and the
      // leaves there repeat over them, so the byte after the address is never touched.
      const pair = (pkt[byte]! << 8) | (depth < 120 ? pkt[byte + 1]! : 0);
      const slot = (pair >>> (11 - (depth & 7))) & (SLOTS - 1);
      const below = (2 << slot) - 1; // slots 0..slot; slot 31 wraps to all ones, as wanted
      const vector = words[at]!;
      if (((vector >>> slot) & 1) === 0) {
        const leafvec = words[at + 1]!;
        if (leafvec === 0) return this.matchTail(pkt, addrOffset, words[at + 2]!, words[at + 3]!);
        return words[this.leavesAt + words[at + 3]! + popcount(leafvec & below) - 1]!;
      }
      e = words[at + 2]! + NODE_WORDS * (popcount(vector & below) - 1);
      depth += STRIDE;
    }
    return -e - 2;
  }

  /** The tail's route if the address lies inside its prefix, else `otherwise`. */
  private matchTail(pkt: Uint8Array, addrOffset: number, record: number, otherwise: number): number {
    const words = this.words;
    const at = this.tailsAt + record;
    const len = words[at]!;
    for (let bit = 0, w = 0; bit < len; bit += 32, w++) {
      const p = addrOffset + 4 * w;
      const addressWord = (pkt[p]! << 24) | (pkt[p + 1]! << 16) | (pkt[p + 2]! << 8) | pkt[p + 3]!;
      const rest = len - bit;
      const mask = rest >= 32 ? -1 : ~(-1 >>> rest);
      if (((addressWord ^ words[at + 2 + w]!) & mask) !== 0) return otherwise;
    }
    return words[at + 1]!;
  }

  nexthopKind(nh: number): number {
    return this.words[this.nexthopsAt + NEXTHOP_WORDS * nh]!;
  }

  nexthopPort(nh: number): number {
    return this.words[this.nexthopsAt + NEXTHOP_WORDS * nh + 1]!;
  }

  /** 0 when the nexthop has no MTU of its own (use the port's link MTU). */
  nexthopMtu(nh: number): number {
    return this.words[this.nexthopsAt + NEXTHOP_WORDS * nh + 2]!;
  }

  hasGateway(nh: number): boolean {
    return this.words[this.nexthopsAt + NEXTHOP_WORDS * nh + 3] !== 0;
  }

  /** Byte offset in `bytes` of the nexthop's 16-byte gateway address. */
  gatewayOffset(nh: number): number {
    return this.byteBase + 4 * (this.nexthopsAt - this.base + NEXTHOP_WORDS * nh + 4);
  }

  routeCount(): number {
    return this.base < 0 ? 0 : this.words[this.base + H_ROUTES]!;
  }

  nexthopCount(): number {
    return this.base < 0 ? 0 : this.words[this.base + H_NEXTHOPS]!;
  }
}
