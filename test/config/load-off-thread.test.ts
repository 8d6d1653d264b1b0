/**
 * The appliance loads its config in a worker thread (src/config/load-off-thread.ts): what
 * crosses back by structured clone must be exactly what loadConfigFile() gives in-thread,
 * for good files, bad files and files that cannot be read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfigFile } from '../../src/config/load.js';
import { loadConfigFileOffThread } from '../../src/config/load-off-thread.js';

const root = resolve(import.meta.dirname, '../../..');

test('off-thread loading gives the same result as in-thread loading', async () => {
  const badDir = join(root, 'test/fixtures/bad-config');
  const files = [
    join(root, 'examples/reference.yaml'),
    join(root, 'examples/two-hosts.yaml'),
    ...readdirSync(badDir).filter((f) => f.endsWith('.yaml')).map((f) => join(badDir, f)),
    join(root, 'test/fixtures/does-not-exist.yaml'),
  ];
  let good = 0;
  for (const file of files) {
    const inThread = loadConfigFile(file);
    if (inThread.ok) good++;
    assert.deepEqual(await loadConfigFileOffThread(file), inThread, file);
  }
  assert.equal(good, 2, 'the two examples load, the fixtures do not');
});
