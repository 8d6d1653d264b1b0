/** The `mld` section: RFC 3810 §9 defaults, per-interface overrides, which ports run MLD, and the errors. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatConfigError, loadConfigText } from '../../src/config/load.js';
import { resolveMldConfig } from '../../src/config/sections/mld.js';
import { loadValid } from '../helpers/config.js';

const IFACES = 'interfaces:\n  - name: lan0\n  - name: lan1\n  - name: wan0\n    kind: tun\n';

function errorsOf(text: string): string[] {
  const r = loadConfigText(text, 'c.yaml');
  return r.ok ? [] : r.errors.map(formatConfigError);
}

test('absent or enabled: false: no MLD; present: every tap port with the RFC 3810 §9 defaults', () => {
  assert.equal(resolveMldConfig(loadValid(IFACES).mld, loadValid(IFACES).interfaces), null);
  const off = loadValid(`${IFACES}mld: { enabled: false }\n`);
  assert.equal(resolveMldConfig(off.mld, off.interfaces), null);
  const c = loadValid(`${IFACES}mld: {}\n`);
  const r = resolveMldConfig(c.mld, c.interfaces)!;
  assert.deepEqual(r.interfaces.map((i) => i.name), ['lan0', 'lan1'], 'the tun port only when listed');
  assert.deepEqual(r.interfaces[0], {
    name: 'lan0', version: 2, querier: true, robustness: 2, queryInterval: 125, queryResponseInterval: 10,
    lastListenerQueryInterval: 1, lastListenerQueryCount: 2, startupQueryInterval: 31.25, startupQueryCount: 2,
    unsolicitedReportInterval: 1, maxSources: 256,
  });
});

test('per-interface keys override the section, whose keys override the defaults; derived defaults follow', () => {
  const c = loadValid(`${IFACES}mld:\n  robustness: 3\n  queryInterval: 60\n  interfaces:\n    - { name: lan1, version: 1, querier: false }\n    - { name: wan0 }\n    - { name: lan0, ignore: true }\n`);
  const r = resolveMldConfig(c.mld, c.interfaces)!;
  assert.deepEqual(r.interfaces.map((i) => i.name), ['lan1', 'wan0']);
  const lan1 = r.interfaces[0]!;
  assert.equal(lan1.version, 1);
  assert.equal(lan1.querier, false);
  assert.equal(lan1.lastListenerQueryCount, 3);
  assert.equal(lan1.startupQueryCount, 3);
  assert.equal(lan1.startupQueryInterval, 15);
  assert.equal(lan1.unsolicitedReportInterval, 10, 'MLDv1 default');
  assert.equal(r.interfaces[1]!.version, 2);
});

test('bad values are refused with the path and what was expected', () => {
  assert.match(errorsOf(`${IFACES}mld: { robustness: 0 }\n`).join('\n'), /mld\.robustness: expected an integer from 1 to 7/);
  assert.match(errorsOf(`${IFACES}mld: { version: 3 }\n`).join('\n'), /mld\.version: expected 1 or 2/);
  assert.match(errorsOf(`${IFACES}mld: { queryInterval: 10, queryResponseInterval: 10 }\n`).join('\n'), /mld\.queryResponseInterval: expected a queryResponseInterval shorter than the queryInterval \(10 s/);
  assert.match(
    errorsOf(`${IFACES}mld:\n  interfaces:\n    - { name: lan0, version: 1, lastListenerQueryInterval: 70 }\n`).join('\n'),
    /mld\.interfaces\[0\]\.lastListenerQueryInterval: expected at most 65\.535 seconds with version 1/,
  );
  assert.match(errorsOf(`${IFACES}mld:\n  interfaces:\n    - { name: eth9 }\n`).join('\n'), /mld\.interfaces\[0\]\.name: expected the name of a configured interface/);
  assert.match(errorsOf(`${IFACES}mld:\n  interfaces:\n    - { name: lan0 }\n    - { name: lan0 }\n`).join('\n'), /mld\.interfaces\[1\]\.name: expected an interface not listed twice/);
  assert.match(errorsOf(`${IFACES}mld: { querierr: true }\n`).join('\n'), /querierr/);
});
