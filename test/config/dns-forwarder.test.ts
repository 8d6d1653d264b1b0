/**
 * The `dns.forwarder` keys (src/config/sections/dns.ts): defaults, normalised records, and a
 * clear positioned error for each kind of mistake.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatConfigError, loadConfigText } from '../../src/config/load.js';

const IFACE = 'interfaces:\n  - name: lan0\n    addresses: [2001:db8:1::1/64]\n';

/** `text` after a minimal interfaces section (so the line numbers in messages are 3 more). */
function load(text: string) {
  return loadConfigText(IFACE + text, 'c.yaml');
}

function errorsOf(text: string): string[] {
  const r = load(text);
  assert.ok(!r.ok, 'the config should be refused');
  return r.errors.map(formatConfigError);
}

test('dns.forwarder: {} turns the forwarder on with the documented defaults; absent, it is off', () => {
  const on = load('dns:\n  forwarder: {}\n');
  assert.ok(on.ok);
  assert.deepEqual(on.config.dns?.forwarder, {
    enabled: true,
    cache: { size: 10000, minTtl: 0, maxTtl: 86400, negativeMaxTtl: 3600, serveStale: false, staleMaxAge: 86400, prefetch: false },
    records: [],
  });
  const off = load('dns:\n  servers: ["2001:db8::53"]\n');
  assert.ok(off.ok);
  assert.equal(off.config.dns?.forwarder, undefined);
});

test('records are normalised: names without case or trailing dot, a PTR owner may be an address', () => {
  const r = load(`dns:
  forwarder:
    localDomain: LAN.Example.Test.
    records:
      - { name: Printer.LAN.example.test., type: AAAA, data: "2001:db8:1::20" }
      - { name: "2001:db8:1::20", type: PTR, data: printer.lan.example.test., ttl: 60 }
`);
  assert.ok(r.ok, r.ok ? '' : r.errors.map(formatConfigError).join('\n'));
  assert.equal(r.config.dns?.forwarder?.localDomain, 'lan.example.test');
  assert.deepEqual(r.config.dns?.forwarder?.records, [
    { name: 'printer.lan.example.test', type: 'AAAA', data: '2001:db8:1::20', ttl: 300 },
    { name: '2001:db8:1::20', type: 'PTR', data: 'printer.lan.example.test', ttl: 60 },
  ]);
});

test('each mistake gets a positioned message that says what was expected', () => {
  assert.match(errorsOf('dns:\n  forwarder:\n    allow: [2001:db8:1::1/64]\n').join('\n'), /^c\.yaml:6:\d+: dns\.forwarder\.allow\[0\]: .*no bits set past \/64/m);
  assert.match(errorsOf('dns:\n  forwarder:\n    cache: { minTtl: 600, maxTtl: 60 }\n').join('\n'), /dns\.forwarder\.cache\.minTtl: .*at most maxTtl \(60\)/);
  assert.match(errorsOf('dns:\n  forwarder:\n    cache: { size: -1 }\n').join('\n'), /dns\.forwarder\.cache\.size: .*an integer from 0 to 1000000/);
  assert.match(errorsOf('dns:\n  forwarder:\n    records: [{ name: a.test, type: MX, data: x }]\n').join('\n'), /dns\.forwarder\.records\[0\]\.type: .*AAAA, A, PTR or TXT/);
  assert.match(errorsOf('dns:\n  forwarder:\n    records: [{ name: a.test, type: AAAA, data: 192.0.2.1 }]\n').join('\n'), /records\[0\]\.data: .*not an IPv6 address/);
  assert.match(errorsOf('dns:\n  forwarder:\n    records: [{ name: a.test, type: A, data: "2001:db8::1" }]\n').join('\n'), /records\[0\]\.data: .*not an IPv4 address/);
  assert.match(errorsOf('dns:\n  forwarder:\n    records: [{ name: "a..test", type: AAAA, data: "2001:db8::1" }]\n').join('\n'), /records\[0\]\.name: .*a domain name/);
  assert.match(errorsOf('dns:\n  forwarder:\n    records: [{ name: a.test, type: PTR, data: "bad..name" }]\n').join('\n'), /records\[0\]\.data: .*a domain name/);
  assert.match(errorsOf('dns:\n  forwarder:\n    listen: yes\n').join('\n'), /dns\.forwarder/);
});
