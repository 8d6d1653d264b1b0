import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigRejected, renderReloadReport, runReload, type PreparedChange, type ReloadParticipant } from '../../src/config/reload.js';
import { loadConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';

function load(text: string): Config {
  const r = loadConfigText(text, 'c.yaml');
  assert.ok(r.ok);
  return r.config;
}

const current = load('interfaces:\n  - name: lan0\n');
const next = load('interfaces:\n  - name: lan0\n    mtu: 1400\n');

/** A participant that records every step into a shared journal, so ordering can be asserted. */
function participant(
  name: string,
  journal: string[],
  behaviour: { prepare?: 'ok' | 'none' | 'reject'; apply?: 'ok' | 'fail'; abort?: 'ok' | 'fail' } = {},
): ReloadParticipant {
  return {
    name,
    async prepare(n: Config, c: Config): Promise<PreparedChange | null> {
      journal.push(`${name}.prepare(${c.interfaces[0]!.mtu}→${n.interfaces[0]!.mtu})`);
      if (behaviour.prepare === 'reject') throw new ConfigRejected(`${name} cannot do that`);
      if (behaviour.prepare === 'none') return null;
      return {
        describe: [`${name} changed`],
        mode: 'in-place',
        async apply() {
          journal.push(`${name}.apply`);
          if (behaviour.apply === 'fail') throw new Error(`${name} apply broke`);
        },
        async abort() {
          journal.push(`${name}.abort`);
          if (behaviour.abort === 'fail') throw new Error(`${name} abort broke`);
        },
      };
    },
  };
}

test('all prepare, then all apply, in order; null means nothing to do', async () => {
  const journal: string[] = [];
  const report = await runReload(
    [participant('a', journal), participant('b', journal, { prepare: 'none' }), participant('c', journal)],
    current,
    next,
  );
  assert.deepEqual(journal, ['a.prepare(1500→1400)', 'b.prepare(1500→1400)', 'c.prepare(1500→1400)', 'a.apply', 'c.apply']);
  assert.deepEqual(report, {
    ok: true,
    changes: [
      { participant: 'a', mode: 'in-place', describe: ['a changed'] },
      { participant: 'c', mode: 'in-place', describe: ['c changed'] },
    ],
  });
  assert.equal(renderReloadReport(report), 'reload: applied\n  a (in-place): a changed\n  c (in-place): c changed');
});

test('a rejection in the middle aborts every prepared change and applies nothing', async () => {
  const journal: string[] = [];
  const report = await runReload(
    [participant('a', journal), participant('b', journal), participant('c', journal, { prepare: 'reject' }), participant('d', journal)],
    current,
    next,
  );
  assert.deepEqual(journal, ['a.prepare(1500→1400)', 'b.prepare(1500→1400)', 'c.prepare(1500→1400)', 'b.abort', 'a.abort']);
  assert.deepEqual(report, {
    ok: false,
    stage: 'prepare',
    participant: 'c',
    error: 'c cannot do that',
    applied: [],
    aborted: ['b', 'a'],
    abortErrors: [],
  });
  assert.match(renderReloadReport(report), /^reload failed in prepare by c: c cannot do that\nrunning config unchanged/);
});

test('a failing abort does not stop the other aborts and is reported', async () => {
  const journal: string[] = [];
  const report = await runReload(
    [participant('a', journal), participant('b', journal, { abort: 'fail' }), participant('c', journal, { prepare: 'reject' })],
    current,
    next,
  );
  assert.deepEqual(journal.slice(-2), ['b.abort', 'a.abort']);
  assert.equal(report.ok, false);
  assert.deepEqual(!report.ok && report.abortErrors, [{ participant: 'b', error: 'b abort broke' }]);
});

test('an apply failure stops applying, releases the rest, and says what already ran', async () => {
  const journal: string[] = [];
  const report = await runReload(
    [participant('a', journal), participant('b', journal, { apply: 'fail' }), participant('c', journal)],
    current,
    next,
  );
  assert.deepEqual(journal.slice(3), ['a.apply', 'b.apply', 'c.abort']);
  assert.equal(report.ok, false);
  if (!report.ok) {
    assert.equal(report.stage, 'apply');
    assert.equal(report.participant, 'b');
    assert.deepEqual(report.applied.map((c) => c.participant), ['a']);
    assert.deepEqual(report.aborted, ['c']);
  }
});
