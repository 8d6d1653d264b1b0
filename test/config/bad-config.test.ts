/**
 * Every file in test/fixtures/bad-config/ holds one kind of mistake; its sibling .expected
 * file holds the exact stderr of `turtle6 check`. The real CLI runs on each, from the
 * fixture directory so the file names in the messages are stable.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { run } from '../helpers/netns.js';

const root = resolve(import.meta.dirname, '../../..');
const cli = join(root, 'dist/src/app/turtle6.js');
const fixtures = join(root, 'test/fixtures/bad-config');
const examples = join(root, 'examples');

function check(cwd: string, file: string) {
  return run('sh', ['-c', 'cd "$1" && exec node "$2" check --config "$3"', 'sh', cwd, cli, file]);
}

const badFiles = readdirSync(fixtures).filter((f) => f.endsWith('.yaml')).sort();

test('there is a fixture for each of at least 15 kinds of mistake', () => {
  assert.ok(badFiles.length >= 15, `only ${badFiles.length} fixtures`);
  for (const f of badFiles) assert.ok(readdirSync(fixtures).includes(f.replace(/\.yaml$/, '.expected')), `${f} has no .expected`);
});

for (const file of badFiles) {
  test(`turtle6 check rejects ${file} with the expected message`, () => {
    const expected = readFileSync(join(fixtures, file.replace(/\.yaml$/, '.expected')), 'utf8');
    const r = check(fixtures, file);
    assert.notEqual(r.code, 0, `exit code for ${file}`);
    assert.equal(r.stdout, '');
    assert.equal(r.stderr, expected);
    // Every message starts FILE:LINE:COL so editors can jump to it.
    for (const line of r.stderr.trimEnd().split('\n')) assert.match(line, new RegExp(`^${file.replace('.', '\\.')}:\\d+:\\d+: `));
  });
}

// compose.yaml is a Docker Compose file, not a turtle6 config (test/docker/container.test.ts runs it).
for (const file of readdirSync(examples).filter((f) => f.endsWith('.yaml') && f !== 'compose.yaml').sort()) {
  test(`turtle6 check accepts examples/${file}`, () => {
    const r = check(examples, file);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.equal(r.stdout, `${file}: OK\n`);
  });
}

test('turtle6 check on a missing file names the file and fails', () => {
  const r = check(fixtures, 'no-such-file.yaml');
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'no-such-file.yaml: cannot read the config file (ENOENT)\n');
});

test('turtle6 run refuses a bad config before starting anything', () => {
  const r = check(fixtures, 'bad-address.yaml');
  const runR = run('sh', ['-c', 'cd "$1" && exec node "$2" run --config bad-address.yaml', 'sh', fixtures, cli]);
  assert.equal(runR.code, 1);
  assert.equal(runR.stderr, r.stderr);
  assert.equal(runR.stdout, '');
});
