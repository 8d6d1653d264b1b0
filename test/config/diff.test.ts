import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffConfig, renderConfigDiff } from '../../src/config/diff.js';
import { loadValid as load } from '../helpers/config.js';

const base = `
interfaces:
  - name: lan0
    addresses: [2001:db8:1::1/64]
  - name: lan1
routes:
  - { prefix: 2001:db8:100::/48, via: 2001:db8:1::2 }
`;

test('identical configs have no changes', () => {
  assert.deepEqual(diffConfig(load(base), load(base)), []);
  assert.equal(renderConfigDiff([]), 'no changes');
});

test('interfaces and routes are matched by name and prefix, not position', () => {
  const next = `
interfaces:
  - name: lan2
  - name: lan0
    mtu: 1400
    addresses: [2001:db8:1::1/64, 2001:db8:9::1/64]
routes:
  - { prefix: 2001:db8:100::/48, via: 2001:db8:1::3 }
log: { level: debug }
`;
  const changes = diffConfig(load(base), load(next));
  const paths = changes.map((c) => `${c.kind} ${c.path}`);
  assert.deepEqual(paths, [
    'removed interfaces[lan1]',
    'added interfaces[lan2]',
    'changed interfaces[lan0].mtu',
    'added interfaces[lan0].addresses',
    'added interfaces[lan0].ra.prefixes[2001:db8:9::/64]',
    'changed routes[2001:db8:100::/48].nexthops[0].via',
    'changed log.level',
  ]);
  const text = renderConfigDiff(changes);
  assert.match(text, /^~ interfaces\[lan0\]\.mtu: 1500 → 1400$/m);
  assert.match(text, /^\+ interfaces\[lan0\]\.addresses: "2001:db8:9::1\/64"$/m);
  assert.match(text, /^- interfaces\[lan1\]: \{"name":"lan1"/m);
  assert.match(text, /^~ log\.level: "info" → "debug"$/m);
});
