/**
 * Layers import downward only (docs/ARCHITECTURE.md, "Layers"): the foundation layers import
 * only the ones below them, and the data plane and the stack never import each other — they
 * meet in the shared-memory layouts and the Datapath interface in src/shm.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../../..');
const src = join(root, 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Each src/ layer a file of `layer` imports (static and type imports alike). */
function importsOf(layer: string): Map<string, Set<string>> {
  const found = new Map<string, Set<string>>();
  for (const file of files(join(src, layer))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
      const target = relative(src, resolve(file, '..', m[1]!));
      const into = target.startsWith('..') ? target.split('/').find((p) => p !== '..')! : target.split('/')[0]!;
      if (into === layer) continue;
      if (!found.has(into)) found.set(into, new Set());
      found.get(into)!.add(relative(root, file));
    }
  }
  return found;
}

test('the foundation layers import only downward: lib ← wire ← shm ← io', () => {
  const order = ['lib', 'wire', 'shm', 'io'];
  order.forEach((layer, rank) => {
    const allowed = new Set([...order.slice(0, rank), 'native-bindings']);
    for (const [into, from] of importsOf(layer)) assert.ok(allowed.has(into), `${layer} imports ${into} (${[...from].join(', ')})`);
  });
});

test('the data plane and the stack do not import each other', () => {
  assert.equal(importsOf('dataplane').get('stack'), undefined, 'dataplane → stack');
  assert.equal(importsOf('stack').get('dataplane'), undefined, 'stack → dataplane');
});
