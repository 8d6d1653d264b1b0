/**
 * The queue table (lane-queues.ts): the main thread sets a port's fd per lane; each lane's
 * engine opens and closes ports until it holds exactly its row, and acknowledges the
 * generation it applied, which is what a reload waits for before it closes a removed port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LaneQueues, QueueTable, queuesApplied } from '../../src/dataplane/lane-queues.js';
import { controlView, CTRL_WORDS } from '../../src/dataplane/lane-control.js';
import type { IoEngine } from '../../src/io/engine.js';

function recordingEngine(calls: string[]): IoEngine {
  return {
    addPort: (port: number, fd: number) => void calls.push(`add ${port}:${fd}`),
    removePort: (port: number) => void calls.push(`remove ${port}`),
  } as unknown as IoEngine;
}

test('a lane takes up port changes of its own row at its next sync, and acknowledges them', () => {
  const control = new SharedArrayBuffer(2 * CTRL_WORDS * 4);
  const [ctl0, ctl1] = [controlView(control, 0), controlView(control, 1)];
  const table = new QueueTable(2);
  const calls0: string[] = [];
  const calls1: string[] = [];
  table.set(ctl0, 0, 3, 30);
  const lane0 = new LaneQueues(table.sab, 0, ctl0, recordingEngine(calls0));
  const lane1 = new LaneQueues(table.sab, 1, ctl1, recordingEngine(calls1));
  lane0.sync();
  lane1.sync();
  assert.deepEqual(calls0, ['add 3:30'], 'a lane starting reads its whole row');
  assert.deepEqual(calls1, []);

  const g0 = table.set(ctl0, 0, 5, 50);
  const g1 = table.set(ctl1, 1, 5, 51);
  assert.equal(queuesApplied(ctl0, g0), false, 'not before the lane synced');
  lane0.sync();
  assert.equal(queuesApplied(ctl0, g0), true);
  assert.equal(queuesApplied(ctl1, g1), false, 'each lane acknowledges for itself');
  lane1.sync();
  assert.deepEqual([calls0, calls1], [['add 3:30', 'add 5:50'], ['add 5:51']]);
  assert.equal(table.count(0), 2);

  // Nothing changed: nothing is touched.
  lane0.sync();
  assert.equal(calls0.length, 2);

  // A port removed, another's fd replaced (a restart reopening the same index).
  table.set(ctl0, 0, 3, null);
  const g = table.set(ctl0, 0, 5, 52);
  lane0.sync();
  assert.deepEqual(calls0.slice(2), ['remove 3', 'remove 5', 'add 5:52']);
  assert.equal(queuesApplied(ctl0, g), true);
  assert.equal(table.count(0), 1);
});
