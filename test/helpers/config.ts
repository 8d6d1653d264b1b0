/** Loads a config text that must be valid; the test fails with the loader's errors otherwise. */
import assert from 'node:assert/strict';
import { formatConfigError, loadConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';

export function loadValid(text: string): Config {
  const r = loadConfigText(text, 'c.yaml');
  if (!r.ok) assert.fail(r.errors.map(formatConfigError).join('\n'));
  return r.config;
}
