/** The `multicast:` section: static (S,G) and (*,G) routes, checked with errors that say what is expected. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatConfigError, loadConfigText } from '../../src/config/load.js';

const IFACES = 'interfaces:\n  - name: a\n  - name: b\n  - name: c\n';

function load(routes: string) {
  return loadConfigText(`${IFACES}multicast:\n  routes:\n${routes}`, 'c.yaml');
}

function errorsOf(routes: string): string[] {
  const r = load(routes);
  assert.equal(r.ok, false, 'expected the config to be rejected');
  return r.ok ? [] : r.errors.map(formatConfigError);
}

test('multicast.routes: (S,G) with a source, (*,G) without; addresses in RFC 5952 form', () => {
  const r = load('    - { source: "2001:DB8:1::10", group: "FF0E::DB8:7", in: a, out: [b, c] }\n    - { group: ff05::1:3, in: b, out: [a] }\n');
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatConfigError).join('\n'));
  assert.deepEqual(r.config.multicast, {
    routes: [
      { source: '2001:db8:1::10', group: 'ff0e::db8:7', in: 'a', out: ['b', 'c'] },
      { source: null, group: 'ff05::1:3', in: 'b', out: ['a'] },
    ],
  });
  const none = loadConfigText(IFACES, 'c.yaml');
  assert.ok(none.ok && none.config.multicast === undefined, 'absent: no multicast routes');
});

test('multicast.routes: the group must be forwardable (scope 3 to e), the source unicast and neither :: nor link-local', () => {
  const group = 'expected a multicast group of scope wider than link-local, ff03::/16 to ff0e::/16 (like ff0e::db8:1)';
  assert.deepEqual(errorsOf('    - { group: ff02::9, in: a, out: [b] }\n'), [`c.yaml:7:16: multicast.routes[0].group: ${group}, found "ff02::9"`]);
  assert.deepEqual(errorsOf('    - { group: "2001:db8::1", in: a, out: [b] }\n'), [`c.yaml:7:16: multicast.routes[0].group: ${group}, found "2001:db8::1"`]);
  assert.deepEqual(errorsOf('    - { group: ff0f::1, in: a, out: [b] }\n'), [`c.yaml:7:16: multicast.routes[0].group: ${group}, found "ff0f::1"`]);
  assert.match(errorsOf('    - { source: "fe80::1", group: ff0e::1, in: a, out: [b] }\n')[0]!, /multicast\.routes\[0\]\.source: expected a source that may be forwarded: not :: and not link-local \(RFC 4007 §9\)/);
  assert.match(errorsOf('    - { source: "ff0e::2", group: ff0e::1, in: a, out: [b] }\n')[0]!, /multicast\.routes\[0\]\.source: expected a unicast IPv6 address/);
});

test('multicast.routes: in and out name configured interfaces, in is not among out, out lists each once', () => {
  assert.deepEqual(errorsOf('    - { group: ff0e::1, in: z, out: [b, y] }\n'), [
    'c.yaml:7:29: multicast.routes[0].in: expected the name of a configured interface (a, b, c), found "z"',
    'c.yaml:7:41: multicast.routes[0].out[1]: expected the name of a configured interface (a, b, c), found "y"',
  ]);
  assert.deepEqual(errorsOf('    - { group: ff0e::1, in: a, out: [b, a] }\n'), [
    'c.yaml:7:41: multicast.routes[0].out[1]: expected an interface other than the incoming one (a): a packet never goes back where it came from, found "a"',
  ]);
  assert.deepEqual(errorsOf('    - { group: ff0e::1, in: a, out: [b, b] }\n'), ['c.yaml:7:41: multicast.routes[0].out[1]: expected each interface once (b is listed before), found "b"']);
  assert.match(errorsOf('    - { group: ff0e::1, in: a, out: [] }\n')[0]!, /multicast\.routes\[0\]\.out: expected a list of outgoing interfaces \(at least 1\)/);
});

test('multicast.routes: one route per (source, group)', () => {
  assert.deepEqual(errorsOf('    - { group: ff0e::1, in: a, out: [b] }\n    - { group: "FF0E::1", in: b, out: [c] }\n'), [
    'c.yaml:8:16: multicast.routes[1].group: expected one route per (source, group) (routes[0] has *, ff0e::1), found "FF0E::1"',
  ]);
});

test('multicast.routes: rpf: true instead of in, for an (S,G) route only', () => {
  const r = load('    - { source: "2001:db8:1::10", group: ff0e::1, rpf: true, out: [b] }\n');
  assert.ok(r.ok && r.config.multicast?.routes[0]?.in === null);
  assert.match(errorsOf('    - { group: ff0e::1, rpf: true, out: [b] }\n')[0]!, /multicast\.routes\[0\]\.rpf: expected a source beside rpf: true/);
  assert.match(errorsOf('    - { source: "2001:db8:1::10", group: ff0e::1, in: a, rpf: true, out: [b] }\n')[0]!, /multicast\.routes\[0\]\.in: expected in or rpf: true, not both/);
  assert.match(errorsOf('    - { group: ff0e::1, out: [b] }\n')[0]!, /multicast\.routes\[0\]\.in: expected the incoming interface \(in\), or rpf: true/);
});
