/**
 * The forwarding benchmark's self-test: every scenario, every forwarder and reference, one
 * tiny counted run each (bench/run.ts --selftest). It proves the harness still measures what
 * it claims (the generator's packets come out at the sink, and turtle6's counters account for
 * every one), so that `npm run bench` is not found broken only when someone needs numbers.
 * The numbers themselves are never judged here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { requireCommand } from '../helpers/netns.js';

requireCommand('gcc', 'gcc');
requireCommand('ip', 'iproute2');

interface Results {
  mode: string;
  scenarios: Array<{
    id: string;
    forwarders: Array<{ id: string }>;
    samples: Array<{ forwarder: string; packets: number; accounting?: { ok: boolean }; latency?: { n: number } }>;
    problems: string[];
  }>;
}

const EXPECTED: Record<string, string[]> = {
  forwarding: ['direct', 'turtle6-1', 'turtle6-2', 'tapfwd', 'tapfwd-uring', 'kernel'],
  'full-table': ['turtle6-1', 'turtle6-1-full', 'kernel', 'kernel-full'],
  latency: ['direct', 'turtle6-1', 'tapfwd', 'tapfwd-uring', 'kernel'],
};

test('bench --selftest: every scenario and reference forwards, and the counts add up', { timeout: 240_000 }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 't6-bench-selftest-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'selftest.json');
  const r = spawnSync(process.execPath, [resolve('dist/bench/run.js'), '--selftest', '--out', out], { encoding: 'utf8', timeout: 230_000 });
  assert.equal(r.status, 0, `bench --selftest failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);

  const results = JSON.parse(readFileSync(out, 'utf8')) as Results;
  assert.equal(results.mode, 'selftest');
  assert.deepEqual(results.scenarios.map((s) => s.id), Object.keys(EXPECTED));
  for (const s of results.scenarios) {
    assert.deepEqual(s.problems, [], `${s.id}: ${s.problems.join('; ')}`);
    assert.deepEqual(s.forwarders.map((f) => f.id), EXPECTED[s.id]);
    for (const f of EXPECTED[s.id]!) {
      const samples = s.samples.filter((x) => x.forwarder === f);
      assert.ok(samples.length > 0, `${s.id}/${f}: no samples`);
      for (const x of samples) {
        assert.ok(x.packets > 0, `${s.id}/${f}: no packets came out`);
        assert.equal(x.accounting?.ok, true, `${s.id}/${f}: counts do not add up`);
        if (s.id === 'latency') assert.ok((x.latency?.n ?? 0) > 0, `${s.id}/${f}: no latency samples`);
      }
    }
  }
  assert.ok(readFileSync(out.replace(/\.json$/, '.md'), 'utf8').includes('# turtle6 forwarding benchmark (selftest)'));
});

test('bench --baseline DIR: the other checkout\'s turtle6 runs beside this one in the forwarding scenario, with both builds\' ratios', { timeout: 240_000 }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 't6-bench-baseline-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'selftest.json');
  // This checkout stands in for the other one: the mechanics are what is checked, not a difference.
  const args = [resolve('dist/bench/run.js'), '--selftest', '--scenario', 'forwarding', '--baseline', resolve('.'), '--out', out];
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 230_000 });
  assert.equal(r.status, 0, `bench --baseline failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  const [s] = (JSON.parse(readFileSync(out, 'utf8')) as Results).scenarios;
  assert.deepEqual(s!.problems, []);
  assert.deepEqual(
    s!.forwarders.map((f) => f.id),
    ['direct', 'turtle6-1-base', 'turtle6-1', 'turtle6-2-base', 'turtle6-2', 'tapfwd', 'tapfwd-uring', 'kernel'],
  );
  for (const f of ['turtle6-1-base', 'turtle6-2-base']) {
    const samples = s!.samples.filter((x) => x.forwarder === f);
    assert.ok(samples.length > 0 && samples.every((x) => x.packets > 0 && x.accounting?.ok === true), `${f}: ${JSON.stringify(samples)}`);
  }
  assert.match(r.stdout, /this build against the baseline/);
  assert.match(r.stdout, /turtle6-1-base \/ tapfwd-uring +64 B/);
  assert.match(r.stdout, /turtle6-1 \/ turtle6-1-base +1400 B/);

  const missing = spawnSync(process.execPath, [resolve('dist/bench/run.js'), '--selftest', '--baseline', join(dir, 'nothing')], { encoding: 'utf8', timeout: 30_000 });
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /--baseline .*nothing: no .*turtle6\.js \(run `npm ci && npm run build` in that checkout\)/);
});
