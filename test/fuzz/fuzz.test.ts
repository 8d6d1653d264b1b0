/**
 * The npm-test sample of `npm run fuzz` (bench/fuzz.ts): 2,000 mutated golden inputs per
 * target under a fixed seed, zero throws each; every decoder of src/wire has a target; the
 * lane and control-plane inputs reach past the first checks; and the inputs that once threw
 * stay fixed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { LaneHarness } from '../dataplane/harness.js';
import { runTarget, type FuzzResult } from '../helpers/fuzz.js';
import { FUZZ_TARGETS, LANE_TARGET, STACK_TARGET, WIRE_TARGETS, frameCapacity } from '../helpers/fuzz-targets.js';

const SAMPLE = 2000;
const SEED = 1;

/** Names of the functions that read untrusted bytes or text, the ones a target must call. */
const PARSER = /^(decode|parse|walk|validate|verify|check|mayGenerate)|Offset$/;
/** src/wire modules with nothing to parse: a new module must be listed here or get a target. */
const ENCODE_ONLY = ['bytes', 'checksum', 'pcap', 'result'];

function reproduce(r: FuzzResult): string {
  if (r.first === null) return '';
  const error = r.first.error instanceof Error ? r.first.error.stack : String(r.first.error);
  return `first at input ${r.first.index}: node dist/bench/fuzz.js --target ${r.target} --replay ${Buffer.from(r.first.input).toString('hex')}\n${error}`;
}

test('every decoder of every src/wire module is driven by a fuzz target', async () => {
  const dir = new URL('../../src/wire/', import.meta.url);
  const modules = readdirSync(dir).filter((f) => f.endsWith('.js')).map((f) => f.slice(0, -3));
  assert.ok(modules.length >= 15, `found the codecs (${modules.join(', ')})`);
  const covered = new Set(WIRE_TARGETS.flatMap((t) => t.covers));
  for (const name of modules) {
    const exports = (await import(new URL(`${name}.js`, dir).href)) as Record<string, unknown>;
    const parsers = Object.entries(exports).filter(([n, v]) => typeof v === 'function' && PARSER.test(n));
    if (ENCODE_ONLY.includes(name)) {
      assert.deepEqual(parsers.map(([n]) => n), [], `${name} is listed as encode-only but exports parsers`);
      continue;
    }
    assert.ok(WIRE_TARGETS.some((t) => t.module === name), `src/wire/${name}.ts has no fuzz target in test/helpers/fuzz-targets.ts`);
    for (const [n, fn] of parsers) assert.ok(covered.has(fn as Function), `src/wire/${name}.ts: ${n} is in no fuzz target's covers`);
  }
});

for (const target of FUZZ_TARGETS) {
  test(`fuzz ${target.name}: ${SAMPLE} mutated inputs, no throws`, async () => {
    const r = await runTarget(target, { iterations: SAMPLE, seed: SEED });
    assert.equal(r.inputs, SAMPLE);
    assert.equal(r.throws, 0, reproduce(r));
  });
}

test('the lane inputs reach forwarding, punting, both ESP directions, tracing and many drop reasons', async () => {
  const { stats } = await runTarget(LANE_TARGET, { iterations: SAMPLE, seed: SEED });
  for (const key of ['forwarded', 'punted', 'injected', 'icmp_errors_sent', 'esp_sealed', 'esp_opened', 'trace_records', 'esp_integrity', 'esp_replay', 'no_route', 'bad_length']) {
    assert.ok((stats[key] ?? 0) > 0, `${key} never happened: ${JSON.stringify(stats)}`);
  }
});

test('the control-plane inputs reach RIPng, the DHCPv6 server and client, and ND', async () => {
  const { stats } = await runTarget(STACK_TARGET, { iterations: SAMPLE, seed: SEED });
  for (const key of ['udp_521', 'udp_546', 'udp_547', 'dhcpv6_sent', 'drop_nd_invalid']) {
    assert.ok((stats[key] ?? 0) > 0, `${key} never happened: ${JSON.stringify(stats)}`);
  }
});

/** The frame capacity of the lane target's slots. */
function laneFrameCapacity(): number {
  const h = new LaneHarness();
  try {
    return frameCapacity(h.pool);
  } finally {
    h.close();
  }
}

/** Inputs that threw once, each with the fix that made it pass. */
const REGRESSIONS = [
  // Stack.handlePunt read the destination of a 30-byte PUNT_RESOLVE packet before checking
  // that it holds a fixed IPv6 header.
  { target: STACK_TARGET, input: Uint8Array.from(Buffer.from('3431f93557d94ffd743e02cfdc99fa84a4e91c76dd5e9acbd3b1a0ebaa02c9', 'hex')) },
  // The lane copied a slot-sized packet from the inject ring (selector 0xc1: inject, route,
  // port 1) after room for an Ethernet header, 14 bytes into the next slot.
  { target: LANE_TARGET, input: Uint8Array.of(0xc1, ...new Uint8Array(laneFrameCapacity()).fill(0x60)) },
];

test('inputs that once threw no longer do', async () => {
  for (const { target, input } of REGRESSIONS) {
    const r = await runTarget(target, { iterations: 1, seed: SEED, replay: input });
    assert.equal(r.throws, 0, reproduce(r));
  }
});
