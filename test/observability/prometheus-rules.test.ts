/**
 * examples/prometheus/turtle6.rules.yml: promtool accepts the rules, its unit tests
 * (turtle6.rules.test.yml) pass, and they cover every alert both ways: at least one
 * evaluation where it fires and one where it does not. The metrics the rules read are checked
 * against a live appliance by test/observability/prometheus.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { requireCommand, run } from '../helpers/netns.js';

const RULES = resolve('examples/prometheus/turtle6.rules.yml');
const TESTS = resolve('examples/prometheus/turtle6.rules.test.yml');

interface RuleFile {
  groups: Array<{ name: string; rules: Array<{ alert?: string; record?: string; expr: string }> }>;
}
interface RuleTests {
  rule_files: string[];
  tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
}

test('promtool check rules accepts turtle6.rules.yml', () => {
  requireCommand('promtool', 'prometheus');
  const r = run('promtool', ['check', 'rules', RULES]);
  assert.equal(r.code, 0, `promtool check rules:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /SUCCESS: \d+ rules found/);
});

test('promtool test rules: the unit tests of every alert pass', () => {
  requireCommand('promtool', 'prometheus');
  // promtool resolves rule_files relative to the test file's directory.
  const r = run('promtool', ['test', 'rules', TESTS]);
  assert.equal(r.code, 0, `promtool test rules:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /SUCCESS/);
});

test('every alert has a unit test where it fires and one where it does not', () => {
  const rules = parse(readFileSync(RULES, 'utf8')) as RuleFile;
  const tests = parse(readFileSync(TESTS, 'utf8')) as RuleTests;
  assert.deepEqual(tests.rule_files, ['turtle6.rules.yml']);
  const alerts = rules.groups.flatMap((g) => g.rules.filter((r) => r.alert !== undefined).map((r) => r.alert!));
  assert.ok(alerts.length >= 9, `alerts: ${alerts.join(', ')}`);
  const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
  for (const alert of alerts) {
    const mine = cases.filter((c) => c.alertname === alert);
    assert.ok(mine.some((c) => c.exp_alerts.length > 0), `${alert}: no test where it fires`);
    assert.ok(mine.some((c) => c.exp_alerts.length === 0), `${alert}: no test where it stays quiet`);
  }
  for (const c of cases) assert.ok(alerts.includes(c.alertname), `a test names ${c.alertname}, which the rules do not define`);
});
