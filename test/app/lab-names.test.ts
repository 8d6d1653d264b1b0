/**
 * The lab's printed commands name turtle6ctl and turtle6 by their short names only when the
 * shell would run this very file by that name (npm install -g, npm link); otherwise the
 * `node /path/turtle6ctl.js` form, which works from anywhere.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binaryAsTyped } from '../../src/app/lab.js';
import { TURTLE6CTL } from '../helpers/router.js';

test('the lab prints turtle6ctl by its short name when PATH leads to this one', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 't6names-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const linked = join(dir, 'linked');
  const other = join(dir, 'other');
  const unusable = join(dir, 'unusable');
  for (const d of [linked, other, unusable]) mkdirSync(d);
  // What npm link puts in PREFIX/bin: a symlink to the package's file, made executable.
  chmodSync(TURTLE6CTL, 0o755);
  symlinkSync(TURTLE6CTL, join(linked, 'turtle6ctl'));
  // Another turtle6ctl (an older install elsewhere).
  writeFileSync(join(other, 'turtle6ctl'), '#!/bin/sh\n');
  chmodSync(join(other, 'turtle6ctl'), 0o755);
  // Not executable: the shell passes over it.
  writeFileSync(join(unusable, 'turtle6ctl'), '#!/bin/sh\n');
  chmodSync(join(unusable, 'turtle6ctl'), 0o644);

  const full = `node ${TURTLE6CTL}`;
  assert.equal(binaryAsTyped('turtle6ctl', TURTLE6CTL, linked), 'turtle6ctl');
  assert.equal(binaryAsTyped('turtle6ctl', TURTLE6CTL, `${unusable}:${linked}`), 'turtle6ctl');
  assert.equal(binaryAsTyped('turtle6ctl', TURTLE6CTL, `${linked}:${other}`), 'turtle6ctl');
  assert.equal(binaryAsTyped('turtle6ctl', TURTLE6CTL, `${other}:${linked}`), full, 'the first on PATH is another copy');
  assert.equal(binaryAsTyped('turtle6ctl', TURTLE6CTL, other), full);
  assert.equal(binaryAsTyped('turtle6ctl', TURTLE6CTL, ''), full);
  // Relative PATH entries depend on the directory the command is typed in: never trusted.
  assert.equal(binaryAsTyped('turtle6ctl', TURTLE6CTL, 'linked'), full);
});
