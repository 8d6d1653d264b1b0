import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COUNTER_WORDS, LANE } from '../../src/dataplane/counters.js';
import { FAILING_AFTER, HEALTHY_MS, HeartbeatWatch, RESTART_MAX_MS, RestartBackoff, WEDGED_AFTER_MS } from '../../src/dataplane/lane-supervision.js';

test('restart delays: 0 for a first death, then 100 ms doubling up to 10 s', () => {
  const b = new RestartBackoff();
  const delays: number[] = [];
  let now = 0;
  for (let i = 0; i < 10; i++) {
    b.started(now);
    now += 50;
    delays.push(b.died(now));
    now += delays.at(-1)!;
  }
  assert.deepEqual(delays, [0, 100, 200, 400, 800, 1600, 3200, 6400, RESTART_MAX_MS, RESTART_MAX_MS]);
});

test('a lane is failing after 5 quick deaths in a row, and healthy again after 30 s of running', () => {
  const b = new RestartBackoff();
  let now = 0;
  for (let i = 0; i < FAILING_AFTER; i++) {
    assert.equal(b.failing, false);
    b.started(now);
    b.died((now += 1000));
  }
  assert.equal(b.failing, true);
  b.started(now);
  b.check(now + HEALTHY_MS - 1);
  assert.equal(b.failing, true);
  b.check(now + HEALTHY_MS);
  assert.equal(b.failing, false);
  assert.equal(b.deaths, 0);
});

test('a death after a healthy run counts as a first death: immediate restart', () => {
  const b = new RestartBackoff();
  b.started(0);
  assert.equal(b.died(10), 0);
  b.started(10);
  assert.equal(b.died(20), 100);
  b.started(20);
  // No check() ran in between (the watchdog's timer was late): died() still sees the long run.
  assert.equal(b.died(20 + HEALTHY_MS), 0);
  assert.equal(b.deaths, 1);
  // While the lane is down, check() does not reset the count.
  b.check(1e9);
  assert.equal(b.deaths, 1);
});

test('the heartbeat watch: stuck only after the beat stood still for 3 s', () => {
  const w = new HeartbeatWatch();
  const counters = new Float64Array(COUNTER_WORDS);
  const at = (beat: number, now: number) => {
    counters[LANE.heartbeat] = beat;
    return w.stuck(counters, now);
  };
  assert.equal(at(5, 0), false);
  assert.equal(at(5, WEDGED_AFTER_MS - 1), false);
  assert.equal(at(6, WEDGED_AFTER_MS), false);
  assert.equal(at(6, 2 * WEDGED_AFTER_MS - 1), false);
  assert.equal(at(6, 2 * WEDGED_AFTER_MS), true);
  // A lane restarted: its count carries on, but the watch starts over.
  w.reset();
  assert.equal(at(6, 10 * WEDGED_AFTER_MS), false);
  assert.equal(at(6, 11 * WEDGED_AFTER_MS), true);
});
