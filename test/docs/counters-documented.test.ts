/**
 * The docs are a contract: every drop reason a lane can count is listed in the README's
 * "Drop counters" table, with the help text the metrics carry, and the table lists nothing
 * the lanes do not count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DROPS } from '../../src/dataplane/counters.js';

const root = resolve(import.meta.dirname, '../../..');

test('README lists every drop reason, and only those', () => {
  const readme = readFileSync(resolve(root, 'README.md'), 'utf8');
  const start = readme.indexOf('### Drop counters');
  assert.ok(start >= 0, 'README has a "Drop counters" section');
  const section = readme.slice(start, readme.indexOf('\n#', start + 1));
  const listed = [...section.matchAll(/^\| `([a-z0-9_]+)` \|/gm)].map((m) => m[1]);
  assert.deepEqual(listed, DROPS.map((d) => d.name), 'the table follows counters.ts, in order');
  for (const d of DROPS) assert.ok(section.includes(d.help.replace(/\|/g, '\\|')), `${d.name}: README's meaning matches the metric's help`);
});
