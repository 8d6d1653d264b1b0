#!/usr/bin/env node
/**
 * ESP crypto-path micro-benchmark: seal (and, separately, open) of one SA's packets in place
 * in a SharedArrayBuffer, on node:crypto (src/ipsec/transform.ts) and on the C helper
 * (src/ipsec/native-transform.ts over native-bindings/t6crypto.c), for AES-128-GCM and
 * AES-128-CBC + HMAC-SHA-256-128 at 64, 512 and 1400-byte inner packets (tunnel mode: the
 * ESP payload is the whole inner packet). One thread, as one lane runs an SA.
 *
 * It measures the crypto path alone, which is what `ipsec.crypto` chooses between; it is not
 * the TAP-to-TAP tunnel throughput (docs/ipsec.md, status). Reported: packets per
 * second of CPU time (process.cpuUsage), and the helper's rate as a ratio of node:crypto's.
 *
 *   node dist/bench/esp.js [--seconds 1]
 */
import { cpus, release } from 'node:os';
import { makeTransform, type CryptoPath } from '../src/ipsec/native-transform.js';
import type { EspTransform, TransformKeys } from '../src/ipsec/transform.js';
import { espPadLength, writeEspTrailer, ESP_NEXT_HEADER_IPV6 } from '../src/wire/esp.js';
import { writeU32 } from '../src/wire/bytes.js';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1] ?? 1) || 1;
const SIZES = [64, 512, 1400];
const KEYS: Record<string, TransformKeys> = {
  'aes-gcm-128': { encryption: 'aes-gcm-128', integrity: 'none', encKey: new Uint8Array(20).fill(0x4a), authKey: new Uint8Array(0) },
  'aes-cbc-128+hmac-sha256-128': { encryption: 'aes-cbc-128', integrity: 'hmac-sha256-128', encKey: new Uint8Array(16).fill(1), authKey: new Uint8Array(32).fill(2) },
};
const SLOT = 2048;
const SLOTS = 64;

/** A pool-like SAB of SLOTS slots, each holding an ESP packet ready to seal. */
function fill(t: EspTransform, size: number): { b: Uint8Array; ptLen: number } {
  const b = new Uint8Array(new SharedArrayBuffer(SLOT * SLOTS));
  const pad = espPadLength(size, t.blockSize);
  let ptLen = 0;
  for (let s = 0; s < SLOTS; s++) {
    const esp = s * SLOT;
    writeU32(b, esp, 0x1000);
    b.fill(0x60, esp + 8 + t.ivLen, esp + 8 + t.ivLen + size);
    ptLen = size + writeEspTrailer(b, esp + 8 + t.ivLen + size, pad, ESP_NEXT_HEADER_IPV6);
  }
  return { b, ptLen };
}

/** Packets per CPU-second of `op` over the slots, run for about `seconds`. */
function rate(op: (esp: number, seq: number) => void): number {
  let seq = 1;
  for (let i = 0; i < 2000; i++) op((i % SLOTS) * SLOT, seq++); // warm-up
  const start = process.cpuUsage();
  const wallEnd = Date.now() + seconds * 1000;
  let n = 0;
  while (Date.now() < wallEnd) {
    for (let i = 0; i < 1000; i++, n++) op((n % SLOTS) * SLOT, seq++);
  }
  const used = process.cpuUsage(start);
  return n / ((used.user + used.system) / 1e6);
}

function measure(path: CryptoPath, keys: TransformKeys, size: number): { seal: number; open: number } {
  const t = makeTransform(keys, false, path);
  const { b, ptLen } = fill(t, size);
  const seal = rate((esp, seq) => {
    writeU32(b, esp + 4, seq);
    t.seal(b, esp, ptLen, 0);
  });
  // Open needs intact packets: seal a reference copy per slot, restore it before each open.
  const sealed = new Uint8Array(b.length);
  const espLen = new Int32Array(SLOTS);
  for (let s = 0; s < SLOTS; s++) {
    writeU32(b, s * SLOT + 4, s + 1);
    espLen[s] = t.seal(b, s * SLOT, ptLen, 0);
  }
  sealed.set(b);
  const open = rate((esp) => {
    b.set(sealed.subarray(esp, esp + espLen[esp / SLOT]!), esp);
    if (t.open(b, esp, espLen[esp / SLOT]!, 0) < 0) throw new Error('open failed');
  });
  t.dispose();
  return { seal, open };
}

const rows: string[][] = [];
for (const [name, keys] of Object.entries(KEYS)) {
  for (const size of SIZES) {
    const node = measure('node', keys, size);
    const native = measure('native', keys, size);
    const k = (x: number) => `${(x / 1000).toFixed(0)}k`;
    rows.push([name, String(size), k(node.seal), k(native.seal), `${(native.seal / node.seal).toFixed(2)}×`, k(node.open), k(native.open), `${(native.open / node.open).toFixed(2)}×`,
      `${((native.seal * size * 8) / 1e9).toFixed(2)}`]);
  }
}
const header = ['transform', 'bytes', 'seal node/s', 'seal C/s', 'C÷node', 'open node/s', 'open C/s', 'C÷node', 'C seal Gbit/s'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log(`ESP crypto path, packets per CPU-second, one thread; ${cpus()[0]?.model ?? 'unknown CPU'} ×${cpus().length}, Linux ${release()}, Node ${process.version}`);
console.log(line(header));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const r of rows) console.log(line(r));
