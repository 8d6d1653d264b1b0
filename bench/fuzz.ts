/**
 * Fuzzing: every codec of src/wire, the lane's parse path and the control plane's receive
 * path take mutated golden packets (test/helpers/fuzz.ts, fuzz-targets.ts) and must never
 * throw. Prints one row per target and exits 1 on any throw, with what reproduces the first.
 *
 * Run: npm run fuzz -- [--iterations N] [--seed S] [--target NAME[,NAME…]] [--replay HEX]
 * (docs/fuzzing.md).
 */
import { parseArgs } from 'node:util';
import { runTarget, type FuzzResult } from '../test/helpers/fuzz.js';
import { FUZZ_TARGETS } from '../test/helpers/fuzz-targets.js';

const { values } = parseArgs({
  options: {
    iterations: { type: 'string', default: '1000000' },
    seed: { type: 'string', default: '1' },
    target: { type: 'string' },
    replay: { type: 'string' },
  },
});

const iterations = Number(values.iterations);
const seed = Number(values.seed);
if (!Number.isSafeInteger(iterations) || iterations <= 0) throw new Error(`--iterations: a positive integer, not ${values.iterations}`);
if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`--seed: a non-negative integer, not ${values.seed}`);
const names = values.target?.split(',');
const unknown = names?.filter((n) => !FUZZ_TARGETS.some((t) => t.name === n)) ?? [];
if (unknown.length > 0) throw new Error(`--target: ${unknown.join(', ')} unknown; targets are ${FUZZ_TARGETS.map((t) => t.name).join(', ')}`);
const targets = FUZZ_TARGETS.filter((t) => names === undefined || names.includes(t.name));
if (values.replay !== undefined && targets.length !== 1) throw new Error('--replay needs exactly one --target');
const replay = values.replay === undefined ? undefined : Uint8Array.from(Buffer.from(values.replay, 'hex'));

const rows: string[][] = [['target', 'inputs', 'throws', 'inputs/s']];
const failed: FuzzResult[] = [];
for (const target of targets) {
  const r = await runTarget(target, { iterations, seed, ...(replay === undefined ? {} : { replay }) });
  rows.push([r.target, String(r.inputs), String(r.throws), String(Math.round(r.inputs / (r.ms / 1000)))]);
  process.stderr.write(`${r.target}: ${r.inputs} inputs, ${r.throws} throws, ${(r.ms / 1000).toFixed(1)} s\n`);
  if (r.throws > 0) failed.push(r);
}

const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)));
for (const [i, row] of rows.entries()) {
  console.log(row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
  if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
}

for (const r of failed) {
  const f = r.first!;
  console.log(`\n${r.target}: first throw at input ${f.index} (seed ${seed})`);
  console.log(`  reproduce: node dist/bench/fuzz.js --target ${r.target} --replay ${Buffer.from(f.input).toString('hex')}`);
  console.log(`  ${f.error instanceof Error ? (f.error.stack ?? f.error.message) : String(f.error)}`);
}
process.exit(failed.length > 0 ? 1 : 0);
