/**
 * SPD lookup benchmark: the lanes' indexed lookup (IpsecView.lookupPolicy over the SPD index,
 * src/shm/ipsec-tables.ts) against a first-match scan of every policy, the reference, in the
 * same run. Both take the same typed inputs and must return the same policy for every packet.
 *
 * SPD: N site-to-site policies per direction (one /48 each, as a hub with N spokes has),
 * then a final bypass of ::/0. Packets: addresses inside a random spoke's /48, and misses.
 *
 * Run: npx tsc -p . && node dist/bench/spd.js [N ...]   (default 10 100 1000 10000)
 */
import { SeededRng } from '../src/lib/rng.js';
import { prefixMatch } from '../src/lib/addr.js';
import { ACTION_BYPASS, ACTION_PROTECT, ANY, DIR_IN, DIR_OUT, IpsecView, encodeIpsecTables, ipsecTablesByteLength, type PolicyRecord } from '../src/shm/ipsec-tables.js';

const SIZES = process.argv.length > 2 ? process.argv.slice(2).map(Number) : [10, 100, 1000, 10_000];
const PACKETS = 4096;
const UDP = 17;

const rng = new SeededRng(4301);
const randomByte = (): number => Math.floor(rng.next() * 256);

function spd(n: number): PolicyRecord[] {
  const local = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 0, ...new Array(10).fill(0)]);
  const out: PolicyRecord[] = [];
  for (const direction of [DIR_OUT, DIR_IN]) {
    for (let i = 0; i < n; i++) {
      const spoke = Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0x10 + (i >> 8), i & 0xff, ...new Array(10).fill(0)]);
      const [src, dst] = direction === DIR_OUT ? [local, spoke] : [spoke, local];
      out.push({ direction, action: ACTION_PROTECT, proto: ANY, src, srcLen: 48, dst, dstLen: 48, srcPorts: [ANY, ANY], dstPorts: [ANY, ANY], icmpType: ANY, icmpCode: ANY, sa: -1 });
    }
    out.push({ direction, action: ACTION_BYPASS, proto: ANY, src: new Uint8Array(16), srcLen: 0, dst: new Uint8Array(16), dstLen: 0, srcPorts: [ANY, ANY], dstPorts: [ANY, ANY], icmpType: ANY, icmpCode: ANY, sa: -1 });
  }
  return out;
}

/** The reference: RFC 4301 §4.4.1's first match, scanning every policy of the SPD in order (the lanes' lookup before the index). */
class LinearSpd {
  private readonly meta: Int32Array;
  private readonly addrs: Uint8Array;
  constructor(private readonly policies: readonly PolicyRecord[]) {
    this.meta = new Int32Array(5 * policies.length);
    this.addrs = new Uint8Array(32 * policies.length);
    policies.forEach((p, i) => {
      this.meta.set([p.direction, p.proto, p.srcLen, p.dstLen, p.dstPorts[0]], 5 * i);
      this.addrs.set(p.src, 32 * i);
      this.addrs.set(p.dst, 32 * i + 16);
    });
  }
  lookup(direction: number, b: Uint8Array, srcOff: number, dstOff: number, proto: number): number {
    const m = this.meta;
    for (let i = 0; i < this.policies.length; i++) {
      if (m[5 * i] !== direction) continue;
      if (m[5 * i + 1] !== ANY && m[5 * i + 1] !== proto) continue;
      if (!prefixMatch(b, srcOff, this.addrs, 32 * i, m[5 * i + 2]!)) continue;
      if (!prefixMatch(b, dstOff, this.addrs, 32 * i + 16, m[5 * i + 3]!)) continue;
      return i;
    }
    return -1;
  }
}

/** PACKETS (src, dst) pairs, 32 bytes apart: outbound from 2001:db8::/48 to a spoke (or anywhere, for misses). */
function packets(n: number, hit: boolean): Uint8Array {
  const out = new Uint8Array(32 * PACKETS);
  for (let k = 0; k < PACKETS; k++) {
    out.set([0x20, 0x01, 0x0d, 0xb8, 0, 0], 32 * k);
    for (let b = 6; b < 16; b++) out[32 * k + b] = randomByte();
    for (let b = 0; b < 16; b++) out[32 * k + 16 + b] = randomByte();
    const i = Math.floor(rng.next() * n);
    if (hit) out.set([0x20, 0x01, 0x0d, 0xb8, 0x10 + (i >> 8), i & 0xff], 32 * k + 16);
  }
  return out;
}

function timeNs(lookup: (b: Uint8Array, k: number) => number, pkts: Uint8Array, rounds: number): number {
  let checksum = 0;
  for (let k = 0; k < PACKETS; k++) checksum += lookup(pkts, k);
  const start = process.hrtime.bigint();
  for (let r = 0; r < rounds; r++) for (let k = 0; k < PACKETS; k++) checksum += lookup(pkts, k);
  const ns = Number(process.hrtime.bigint() - start) / (rounds * PACKETS);
  if (checksum === -1) console.log('unreachable checksum');
  return ns;
}

console.log('spd: ns per outbound lookup; indexed = the lanes\' SPD index, linear = a scan of every policy (reference, same run)');
console.log('policies/dir  kind  indexed  linear  linear/indexed');
for (const n of SIZES) {
  const policies = spd(n);
  const region = new Uint8Array(ipsecTablesByteLength([], policies));
  encodeIpsecTables([], policies, region);
  const view = new IpsecView();
  view.bind(region, 0);
  const linear = new LinearSpd(policies);
  for (const hit of [true, false]) {
    const pkts = packets(n, hit);
    for (let k = 0; k < PACKETS; k++) {
      const want = linear.lookup(DIR_OUT, pkts, 32 * k, 32 * k + 16, UDP);
      if (view.lookupPolicy(DIR_OUT, pkts, 32 * k, 32 * k + 16, UDP, 1, 2) !== want) throw new Error(`lookup mismatch at packet ${k} with ${n} policies`);
    }
    const rounds = Math.max(1, Math.floor(20_000 / n));
    const indexed = timeNs((b, k) => view.lookupPolicy(DIR_OUT, b, 32 * k, 32 * k + 16, UDP, 1, 2), pkts, rounds);
    const scanned = timeNs((b, k) => linear.lookup(DIR_OUT, b, 32 * k, 32 * k + 16, UDP), pkts, Math.max(1, Math.floor(rounds / 10)));
    console.log(`${String(n).padStart(12)}  ${hit ? 'hit ' : 'miss'}  ${indexed.toFixed(0).padStart(7)}  ${scanned.toFixed(0).padStart(6)}  ${(scanned / indexed).toFixed(1).padStart(14)}×`);
  }
}
